"""`seqkd run`: skip finished stages, rerun what changed and everything after it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, mirror, seqkd

pytestmark = pytest.mark.slow  # real fairseq training or decoding


def _config(corpus, work, student_updates=4):
    return {
        "work_dir": str(work),
        "data": {"train_prefix": str(corpus / "train"), "valid_prefix": str(corpus / "valid"),
                 "test_prefixes": {"test": str(corpus / "test")}, "vocab_size": 100},
        "teacher": {"train": {"preset": "tiny", "max_updates": 10, "max_tokens": 1024}},
        "distill": [{"name": "kd", "beam": 2, "max_len": 20}],
        "students": [{"name": "s", "data": "kd", "preset": "tiny", "max_tokens": 1024,
                      "max_updates": student_updates}],
        "export": {"quantization": "int8"},
    }


def _mtimes(work: Path):
    return {p.parent.name: p.stat().st_mtime_ns for p in work.glob("*/DONE.json")}


def test_run_skips_finished_and_reruns_changed_stages(corpus, tmp_path, capsys):
    work = tmp_path / "work"
    cfg_path = tmp_path / "run.yaml"
    cfg_path.write_text(yaml.safe_dump(_config(corpus, work)))
    assert seqkd("run", cfg_path, "-q") == 0
    first = json.loads(capsys.readouterr().out)
    assert set(first.values()) == {"ran"}
    assert list(first) == ["prepare", "teacher", "distill-kd", "student-s", "export-s"]
    before = _mtimes(work)

    assert seqkd("run", cfg_path, "-q") == 0
    assert set(json.loads(capsys.readouterr().out).values()) == {"up to date"}
    assert _mtimes(work) == before

    cfg_path.write_text(yaml.safe_dump(_config(corpus, work, student_updates=6)))
    assert seqkd("run", cfg_path, "-q") == 0
    third = json.loads(capsys.readouterr().out)
    assert third == {"prepare": "up to date", "teacher": "up to date",
                     "distill-kd": "up to date", "student-s": "ran", "export-s": "ran"}
    after = _mtimes(work)
    for kept in ("data", "teacher", "distill-kd"):
        assert after[kept] == before[kept]
    assert after["student-s"] != before["student-s"]


def test_run_rejects_unknown_settings(corpus, tmp_path, capsys):
    cfg = _config(corpus, tmp_path / "w")
    cfg["students"][0]["layers"] = 3
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(cfg))
    assert seqkd("run", tmp_path / "bad.yaml") == 1
    assert "unknown setting(s) layers" in capsys.readouterr().err


def test_tiny_pipeline_from_the_readme(tmp_path):
    """The README's main command, as a user runs it (needs the Multi30k mirror)."""
    root = mirror()
    if root is None:
        pytest.skip("no Multi30k mirror (set SEQKD_DATA_MIRROR)")
    env = dict(os.environ, SEQKD_DATA_MIRROR=str(root), SEQKD_CACHE=str(tmp_path / "cache"))
    subprocess.run([sys.executable, "-m", "seqkd", "run", str(REPO / "pipelines" / "tiny.yaml"),
                    "-q"], cwd=tmp_path, env=env, check=True)
    work = tmp_path / "runs" / "tiny"
    report = json.loads((work / "bench" / "report.json").read_text())
    systems = {r["system"] for r in report["results"]}
    assert systems == {"teacher", "baseline-b1", "baseline-b4", "seqkd-b1", "seqkd-b4",
                       "seqkd-wordkd-b1", "seqkd-wordkd-b4"}
    assert (work / "bench" / "plot.png").is_file()
    assert "kd_loss" in (work / "student-seqkd-wordkd" / "fairseq-train.log").read_text()
    # the seqkd student averages its last 2 epoch checkpoints, and that is what is exported
    done = json.loads((work / "student-seqkd" / "DONE.json").read_text())["summary"]
    assert len(done["averaged"]) == 2 and done["checkpoint"].endswith("checkpoint_avg.pt")
    card = json.loads((work / "export-seqkd" / "model" / "card.json").read_text())
    assert card["source_checkpoint"].endswith("student-seqkd/checkpoints/checkpoint_avg.pt")


def test_a_teacher_given_as_train_folder_keeps_later_stages_current(corpus, teacher, tmp_path,
                                                                    capsys):
    """teacher.checkpoints naming a `seqkd train` folder: the second run changes nothing
    (distill and the word-KD student used to rewrite the path and go stale every time)."""
    work = tmp_path / "work"
    cfg = _config(corpus, work)
    cfg["data"]["spm_model"] = str(teacher / "spm.model")
    cfg["data"]["dictionary"] = str(teacher / "dict.txt")
    cfg["teacher"] = {"checkpoints": [str(teacher)]}
    cfg["students"][0]["word_kd"] = {"alpha": 0.5}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    assert seqkd("run", tmp_path / "run.yaml", "-q") == 0
    assert set(json.loads(capsys.readouterr().out).values()) == {"ran"}
    before = _mtimes(work)
    assert seqkd("run", tmp_path / "run.yaml", "-q") == 0
    assert set(json.loads(capsys.readouterr().out).values()) == {"up to date"}
    assert _mtimes(work) == before
    settings = json.loads((work / "distill-kd" / "DONE.json").read_text())["settings"]
    assert settings["teachers"] == [str(teacher)]          # recorded as given
    assert set(settings["input_files"]) == {str(work / "data" / "DONE.json"),
                                            str(teacher / "checkpoints" / "checkpoint_best.pt")}


def _prepare_only(corpus, work):
    return {"work_dir": str(work),
            "data": {"train_prefix": str(corpus / "train"), "valid_prefix": str(corpus / "valid"),
                     "vocab_size": 60},
            "teacher": {"train": {"preset": "tiny", "max_updates": 1}}}


def test_a_changed_local_file_makes_prepare_run_again(corpus, tmp_path, capsys):
    local = tmp_path / "c"
    local.mkdir()
    for f in ("train.en", "train.de", "valid.en", "valid.de"):
        (local / f).write_text("\n".join((corpus / f).read_text().splitlines()[:300]) + "\n")
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump(_prepare_only(local, tmp_path / "w")))
    assert seqkd("run", cfg, "--only", "prepare", "-q") == 0
    assert json.loads(capsys.readouterr().out)["prepare"] == "ran"
    recorded = yaml.safe_load((tmp_path / "w" / "data" / "config.yaml").read_text())
    assert recorded["dataset"] is None and str(local / "train.en") in recorded["input_files"]
    assert seqkd("run", cfg, "--only", "prepare", "-q") == 0
    assert json.loads(capsys.readouterr().out)["prepare"] == "up to date"
    # same name, same size, other content
    text = (local / "train.de").read_text()
    assert "Z1x" in text
    (local / "train.de").write_text(text.replace("Z1x", "Z2x", 1))
    assert (local / "train.de").stat().st_size == len(text.encode())
    assert seqkd("run", cfg, "--only", "prepare", "-q") == 0
    assert json.loads(capsys.readouterr().out)["prepare"] == "ran"


def test_run_continues_after_the_settings_of_an_interrupted_stage_changed(corpus, tmp_path,
                                                                         capsys):
    from seqkd.stages.prepare.config import PrepareConfig
    from seqkd.stage import Stage

    work = tmp_path / "w"
    cfg = _prepare_only(corpus, work)
    # an interrupted prepare with vocab_size 50: config.yaml written, no DONE.json
    old = PrepareConfig(out_dir=str(work / "data"), dataset=None,
                        train_prefix=str(corpus / "train"), valid_prefix=str(corpus / "valid"),
                        vocab_size=50)
    stage = Stage("prepare", work / "data", old)
    assert stage.begin()
    stage.close()
    (work / "data" / "half-written.tmp").write_text("x")
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    assert seqkd("run", tmp_path / "run.yaml", "--only", "prepare", "-q") == 0
    assert json.loads(capsys.readouterr().out)["prepare"] == "ran"
    assert not (work / "data" / "half-written.tmp").exists()
    assert json.loads((work / "data" / "DONE.json").read_text())["settings"]["vocab_size"] == 60



def test_restart_starts_a_finished_stage_over_and_names_unknown_stages(corpus, tmp_path, capsys):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump(_prepare_only(corpus, tmp_path / "w")))
    assert seqkd("run", cfg, "--only", "prepare", "-q") == 0
    first = (tmp_path / "w" / "data" / "DONE.json").stat().st_mtime_ns
    capsys.readouterr()
    assert seqkd("run", cfg, "--only", "prepare", "--restart", "prepare", "-q") == 0
    assert json.loads(capsys.readouterr().out)["prepare"] == "ran"
    assert (tmp_path / "w" / "data" / "DONE.json").stat().st_mtime_ns != first
    assert seqkd("run", cfg, "--restart", "prepar", "-q") == 1
    assert "no stage named prepar" in capsys.readouterr().err
