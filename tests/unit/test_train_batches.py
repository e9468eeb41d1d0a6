"""Batches against the data's longest pairs: a validation pair longer than --max-tokens
stops fairseq inside its batching with an assertion and a traceback, and a training pair
longer than it is left out by fairseq; seqkd reads the pairs' sizes from the binarized
index files and says so first."""

import logging

import numpy as np
import pytest
import torch

from seqkd.corpus import pair_sizes, sentence_sizes
from seqkd.errors import SeqkdError
from seqkd.stages.train.config import TrainConfig
from seqkd.stages.train.runner import check_batches_fit

#: tokens (end of sentence included) of each sentence, per split and side
LENGTHS = {("train", "en"): [5, 30, 12], ("train", "de"): [6, 9, 40],
           ("valid", "en"): [7, 25], ("valid", "de"): [22, 8]}


def _binarized(folder):
    """A bin folder written by fairseq's own mmap dataset builder."""
    from fairseq.data.indexed_dataset import MMapIndexedDatasetBuilder

    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True)
    for (split, lang), lengths in LENGTHS.items():
        prefix = bin_dir / f"{split}.en-de.{lang}"
        builder = MMapIndexedDatasetBuilder(f"{prefix}.bin", dtype=np.int32)
        for n in lengths:
            builder.add_item(torch.full((n,), 4, dtype=torch.int32))
        builder.finalize(f"{prefix}.idx")
    return folder


def test_sizes_are_read_as_fairseq_reads_them(tmp_path):
    from fairseq.data.indexed_dataset import MMapIndexedDataset

    data = _binarized(tmp_path)
    theirs = MMapIndexedDataset(str(data / "bin" / "train.en-de.de"))
    assert sentence_sizes(data / "bin" / "train.en-de.de.idx").tolist() == theirs.sizes.tolist()
    assert pair_sizes(data / "bin", "train").tolist() == [6, 30, 40]
    assert pair_sizes(data / "bin", "valid").tolist() == [22, 25]
    (data / "bin" / "valid.en-de.de.idx").write_bytes(b"")  # not an index: fairseq says so
    assert pair_sizes(data / "bin", "valid") is None


def test_a_validation_pair_longer_than_a_batch_is_an_error_that_says_the_size(tmp_path):
    data = _binarized(tmp_path)
    cfg = TrainConfig(data=str(data), out_dir=str(tmp_path / "o"), max_epoch=1, max_tokens=24)
    with pytest.raises(SeqkdError, match=r"--max-tokens 24 is below the longest sentence pair "
                       r".*validation set, 25 tokens.*give --max-tokens 25 or more"):
        check_batches_fit(cfg, data)
    two = TrainConfig(data=str(data), out_dir=str(tmp_path / "o"), max_epoch=1, max_tokens=48,
                      nproc=2)
    with pytest.raises(SeqkdError, match=r"each of the 2 processes takes 24\).*give "
                       r"--max-tokens 50 or more"):
        check_batches_fit(two, data)
    # the preset's batch, shared by 200 processes: the message names the preset's, not a share
    preset = TrainConfig(data=str(data), out_dir=str(tmp_path / "o"), max_epoch=1, nproc=200)
    whole = preset.batch_tokens()
    with pytest.raises(SeqkdError, match=rf"--max-tokens {whole} \(each of the 200 processes "
                       rf"takes {preset.process_tokens()}\)"):
        check_batches_fit(preset, data)


def test_training_pairs_longer_than_a_batch_are_counted_in_a_warning(tmp_path, caplog):
    data = _binarized(tmp_path)
    caplog.set_level(logging.WARNING)
    check_batches_fit(TrainConfig(data=str(data), out_dir=str(tmp_path / "o"), max_epoch=1,
                                  max_tokens=29), data)
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and "is below 2 training pair(s)" in warned[0], warned
    assert "the longest 40 tokens" in warned[0] and "--max-tokens 40 or more" in warned[0]
    caplog.clear()
    check_batches_fit(TrainConfig(data=str(data), out_dir=str(tmp_path / "o"), max_epoch=1,
                                  max_tokens=40), data)
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
