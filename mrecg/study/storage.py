"""Atomic writes: a file is either its old self or its complete new self, never half-written.

Long jobs (training, reproductions) are killed by time limits; writing to a temporary file in
the same folder and renaming it over the target makes every saved state safe to resume from.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_torch(obj: Any, path: str | os.PathLike) -> None:
    _atomic(Path(path), lambda f: torch.save(obj, f))


def save_json(obj: Any, path: str | os.PathLike) -> None:
    text = json.dumps(obj, indent=1, sort_keys=True) + "\n"
    _atomic(Path(path), lambda f: f.write(text.encode()))
