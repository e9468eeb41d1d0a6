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
    # a choose section is the one stage after the bench, and reads it
    if "choose" in cfg:
        assert names.pop() == "choose" and steps[-1].deps == ["bench"]
    assert names[0] == "prepare" and names[-1] == "bench"
    for student in cfg.get("students", []):
        assert names.index(f"student-{student['name']}") < names.index(
            f"export-{student['name']}") < names.index("bench")
    deps = {s.name: s.deps for s in steps}
    assert all(deps[name] for name in names[1:])  # every stage but prepare reads another
    for student in cfg.get("students", []):  # an export reads its student, the bench each
        assert f"student-{student['name']}" in deps[f"export-{student['name']}"]
        assert f"export-{student['name']}" in deps["bench"]


def test_a_stage_reading_one_planned_after_it_is_an_error_not_a_dropped_dependency(tmp_path):
    from dataclasses import dataclass

    from seqkd.errors import SeqkdError
    from seqkd.plan import derive_edges
    from seqkd.stages.base import Step

    @dataclass
    class Reads:
        paths: list

        def consumes(self):
            return self.paths

    a, b = tmp_path / "a", tmp_path / "b"
    steps = [Step("a", a, Reads([]), print), Step("b", b, Reads([str(a / "x.txt")]), print)]
    derive_edges(steps)
    assert steps[1].deps == ["a"] and steps[0].deps == []
    with pytest.raises(SeqkdError, match="stage b reads a, planned after it"):
        derive_edges(steps[::-1])


def test_wmt14_config_trains_on_a_gpu_and_tests_on_newstest2014():
    steps = {s.name: s for s in plan(load_config(ROOT / "pipelines" / "wmt14-en-de.yaml"), ROOT)}
    assert steps["prepare"].config.dataset == "wmt14-en-de"
    assert steps["teacher"].config.preset == "wmt-base"
    assert steps["teacher"].config.device == "cuda"
    assert all(steps[f"student-{n}"].config.device == "cuda"
               for n in ("baseline", "seqkd", "seqkd-wordkd", "seqinter"))
    assert steps["distill-seqkd"].config.device == "cuda"
    assert steps["bench"].config.test_sets == ["newstest2014"]


def test_each_problem_of_a_stages_combined_rules_is_listed_on_its_own_line(tmp_path, capsys):
    """A stage whose settings break two rules that combine settings (checked together when
    the stage's config is built) shows them as two of the config's problems, each naming its
    stage, not as one line joined by ';'."""
    from seqkd import cli

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"work_dir: {tmp_path / 'w'}\ndata: {{dataset: multi30k, mono: {{caps: x}}}}\n"
                   "teacher: {checkpoints: [t.pt]}\n"
                   "distill:\n  - {name: a, word_loop_repeats: 2, loop_repeats: 1}\n")
    assert cli.main(["run", str(cfg), "--check"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert "problems; nothing was run" in lines[0]
    assert any(line.strip().startswith("distill a: word_loop_repeats must be 0 (off) or at "
                                       "least 3") and ";" not in line for line in lines), lines
    assert any(line.strip().startswith("distill a: loop_repeats must be 0 (off) or at least 2")
               for line in lines), lines


def test_an_unknown_setting_suggests_the_one_it_is_close_to(tmp_path, capsys):
    from seqkd import cli

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"work_dir: {tmp_path / 'w'}\nstudents:\n"
                   "  - {name: a, data: references, max_epochs: 3, colour: red}\n")
    assert cli.main(["run", str(cfg), "--check"]) == 1
    err = capsys.readouterr().err
    assert "student a: unknown setting(s) colour, max_epochs (did you mean max_epoch?); " \
           "known: " in err, err


def test_an_unknown_section_or_bench_option_suggests_the_one_it_is_close_to(tmp_path, capsys):
    from seqkd import cli
    from seqkd.errors import SeqkdError
    from seqkd.stages.bench.systems import SystemSpec

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"work_dir: {tmp_path / 'w'}\nstudent:\n  - {{name: a}}\n")
    assert cli.main(["run", str(cfg), "--check"]) == 1
    assert "unknown section(s) student (did you mean students?); known: " in \
        capsys.readouterr().err
    with pytest.raises(SeqkdError, match=r"unknown option 'bem=1' \(did you mean beam\?\)"):
        SystemSpec.parse("s=ct2:x,bem=1")
