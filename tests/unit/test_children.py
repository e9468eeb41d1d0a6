"""The processes seqkd starts: `python -m` children run this seqkd even from a folder that
holds another checkout (-P), and a child that dies before reading its job is an error of the
command, never a quiet exit 0 (a broken pipe that is not our standard output's)."""

import subprocess
import sys

import pytest

import seqkd
from seqkd.errors import SeqkdError
from seqkd.procs import python_module


def test_a_seqkd_folder_in_the_working_directory_does_not_stand_in(tmp_path):
    (tmp_path / "seqkd").mkdir()
    (tmp_path / "seqkd" / "__init__.py").write_text("raise ImportError('an old checkout')\n")
    got = subprocess.run(python_module("seqkd", "--version"), cwd=tmp_path,
                         capture_output=True, text=True)
    assert got.returncode == 0 and got.stdout.strip() == f"seqkd {seqkd.__version__}"
    plain = subprocess.run([sys.executable, "-m", "seqkd", "--version"], cwd=tmp_path,
                           capture_output=True, text=True)
    assert "an old checkout" in plain.stderr  # what -P prevents


def test_a_bench_child_that_dies_before_reading_its_job_is_an_error(monkeypatch):
    from seqkd.stages.bench import measure
    from seqkd.stages.bench.systems import SystemSpec

    monkeypatch.setattr(measure, "python_module", lambda *a: [
        sys.executable, "-c", "import os, sys; os.close(0); sys.exit(3)"])
    job = measure.Job(spec=SystemSpec("s", "ct2", "m"), data="d", beam=1, batch_tokens=64,
                      threads=1, repeats=1, warmup_sentences=0, latency_sentences=0,
                      max_len=10, tests={"t": ["x" * 100] * 3000})  # over a pipe's buffer
    with pytest.raises(SeqkdError, match="failed with exit 3"):
        measure.measure_in_child(job)


def test_a_broken_pipe_that_is_not_standard_output_is_an_error(monkeypatch, capsys):
    from seqkd import cli
    from seqkd.cli import tools

    def broken(args):
        raise BrokenPipeError(32, "Broken pipe")
    monkeypatch.setattr(tools, "cmd_kd_gain", broken)
    assert cli.main(["kd-gain", "report.json", "--out", "o"]) == 1
    assert "a process it started went away" in capsys.readouterr().err
