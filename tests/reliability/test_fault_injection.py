"""Fault injection: SIGKILL to the whole process group of `seqkd prepare`, `distill` and
`train` at seeded random moments, then the same command again. The outputs must be
byte-identical to an uninterrupted run (train: it resumes from checkpoint_last.pt, says so,
and ends at its update budget), and no seqkd or fairseq process may be left."""

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import seqkd

pytestmark = pytest.mark.slow


def _start(args, cwd):
    return subprocess.Popen([sys.executable, "-m", "seqkd", *map(str, args), "-q"], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True, text=True)


def _kill_group_after(proc, seconds):
    """SIGKILL the process group after ``seconds`` (or when it ended); True if it was killed."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return True


def _complete(args, cwd):
    """Run the stage to its end; the seconds it took."""
    start = time.monotonic()
    p = _start(args, cwd)
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    return time.monotonic() - start


def _leftovers(marker: str):
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmd and ("seqkd" in cmd or "fairseq" in cmd):
                found.append(cmd)
    return found


def _digests(folder: Path, names):
    out = {}
    for name in names:
        for f in sorted((folder / name).rglob("*") if (folder / name).is_dir()
                        else [folder / name]):
            if f.is_file() and not f.name.startswith(".") and f.suffix != ".log":
                out[str(f.relative_to(folder))] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def _interrupt_then_finish(args, cwd, rng, lo, hi, kills=2, first_when=None):
    """Kill the stage ``kills`` times at random delays, then let it finish; with
    ``first_when`` (a file), the first kill lands as soon as that file appears instead, so
    that a fast machine cannot finish the stage before any kill."""
    killed = 0
    for i in range(kills):
        p = _start(args, cwd)
        if i == 0 and first_when is not None:
            while not first_when.is_file() and p.poll() is None:
                time.sleep(0.02)
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                killed += 1
        elif _kill_group_after(p, rng.uniform(lo, hi)):
            killed += 1
    _complete(args, cwd)
    return killed


def test_prepare_survives_sigkill(corpus, tmp_path):
    rng = random.Random(11)
    base = ["prepare", "--train-prefix", corpus / "train", "--valid-prefix", corpus / "valid",
            "--test", f"test={corpus / 'test'}", "--vocab-size", "100"]
    took = _complete(base + ["--out", tmp_path / "clean"], tmp_path)
    # the kills land within the time the uninterrupted run took, whatever the machine's speed
    killed = _interrupt_then_finish(base + ["--out", tmp_path / "killed"], tmp_path, rng,
                                    0.2 * took, 0.7 * took)
    assert killed >= 1, "no kill landed before the stage ended"
    names = ["text", "pieces", "bin", "spm.model", "dict.txt", "report.json"]
    assert _digests(tmp_path / "killed", names) == _digests(tmp_path / "clean", names)
    assert not _leftovers(str(tmp_path))


def test_distill_survives_sigkill(prepared, teacher, tmp_path):
    rng = random.Random(12)
    base = ["distill", "--data", prepared, "--teacher", teacher, "--beam", "3", "--max-len",
            "30", "--chunk-size", "200", "--threads", "1"]
    _complete(base + ["--out", tmp_path / "clean"], tmp_path)
    killed = _interrupt_then_finish(base + ["--out", tmp_path / "killed"], tmp_path, rng,
                                    3.0, 6.0,
                                    first_when=tmp_path / "killed" / "chunks" / "000000.jsonl")
    assert killed >= 1
    names = ["chunks", "nbest.jsonl", "hyp.de", "filter.tsv", "text", "pieces", "bin",
             "report.json"]
    clean, again = _digests(tmp_path / "clean", names), _digests(tmp_path / "killed", names)
    # report.json holds timings; everything else must be byte-identical
    clean.pop("report.json"), again.pop("report.json")
    assert again == clean
    assert not _leftovers(str(tmp_path))


def test_train_survives_sigkill_and_resumes(prepared, tmp_path):
    out = tmp_path / "student"
    args = ["train", "--role", "student", "--data", prepared, "--out", out,
            "--max-updates", "60", "--max-tokens", "512", "--validate-interval-updates", "20",
            "--threads", "1"]
    p = _start(args, tmp_path)
    last = out / "checkpoints" / "checkpoint_last.pt"
    for _ in range(1200):  # kill once a checkpoint is there, mid-training
        if last.is_file() or p.poll() is not None:
            break
        time.sleep(0.1)
    assert p.poll() is None, "training ended before it could be killed"
    time.sleep(0.5)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    assert not _leftovers(str(out)), "a fairseq child outlived the killed group"
    assert not (out / "DONE.json").exists()
    _complete(args, tmp_path)
    log = (out / "log.txt").read_text()
    assert "resuming from" in log and "checkpoint_last.pt" in log
    import torch
    state = torch.load(last, map_location="cpu", weights_only=False)
    assert state["optimizer_history"][-1]["num_updates"] == 60
    assert not _leftovers(str(out))
    # the weights: a resumed run is not bit-identical to an uninterrupted one (floating-point
    # drift, docs/GUIDE.md, "Training resumes"), but it continues the same run: it is far closer to
    # the uninterrupted run than a run with another seed is
    def weights(folder):
        return torch.load(folder / "checkpoints" / "checkpoint_last.pt", map_location="cpu",
                          weights_only=False)["model"]

    def distance(a, b):
        return max((a[k] - b[k]).abs().max().item() for k in a)

    assert seqkd(*args, "--out", tmp_path / "whole", "-q") == 0
    assert seqkd(*args, "--out", tmp_path / "seed2", "--seed", "2", "-q") == 0
    whole = weights(tmp_path / "whole")
    resumed, other = distance(weights(out), whole), distance(weights(tmp_path / "seed2"), whole)
    assert resumed < 0.1 and resumed < other / 5, (resumed, other)
