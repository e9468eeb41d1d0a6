"""Checkpoint averaging (`seqkd train --average-last N`) on hand-made checkpoints."""

import pytest
import torch

from seqkd.errors import SeqkdError
from seqkd.checkpoints import (AVERAGED, average_checkpoints, checkpoint_of,
                               last_epoch_checkpoints)
from seqkd.stages.train.config import TrainConfig, fairseq_train_args
from corpus import binarized


def _ckpt(path, value, epoch):
    torch.save({"model": {"w": torch.full((2, 3), float(value)), "steps": torch.tensor(epoch)},
                "cfg": {"epoch": epoch}, "last_optimizer_state": {"big": torch.zeros(10)},
                "optimizer_history": [{"num_updates": epoch * 10}],
                "extra_state": {"epoch": epoch}}, path)


def test_last_epoch_checkpoints_sorts_by_epoch_number(tmp_path):
    for e in (1, 2, 9, 10, 11):
        _ckpt(tmp_path / f"checkpoint{e}.pt", e, e)
    _ckpt(tmp_path / "checkpoint_best.pt", 0, 0)
    _ckpt(tmp_path / "checkpoint_last.pt", 0, 0)
    assert [p.name for p in last_epoch_checkpoints(tmp_path, 3)] == [
        "checkpoint9.pt", "checkpoint10.pt", "checkpoint11.pt"]
    assert len(last_epoch_checkpoints(tmp_path, 10)) == 5


def test_average_is_the_elementwise_mean_without_optimizer_state(tmp_path):
    paths = []
    for e, v in ((3, 1.0), (4, 2.0), (5, 6.0)):
        paths.append(tmp_path / f"checkpoint{e}.pt")
        _ckpt(paths[-1], v, e)
    out = tmp_path / AVERAGED
    average_checkpoints(paths, out)
    got = torch.load(out, weights_only=False)
    assert torch.allclose(got["model"]["w"], torch.full((2, 3), 3.0))
    assert got["model"]["w"].dtype == torch.float32
    assert got["model"]["steps"].item() == 5          # integer buffers: the last one's
    assert got["cfg"] == {"epoch": 5} and "last_optimizer_state" not in got
    assert got["averaged_from"] == ["checkpoint3.pt", "checkpoint4.pt", "checkpoint5.pt"]
    assert not list(tmp_path.glob("*.tmp*"))


def test_average_refuses_checkpoints_of_different_models(tmp_path):
    _ckpt(tmp_path / "checkpoint1.pt", 1, 1)
    torch.save({"model": {"other": torch.zeros(1)}}, tmp_path / "checkpoint2.pt")
    with pytest.raises(SeqkdError, match="other parameters"):
        average_checkpoints([tmp_path / "checkpoint1.pt", tmp_path / "checkpoint2.pt"],
                            tmp_path / AVERAGED)
    assert not (tmp_path / AVERAGED).exists()


def test_a_train_folder_stands_for_its_average_when_there_is_one(tmp_path):
    ck = tmp_path / "student" / "checkpoints"
    ck.mkdir(parents=True)
    _ckpt(ck / "checkpoint_best.pt", 1, 1)
    assert checkpoint_of(tmp_path / "student") == ck / "checkpoint_best.pt"
    _ckpt(ck / AVERAGED, 1, 1)
    assert checkpoint_of(tmp_path / "student") == ck / AVERAGED


def test_average_last_keeps_epoch_checkpoints(tmp_path):
    cfg = TrainConfig(data=str(tmp_path), out_dir=str(tmp_path / "o"), max_epoch=3)
    args = fairseq_train_args(cfg, binarized(tmp_path), tmp_path / "o")
    assert "--no-epoch-checkpoints" in args and "--keep-last-epochs" not in args
    cfg.average_last = 4
    args = fairseq_train_args(cfg, binarized(tmp_path), tmp_path / "o")
    assert "--no-epoch-checkpoints" not in args
    assert args[args.index("--keep-last-epochs") + 1] == "4"
    cfg.average_last = -1  # a config built in code is checked by train() like a YAML one
    from seqkd.stages.train.runner import train
    with pytest.raises(SeqkdError, match="average_last must be at least 0"):
        train(cfg)


def test_teacher_base_preset_is_the_v2_recipe(tmp_path):
    cfg = TrainConfig(data=str(tmp_path), out_dir=str(tmp_path / "o"), role="teacher",
                      preset="base", max_epoch=12)
    args = fairseq_train_args(cfg, binarized(tmp_path), tmp_path / "o")
    value = {k: args[args.index(k) + 1] for k in
             ("--lr", "--warmup-updates", "--dropout", "--attention-dropout", "--max-tokens")}
    assert value == {"--lr": "0.002", "--warmup-updates": "400", "--dropout": "0.2",
                     "--attention-dropout": "0.1", "--max-tokens": "4096"}
    assert "--encoder-normalize-before" in args and "--decoder-normalize-before" in args


def test_tied_weights_stay_tied_and_are_stored_once(tmp_path):
    paths = []
    for e in (1, 2):
        emb = torch.full((50, 40), float(e))
        paths.append(tmp_path / f"checkpoint{e}.pt")
        torch.save({"model": {"encoder.embed": emb, "decoder.embed": emb,
                              "decoder.out": emb, "bias": torch.zeros(40)}}, paths[-1])
    out = tmp_path / AVERAGED
    average_checkpoints(paths, out)
    got = torch.load(out, weights_only=False)["model"]
    assert torch.allclose(got["decoder.out"], torch.full((50, 40), 1.5))
    ptrs = {got[k].untyped_storage().data_ptr() for k in ("encoder.embed", "decoder.embed",
                                                           "decoder.out")}
    assert len(ptrs) == 1
    assert out.stat().st_size < 2 * 50 * 40 * 4  # once, not three times


def test_tied_weights_saved_as_separate_copies_are_tied_again(tmp_path):
    # a checkpoint written from a GPU holds each tied weight as its own copy
    paths = []
    for e in (1, 2):
        emb = torch.full((50, 40), float(e))
        paths.append(tmp_path / f"checkpoint{e}.pt")
        torch.save({"model": {"encoder.embed": emb.clone(), "decoder.embed": emb.clone(),
                              "other": torch.full((50, 40), 7.0)}}, paths[-1])
    average_checkpoints(paths, tmp_path / AVERAGED)
    got = torch.load(tmp_path / AVERAGED, weights_only=False)["model"]
    assert got["encoder.embed"].untyped_storage().data_ptr() == \
        got["decoder.embed"].untyped_storage().data_ptr()
    assert got["other"].untyped_storage().data_ptr() != \
        got["encoder.embed"].untyped_storage().data_ptr()
    assert torch.allclose(got["other"], torch.full((50, 40), 7.0))


def test_an_unfinished_training_folder_stands_for_no_checkpoint(tmp_path):
    """A `seqkd train` folder stands for its averaged (or best) checkpoint once its training
    finished; while it trains (or after a kill), naming the folder is an error that says so,
    and naming one of its files uses that file as it is."""
    folder = tmp_path / "teacher"
    (folder / "checkpoints").mkdir(parents=True)
    best = folder / "checkpoints" / "checkpoint_best.pt"
    best.write_bytes(b"x")
    assert checkpoint_of(folder) == best  # not made by seqkd: nothing to judge it by
    (folder / "config.yaml").write_text("role: teacher\n")
    with pytest.raises(SeqkdError, match="whose training has not finished"):
        checkpoint_of(folder)
    assert checkpoint_of(best) == best
    (folder / "DONE.json").write_text("{}\n")
    assert checkpoint_of(folder) == best
    (folder / "checkpoints" / "checkpoint_avg.pt").write_bytes(b"y")
    assert checkpoint_of(folder) == folder / "checkpoints" / "checkpoint_avg.pt"


def test_a_checkpoint_last_cut_short_by_a_kill_is_put_back_from_what_it_copied(tmp_path, caplog):
    """fairseq copies its atomic save to checkpoint_last.pt; a kill inside that copy must not
    stop every resume after it."""
    from seqkd.checkpoints import repair_last, updates_done

    for e in (1, 2):
        _ckpt(tmp_path / f"checkpoint{e}.pt", e, e)
    _ckpt(tmp_path / "checkpoint_3_25.pt", 3, 2.5)  # a save within epoch 3, at 25 updates
    whole = (tmp_path / "checkpoint_3_25.pt").read_bytes()
    (tmp_path / "checkpoint_best.pt").write_bytes(whole[:100])
    (tmp_path / "checkpoint_last.pt").write_bytes(whole[: len(whole) // 2])
    repair_last(tmp_path)
    assert (tmp_path / "checkpoint_last.pt").read_bytes() == whole
    assert updates_done(tmp_path / "checkpoint_last.pt") == 25
    assert "resuming from checkpoint_3_25.pt" in caplog.text
    repair_last(tmp_path)  # a whole one is left as it is, in torch's older format too
    assert (tmp_path / "checkpoint_last.pt").read_bytes() == whole
    state = torch.load(tmp_path / "checkpoint1.pt", weights_only=False)
    torch.save(state, tmp_path / "checkpoint_last.pt", _use_new_zipfile_serialization=False)
    legacy = (tmp_path / "checkpoint_last.pt").read_bytes()
    repair_last(tmp_path)
    assert (tmp_path / "checkpoint_last.pt").read_bytes() == legacy
    for f in [*tmp_path.glob("checkpoint[0-9]*.pt"), tmp_path / "checkpoint_3_25.pt"]:
        f.unlink()
    (tmp_path / "checkpoint_last.pt").write_bytes(whole[:1000])
    repair_last(tmp_path)  # nothing whole beside it: the training starts over
    assert not (tmp_path / "checkpoint_last.pt").exists()
