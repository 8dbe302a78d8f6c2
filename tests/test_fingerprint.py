"""The fingerprint covers everything under a record's numbers, and an equivalent stamp counts as
its code's fingerprint only while that code is the checkout's."""

import ast
import re
from pathlib import Path

from mrecg import experiments, fingerprint

PACKAGE = Path(fingerprint.__file__).parent


def package_imports(module: str) -> set[str]:
    """The mrecg modules that ``module`` imports (relative imports, at any depth in the file)."""
    found = set()
    for node in ast.walk(ast.parse((PACKAGE / f"{module}.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
            found |= {n if (PACKAGE / f"{n}.py").is_file() or (PACKAGE / n).is_dir() else "__init__" for n in names}
    return found


def test_every_module_a_numerical_module_imports_is_hashed():
    missing = {(m, dep) for m in fingerprint.SOURCES for dep in package_imports(m)
               if dep not in fingerprint.SOURCES and dep not in fingerprint.NOT_NUMERICAL}
    assert missing == set(), f"add these to fingerprint.SOURCES (or NOT_NUMERICAL with a reason): {missing}"


def test_every_resource_a_numerical_module_reads_is_hashed():
    hashed = {p.relative_to(PACKAGE).as_posix() for p in fingerprint.resource_files()}
    read = set()
    for m in fingerprint.SOURCES:
        for call in re.findall(r'joinpath\(([^)]*)\)', (PACKAGE / f"{m}.py").read_text()):
            parts = [p.strip().strip("f").strip('"') for p in call.split(",")]
            pattern = "/".join(re.sub(r"\{[^}]*\}", "*", p) for p in parts)
            matched = {h for h in hashed if Path(h).match(pattern)}
            read.add(pattern) if matched else read.add(f"UNHASHED {pattern}")
    assert read and not [r for r in read if r.startswith("UNHASHED")], read


def test_the_hash_changes_with_a_hashed_resource(tmp_path, monkeypatch):
    before = fingerprint.code_fingerprint()
    copy = tmp_path / "mrecg"
    for path in [*(PACKAGE / f"{m}.py" for m in fingerprint.SOURCES), *fingerprint.resource_files()]:
        target = copy / path.relative_to(PACKAGE)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    monkeypatch.setattr(fingerprint, "PACKAGE", copy)
    fingerprint.code_fingerprint.cache_clear()
    try:
        assert fingerprint.code_fingerprint() == before
        schemes = copy / "resources" / "paper" / "official_schemes.yaml"
        schemes.write_text(schemes.read_text() + "\n# an edit\n")
        fingerprint.code_fingerprint.cache_clear()
        assert fingerprint.code_fingerprint() != before
    finally:
        fingerprint.code_fingerprint.cache_clear()


def test_an_equivalent_stamp_is_current_only_while_its_code_is(monkeypatch):
    record = {"code": {"fingerprint": "old-stamp"}}
    monkeypatch.setattr(fingerprint, "EQUIVALENT", {"old-stamp": "the-code"})
    monkeypatch.setattr(experiments, "code_fingerprint", lambda: "the-code")
    assert not experiments.is_stale(record)
    monkeypatch.setattr(experiments, "code_fingerprint", lambda: "edited-code")
    assert experiments.is_stale(record)
    assert experiments.is_stale({"code": {"fingerprint": "unknown-stamp"}})


def test_equivalences_do_not_chain():
    assert not set(fingerprint.EQUIVALENT.values()) & set(fingerprint.EQUIVALENT)


def test_the_noise_floor_pairs_rows_of_equivalent_stamps(tmp_path, monkeypatch):
    from mrecg import noise
    from mrecg.storage import save_json

    monkeypatch.setattr(fingerprint, "EQUIVALENT", {"old-stamp": "the-code"})
    row = dict(key="k", cpu="a", device="cpu", threads=1, torch="2", note="")
    rows = [{**row, "fingerprint": "old-stamp", "top1": 90.0}, {**row, "cpu": "b", "fingerprint": "the-code", "top1": 90.4},
            {**row, "cpu": "c", "fingerprint": "other-code", "top1": 80.0}]
    save_json({"rows": rows}, tmp_path / "mini" / noise.FILE)
    assert noise.floor(tmp_path, "mini").points == 0.4  # the third row is other code: not compared
