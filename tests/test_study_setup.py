"""The range setup of a study: one for every run of the tables, a parameter of every notebook and
of ``mrecg reproduce``, and runs of another setup are other records."""

import pytest

from mrecg.figures import table1
from mrecg.study import notebooks
from mrecg.study.sweeps import TABLES_ACT_INIT, Study, StudyError


def test_every_run_of_a_study_takes_its_setup_and_another_setup_has_other_keys():
    ours, released = Study("smoke"), Study("smoke", act_init="mqbench")
    assert ours.act_init == TABLES_ACT_INIT
    a, b = table1.specs(ours), table1.specs(released)
    assert [s.resolved().act_init for s in b] == ["mqbench"] * len(b)
    assert {s.resolved().act_init for s in a} == {TABLES_ACT_INIT}
    assert not {s.key() for s in a} & {s.key() for s in b}
    if TABLES_ACT_INIT == "ours":  # the setup of every record so far keeps its keys
        assert "act_init" not in a[0].to_dict()["overrides"]


def test_a_bad_setup_is_one_line_before_any_work():
    with pytest.raises(StudyError, match="act_init must be one of ours, qdrop, mqbench, got 'released'"):
        Study("smoke", act_init="released")
    namespace = {k: v for k, (v, _) in notebooks.PARAMETERS.items()}
    assert notebooks.check_notebook_parameters(dict(namespace, act_init="qdrop")).act_init == "qdrop"
    with pytest.raises(StudyError, match="act_init must be one of"):
        notebooks.check_notebook_parameters(dict(namespace, act_init="qdorp"))
