"""Rewrite the generated blocks of the README and the book's pages (docs/*.md) from committed data, so their
numbers cannot drift:

* ``mini-table``: the mini checkpoints, from ``mrecg/checkpoints/mini/manifest.json``;
* ``findings``: the forest plot, a short summary and one compact table per artefact, from
  ``results/mini/``; and ``FINDINGS.md`` beside the README, every generated line.

    python scripts/readme_tables.py          # rewrite the blocks and FINDINGS.md in place
    python scripts/readme_tables.py --check  # exit 1 if the README, a page of docs/ or FINDINGS.md is stale
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from pathlib import Path

from mrecg.figures.saving import to_markdown
from mrecg.models import NAMES, mini_manifest
from mrecg.study import noise, paths, runner, stats

README = Path(__file__).resolve().parents[1] / "README.md"
FINDINGS = README.parent / "FINDINGS.md"
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


NAMES_SHOWN = {"brecq": "BRECQ", "qdrop": "QDrop"}


def _pm(mean: float, lo: float, hi: float, digits: int = 2, pct: bool = False) -> str:
    """``+0.73 [+0.48, +0.98]`` (or in percent)."""
    if pct:
        return f"{mean:.0%} [{lo:.0%}, {hi:.0%}]" if lo == lo else f"{mean:.0%}"
    return f"{mean:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]" if lo == lo else f"{mean:+.{digits}f}"


class Findings:
    """Every artefact's frame, computed once from the committed records exactly as the notebooks
    compute them; :meth:`readme` and :meth:`full` word them."""

    def __init__(self, preset: str = "mini"):
        from mrecg.figures import all_specs, budget, fig4, fig5, fig6, table1, table2
        from mrecg.study.sweeps import Study

        self.preset, results, study = preset, paths.results_dir(), Study(preset)
        every = {s.key(): s for group in all_specs(study).values() for s in group}
        if missing := {s.key() for s in runner.missing(list(every.values()), results)} & set(every):
            raise SystemExit(f"readme_tables: the {preset} grid is incomplete ({len(every) - len(missing)} of "
                             f"{len(every)} runs stored); compute the rest with mrecg reproduce --preset {preset} "
                             f"--compute-only")

        def records(module):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return runner.run_specs(module.specs(study), results, workers=1)

        self.records = {m: records(m) for m in (table1, table2, fig4, fig5, fig6, budget)}
        self.rerun = noise.floor(results, preset)
        self.t1 = table1.frame(self.records[table1])
        self.t2 = table2.frame(self.records[table2])
        self.f4 = fig4.frame(self.records[fig4])
        self.f5, _ = fig5.frame(self.records[fig5])
        self.budget_frame = budget.frame(self.records[budget])
        self.budget = budget.gains(self.budget_frame)
        self.modules = dict(table1=table1, table2=table2, fig4=fig4, fig5=fig5, fig6=fig6, budget=budget)

    # -- the README: a summary and one compact table per artefact --------------------------------

    def summary(self) -> list[str]:
        t1 = self.modules["table1"]
        pooled = t1.family(self.t1)
        rows = t1.comparisons(self.t1)
        fam = rows[rows.family.astype(bool)]
        counts = fam.vs_paper.value_counts()
        holm = int((fam.p_holm < 0.05).sum())
        mixed = rows[rows.pairs != "same machine"]
        q = t1.qualitative(self.t1).set_index(["source", "group"])
        frac = lambda src, g: _pm(*q.loc[(src, g), ["fraction", "fraction_lo", "fraction_hi"]], pct=True)  # noqa: E731
        room = lambda src, g: f"{q.loc[(src, g), 'room']:.1f}"  # noqa: E731
        gain = lambda src, g: f"{q.loc[(src, g), 'gain']:+.2f}"  # noqa: E731
        verdicts = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("consistent", "smaller", "larger",
                                                                  "too little room to test"))
        return [
            f"- **Family (Table 1).** Of what its baseline loses to quantization, released MRECG recovers "
            f"{pooled['ours']} (same-machine cells). The paper's Table 1: {pooled['paper']}; at our cells "
            f"{pooled['paper at our cells'].fraction.mean:.1%}.",
            f"- **Cells against the paper's gain scaled to our room:** {verdicts}; {holm} of {len(fam)} gains above "
            f"zero after Holm's correction. " + (
                f"{len(mixed)} cell(s) pair runs of two machines and are left out until recomputed "
                f"({', '.join(f'{r.model} {r.bits} {r.method_name}' for r in mixed.itertuples())})." if len(mixed)
                else "Every cell's pairs ran on one machine."),
            f"- **A larger gain at low bits, as a fraction?** The paper's mean gain grows from "
            f"{gain('paper', 'W4A4')} pt (W4A4, room {room('paper', 'W4A4')}) to {gain('paper', 'W2A4')} (W2A4, "
            f"room {room('paper', 'W2A4')}) while its recovered fraction goes {frac('paper', 'W4A4')} to "
            f"{frac('paper', 'W2A4')} ({frac('paper', 'W3A3')} at W3A3, {frac('paper', 'W2A2')} at W2A2). Ours: "
            f"{frac('ours', 'W4A4')} at W4A4 (room {room('ours', 'W4A4')} pt), {frac('ours', 'W3A3')} at W3A3, "
            f"{frac('ours', 'W2A2')} at W2A2 (room {room('ours', 'W2A2')} pt).",
            f"- **A larger gain on MobileNetV2, as a fraction?** The paper's MobileNetV2 pairs recover "
            f"{frac('paper', 'mobilenetv2')} of a {room('paper', 'mobilenetv2')} pt mean room, its ResNet pairs "
            f"{frac('paper', 'resnet')} of {room('paper', 'resnet')} pt. Ours: {frac('ours', 'mobilenetv2')} of "
            f"{room('ours', 'mobilenetv2')} pt and {frac('ours', 'resnet')} of {room('ours', 'resnet')} pt.",
            "- **Paired comparisons are made on one machine only.** " + str(self.rerun).capitalize() + ".",
            "- Fashion-MNIST accuracies are not comparable with the paper's ImageNet ones; rooms, gains as fractions "
            "of the room, and orderings are. MRECG's gains include the released joint stem and head units, as in the "
            "paper, and so do Fig. 4's random schemes and Table 2's components. Every number below is generated; the "
            "full list is in `FINDINGS.md`.",
        ]

    def table1_table(self) -> list[str]:
        rows = self.modules["table1"].comparisons(self.t1)
        lines = ["| Table 1 claim: MRECG beats its baseline | paper (fraction) | ours [95 %] | room | fraction [95 %] "
                 "| verdict: vs 0 (Holm p); vs paper scaled to our room |", "|---|---|---|---|---|---|"]
        for r in rows[rows.family.astype(bool) | (rows.pairs != "same machine")].itertuples():
            base = NAMES_SHOWN[r.method_name.split("+")[1]]
            holm = "" if r.p_holm != r.p_holm else f" (p {r.p_holm:.2f})"
            paper = f"{r.gain_paper:+.2f} ({r.paper_fraction:.0%})"
            verdict = (r.vs_zero if r.pairs != "same machine" else
                       f"{r.vs_zero}{holm}; {r.vs_paper} ({r.scaled_gain:+.2f})")
            lines.append(f"| {r.model} {r.bits} {r.method.replace(r.method_name, 'MRECG')} vs {base} | {paper} | "
                         f"{_pm(r.gain_ours, r.gain_lo, r.gain_hi)} | {r.room:.2f} | "
                         f"{_pm(r.fraction, r.fraction_lo, r.fraction_hi, pct=True)} | {verdict} |")
        return lines

    def table2_table(self) -> list[str]:
        lines = ["| Table 2 claim (ours W3A3, paper W4A4) | paper (fraction) | ours [95 %] | room | fraction [95 %] "
                 "| verdict: vs 0; vs paper scaled to our room |", "|---|---|---|---|---|---|"]
        for r in self.t2.iloc[1:].itertuples():
            verdict = r.vs_zero if r.vs_zero == r.vs_paper else f"{r.vs_zero}; {r.vs_paper} ({r.scaled_gain:+.2f})"
            lines.append(f"| {r.row} | {r.gain_paper:+.2f} ({r.paper_fraction:.0%}) | "
                         f"{_pm(r.gain_ours, r.gain_lo, r.gain_hi)}"
                         f" | {r.room:.2f} | {_pm(r.fraction, r.fraction_lo, r.fraction_hi, pct=True)} | {verdict} |")
        return lines

    def figures_table(self) -> list[str]:
        fig4, fig5, fig6, budget = (self.modules[k] for k in ("fig4", "fig5", "fig6", "budget"))
        lines = ["| Figure claim | paper | ours [95 %] | verdict |", "|---|---|---|---|"]
        for model, (d, word) in fig4.claims(self.f4).items():
            lines.append(f"| Fig. 4 ({model}): MRECG's scheme beats a random one with as many merges "
                         f"| on the Pareto front | {_pm(d.mean, d.lo, d.hi)} pt | {word} |")
        for name, (d, mixed) in fig5.claims(self.f5).items():
            word = stats.excluded(mixed, d.n) if mixed else stats.against_zero(d)
            paper = "accuracy rises with the batch" if name.startswith("batch") else "not separated from the batch"
            lines.append(f"| Fig. 5: {name} | {paper} | {_pm(d.mean, d.lo, d.hi)} pt | {word} |")
        ref = fig6.paper_matched()
        for view, curves, value in (("per block", fig6.block_curves(self.records[fig6]), "normalised"),
                                    ("per unit, matched points", fig6.unit_curves(self.records[fig6]), "loss")):
            claims = fig6.claims(curves, value)
            for r in claims[claims.claim.str.startswith("MRECG (released)")].itertuples():
                paper = (f"MobileNetV2: TV {ref['brecq']:.1f} vs {ref['mrecg']:.1f}; at matched points "
                         f"{ref[fig6.MATCHED]:.1f} vs {ref['mrecg']:.1f}"
                         if view.startswith("per unit") and r.model.startswith("mobilenetv2") else "not plotted")
                lines.append(f"| Fig. 6 ({r.model}, {view}, {r.points} points): MRECG oscillates less than BRECQ "
                             f"(total variation, BRECQ - MRECG) | {paper} | {_pm(r.difference, r.lo, r.hi, 3)} | "
                             f"{r.verdict} |")
        for model, (d, _, word) in budget.convergence(self.budget_frame, self.preset).items():
            lines.append(f"| Budget ({model}): BRECQ converged at the preset's iterations (2x minus 1x, tolerance "
                         f"+{budget.TOLERANCE:g} pt) | not asked | {_pm(d.mean, d.lo, d.hi)} pt | {word} |")
        return lines

    def readme(self) -> str:
        """The README's block: the forest plot and the short summary."""
        return "\n".join(["![Table 1 in each cell's room: forest plot](figures/mini/claims.png)", ""] + self.summary())

    def tables(self) -> str:
        """The book's findings page: one compact table per artefact."""
        return "\n".join(self.table1_table() + [""] + self.table2_table() + [""] + self.figures_table())

    # -- FINDINGS.md: every line ---------------------------------------------------------------

    @staticmethod
    def _mixed(pairs: list[tuple[str, int, str, str]]) -> list[str]:
        """Mixed-machine pairs to recompute, by record keys."""
        if not pairs:
            return ["", "Every pair of runs compared here ran on one machine."]
        return ["", "Pairs whose two runs ran on different machines (to recompute):", ""] + [
            f"- {name}, seed {seed}: records `{a}` and `{b}`" for name, seed, a, b in pairs]

    def full(self) -> str:
        from mrecg.figures import toy
        from mrecg.study.fingerprint import code_fingerprint, computed_by
        from mrecg.study.records import computations, is_stale
        from mrecg.study.sweeps import Study

        t1, t2, fig4, fig5, fig6, budget = (self.modules[k] for k in
                                            ("table1", "table2", "fig4", "fig5", "fig6", "budget"))
        results = paths.results_dir()
        lines = ["# Findings of the committed mini run", "",
                 "Generated by `python scripts/readme_tables.py` from the committed records in `results/mini/` "
                 "(a test checks it is current), with the functions the notebooks use. Frame and verdict rule: "
                 "`mrecg/study/stats.py`. Per seed on the same calibration images, each pair of runs on one machine; "
                 "room = float - baseline, gain = method - baseline, fraction = gain / room; against zero, and "
                 "against the paper's fraction times our room (\"too little room to test\" where our interval's "
                 "half-width exceeds that prediction). Per-cell verdicts against zero carry Holm's correction over "
                 "the family of released-MRECG Table 1 cells; rows marked exploratory are outside it.", "",
                 "## Computation", ""]
        for c in computations(results, self.preset):
            if computed_by(c.get("fingerprint")) != code_fingerprint():
                continue
            lines.append(f"- {c.get('commit', 'unknown')[:7]}, {c['machine']}: {c['computed_runs']} "
                         f"run{'s' if c['computed_runs'] != 1 else ''}, {c['total_wall_seconds']:.0f} s wall time.")
        everything = list({r["key"]: r for rs in self.records.values() for r in rs}.values())
        lines.append(f"- Records: {len(everything)} runs read, {sum(is_stale(r) for r in everything)} of them computed "
                     f"by other code than this checkout's. {str(self.rerun).capitalize()}.")
        lines += machines(everything)
        lines += ["", "## Table 1", ""] + [f"- {line}" for line in t1.verdict_lines(self.t1)]
        lines += ["", "The qualitative claims, per bit-width and per family (interval over cells):", "",
                  to_markdown(t1.qualitative(self.t1), digits=3).rstrip()]
        lines += ["", "Pairs whose two runs ran on different machines (to recompute, one side on the other's machine):",
                  ""]
        lines += [f"- {m} {b} {meth} vs {base}, seed {s}: records `{a}` and `{o}`"
                  for m, b, meth, base, s, a, o in t1.mixed_records(self.records[t1])]
        lines += ["", "## Table 2", ""] + [f"- {line}" for line in t2.verdict_lines(self.t2)]
        lines += self._mixed(t2.mixed_records(self.records[t2]))
        lines += ["", "## Fig. 4", ""]
        f4_claims = fig4.claims(self.f4)
        for row in fig4.verdict(self.f4).itertuples():
            d, word = f4_claims[row.model]
            lines.append(f"- {row.model}: MRECG {row.MRECG:.2f} (mean over seeds), rank {row.rank} of {row.of} against "
                         f"random schemes ({row.random_min:.2f}-{row.random_max:.2f}), BRECQ {row.BRECQ:.2f}; "
                         f"{'on' if row.on_front else 'not on'} the Pareto front; MRECG minus a random scheme {d}; "
                         f"{word}.")
        lines += ["", "## Fig. 5", ""] + [f"- {line}" for line in fig5.verdict_lines(self.f5)]
        lines += self._mixed(fig5.mixed_records(self.records[fig5]))
        lines += ["", "## Fig. 6", ""] + [f"- {line}" for line in fig6.verdict_lines(self.records[fig6])]
        lines += self._mixed(fig6.mixed_records(self.records[fig6]))
        lines += ["", "## Iteration budget", ""]
        lines += [f"- {line}" for line in budget.verdict_lines(self.budget, self.budget_frame, self.preset)]
        lines += self._mixed(budget.mixed_records(self.records[budget], self.preset))
        study = Study(self.preset)
        chosen = toy.settings(study)
        if toy.is_stored(study, results, chosen):
            from mrecg.study import oscillation

            toy_claims = oscillation.claims(toy.records(study, results, chosen))
            lines += ["", "## Toy (notebook 00)", ""] + [f"- {line}" for line in oscillation.plainly(toy_claims)]
        return "\n".join(lines) + "\n"


_FINDINGS: dict[str, Findings] = {}


def findings(preset: str = "mini") -> str:
    """The README's findings block: the forest plot, a short summary, one compact table per artefact."""
    if preset not in _FINDINGS:
        _FINDINGS[preset] = Findings(preset)
    return _FINDINGS[preset].readme()


def findings_tables(preset: str = "mini") -> str:
    """The compact tables of the book's findings page."""
    if preset not in _FINDINGS:
        _FINDINGS[preset] = Findings(preset)
    return _FINDINGS[preset].tables()


def findings_file(preset: str = "mini") -> str:
    """FINDINGS.md: every generated line."""
    if preset not in _FINDINGS:
        _FINDINGS[preset] = Findings(preset)
    return _FINDINGS[preset].full()


def machines(records: list[dict], workers: int = 2) -> list[str]:
    """Where the grid was computed, and what it costs from an empty cache on a 2-core CPU: the CPU
    records' median seconds per unit of the scheduler's cost model, times the grid's cost."""
    from statistics import median

    from mrecg.figures import machine_label
    from mrecg.study.runs import RunSpec

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
            f"CPU records' median seconds per unit of `mrecg.study.runner.estimated_cost`."]


def step_lr_probe() -> str:
    """The activation-step lr probe behind the mini preset (benchmarks/results/step_lr_probe_*.jsonl)."""
    from mrecg.study import stats

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


def _benchmark(name: str):
    """A script of benchmarks/ as a module (they are scripts, not a package)."""
    sys.path.insert(0, str(README.parent / "benchmarks"))
    return __import__(name)


def released_xcheck() -> str:
    """Ours beside the authors' released code (benchmarks/results/released_xcheck.jsonl)."""
    xcheck = _benchmark("released_xcheck")
    return xcheck.table([json.loads(line) for line in xcheck.DEFAULT_OUT.read_text().splitlines() if line.strip()])


def agreement() -> str:
    """The README's short agreement table: the named configurations and their references."""
    xcheck = _benchmark("released_xcheck")
    rows = [json.loads(line) for line in xcheck.DEFAULT_OUT.read_text().splitlines() if line.strip()]
    return xcheck.table(xcheck.named(rows))


def lockstep() -> str:
    """The released QDrop loop and ours in lock-step on one unit (benchmarks/results/lockstep.jsonl)."""
    steps = _benchmark("lockstep")
    return steps.table([json.loads(line) for line in steps.DEFAULT_OUT.read_text().splitlines() if line.strip()])


def act_init_gains() -> str:
    """MRECG's paired gains per range setup (benchmarks/act_init_gains.py's records, read only)."""
    gains = _benchmark("act_init_gains")
    return "\n".join(gains.table(["ours", "qdrop", "mqbench"], [0, 1, 2]))


def act_init_decision() -> str:
    """Which range setup the tables use, decided by the measured paired gains."""
    from mrecg.study.sweeps import TABLES_ACT_INIT

    gains = _benchmark("act_init_gains")
    return gains.decision(list(gains.rows(["ours", "qdrop", "mqbench"], [0, 1, 2])), TABLES_ACT_INIT)


def heldout_status(results_dir: Path | None = None) -> str:
    """Where the preregistered test stands (:func:`mrecg.figures.heldout.status_lines`), with the dates on
    which the held-out records were committed (looked up by their path in the results folder read)."""
    import subprocess

    from mrecg.figures import heldout
    from mrecg.study.records import load_records
    from mrecg.study.sweeps import TABLES_ACT_INIT, Study

    results = paths.results_dir(results_dir)

    def added(files: list[str]) -> list[str]:
        """The dates of the commits that added ``files`` (none for files outside the repository)."""
        return subprocess.run(["git", "log", "--diff-filter=A", "--format=%ad", "--date=short", "--", *files],
                              cwd=README.parent, capture_output=True, text=True).stdout.split()

    def committed(records: list[dict]) -> tuple[str, str] | None:
        dates = added([str(results / "mini" / f"{r['key']}.json") for r in records])
        return (min(dates), max(dates)) if dates else None

    registered = added(["results/mini/preregistration.md"])
    records = load_records(results, "mini", quiet=True)
    return "\n".join(heldout.status_lines(Study("mini", act_init=TABLES_ACT_INIT), records, results, committed,
                                          registered_on=registered[-1] if registered else None))


BLOCKS = {"heldout-status": heldout_status, "mini-table": mini_table, "released-xcheck": released_xcheck, "agreement": agreement, "lockstep": lockstep,
          "act-init-gains": act_init_gains, "act-init-decision": act_init_decision, "findings": findings, "findings-tables": findings_tables, "step-lr-probe": step_lr_probe,
          "gpu-paper-path": gpu_paper_path, "init-size-check": init_size_check}


def render(text: str) -> str:
    for name, make in BLOCKS.items():
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        if re.search(rf"^{re.escape(start)}$", text, re.M):  # a marker on a line of its own (not an include's option)
            text = re.sub(rf"^{re.escape(start)}$.*?^{re.escape(end)}$", lambda _: f"{start}\n{make()}\n{end}", text,
                          flags=re.S | re.M)
    return text


if __name__ == "__main__":
    texts = {f: f.read_text() for f in FILES}
    if lost := [name for name in BLOCKS if not any(re.search(f"^<!-- {name}:start -->$", t, re.M) for t in texts.values())]:
        sys.exit(f"readme_tables: no file holds the block(s) {', '.join(lost)}")
    stale = {f: new for f, text in texts.items() if (new := render(text)) != text}
    full = findings_file()
    if not FINDINGS.is_file() or FINDINGS.read_text() != full:
        stale[FINDINGS] = full
    if "--check" in sys.argv:
        print("\n".join(f"stale: {f.relative_to(README.parent)}" for f in stale))
        sys.exit(1 if stale else 0)
    for f, new in stale.items():
        f.write_text(new)
