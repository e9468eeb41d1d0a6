"""`seqkd train --nproc 2` on the CPU: fairseq's data-parallel training over gloo."""

import re
import shutil

import pytest

from conftest import seqkd

pytestmark = pytest.mark.slow  # real fairseq training


def _train(prepared, out, *extra):
    return seqkd("train", "--role", "student", "--data", prepared, "--out", out,
                 "--max-updates", "6", "--max-tokens", "512", "--threads", "2", "-q", *extra)


def _epoch_stat(log: str, key: str) -> float:
    """A value from fairseq's end-of-epoch training line (``train: epoch 001 | ...``)."""
    line = [x for x in log.splitlines() if "| train |" in x or " train: epoch" in x][-1]
    return float(re.search(rf"\| {key} ([0-9.]+)", line).group(1))


def test_two_processes_train_a_model_that_loads_and_resumes_with_the_same_batch(prepared,
                                                                               tmp_path):
    two, one = tmp_path / "two", tmp_path / "one"
    assert _train(prepared, two, "--nproc", "2", "--validate-interval-updates", "3") == 0
    log = (two / "fairseq-train.log").read_text()
    assert "training on 2 devices" in log
    assert "max tokens per device = 256" in log  # 512 split over the two processes
    assert (two / "fairseq-train.rank1.log").is_file()
    assert _epoch_stat(log, "num_updates") == 6
    # an update holds about the tokens of one process with the whole batch
    assert _train(prepared, one) == 0
    wpb_two = _epoch_stat(log, "wpb")
    wpb_one = _epoch_stat((one / "fairseq-train.log").read_text(), "wpb")
    assert 0.75 * wpb_one <= wpb_two <= 1.25 * wpb_one, (wpb_two, wpb_one)

    # the checkpoint is an ordinary fairseq model: it loads and translates
    from seqkd.corpus import Prepared
    from seqkd.decoders import FairseqDecoder

    dec = FairseqDecoder([two / "checkpoints" / "checkpoint_best.pt"], Prepared(prepared).bin,
                         beam=2, max_len=10)
    hyps = dec.translate([["▁a", "▁b"], ["▁c"]])
    assert len(hyps) == 2 and all(h and isinstance(h[0][0], list) for h in hyps)

    # killed after update 3 (checkpoint_last.pt of update 3, no stamp), run again with two
    # processes: rank 0 loads the checkpoint, rank 1 gets it from rank 0, training goes on to 6
    (two / "DONE.json").unlink()
    ckpts = two / "checkpoints"
    shutil.copyfile(ckpts / "checkpoint_1_3.pt", ckpts / "checkpoint_last.pt")
    assert _train(prepared, two, "--nproc", "2", "--validate-interval-updates", "3") == 0
    log = (two / "fairseq-train.log").read_text()
    assert re.search(r"Loaded checkpoint .*checkpoint_last\.pt \(epoch 1 @ 3 updates\)", log)
    assert _epoch_stat(log.split("Loaded checkpoint")[-1], "num_updates") == 6
    assert "Error" not in (two / "fairseq-train.rank1.log").read_text()
