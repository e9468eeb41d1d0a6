"""scripts/gpu_check.py: the CPU side of the GPU run (derived config, waves, --plan)."""

import importlib.util
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "scripts" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_check)


def _multi30k():
    from seqkd.config_file import load_config

    return load_config(ROOT / "pipelines" / "multi30k-en-de.yaml")


def test_derived_config_trains_on_cuda_in_fp16_and_picks_the_distill_decoder(tmp_path):
    cfg = _multi30k()
    for ct2_cuda, decoder in ((False, "fairseq"), (True, "ctranslate2")):
        out = gpu_check.gpu_config(cfg, ROOT, tmp_path / "work", ct2_cuda)
        assert out["work_dir"] == str(tmp_path / "work")
        assert all(s["device"] == "cuda" and s["fp16"] is True for s in out["students"])
        for d in out["distill"]:
            assert d["device"] == "cuda" and d["decoder"] == decoder
            assert ("compute_type" in d) == ct2_cuda
        assert "bench" not in out
        # paths no longer depend on the folder it runs in
        assert out["teacher"]["checkpoints"][0] == str(
            (ROOT / "../shared/models/multi30k-en-de-teacher-v2/checkpoint.pt").resolve())
        assert Path(out["data"]["spm_model"]).is_absolute()
    assert cfg["students"][0].get("device") is None  # the original is left alone


def test_waves_put_each_stage_after_its_dependencies(tmp_path):
    from seqkd.plan import plan

    derived = gpu_check.gpu_config(_multi30k(), ROOT, tmp_path / "work", False)
    steps = plan(derived, ROOT)
    groups = gpu_check.waves(steps, with_exports=True)
    assert groups[0] == ["prepare"]
    # (no export-teacher: the teacher's export is for the bench, which is not run here)
    assert sorted(groups[1]) == ["distill-seqinter", "distill-seqkd", "student-baseline"]
    assert sorted(groups[2]) == ["export-baseline", "student-seqinter", "student-seqkd",
                                 "student-seqkd-wordkd"]
    assert sorted(groups[3]) == ["export-seqinter", "export-seqkd", "export-seqkd-wordkd"]
    without = gpu_check.waves(steps, with_exports=False)
    assert [sorted(g) for g in without] == [
        ["prepare"], ["distill-seqinter", "distill-seqkd", "student-baseline"],
        ["student-seqinter", "student-seqkd", "student-seqkd-wordkd"]]


def test_a_teacher_trained_on_the_gpu_gets_cuda_and_fp16(tmp_path):
    from seqkd.config_file import load_config
    from seqkd.plan import plan

    cfg = load_config(ROOT / "pipelines" / "tiny.yaml")
    assert "train" in cfg["teacher"]
    derived = gpu_check.gpu_config(cfg, ROOT, tmp_path / "w", False)
    assert derived["teacher"]["train"]["device"] == "cuda"
    assert derived["teacher"]["train"]["fp16"] is True
    groups = gpu_check.waves(plan(derived, ROOT), with_exports=False)
    assert groups[0] == ["prepare"] and "teacher" in groups[1]
    assert all("teacher" in s.deps for s in plan(derived, ROOT) if s.name.startswith("distill"))
    assert not any(s.startswith("distill") for s in groups[0] + groups[1])


def test_plan_prints_the_waves_and_writes_nothing(tmp_path, capsys):
    report = tmp_path / "report"
    assert gpu_check.main([str(ROOT / "pipelines" / "multi30k-en-de.yaml"), str(report),
                           "--plan"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("wave 1: prepare\nwave 2: ")
    derived = yaml.safe_load(out.split("\n", out.count("wave "))[-1])
    assert derived["work_dir"] == str(report / "work")
    assert not report.exists()


def test_a_bad_config_is_one_error(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("work_dir: w\nstudents: [{name: s, data: nowhere}]\nteacher: {}\n")
    assert gpu_check.main([str(bad), str(tmp_path / "r"), "--plan"]) == 1
    assert "gpu_check: error:" in capsys.readouterr().err
