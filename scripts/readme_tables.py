"""Rewrite the generated blocks of the README and the book's pages (docs/*.md) from committed data, so their
numbers cannot drift:

* ``mini-table``: the mini checkpoints, from ``mrecg/checkpoints/mini/manifest.json``;
* ``findings``: every notebook's verdict lines and the computation's cost, from ``results/mini/``.

    python scripts/readme_tables.py          # rewrite in place
    python scripts/readme_tables.py --check  # exit 1 if the README or a page of docs/ is stale
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from pathlib import Path

from mrecg import noise, paths, runner, stats
from mrecg.models import NAMES, mini_manifest

README = Path(__file__).resolve().parents[1] / "README.md"
# every file a block may live in: the README and the book's pages (findings.md, presets.md, ...)
FILES = [README, *sorted((README.parent / "docs").glob("*.md"))]


def mini_table() -> str:
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


def findings(preset: str = "mini") -> str:
    """The committed run's verdicts, computed from its records exactly as the notebooks compute them."""
    from mrecg.experiments import code_fingerprint, is_stale
    from mrecg.fingerprint import computed_by
    from mrecg.figures import Study, budget, fig4, fig5, fig6, table1, table2, toy

    results, study = paths.results_dir(), Study(preset)
    floor = noise.floor(results, preset)

    def records(module):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return runner.run_specs(module.specs(study), results, workers=1) if runner.missing(
                module.specs(study), results) == [] else None

    from mrecg.figures import all_specs

    every = {s.key(): s for group in all_specs(study).values() for s in group}
    if missing := {s.key() for s in runner.missing(list(every.values()), results)} & set(every):
        raise SystemExit(f"readme_tables: the {preset} grid is incomplete ({len(every) - len(missing)} of {len(every)} "
                         f"runs stored); compute the rest with mrecg reproduce --preset {preset} --compute-only")
    lines = []
    manifest = json.loads((results / preset / "manifest.json").read_text())
    for c in manifest["computations"]:
        if computed_by(c.get("fingerprint")) != code_fingerprint():  # computations of a retired grid (its records deleted)
            continue
        per = ", ".join(f"{n['notebook'][:2]} {n.get('computed_run_seconds', 0):.0f} s" for n in c["notebooks"])
        per = f"; compute seconds of the runs each notebook added: {per}" if per else ""
        lines.append(f"- **Computation** ({c.get('commit', 'unknown')[:7]}, {c['machine']}): {c['computed_runs']} run{'s' if c['computed_runs'] != 1 else ''}, "
                     f"{c['total_wall_seconds']:.0f} s wall time{per}.")
    everything = {r["key"]: r for m in (table1, table2, fig4, fig5, fig6, budget) for r in (records(m) or [])}.values()
    stale = sum(is_stale(r) for r in everything)
    lines.append(f"- **Records:** {len(everything)} runs read, {stale} of them computed by other code than this "
                 f"checkout's (see Records). **{floor}**.")
    lines += machines(list(everything))
    t1 = table1.frame(records(table1), floor.points)
    lines += [f"- Table 1: {line}" for line in table1.verdict_lines(t1, floor.points)]
    t2 = table2.frame(records(table2), floor.points)
    lines += [f"- Table 2: {line}" for line in table2.verdict_lines(t2, floor.points)]
    f4 = fig4.frame(records(fig4))
    f4_claims = fig4.claims(f4)
    for row in fig4.verdict(f4).itertuples():
        lines.append(f"- Fig. 4 ({row.model}): MRECG {row.MRECG:.2f}, rank {row.rank} of {row.of} against random "
                     f"schemes ({row.random_min:.2f}-{row.random_max:.2f}), BRECQ {row.BRECQ:.2f}; "
                     f"{'on' if row.on_front else 'not on'} the Pareto front; MRECG minus a random scheme "
                     f"{stats.explain(f4_claims[row.model], floor.points)}.")
    rows, _ = fig5.frame(records(fig5))
    lines += [f"- Fig. 5: {line}" for line in fig5.verdict_lines(rows, floor.points)]
    lines += [f"- Fig. 6: {line}" for line in fig6.verdict_lines(records(fig6), fig6.unit_floor(results, preset))]
    gains = budget.gains(budget.frame(records(budget)))
    lines += [f"- Budget: {line}" for line in budget.verdict_lines(gains, preset, floor.points)]
    toy_record = toy.experiment(study, results) if toy.record_path(study, results, 0).is_file() else None
    if toy_record:
        m = toy.measures(toy.errors(toy_record)).set_index("run").total_variation
        lines.append(f"- Toy (00): total variation {m['block by block']:.1f} block by block, "
                     f"{m['capacity drops merged']:.1f} with the capacity-drop pairs merged.")
    return "\n".join(lines)


def machines(records: list[dict], workers: int = 2) -> list[str]:
    """Where the grid was computed, and what it costs from an empty cache on a 2-core CPU: the CPU
    records' median seconds per unit of the scheduler's cost model, times the grid's cost."""
    from statistics import median

    from mrecg.experiments import RunSpec
    from mrecg.figures import machine_label

    runs: dict[str, list[float]] = {}
    for r in records:
        runs.setdefault(machine_label(r), []).append(r["seconds"])
    where = "; ".join(f"{label}: {len(s)} runs, {sum(s) / 3600:.1f} h of run time" for label, s in sorted(runs.items()))
    cost = {r["key"]: runner.estimated_cost(RunSpec.from_dict(r["spec"])) for r in records}
    per_unit = [r["seconds"] / cost[r["key"]] for r in records if r["machine"].get("device", "cpu") == "cpu"]
    if not per_unit:
        return [f"- **Machines:** {where}."]
    hours = median(per_unit) * sum(cost.values()) / workers / 3600
    return [f"- **Machines:** {where}.",
            f"- **From an empty cache** on a 2-core CPU (one run per core): about {hours:.0f} h, estimated from the "
            f"CPU records' median seconds per unit of `mrecg.runner.estimated_cost`."]


def step_lr_probe() -> str:
    """The activation-step lr probe behind the mini preset (benchmarks/results/step_lr_probe_*.jsonl)."""
    from mrecg import stats

    rows = [json.loads(line) for p in sorted((README.parent / "benchmarks" / "results").glob("step_lr_probe_*.jsonl"))
            for line in p.read_text().splitlines() if line.strip()]
    lines = []
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = {(r["a_lr"], r["seed"]): r["top1"] for r in rows if r["model"] == model}
        base = sorted({lr for lr, _ in mine})[0]
        for lr in sorted({lr for lr, _ in mine} - {base}):
            seeds = sorted(s for (a, s) in mine if a == lr and (base, s) in mine)
            d = stats.paired([mine[(lr, s)] for s in seeds], [mine[(base, s)] for s in seeds])
            bits = next(r["bits"] for r in rows if r["model"] == model)
            lines.append(f"- {model} BRECQ W{bits.replace('/', 'A')}, step lr {lr:g} vs {base:g}: {d}")
    return "\n".join(lines)


def gpu_paper_path() -> str:
    """The paper code path on a lent GPU (benchmarks/results/gpu_paper_path_*.jsonl), extrapolated to 20k."""
    lines = ["| model | run | units | median step | peak GPU memory | peak host memory | hours at 20k iterations/unit |",
             "|---|---|---|---|---|---|---|"]
    for path in sorted((README.parent / "benchmarks" / "results").glob("gpu_paper_path_*.jsonl")):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        for run in (r for r in rows if "unit" not in r):
            steps = sorted(r["step_ms"] for r in rows if r.get("unit") and r["model"] == run["model"]
                           and r["variant"] == run["variant"])
            name = "BRECQ 1024 / 32" if run["variant"] == "brecq" else "MRECG (released) 4096 / 256"
            lines.append(f"| {run['model']} | {name} | {run['units']} | {steps[len(steps) // 2]:.1f} ms | "
                         f"{run['max_peak_gpu_mb'] / 1024:.1f} GiB | {run['max_rss_mb'] / 1024:.1f} GiB | "
                         f"{run['extrapolated_h_at_20k']:.2f} |")
    return "\n".join(lines)


def init_size_check() -> str:
    """Activation ranges initialised on the whole calibration set vs the grid's 256 images
    (benchmarks/results/init_size_check.jsonl, current code only)."""
    sys.path.insert(0, str(README.parent / "benchmarks"))
    import init_size_check as check

    rows = check.read_rows(check.OUT)
    lines = check.summary(rows, noise.floor(paths.results_dir(), "mini").points)
    return "\n".join(f"- {line}" for line in lines) or "- no rows computed by the current code"


BLOCKS = {"mini-table": mini_table, "findings": findings, "step-lr-probe": step_lr_probe,
          "gpu-paper-path": gpu_paper_path, "init-size-check": init_size_check}


def render(text: str) -> str:
    for name, make in BLOCKS.items():
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        if start in text:
            text = re.sub(rf"{re.escape(start)}.*?{re.escape(end)}", lambda _: f"{start}\n{make()}\n{end}", text, flags=re.S)
    return text


if __name__ == "__main__":
    texts = {f: f.read_text() for f in FILES}
    if lost := [name for name in BLOCKS if not any(f"<!-- {name}:start -->" in t for t in texts.values())]:
        sys.exit(f"readme_tables: no file holds the block(s) {', '.join(lost)}")
    stale = {f: new for f, text in texts.items() if (new := render(text)) != text}
    if "--check" in sys.argv:
        print("\n".join(f"stale: {f.relative_to(README.parent)}" for f in stale))
        sys.exit(1 if stale else 0)
    for f, new in stale.items():
        f.write_text(new)
