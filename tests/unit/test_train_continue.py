"""continue_from: a finished training's checkpoints copied in and fairseq going on from its
last one (the fake fairseq resumes from checkpoint_last.pt as fairseq does); only the budget,
early stopping, averaging and where it runs may differ; the result is stale when the training
it continued is retrained."""

import json

import pytest
import torch

from conftest import seqkd
from test_stages_fast import fake_data, fake_fairseq  # noqa: F401 (fixtures)
from seqkd.errors import SeqkdError
from seqkd.stages.train.extend import copy_checkpoints


def _train(data, out, epochs, *extra):
    return seqkd("train", "--role", "student", "--data", data, "--out", out, "--preset",
                 "enc6-dec1", "--max-epoch", str(epochs), "--threads", "1", "--patience",
                 "0", "-q", *extra)


def test_a_longer_budget_goes_on_from_the_finished_training(fake_data, fake_fairseq, tmp_path,
                                                           capsys):
    first, longer = tmp_path / "e3", tmp_path / "e5"
    assert _train(fake_data, first, 3, "--average-last", "2") == 0
    before = {p.name: p.read_bytes() for p in (first / "checkpoints").iterdir()}
    assert _train(fake_data, longer, 5, "--average-last", "2", "--patience", "3",
                  "--continue-from", first) == 0
    log = (longer / "fairseq-train.log").read_text()
    # fairseq began at epoch 4 from the copy of epoch 3's checkpoint_last.pt
    assert f"loaded checkpoint {longer / 'checkpoints' / 'checkpoint_last.pt'} (epoch 3)" in log
    assert "Saved checkpoint" in log and "(epoch 1 @" not in log and "(epoch 4 @" in log
    done = json.loads((longer / "DONE.json").read_text())
    assert done["summary"]["averaged"] == ["checkpoint4.pt", "checkpoint5.pt"]
    assert str(first / "DONE.json") in done["settings"]["input_files"]
    last = torch.load(longer / "checkpoints" / "checkpoint_last.pt", weights_only=False)
    assert last["cfg"]["epoch"] == 5
    # the training it continued is left as it was
    assert {p.name: p.read_bytes() for p in (first / "checkpoints").iterdir()} == before
    # done is done; a retrained first part makes it stale: it starts over from the new one
    assert _train(fake_data, longer, 5, "--average-last", "2", "--patience", "3",
                  "--continue-from", first) == 0
    assert len([c for c in fake_fairseq() if c["tool"] == "train"]) == 2
    assert _train(fake_data, first, 3, "--average-last", "2", "--seed", "1", "--force") == 0
    capsys.readouterr()
    assert _train(fake_data, longer, 5, "--average-last", "2", "--patience", "3",
                  "--continue-from", first) == 1
    assert "holds a finished run with other settings (changed: input_files)" in \
        capsys.readouterr().err
    assert _train(fake_data, longer, 5, "--average-last", "2", "--patience", "3",
                  "--continue-from", first, "--force") == 0
    assert [c["argv"][-1] for c in fake_fairseq() if c["tool"] == "train"] == ["3", "5", "3", "5"]
    assert "(epoch 3)" in (longer / "fairseq-train.log").read_text()


@pytest.mark.parametrize("extra, message", [
    (["--seed", "2"], "seed 1 there, 2 here"),
    (["--lr", "0.001", "--dropout", "0.3"], "lr unset (the preset's) there, 0.001 here; "
                                        "dropout unset (the preset's) there, 0.3 here"),
    (["--max-epoch", "3"], "is not shorter than this one's (max_epoch 3"),
    (["--max-epoch", "2", "--max-updates", "100"], "is not shorter than this one's"),
])
def test_a_continuation_with_other_settings_is_refused_before_anything(
        fake_data, fake_fairseq, tmp_path, capsys, extra, message):
    first, other = tmp_path / "e3", tmp_path / "other"
    assert _train(fake_data, first, 3) == 0
    capsys.readouterr()
    assert _train(fake_data, other, 5, "--continue-from", first, *extra) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert not other.exists()


def test_only_a_finished_seqkd_training_can_be_continued(fake_data, fake_fairseq, tmp_path,
                                                         capsys, monkeypatch):
    first = tmp_path / "e3"
    monkeypatch.setenv("SEQKD_FAKE_STOP_AFTER_EPOCH", "1")
    assert _train(fake_data, first, 3) == 1
    monkeypatch.delenv("SEQKD_FAKE_STOP_AFTER_EPOCH")
    capsys.readouterr()
    for given, message in ((first, "its training has not finished (no DONE.json)"),
                           (tmp_path / "nowhere", "not a `seqkd train` folder"),
                           (fake_data, "not a `seqkd train` folder")):
        assert _train(fake_data, tmp_path / "x", 5, "--continue-from", given) == 1
        assert message in capsys.readouterr().err
        assert not (tmp_path / "x").exists()


def test_checkpoints_are_copied_with_the_last_one_last(tmp_path):
    src, dst = tmp_path / "src" / "checkpoints", tmp_path / "dst" / "checkpoints"
    src.mkdir(parents=True)
    for name in ("checkpoint2.pt", "checkpoint3.pt", "checkpoint_best.pt",
                 "checkpoint_last.pt", "checkpoint_avg.pt"):
        (src / name).write_bytes(name.encode())
    copied = copy_checkpoints(tmp_path / "src", dst)
    assert copied[-1] == "checkpoint_last.pt" and "checkpoint_avg.pt" not in copied
    assert sorted(p.name for p in dst.iterdir()) == sorted(copied)
    assert all((dst / n).read_bytes() == n.encode() for n in copied)


def test_a_config_student_continues_one_listed_before_it(tmp_path, corpus):
    from seqkd.plan import plan

    cfg = {"work_dir": str(tmp_path / "w"),
           "data": {"train_prefix": str(corpus / "train"),
                    "valid_prefix": str(corpus / "valid")},
           "teacher": {"train": {"preset": "tiny", "max_updates": 1}},
           "students": [{"name": "b30", "preset": "tiny", "max_epoch": 30},
                        {"name": "b60", "preset": "tiny", "max_epoch": 60, "patience": 5,
                         "continue_from": "b30"}]}
    steps = {s.name: s for s in plan(cfg, tmp_path, "cfg.yaml")}
    assert steps["student-b60"].config.continue_from == str(tmp_path / "w" / "student-b30")
    assert "student-b30" in steps["student-b60"].deps
    cfg["students"][1]["continue_from"] = "b90"
    with pytest.raises(SeqkdError, match="student b60: continue_from must name a student "
                                         "listed before it \\(b30\\)"):
        plan(cfg, tmp_path, "cfg.yaml")
