"""`seqkd run CONFIG --status`: where each stage stands (done, not started, unfinished and how
far it got, running now, changed settings, waiting for a stage that runs first), read from the
folders over a fake fairseq, without writing anything; and the progress readers it uses."""

import json
import math
import shutil
import os
from pathlib import Path

import pytest
import yaml

from seqkd.plan.status import CHANGED, DONE, NEW, OTHER, RESUMES, UPSTREAM, WAITS, verdict
from seqkd.procs import folder_lock, lock_holders
from seqkd.stage import Stage
from seqkd.stages.distill.merge import note_chunks, where as distill_where
from seqkd.stages.train.progress import where as train_where
from conftest import seqkd
from test_stages_fast import fake_fairseq  # noqa: F401 (a fixture)


def _tree(root: Path):
    """Every path under ``root`` with its size and modification time."""
    return sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*"))


def _status(cfg, capsys):
    assert seqkd("run", cfg, "--status") == 0
    lines = capsys.readouterr().out.splitlines()
    return {line.split()[0]: line.split(None, 1)[1] for line in lines}


@pytest.fixture
def config(corpus, tmp_path):
    def write(**student_a):
        cfg = {"work_dir": str(tmp_path / "w"),
               "data": {"train_prefix": str(corpus / "train"),
                        "valid_prefix": str(corpus / "valid"), "vocab_size": 60},
               "teacher": {"train": {"preset": "tiny", "max_epoch": 3}},
               "students": [{"name": "a", "preset": "tiny", "max_epoch": 3, **student_a},
                            {"name": "b", "preset": "tiny", "max_epoch": 3}]}
        path = tmp_path / "run.yaml"
        path.write_text(yaml.safe_dump(cfg))
        return path
    return write


@pytest.mark.usefixtures("fake_fairseq")
def test_status_says_where_each_stage_stands_and_writes_nothing(config, tmp_path, capsys,
                                                               monkeypatch):
    cfg = config()
    assert seqkd("run", cfg, "--only", "prepare", "student-a", "-q") == 0
    monkeypatch.setenv("SEQKD_FAKE_STOP_AFTER_EPOCH", "2")  # b is stopped in its third epoch
    assert seqkd("run", cfg, "--only", "student-b", "-q") == 1
    monkeypatch.delenv("SEQKD_FAKE_STOP_AFTER_EPOCH")
    capsys.readouterr()
    before = _tree(tmp_path / "w")

    said = _status(cfg, capsys)
    assert _tree(tmp_path / "w") == before  # a look: nothing written, no lock file made
    assert said["prepare"].startswith("done at ") and said["student-a"].startswith("done at ")
    assert said["teacher"] == "not started"
    assert said["export-a"] == "not started"
    assert said["student-b"] == (
        "unfinished, resumes; last checkpoint at epoch 2 of 3, update 20 (a run with the "
        "settings it started with resumes there); since then epoch 3, step 4 of 10")
    assert said["export-b"] == "waits for student-b"
    # the same look as JSON, for scripts: one object a stage, in the plan's order
    assert seqkd("run", cfg, "--status", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["stage"] for r in rows] == list(said)
    by = {r["stage"]: r for r in rows}
    assert by["student-a"]["state"] == DONE and by["student-a"]["seconds"] > 0
    assert by["student-a"]["finished"] is True
    assert by["student-b"]["state"] == RESUMES and by["student-b"]["finished"] is False
    assert by["student-b"]["progress"].startswith("last checkpoint at epoch 2 of 3")
    assert by["export-b"]["state"] == WAITS and by["export-b"]["after"] == ["student-b"]
    assert by["teacher"]["state"] == NEW and by["teacher"]["kind"] == "teacher"
    assert _tree(tmp_path / "w") == before
    assert seqkd("run", cfg, "--json") == 1  # only with --status; nothing run
    assert "--json goes with --status" in capsys.readouterr().err
    assert _tree(tmp_path / "w") == before

    # a stage another process holds is said to be running, with that process's pid
    with folder_lock(tmp_path / "w" / "student-b", "a test"):
        assert lock_holders(tmp_path / "w" / "student-b") == [os.getpid()]
        assert f"running now (pid {os.getpid()})" in _status(cfg, capsys)["student-b"]
    assert lock_holders(tmp_path / "w" / "student-b") == []
    before = _tree(tmp_path / "w")  # the test's own lock wrote its pid

    # a changed setting: the stage runs again, and so does what reads it
    cfg = config(dropout=0.3)
    said = _status(cfg, capsys)
    assert said["student-a"] == "settings changed, runs again (changed: dropout)"
    assert said["export-a"] == "waits for student-a"
    assert _tree(tmp_path / "w") == before
    # what it says is what `seqkd run` then does
    assert seqkd("run", cfg, "--only", "student-a", "student-b") == 0
    assert json.loads(capsys.readouterr().out)["student-a"] == "ran"
    assert _status(cfg, capsys)["student-b"].startswith("done at ")
    log = (tmp_path / "w" / "student-b" / "fairseq-train.log").read_text()
    assert "checkpoint_last.pt (epoch 2)" in log  # it resumed where --status said


def test_verdict_of_each_kind_of_folder(tmp_path):
    """The one judgement `seqkd run` acts on and `--status` prints."""
    stage = Stage("s", tmp_path / "s", {"x": 1})
    assert verdict(stage, False) == NEW
    stage.begin()  # started, not finished (as after a kill)
    stage.close()
    assert verdict(Stage("s", tmp_path / "s", {"x": 1}), False) == RESUMES
    assert verdict(Stage("s", tmp_path / "s", {"x": 2}), False) == OTHER
    assert verdict(Stage("s", tmp_path / "s", {"x": 1}), True) == UPSTREAM
    again = Stage("s", tmp_path / "s", {"x": 1})
    again.begin()
    again.finish()
    assert verdict(Stage("s", tmp_path / "s", {"x": 1}), False) == DONE
    changed = Stage("s", tmp_path / "s", {"x": 2})
    assert verdict(changed, False) == CHANGED
    assert changed.changed(again.finished()["settings"]) == ["x"]
    assert WAITS != UPSTREAM


def test_train_progress_reads_fairseqs_own_log_lines(tmp_path):
    """Lines as fairseq 0.12 writes them (from a real run's fairseq-train.log)."""
    log = tmp_path / "fairseq-train.log"
    assert train_where(tmp_path, None) is None
    log.write_text(
        "2026-12-05 04:03:02,377 INFO train_inner: epoch 009:    127 / 137 loss=3.694, "
        "nll_loss=2.168, ppl=4.49, wps=2900, ups=0.21, wpb=13745.4, bsz=215.4, "
        "num_updates=1223, lr=0.00114, gnorm=0.506, clip=0, train_wall=47, wall=0\n"
        "2026-12-05 04:04:25,937 INFO fairseq.checkpoint_utils: Saved checkpoint /x/checkpoints/"
        "checkpoint9.pt (epoch 9 @ 1233 updates, score 4.072) (writing took 0.42 seconds)\n")

    class Cfg:
        max_epoch, max_updates = 20, None
    assert train_where(tmp_path, Cfg) == ("last checkpoint at epoch 9 of 20, update 1,233 (a "
                                          "run with the settings it started with resumes "
                                          "there)")
    with open(log, "a") as f:
        f.write("2026-12-05 04:19:07,271 INFO train_inner: epoch 010:     97 / 137 loss=3.614, "
                "nll_loss=2.079, ppl=4.23, wps=2779, num_updates=1330\n")
    # two training lines: the time left to the budget at their pace, 964.9 s for 107 updates
    assert train_where(tmp_path, Cfg).endswith(
        "; since then epoch 10, step 97 of 137; about 3 h 32 min left at its last pace (9.0 s "
        "an update)")
    Cfg.patience = 5  # early stopping may end it sooner
    assert train_where(tmp_path, Cfg).endswith("; at most about 3 h 32 min left at its last "
                                               "pace (9.0 s an update)")
    (tmp_path / "fairseq-train.log").write_text("2026-12-05 INFO fairseq_cli.train: start\n")
    assert train_where(tmp_path, Cfg) == "no checkpoint saved yet"
    with open(log, "a") as f:
        f.write("2026-12-05 06:30:17,852 INFO train_inner: epoch 001:    190 / 334 loss=9.1, "
                "wps=2400, num_updates=190\n")
    assert train_where(tmp_path, Cfg) == ("no checkpoint saved yet; so far epoch 1, step 190 "
                                          "of 334")


def test_distill_progress_counts_the_chunks_decoded(tmp_path):
    assert distill_where(tmp_path, None) is None
    (tmp_path / "chunks").mkdir()
    for i in (0, 2):
        (tmp_path / "chunks" / f"{i:06d}.jsonl").write_text("{}\n")
    (tmp_path / "chunks" / ".000001.jsonl.abc.tmp").write_text("")  # being written
    for i, when in ((0, 1_000_000), (2, 1_000_075)):  # written 75 s apart
        os.utime(tmp_path / "chunks" / f"{i:06d}.jsonl", (when, when))
    assert distill_where(tmp_path, None) == "2 chunks decoded"
    note_chunks(tmp_path, [(0, 1000), (1000, 2000), (2000, 2500)])
    # the chunk to go, at the pace of those written
    assert distill_where(tmp_path, None) == ("2 of 3 chunks decoded (2,500 source lines, "
                                             "1,000 a chunk; a run with the settings it "
                                             "started with decodes the rest); "
                                             "about 1 min left at its last pace (75.0 s a "
                                             "chunk)")
    note_chunks(tmp_path, [(0, 2000), (2000, 2500)])  # cut again (another chunk size)
    assert distill_where(tmp_path, None).startswith("2 of 2 chunks decoded (2,500 source "
                                                    "lines, 2,000 a chunk")
    for damaged in ('{"lines": 2500, "chunks": ', '{"lines": "all"}', "[]"):
        (tmp_path / "chunks.json").write_text(damaged)  # a report, never a traceback
        assert distill_where(tmp_path, None) == "2 chunks decoded"


def test_the_pace_is_a_median_so_one_pause_does_not_set_it():
    from seqkd.stats import seconds_each, time_left

    # 10 s a unit, then a stop of an hour and a resume, then 10 s again
    points = [(0, 0), (10, 1), (20, 2), (3620, 3), (3630, 4), (3640, 5)]
    assert seconds_each(points) == 10
    assert seconds_each(points, last=1) == 10
    assert math.isnan(seconds_each([(0, 5), (10, 5)]))  # no count grew
    assert time_left(360, 10, "update") == ("about 1 h 00 min left at its last pace (10.0 s "
                                            "an update)")
    assert time_left(3, 150, "chunk", at_most=True) == ("at most about 8 min left at its last "
                                                        "pace (2.5 min a chunk)")
    assert time_left(0, 10, "chunk") == "" and time_left(5, float("nan"), "chunk") == ""


@pytest.mark.usefixtures("fake_fairseq")
def test_only_is_refused_up_front_when_a_chosen_stage_reads_one_not_done(config, tmp_path,
                                                                         capsys, caplog,
                                                                         monkeypatch):
    cfg = config()

    def refused(*args):
        before = _tree(tmp_path)
        assert seqkd("run", cfg, *args) == 1
        err = capsys.readouterr().err
        assert "nothing was run or cleared" in err
        assert _tree(tmp_path) == before
        return err

    # nothing done yet: what a chosen stage reads, and what that reads in turn, is named,
    # and the command that has them all
    err = refused("--only", "export-a")
    assert "export-a reads student-a: waits for prepare" in err
    assert "student-a reads prepare: not started" in err
    assert "--only prepare student-a export-a)" in err
    err = refused("--only", "student-b")
    assert "--only prepare student-b)" in err
    assert seqkd("run", cfg, "--only", "prepare", "student-b", "-q") == 0  # as it says

    assert seqkd("run", cfg, "--only", "student-a", "-q") == 0
    shutil.rmtree(tmp_path / "w" / "student-b")
    monkeypatch.setenv("SEQKD_FAKE_STOP_AFTER_EPOCH", "2")
    assert seqkd("run", cfg, "--only", "student-b", "-q") == 1  # b stopped in epoch 3
    monkeypatch.delenv("SEQKD_FAKE_STOP_AFTER_EPOCH")
    capsys.readouterr()
    # an unfinished need, alone or with --jobs: said with how far it got (prepare is done:
    # not named)
    for jobs in ([], ["--jobs", "2"]):
        err = refused("--only", "export-b", *jobs)
        assert "export-b reads student-b: unfinished, resumes; last checkpoint at epoch 2" in err
        assert "--only student-b export-b)" in err and "reads prepare" not in err
    # a need another process is running now
    with folder_lock(tmp_path / "w" / "student-b", "a test"):
        assert f"running now (pid {os.getpid()})" in refused("--only", "export-b")
    # a need that finished but is stale (its settings changed since) is there to read: read
    # as it is, with a warning (a folder carried to another machine without its inputs
    # looks so)
    cfg = config()
    changed = yaml.safe_load(cfg.read_text())
    changed["data"]["vocab_size"] = 61
    cfg.write_text(yaml.safe_dump(changed))
    before = _tree(tmp_path / "w")
    caplog.clear()
    assert seqkd("run", cfg, "--only", "student-a") == 0
    assert json.loads(capsys.readouterr().out)["student-a"] == "up to date"
    assert ("student-a reads prepare as it is, though a whole run would run it again "
            "(settings changed, runs again (changed: vocab_size))") in caplog.text
    assert _tree(tmp_path / "w") == before
    # a need that --restart empties
    cfg = config()
    err = refused("--only", "student-a", "--restart", "prepare")
    assert "student-a reads prepare: emptied by --restart" in err
    assert "--only prepare student-a)" in err
    # a chosen stage whose needs are done runs as before
    assert seqkd("run", cfg, "--only", "student-b") == 0
    assert json.loads(capsys.readouterr().out)["student-b"] == "ran"


def test_inputs_that_are_not_there_are_said_before_anything_runs(corpus, tmp_path, capsys):
    from seqkd.config_file import load_config
    from seqkd.plan import plan
    from seqkd.plan.status import missing_inputs

    # a teacher checkpoint misspelt and a monolingual file not there: said at once, not
    # after prepare, with each stage that reads them; nothing written
    for name in ("spm.model", "dict.txt"):
        (tmp_path / name).write_text("")
    cfg = {"work_dir": str(tmp_path / "w"),
           "data": {"train_prefix": str(corpus / "train"), "valid_prefix": str(corpus / "valid"),
                    "mono": {"more": str(tmp_path / "mono")},
                    "spm_model": str(tmp_path / "spm.model"),
                    "dictionary": str(tmp_path / "dict.txt")},
           "teacher": {"checkpoints": [str(tmp_path / "teacher-v1.pt")]},
           "distill": [{"name": "kd", "sources": ["train", "more"]}],
           "students": [{"name": "a", "data": "kd", "preset": "tiny", "max_epoch": 1}]}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    capsys.readouterr()
    assert seqkd("run", path) == 1
    err = capsys.readouterr().err
    assert "names files or folders that are not there; nothing was run" in err
    for stage, missing in (("prepare", tmp_path / "mono.en"),
                           ("distill-kd", tmp_path / "teacher-v1.pt")):
        assert f"  {stage} reads {missing}: not found" in err, err
    assert "Traceback" not in err and not (tmp_path / "w").exists()
    # what a stage of the config makes is not looked for; a stage that reads none of the
    # missing paths may run on its own (--only)
    (tmp_path / "mono.en").write_text("a new line\n")
    steps = plan(load_config(path), tmp_path, "run.yaml")
    assert missing_inputs(steps, ["prepare", "student-a", "export-a"]) == []
    assert missing_inputs(steps, ["distill-kd"]) == [("distill-kd", tmp_path / "teacher-v1.pt")]
    # --status says it of the stage, as what a run of it would do
    said = _status(path, capsys)
    assert said["distill-kd"] == (f"waits for prepare; reads {tmp_path / 'teacher-v1.pt'}, not "
                                  "there: a run of it is refused until it is")
    assert "not there" not in said["prepare"] and not (tmp_path / "w").exists()


def test_check_checks_the_command_as_given(config, tmp_path, capsys):
    """--check said a config was fine while the run of the same command line would refuse
    its --only, --restart or --jobs."""
    cfg = config()
    assert seqkd("run", cfg, "--check") == 0
    for extra, said in ((["--only", "student-c"], "no stage named student-c"),
                        (["--restart", "nope"], "no stage named nope"),
                        (["--jobs", "0"], "--jobs must be 1 or more"),
                        (["--only", "student-a"], "--only leaves out stages that the chosen "
                                                  "ones read")):
        capsys.readouterr()
        assert seqkd("run", cfg, "--check", *extra) == 1, extra
        assert said in capsys.readouterr().err
    assert seqkd("run", cfg, "--check", "--only", "prepare") == 0
    capsys.readouterr()
    assert seqkd("run", cfg, "--check", "--only", "prepair") == 1  # a typo: the stage meant
    err = capsys.readouterr().err
    assert "no stage named prepair in " in err and "(did you mean prepare?)" in err
    assert seqkd("run", cfg, "--status", "--only", "nope") == 1
    assert not (tmp_path / "w").exists()
