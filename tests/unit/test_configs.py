"""Every shipped pipeline config plans without unknown settings, into the stages it says."""

from pathlib import Path

import pytest

from seqkd.config_file import load_config
from seqkd.plan import plan

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "pipelines").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_config_plans(path):
    cfg = load_config(path)
    steps = plan(cfg, ROOT)
    names = [s.name for s in steps]
    assert names[0] == "prepare" and names[-1] == "bench"
    for student in cfg["students"]:
        assert names.index(f"student-{student['name']}") < names.index(
            f"export-{student['name']}") < names.index("bench")
    by_name = {s.name: s for s in steps}
    for step in steps:  # dependencies come earlier in the plan
        assert all(names.index(d) < names.index(step.name) for d in step.deps)
        assert all(d in by_name for d in step.deps)


def test_wmt14_config_trains_on_a_gpu_and_tests_on_newstest2014():
    steps = {s.name: s for s in plan(load_config(ROOT / "pipelines" / "wmt14-en-de.yaml"), ROOT)}
    assert steps["prepare"].config.dataset == "wmt14-en-de"
    assert steps["teacher"].config.preset == "wmt-base"
    assert steps["teacher"].config.device == "cuda"
    assert all(steps[f"student-{n}"].config.device == "cuda"
               for n in ("baseline", "seqkd", "seqkd-wordkd", "seqinter"))
    assert steps["distill-seqkd"].config.device == "cuda"
    assert steps["bench"].config.test_sets == ["newstest2014"]
