"""`seqkd run` with word_kd from a top-k cache: one cache stage per data, k and temperature,
before the students that read it; its settings judged with the rest of the config."""

import json
import textwrap

from conftest import seqkd


def config(tmp_path, corpus, students):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(textwrap.dedent(f"""\
        work_dir: {tmp_path / 'w'}
        data: {{train_prefix: {corpus / 'train'}, valid_prefix: {corpus / 'valid'}}}
        teacher: {{train: {{preset: tiny, max_updates: 1}}}}
        distill: [{{name: kd, beam: 2}}]
        students:
        """) + "".join(f"  - {s}\n" for s in students))
    return cfg


def test_students_share_one_cache_stage_per_data_and_k(tmp_path, corpus, capsys):
    cfg = config(tmp_path, corpus, [
        "{name: a, data: kd, preset: tiny, max_updates: 1, word_kd: {topk: 8}}",
        "{name: b, data: kd, preset: tiny, max_updates: 2, word_kd: {topk: 8, alpha: 0.9}}",
        "{name: c, data: references, preset: tiny, max_updates: 1, "
        "word_kd: {topk: 4, temperature: 2}}",
        "{name: d, data: kd, preset: tiny, max_updates: 1, word_kd: {alpha: 0.5}}",
    ])
    assert seqkd("run", cfg, "--check") == 0
    stages = json.loads(capsys.readouterr().out)
    assert stages["topk-kd-k8"]["after"] == ["teacher", "distill-kd"]
    assert stages["topk-references-k4-t2"]["after"] == ["prepare", "teacher"]
    assert stages["student-a"]["after"] == ["distill-kd", "topk-kd-k8"]
    assert stages["student-b"]["after"] == ["distill-kd", "topk-kd-k8"]
    assert stages["student-c"]["after"] == ["prepare", "topk-references-k4-t2"]
    assert stages["student-d"]["after"] == ["teacher", "distill-kd"]  # the live teacher
    assert sum(name.startswith("topk-") for name in stages) == 2


def test_bad_topk_settings_are_reported_before_anything_runs(tmp_path, corpus, capsys):
    cfg = config(tmp_path, corpus, [
        "{name: a, data: kd, preset: tiny, max_updates: 1, word_kd: {topk: 0}}",
        "{name: b, data: kd, preset: tiny, max_updates: 1, word_kd: {topk: 8, temp: 2}}",
    ])
    assert seqkd("run", cfg, "--check") == 1
    err = capsys.readouterr().err
    assert "student a word_kd: k must be at least 1, got 0" in err, err
    assert "word_kd takes alpha, temperature and topk" in err
    assert not (tmp_path / "w").exists()
