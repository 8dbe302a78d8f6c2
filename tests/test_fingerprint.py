"""The fingerprint covers everything under a record's numbers, and an equivalent stamp counts as
its code's fingerprint only while that code is the checkout's."""

import ast
import json
import re
from pathlib import Path

from mrecg.study import fingerprint, records

PACKAGE = fingerprint.PACKAGE
# Imported by numerical modules without changing their numbers: the package root (its __version__).
NOT_NUMERICAL = {"mrecg"}


def hashed_modules() -> set[str]:
    return {".".join(("mrecg", *p.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
            for p in fingerprint.source_files()}


def package_imports(path: Path) -> set[str]:
    """The mrecg modules (or packages) that the file at ``path`` imports, at any depth in it."""
    here = ["mrecg", *path.relative_to(PACKAGE).parent.parts]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
            for alias in (a for a in node.names if not a.name.startswith("__")):
                target = f"{base}.{alias.name}"
                is_module = (PACKAGE.parent / target.replace(".", "/")).with_suffix(".py").is_file()
                found.add(target if is_module else base)
    return found


def test_every_module_a_numerical_module_imports_is_hashed():
    hashed = hashed_modules()
    missing = {(p.relative_to(PACKAGE).as_posix(), dep) for p in fingerprint.source_files() for dep in package_imports(p)
               if dep not in hashed and dep not in NOT_NUMERICAL}
    assert missing == set(), f"add these to fingerprint.SOURCES: {missing}"


def test_the_code_of_the_records_and_the_figures_is_not_hashed():
    """Bookkeeping and presentation can change without making a record stale."""
    assert {"mrecg.study.records", "mrecg.study.runner", "mrecg.figures.table1", "mrecg.cli"} & hashed_modules() == set()
    assert {"mrecg.study.runs", "mrecg.recon.loop", "mrecg.quant.quantizer", "mrecg.config"} <= hashed_modules()


def test_every_resource_a_numerical_module_reads_is_hashed():
    hashed = {p.relative_to(PACKAGE).as_posix() for p in fingerprint.resource_files()}
    read = set()
    for path in fingerprint.source_files():
        for call in re.findall(r'joinpath\(([^)]*)\)', path.read_text()):
            parts = [p.strip().strip("f").strip('"') for p in call.split(",")]
            pattern = "/".join(re.sub(r"\{[^}]*\}", "*", p) for p in parts)
            matched = {h for h in hashed if Path(h).match(pattern)}
            read.add(pattern) if matched else read.add(f"UNHASHED {pattern}")
    assert read and not [r for r in read if r.startswith("UNHASHED")], read


def test_code_lines_drop_docstrings_comments_and_imports_only():
    text = '''"""Module doc."""
from .a import b  # moved later
import torch


def f(x):
    """Doc."""
    from ..c import d
    # a comment
    return d(x) + 1
'''
    assert fingerprint.code_lines(text) == "def f(x):\n    return d(x) + 1"


def copy_package(tmp_path: Path) -> Path:
    copy = tmp_path / "mrecg"
    for path in [*fingerprint.source_files(fingerprint.SOURCES + fingerprint.TOY), *fingerprint.resource_files(),
                 PACKAGE / "checkpoints" / "mini" / "manifest.json"]:
        target = copy / path.relative_to(PACKAGE)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    return copy


def fingerprint_of(copy: Path, monkeypatch) -> str:
    monkeypatch.setattr(fingerprint, "PACKAGE", copy)
    fingerprint.code_fingerprint.cache_clear()
    try:
        return fingerprint.code_fingerprint()
    finally:
        monkeypatch.undo()
        fingerprint.code_fingerprint.cache_clear()


def test_a_pure_move_keeps_the_fingerprint_and_an_edit_changes_it(tmp_path, monkeypatch):
    """Move a module into another hashed room under a new name and import it from there: the same
    fingerprint. Change one computing line: another."""
    before = fingerprint.code_fingerprint()
    copy = copy_package(tmp_path)
    assert fingerprint_of(copy, monkeypatch) == before
    (copy / "quant" / "depthwise.py").rename(copy / "recon" / "grouped_conv.py")
    layers = copy / "quant" / "layers.py"
    layers.write_text(layers.read_text().replace("from .depthwise import", "from ..recon.grouped_conv import"))
    assert "grouped_conv" in layers.read_text()
    assert fingerprint_of(copy, monkeypatch) == before
    loop = copy / "recon" / "loop.py"
    loop.write_text(loop.read_text().replace("a_lr * (1 + math.cos(", "a_lr * (1.0 + math.cos("))
    assert fingerprint_of(copy, monkeypatch) != before


def test_the_hash_changes_with_a_hashed_resource(tmp_path, monkeypatch):
    before = fingerprint.code_fingerprint()
    copy = copy_package(tmp_path)
    schemes = copy / "resources" / "paper" / "official_schemes.yaml"
    schemes.write_text(schemes.read_text() + "\n# an edit\n")
    assert fingerprint_of(copy, monkeypatch) != before


def test_the_toy_is_hashed_into_its_own_stamp_only(tmp_path, monkeypatch):
    copy = copy_package(tmp_path)
    monkeypatch.setattr(fingerprint, "PACKAGE", copy)
    fingerprint.code_fingerprint.cache_clear()
    try:
        grid, toy = fingerprint.code_fingerprint(), fingerprint.code_fingerprint(fingerprint.TOY)
        (copy / "study" / "toy.py").write_text((copy / "study" / "toy.py").read_text() + "\nEDITED = 1\n")
        fingerprint.code_fingerprint.cache_clear()
        assert fingerprint.code_fingerprint() == grid and fingerprint.code_fingerprint(fingerprint.TOY) != toy
    finally:
        fingerprint.code_fingerprint.cache_clear()


def test_an_equivalent_stamp_is_current_only_while_its_code_is(monkeypatch):
    record = {"code": {"fingerprint": "old-stamp"}}
    monkeypatch.setattr(fingerprint, "EQUIVALENT", {"old-stamp": "the-code"})
    monkeypatch.setattr(records, "code_fingerprint", lambda extra=(): "the-code")
    assert not records.is_stale(record)
    monkeypatch.setattr(records, "code_fingerprint", lambda extra=(): "edited-code")
    assert records.is_stale(record)
    assert records.is_stale({"code": {"fingerprint": "unknown-stamp"}})


def test_equivalences_do_not_chain():
    assert not set(fingerprint.EQUIVALENT.values()) & set(fingerprint.EQUIVALENT)


def test_every_equivalence_was_checked_by_recomputing_committed_records():
    """No stamp is mapped without its check: at least 6 records of that stamp's code recomputed from
    scratch, every number bit-identical, across both families and at least three methods."""
    folder = PACKAGE.parent / "benchmarks" / "results" / "equivalence"
    for target in set(fingerprint.EQUIVALENT.values()):
        report = json.loads((folder / f"{target}.json").read_text())
        rows = report["records"]
        assert report["fingerprint"] == target and report["all_identical"] and all(r["identical"] for r in rows)
        assert len(rows) >= 6 and len({r["method"] for r in rows}) >= 3 and len({r["bits"] for r in rows}) >= 2
        assert {r["model"].split("_")[0] for r in rows} == {"resnet18", "mobilenetv2"}
        stamps = {s for s, t in fingerprint.EQUIVALENT.items() if t == target}
        assert stamps <= {r["stamp"] for r in rows}, "every mapped stamp has a recomputed record"


def test_the_committed_records_are_current():
    """The grid's records are today's code's, by fingerprint or by a checked equivalence."""
    from mrecg.study import records as reading

    stale = [r["key"] for r in reading.load_records(preset="mini") if reading.is_stale(r)]
    assert stale == []


def test_the_noise_floor_pairs_rows_of_equivalent_stamps(tmp_path, monkeypatch):
    from mrecg.study import noise
    from mrecg.study.storage import save_json

    monkeypatch.setattr(fingerprint, "EQUIVALENT", {"old-stamp": "the-code"})
    row = dict(key="k", cpu="a", device="cpu", threads=1, torch="2", note="")
    rows = [{**row, "fingerprint": "old-stamp", "top1": 90.0}, {**row, "cpu": "b", "fingerprint": "the-code", "top1": 90.4},
            {**row, "cpu": "c", "fingerprint": "other-code", "top1": 80.0}]
    save_json({"rows": rows}, tmp_path / "mini" / noise.FILE)
    assert noise.floor(tmp_path, "mini").points == 0.4  # the third row is other code: not compared
