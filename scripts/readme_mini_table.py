"""Rewrite the README's mini-model table from mrecg/checkpoints/mini/manifest.json.

    python scripts/readme_mini_table.py          # rewrite in place
    python scripts/readme_mini_table.py --check  # exit 1 if the README is stale
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from mrecg.models import NAMES, mini_manifest

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- mini-table:start -->", "<!-- mini-table:end -->"


def table() -> str:
    manifest = mini_manifest()
    lines = ["| model | FP top-1 (Fashion-MNIST test) | parameters | epochs | training time |", "|---|---|---|---|---|"]
    for name in NAMES:
        r = manifest.get(name)
        if r is None:
            lines.append(f"| {name} | not trained yet | | | |")
        else:
            lines.append(f"| {name} | {r['fp_top1']:.2f} % | {r['parameters']:,} | {r['config']['epochs']} | "
                         f"{r['train_seconds'] / 60:.0f} min ({r['machine']}) |")
    return "\n".join(lines)


def render(text: str) -> str:
    return re.sub(rf"{START}.*?{END}", f"{START}\n{table()}\n{END}", text, flags=re.S)


if __name__ == "__main__":
    text = README.read_text()
    if "--check" in sys.argv:
        sys.exit(0 if render(text) == text else 1)
    README.write_text(render(text))
