"""Issue 20's cases that are behaviours rather than one error message: runs that share a work
folder, folders seqkd did not make, cards that name a checkpoint, an interrupted export, a
teacher replaced under --force, translate into a closed pipe (the one-error cases are in
cases.py)."""

import json
import os
import pickle
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import seqkd
from seqkd.errors import SeqkdError
from seqkd.procs import LOCK_FILE
from seqkd.stage import clear_dir

FAKE = Path(__file__).resolve().parents[1] / "fixtures" / "fake_fairseq.py"


def _config(tmp_path: Path, corpus: Path) -> Path:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(textwrap.dedent(f"""\
        work_dir: {tmp_path / 'w'}
        data: {{train_prefix: {corpus / 'train'}, valid_prefix: {corpus / 'valid'},
               vocab_size: 60}}
        teacher: {{train: {{preset: tiny, max_epoch: 1}}}}
        """))
    return cfg


def test_a_second_run_of_one_config_is_refused_while_the_first_runs(corpus, tmp_path):
    """Two `seqkd run` of one config: the second stops at once naming the first's pid, the
    first finishes alone (one training, nothing of the second mixed in). Also a run of one
    stage (--only) while the whole run holds the work folder."""
    cfg = _config(tmp_path, corpus)
    env = {**os.environ, "SEQKD_FAIRSEQ_ENTRY": f"{sys.executable} {FAKE}",
           "SEQKD_FAKE_LOG": str(tmp_path / "fake.jsonl"), "SEQKD_FAKE_TRAIN_SECONDS": "6"}
    cmd = [sys.executable, "-m", "seqkd", "run", str(cfg), "-q"]
    first = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    teacher = tmp_path / "w" / "teacher"
    for _ in range(1200):  # until the first run trains (prepare binarizes for real first)
        if (teacher / "config.yaml").is_file():
            break
        time.sleep(0.1)
    assert (teacher / "config.yaml").is_file(), first.stderr.read() if first.poll() else ""
    for extra in ([], ["--only", "teacher"], ["--restart", "prepare"]):
        second = subprocess.run(cmd + extra, env=env, stderr=subprocess.PIPE, text=True,
                                timeout=120)
        assert second.returncode == 1, second.stderr
        assert f"another seqkd process (pid {first.pid})" in second.stderr, second.stderr
        assert "Traceback" not in second.stderr
    assert first.wait(timeout=120) == 0, first.stderr.read()
    trainings = [c for c in map(json.loads, (tmp_path / "fake.jsonl").read_text().splitlines())
                 if c["tool"] == "train"]
    assert len(trainings) == 1
    assert (teacher / "DONE.json").is_file() and (teacher / "checkpoints" / "checkpoint_best.pt"
                                                  ).is_file()


def test_a_stage_folder_is_not_cleared_while_another_process_works_in_it(tmp_path):
    folder = tmp_path / "student"
    folder.mkdir()
    (folder / "config.yaml").write_text("x: 1\n")
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from pathlib import Path
        from seqkd.procs import folder_lock
        with folder_lock(Path({str(folder)!r}), "train"):
            print("locked", flush=True)
            time.sleep(30)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(SeqkdError, match=f"pid {holder.pid}"):
            clear_dir(folder)
        assert (folder / "config.yaml").is_file()
    finally:
        holder.kill()
        holder.wait()
    clear_dir(folder)  # the holder is gone: now it can
    assert [p.name for p in folder.iterdir()] == [".seqkd.lock"]


def test_user_files_where_a_stage_folder_goes_are_kept(corpus, tmp_path, capsys):
    cfg = _config(tmp_path, corpus)
    mine = tmp_path / "w" / "teacher" / "notes.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("my notes\n")
    # prepare runs: the teacher's folder is judged at the teacher's turn (seqkd.lineage)...
    assert seqkd("run", cfg, "--only", "prepare", "-q") == 0
    assert mine.read_text() == "my notes\n"
    # ...where the user's files stop it before anything is written there
    capsys.readouterr()
    assert seqkd("run", cfg) == 1
    assert "holds files seqkd did not write" in capsys.readouterr().err
    assert mine.read_text() == "my notes\n"
    assert {p.name for p in mine.parent.iterdir()} - {LOCK_FILE} == {"notes.txt"}


class _Boom:
    def __reduce__(self):
        return (Path.touch, (Path(os.environ["SEQKD_TEST_PWNED"]),))


def test_bench_never_unpickles_the_checkpoint_a_card_names(tmp_path, monkeypatch):
    """A card without a shape whose source_checkpoint is a crafted pickle: the row gets no
    MACs, the pickle is never loaded."""
    from seqkd.stages.bench.systems import SystemSpec

    pwned = tmp_path / "pwned"
    monkeypatch.setenv("SEQKD_TEST_PWNED", str(pwned))
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"model": _Boom()}))
    model = tmp_path / "export" / "model"
    model.mkdir(parents=True)
    (model / "card.json").write_text(json.dumps({"source_checkpoint": str(evil)}))
    spec = SystemSpec("s", "ct2", str(model))
    assert spec.kind_of.shape(spec) is None
    assert not pwned.exists()
    pickle.loads(evil.read_bytes())  # the pickle is real: loading it would have run its code
    assert pwned.exists()


def test_every_pair_filtered_names_the_counts_and_the_likely_cause():
    from seqkd.stages.distill.anomalies import all_filtered_message

    msg = all_filtered_message(5000, {"loop": 4758, "length_ratio": 242}, 0)
    assert "every one of the 5000 distilled pairs" in msg
    assert "loop: 4758, length_ratio: 242" in msg
    assert "under-trained teacher" in msg


def test_a_full_disk_is_one_error_line(monkeypatch, capsys):
    import errno

    import seqkd.stages.prepare.runner

    def full(cfg, force=False):
        raise OSError(errno.ENOSPC, "No space left on device", "/tmp/x/bin/train.bin")
    monkeypatch.setattr(seqkd.stages.prepare.runner, "prepare", full)
    from seqkd.cli import main

    assert main(["prepare", "--out", "/tmp/x", "-q"]) == 1
    err = capsys.readouterr().err
    assert "no space left on the device while writing /tmp/x/bin/train.bin" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------- real models (slow)


@pytest.mark.slow
def test_distill_force_with_another_teacher_decodes_with_that_teacher(prepared, teacher,
                                                                      tmp_path):
    """The CTranslate2 conversion is keyed by the teacher file's content: --force with other
    weights under another name decodes with them, never with the old conversion."""
    import shutil

    import torch

    from seqkd.checkpoints import load_mapped

    other = tmp_path / "other"
    other.mkdir()
    state = dict(load_mapped(teacher / "checkpoints" / "checkpoint_best.pt"))
    torch.manual_seed(0)  # other weights: every float tensor moved by noise
    state["model"] = {k: (v + 0.5 * torch.randn_like(v) if v.is_floating_point() else v.clone())
                      for k, v in state["model"].items()}
    torch.save(state, other / "checkpoint.pt")
    shutil.copyfile(teacher / "dict.txt", other / "dict.txt")
    out = tmp_path / "d"
    common = ["distill", "--data", prepared, "--out", out, "--beam", "2", "--max-len", "20",
              "-q"]
    assert seqkd(*common, "--teacher", teacher) == 0
    first = (out / "hyp.de").read_text()
    assert seqkd(*common, "--teacher", other / "checkpoint.pt", "--force") == 0
    assert (out / "hyp.de").read_text() != first
    assert len(list(out.glob("teacher-ct2-*"))) == 1  # the old conversion went


@pytest.mark.slow
def test_an_interrupted_export_leaves_no_model_and_translate_refuses_a_cardless_one(
        prepared, teacher, tmp_path, monkeypatch):
    import seqkd.stages.export.runner as export_module

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    out = tmp_path / "e"
    with monkeypatch.context() as m:
        m.setattr(export_module, "fidelity_check", interrupted)
        with pytest.raises(KeyboardInterrupt):
            export_module.export(export_module.ExportConfig(
                checkpoint=str(teacher), data=str(prepared), out_dir=str(out),
                fidelity_test="test"))
    assert not (out / "model").exists() and not (out / "DONE.json").exists()
    assert seqkd("export", teacher, "--data", prepared, "--out", out, "-q") == 0
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".model")) == []
    model = out / "model"
    (model / "card.json").unlink()
    with pytest.raises(SeqkdError, match="no card.json"):
        from seqkd.exported import ExportedModel
        ExportedModel(model)


@pytest.mark.slow
def test_translate_into_a_closed_pipe_ends_quietly(prepared, teacher, tmp_path):
    out = tmp_path / "e"
    assert seqkd("export", teacher, "--data", prepared, "--out", out, "-q") == 0
    lines = "".join(f"w{i % 30} w{(i * 7) % 30}\n" for i in range(3000))
    p = subprocess.run(f"{sys.executable} -m seqkd translate {out / 'model'} --beam 1 "
                       f"--batch-lines 64 | head -1", shell=True, input=lines, text=True,
                       capture_output=True, timeout=300)
    assert p.stdout.count("\n") == 1
    assert "Traceback" not in p.stderr and "BrokenPipe" not in p.stderr, p.stderr


def test_run_check_reports_every_cross_setting_mistake_at_once_and_runs_nothing(
        corpus, tmp_path, capsys):
    """Issue 22's three mistakes (nbest over beam, a student without a budget, heads that do
    not divide the width) in one error before anything runs; a good config is listed."""
    cfg = tmp_path / "run.yaml"
    cfg.write_text(textwrap.dedent(f"""\
        work_dir: {tmp_path / 'w'}
        data: {{train_prefix: {corpus / 'train'}, valid_prefix: {corpus / 'valid'}}}
        teacher: {{train: {{preset: tiny, max_updates: 1}}}}
        distill: [{{name: kd, nbest: 5, beam: 2, method: seq-inter}}]
        students:
          - {{name: a, data: kd, preset: tiny}}
          - {{name: b, data: kd, preset: enc6-dec1, heads: 3, max_epoch: 1}}
        """))
    for extra in (["--check"], []):
        assert seqkd("run", cfg, *extra) == 1
        err = capsys.readouterr().err
        assert "3 problems; nothing was run" in err, err
        assert "nbest (5) cannot exceed beam (2): a beam of 5 or more, or a smaller nbest" in err
        assert "student a: give a training budget" in err
        assert "heads 3 does not divide the width 256" in err
        assert not (tmp_path / "w").exists()
    good = tmp_path / "good.yaml"
    good.write_text(_config(tmp_path, corpus).read_text())
    assert seqkd("run", good, "--check") == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["teacher"]["after"] == ["prepare"] and not (tmp_path / "w").exists()


def _small_disk(path: Path, size: str) -> bool:
    """Mount a tmpfs of ``size`` at ``path`` (root only); False where that is not allowed."""
    path.mkdir()
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


@pytest.mark.parametrize("size", ["200k", "600k"])  # full while cleaning / in fairseq-preprocess
def test_prepare_on_a_really_full_disk_is_one_error_and_resumes(corpus, prepared, tmp_path,
                                                                 size):
    """A real full file system (a small tmpfs): one line naming the stage folder and its
    free space, no stamp, nothing truncated; with room made, the same command finishes with
    the binaries of a run that never saw a full disk."""
    disk = tmp_path / "disk"
    if not _small_disk(disk, size):
        pytest.skip("mounting a small tmpfs needs root")
    try:
        out = disk / "data"
        cmd = [sys.executable, "-m", "seqkd", "prepare", "--out", str(out), "--train-prefix",
               str(corpus / "train"), "--valid-prefix", str(corpus / "valid"), "--test",
               f"test={corpus / 'test'}", "--vocab-size", "100", "-q"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert done.returncode == 1, done.stderr
        err = done.stderr.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert f"no space left on the device while writing into {out} (" in err, err
        assert not (out / "DONE.json").exists()
        for f in out.rglob("*"):  # what is there is whole: the same as in a finished run
            rel = f.relative_to(out)
            if f.is_file() and rel.parts[0] in ("text", "pieces", "bin") and \
                    f.suffix != ".log":
                assert f.read_bytes() == (prepared / rel).read_bytes(), rel
        subprocess.run(["mount", "-o", "remount,size=4m", str(disk)], check=True)
        assert subprocess.run(cmd, capture_output=True, timeout=300).returncode == 0
        for f in (prepared / "bin").glob("*.bin"):
            assert (out / "bin" / f.name).read_bytes() == f.read_bytes(), f.name
    finally:
        subprocess.run(["umount", str(disk)])
