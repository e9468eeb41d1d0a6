"""The training progress bar reads fairseq-train's own log lines."""

from seqkd.stages.train.progress import TrainProgress, parse

INNER = ("2026-12-03 06:43:07,106 INFO train_inner: epoch 008:     62 / 74 loss=4.057, "
         "nll_loss=2.61, ppl=6.1, wps=2830.5, ups=0.45, wpb=6254.2, bsz=458.4, "
         "num_updates=580, lr=0.00101274, gnorm=0.365, clip=0, train_wall=19, wall=3962")
VALID = ("2026-12-03 06:34:57,135 INFO valid: epoch 007 | valid on 'valid' subset | loss 4.55 "
         "| nll_loss 2.984 | ppl 7.91 | wps 6096.2 | wpb 4228.8 | bsz 252 | num_updates 518")
EPOCH = ("2026-12-03 06:34:57,230 INFO train: epoch 007 | loss 4.413 | nll_loss 2.974 | "
         "num_updates 518")


def test_parse_reads_training_and_validation_lines_and_nothing_else():
    assert parse(INNER) == {"epoch": 8, "step": 62, "steps": 74, "updates": 580,
                            "loss": 4.057, "wps": 2830.5}
    assert parse(VALID) == {"epoch": 7, "valid_loss": 4.55}
    assert parse(EPOCH) is None and parse("loaded checkpoint x.pt") is None


def test_the_bar_counts_updates_towards_the_epoch_budget(monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    bar = TrainProgress(max_updates=None, max_epoch=30, desc="train s")
    for line in ("noise", VALID, INNER):
        bar(line)
    assert bar.bar.total == 30 * 74 and bar.bar.n == 580
    assert bar.bar.initial == 518  # resumed at epoch 8's start: the speed counts from there
    assert bar.bar.postfix == "epoch=8/30, loss=4.057, words/s=2830, valid=4.550"
    bar.close()
    by_updates = TrainProgress(max_updates=1000, max_epoch=30, desc="train s")
    by_updates(INNER)
    assert by_updates.bar.total == 1000
    by_updates.close()
