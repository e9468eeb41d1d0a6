"""`seqkd run`: skip finished stages, rerun what changed and everything after it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, mirror, seqkd


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
