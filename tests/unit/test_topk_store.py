"""The top-k cache's files: written in any order, resumed after a kill, read by sample id."""

import numpy as np
import pytest

from seqkd.errors import SeqkdError
from seqkd.topk_store import TopkCache, TopkWriter, files, ids_dtype, write_meta

PAD = 1


def rows(sid, n, k):
    ids = (np.arange(n * k).reshape(n, k) + 10 * sid) % 60000
    probs = np.full((n, k), 1.0 / k, dtype=np.float16)
    return ids, probs


def write(folder, lengths, k, sids, vocab=500):
    w = TopkWriter(folder, "train", lengths, k, vocab)
    for sid in sids:
        w.put(sid, *rows(sid, lengths[sid], k))
    w.mark(sids)
    return w


def test_rows_are_found_by_sentence_id_and_padded(tmp_path):
    lengths = [3, 1, 4]
    w = write(tmp_path, lengths, 2, [2, 0, 1])  # any order
    w.close()
    assert not files(tmp_path, "train")["filled"].exists()
    write_meta(tmp_path, {"k": 2, "temperature": 1.0})
    cache = TopkCache(tmp_path)
    ids, probs = cache.batch("train", [2, 1], [4, 1], width=5, pad_id=PAD)
    assert ids.shape == (2, 5, 2)
    assert (ids[0, :4] == rows(2, 4, 2)[0]).all()
    assert (ids[1, :1] == rows(1, 1, 2)[0]).all()
    assert (ids[1, 1:] == PAD).all() and (probs[1, 1:] == 0).all()
    assert np.allclose(probs[0, :4].sum(-1), 1.0)


def test_a_length_that_differs_from_the_data_is_an_error(tmp_path):
    write(tmp_path, [3, 2], 2, [0, 1]).close()
    write_meta(tmp_path, {"k": 2, "temperature": 1.0})
    with pytest.raises(SeqkdError, match="made for other data"):
        TopkCache(tmp_path).batch("train", [1], [3], width=3, pad_id=PAD)
    with pytest.raises(SeqkdError, match="has 2 sentences"):
        TopkCache(tmp_path).batch("train", [7], [3], width=3, pad_id=PAD)


def test_a_killed_run_resumes_with_what_was_flushed(tmp_path):
    lengths = [2, 3, 1, 2]
    write(tmp_path, lengths, 3, [1, 3])
    # a new writer (a new process) over the same files: sentences 1 and 3 are kept
    w = TopkWriter(tmp_path, "train", lengths, 3, 500)
    assert w.missing() == 2
    assert not w.todo([1, 3]) and w.todo([0, 1])
    assert (np.asarray(w.ids[2:5]) == rows(1, 3, 3)[0]).all()
    for sid in (0, 2):
        w.put(sid, *rows(sid, lengths[sid], 3))
    w.mark([0, 2])
    w.close()
    write_meta(tmp_path, {"k": 3, "temperature": 1.0})
    ids, _ = TopkCache(tmp_path).batch("train", [0, 1, 2, 3], lengths, 3, PAD)
    for sid, n in enumerate(lengths):
        assert (ids[sid, :n] == rows(sid, n, 3)[0]).all()


def test_other_lengths_or_k_start_the_subset_over(tmp_path):
    write(tmp_path, [2, 2], 2, [0])
    w = TopkWriter(tmp_path, "train", [2, 3], 2, 500)  # another corpus
    assert w.missing() == 2
    w = TopkWriter(tmp_path, "train", [2, 3], 4, 500)  # another k
    assert w.missing() == 2 and w.ids.shape == (5, 4)


def test_unfinished_subset_cannot_be_closed(tmp_path):
    w = write(tmp_path, [2, 2], 2, [0])
    with pytest.raises(SeqkdError, match="1 sentences .* were not computed"):
        w.close()


def test_ids_take_the_smallest_type_that_holds_the_vocabulary():
    assert ids_dtype(32000) == np.uint16 and ids_dtype(65536) == np.uint16
    assert ids_dtype(65537) == np.int32


def test_a_folder_without_meta_says_how_to_make_a_cache(tmp_path):
    with pytest.raises(SeqkdError, match="seqkd topk-cache"):
        TopkCache(tmp_path)


@pytest.mark.parametrize("damage", ['{"k": 8', '{"k": 8}', '[1]', '{"k": "x", "temperature": 1}'])
def test_a_damaged_meta_file_says_to_make_the_cache_again(tmp_path, damage):
    (tmp_path / "meta.json").write_text(damage)
    with pytest.raises(SeqkdError, match=r"meta.json is damaged .*seqkd topk-cache \.\.\. --force"):
        TopkCache(tmp_path)
