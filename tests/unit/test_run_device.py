"""`seqkd run --device`: one config on another kind of machine without editing it."""

import json
from pathlib import Path

from conftest import seqkd
from seqkd.config_file import load_config
from seqkd.plan import plan
from seqkd.plan.device import on_device

ROOT = Path(__file__).resolve().parents[2]


def test_on_cuda_trainings_use_fp16_distillations_the_gpu_and_there_is_no_bench():
    cfg = load_config(ROOT / "pipelines" / "multi30k-en-de.yaml")
    for ct2_cuda, decoder in ((False, "fairseq"), (True, "ctranslate2")):
        out = on_device(cfg, "cuda", ct2_cuda)
        assert all(s["device"] == "cuda" and s["fp16"] is True for s in out["students"])
        for d in out["distill"]:
            assert d["device"] == "cuda" and d["decoder"] == decoder
            assert ("compute_type" in d) == ct2_cuda
        assert "bench" not in out
        steps = {s.name: s for s in plan(out, ROOT)}
        assert "bench" not in steps and steps["student-seqkd"].config.fp16
        assert steps["distill-seqkd"].config.device == "cuda"
    assert cfg["students"][0].get("device") is None and "bench" in cfg  # left alone
    on_cpu = on_device(cfg, "cpu")
    assert all(s["device"] == "cpu" and "fp16" not in s for s in on_cpu["students"])
    assert "bench" in on_cpu


def test_a_teacher_trained_here_moves_too():
    cfg = load_config(ROOT / "pipelines" / "tiny.yaml")
    out = on_device(cfg, "cuda", False)
    assert out["teacher"]["train"]["device"] == "cuda" and out["teacher"]["train"]["fp16"]


def test_run_check_shows_the_stages_on_the_device(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert seqkd("run", "pipelines/multi30k-en-de.yaml", "--check", "--device", "cuda") == 0
    stages = json.loads(capsys.readouterr().out)
    assert "bench" not in stages and "student-seqkd" in stages
    assert stages["student-seqkd"]["kind"] == "student"
    assert "checkpoints/checkpoint_{best,last}.pt" in stages["student-seqkd"]["produces"]
    assert seqkd("run", "pipelines/multi30k-en-de.yaml", "--check") == 0
    assert "bench" in json.loads(capsys.readouterr().out)
