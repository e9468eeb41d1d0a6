"""Cleaning rules, strict UTF-8 reading, line-count checks, checksums, atomic writes."""

import gzip
import hashlib

import pytest

from seqkd import datasets, manifests
from seqkd.errors import SeqkdError
from seqkd.stages.prepare.cleaning import clean_pairs, normalize
from seqkd.textio import atomic_path, count_lines, read_lines, read_parallel, write_lines


def test_clean_pairs_applies_each_rule_and_counts_it():
    src = ["a b", "  ", "x " * 300, "one", "a b", "c  d\te", "keep me"]
    tgt = ["A B", "X", "y", "one two three four", "A B", "C D E", ""]
    s, t, counts = clean_pairs(src, tgt, max_len=250, max_ratio=3.0, dedupe=True)
    assert s == ["a b", "c d e"]
    assert t == ["A B", "C D E"]
    assert counts["read"] == 7
    assert counts["kept"] == 2
    assert counts["dropped_empty"] == 2          # "  " and the empty target
    assert counts["dropped_too_long"] == 1
    assert counts["dropped_ratio"] == 1          # 1 word vs 4 words
    assert counts["dropped_duplicate"] == 1


def test_clean_pairs_keeps_alignment():
    src = [f"s{i} w" for i in range(50)] + [""]
    tgt = [f"t{i} w" for i in range(50)] + ["orphan"]
    s, t, _ = clean_pairs(src, tgt)
    assert [x.split()[0][1:] for x in s] == [y.split()[0][1:] for y in t]


def test_dedupe_can_be_switched_off():
    s, _, counts = clean_pairs(["a", "a"], ["b", "b"], dedupe=False)
    assert len(s) == 2 and counts["dropped_duplicate"] == 0


def test_normalize_collapses_whitespace():
    assert normalize("  a \t b\u00a0 c  ") == "a b c"


def test_non_utf8_is_reported_with_file_and_line(tmp_path):
    f = tmp_path / "bad.en"
    f.write_bytes(b"fine\nalso fine\nbad \xff\xfe byte\n")
    with pytest.raises(SeqkdError, match=r"bad\.en, line 3: .*not valid UTF-8"):
        read_lines(f)


def test_a_byte_order_mark_before_the_first_line_is_not_text(tmp_path):
    # Windows editors write one before a UTF-8 file: it would be part of the first sentence
    # (a source no dedup matches, a reference no output does)
    f = tmp_path / "bom.en"
    f.write_bytes("\ufeffA dog.\r\nA cat.\r\n\ufeffA cow.\n".encode())
    assert read_lines(f) == ["A dog.", "A cat.", "\ufeffA cow."]  # a later one is the text's


def test_gzip_files_are_read(tmp_path):
    f = tmp_path / "x.en.gz"
    with gzip.open(f, "wt", encoding="utf-8") as g:
        g.write("eins\nzwei\n")
    assert read_lines(f) == ["eins", "zwei"]
    assert count_lines(f) == 2


def test_line_count_mismatch_names_both_files_and_counts(tmp_path):
    (tmp_path / "a.en").write_text("1\n2\n3\n")
    (tmp_path / "a.de").write_text("1\n2\n")
    with pytest.raises(SeqkdError, match=r"a\.en has 3 lines.*a\.de has 2"):
        read_parallel(tmp_path / "a.en", tmp_path / "a.de")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(SeqkdError, match="file not found"):
        read_lines(tmp_path / "nope.txt")


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"

    def lines():
        yield "first"
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_lines(target, lines())
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_keeps_previous_version_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    write_lines(target, ["old"])
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError
    assert target.read_text() == "old\n"


def _registry(tmp_path, monkeypatch, content: bytes, digest: str):
    reg = tmp_path / "registry"
    reg.mkdir()
    (reg / "toy.yaml").write_text(
        "name: toy\nbase_url: http://127.0.0.1:9/none/\nlangs: [en, de]\n"
        "splits: {train: train}\n"
        f"sha256: {{train.en.gz: {digest}, train.de.gz: {digest}}}\n")
    mirror = tmp_path / "mirror" / "toy"
    mirror.mkdir(parents=True)
    for lang in ("en", "de"):
        (mirror / f"train.{lang}.gz").write_bytes(content)
    monkeypatch.setenv("SEQKD_REGISTRY", str(reg))
    monkeypatch.setenv("SEQKD_DATA_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("SEQKD_CACHE", str(tmp_path / "cache"))
    return manifests.load_manifest("toy")


def test_mirror_file_with_right_checksum_is_used(tmp_path, monkeypatch):
    data = gzip.compress(b"hello\n")
    m = _registry(tmp_path, monkeypatch, data, hashlib.sha256(data).hexdigest())
    [files] = datasets.fetch_split(m, "train", "en", "de")
    assert read_lines(files["en"]) == ["hello"]
    assert files["en"].parent == tmp_path / "cache" / "toy"


def test_checksum_mismatch_is_refused(tmp_path, monkeypatch):
    data = gzip.compress(b"tampered\n")
    m = _registry(tmp_path, monkeypatch, data, "0" * 64)
    with pytest.raises(SeqkdError, match="checksum mismatch for train.en.gz"):
        datasets.fetch_file(m, "train.en.gz")
    assert not (tmp_path / "cache" / "toy" / "train.en.gz").exists()


def test_unknown_dataset_lists_registered_ones():
    with pytest.raises(SeqkdError, match="multi30k"):
        manifests.load_manifest("no-such-corpus")


def test_multi30k_manifest_matches_mirror_checksums():
    from conftest import mirror

    m = manifests.load_manifest("multi30k")
    root = mirror()
    if root is None:
        pytest.skip("no Multi30k mirror")
    sums = dict(line.split()[::-1] for line in (root / "multi30k" / "SHA256SUMS").read_text().splitlines())
    assert m.sha256 == sums


def test_streamed_cleaning_keeps_first_repeats_counts_them_and_honours_a_limit():
    """Repeats found by hash over a corpus read twice (never held as strings), the first of
    each kept, in order; the limit counts what it cuts (issue 21)."""
    from collections import Counter

    from seqkd.stages.prepare.cleaning import clean_stream, first_occurrences, pair_hash
    import numpy as np

    src = ["a  b", "c", "a b", "d", "c", "", "e"]
    tgt = ["A B", "C", "A\tB", "D", "C2", "x", "E"]
    opened = []

    def pairs():
        opened.append(1)
        return zip(src, tgt)
    counts = Counter()
    kept = list(clean_stream(pairs, counts=counts, limit=3))
    assert kept == [("a b", "A B"), ("c", "C"), ("d", "D")]
    assert len(opened) == 2
    assert counts["dropped_duplicate"] == 1 and counts["dropped_empty"] == 1
    assert counts["dropped_max_train_pairs"] == 2 and counts["kept"] == 3
    assert counts["read"] == 7
    assert pair_hash("a b", "A B") == pair_hash("a b", "A B") != pair_hash("a b", "A C")
    mask = first_occurrences(np.array([5, 0, 5, 7, 0, 7, 9], dtype=np.uint64))
    assert mask.tolist() == [True, False, False, True, False, False, True]


def test_mono_cleaning_counts_each_rule_and_refuses_a_corpus_that_changes_between_reads():
    from collections import Counter

    import numpy as np

    from seqkd.stages.prepare.mono import clean_mono, line_hash

    corpus = ["a dog", "", "w " * 9, "bad\x07char", "a  dog", "in train", "a cat",
              "scored  on"]
    train = np.array(sorted({line_hash("in train")}), dtype=np.uint64)
    scored = np.array(sorted({line_hash("scored on"), line_hash("in train")}), dtype=np.uint64)
    counts: Counter = Counter()
    assert list(clean_mono(lambda: iter(corpus), 5, train, counts, scored)) == ["a dog",
                                                                                "a cat"]
    assert counts == {"read": 8, "kept": 2, "dropped_empty": 1, "dropped_too_long": 1,
                      "dropped_characters": 1, "dropped_duplicate": 1, "dropped_in_train": 1,
                      "dropped_in_eval": 1}
    # the corpus is read twice (its hashes, then the kept lines): a file that grows or
    # shrinks between the two reads is an error, not a silently shorter corpus
    for second in (corpus + ["more"], corpus[:-2]):
        reads = iter([corpus, second])
        with pytest.raises(SeqkdError, match="changed while it was read"):
            list(clean_mono(lambda: iter(next(reads)), 5, train, Counter()))


@pytest.mark.parametrize("lines, says", [
    ([], "its files are empty"),
    (["", " ", "\x07"], "its lines are empty"),
    (["w " * 9, "v " * 9], "all over 5 words: raise max_len"),
    (["in train", "also in train", "a\x07b"], "the training source already: it adds nothing"),
    (["scored on"], "validation or test sources"),
])
def test_a_monolingual_corpus_that_loses_every_line_says_why(tmp_path, lines, says):
    """The error names the counts and what to do about the rule that took most lines."""
    import numpy as np

    from seqkd.stages.prepare.mono import line_hash, write_mono

    f = tmp_path / "c.en"
    f.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    train = np.array(sorted([line_hash("in train"), line_hash("also in train")]),
                     dtype=np.uint64)
    scored = np.array([line_hash("scored on")], dtype=np.uint64)
    with pytest.raises(SeqkdError, match="no line left after cleaning") as e:
        write_mono(tmp_path / "out", "c", [f], "en", 5, train, scored)
    assert says in str(e.value), str(e.value)


@pytest.mark.parametrize("files, pair", [
    (["train.en-de.en.idx", "train.en-de.de.idx", "valid.en-de.en.idx"], ("en", "de")),
    (["train.zh-Hant-pt_BR.zh-Hant.idx", "train.zh-Hant-pt_BR.pt_BR.idx"], ("zh-Hant", "pt_BR")),
    (["train.en-sr-Latn.sr-Latn.idx"], ("en", "sr-Latn")),  # the target side alone
    (["train.en-de.de.idx"], ("en", "de")),
])
def test_a_binarized_pair_is_read_with_hyphens_in_its_codes(tmp_path, files, pair):
    """fairseq reads the languages from file names by splitting on '-', which cuts zh-Hant in
    two; seqkd reads them against the codes and names them to fairseq itself."""
    from seqkd.corpus import bin_languages

    for name in files:
        (tmp_path / name).write_bytes(b"")
    assert bin_languages(tmp_path) == pair


def test_a_folder_without_one_binarized_pair_is_refused(tmp_path):
    from seqkd.corpus import bin_languages

    with pytest.raises(SeqkdError, match="found 0 pair"):
        bin_languages(tmp_path)
    for name in ("train.en-de.en.idx", "train.en-fr.en.idx"):
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(SeqkdError, match="found 2 pair"):
        bin_languages(tmp_path)


def test_a_side_without_spaces_is_told_to_raise_the_ratio_not_silently_dropped(tmp_path,
                                                                                 capsys):
    """A target in a script that seqkd.text_length does not know, written without spaces,
    is one word a sentence, so the word-length ratio rule drops its pairs: said when it
    drops over a fifth of them, and the fix named when it drops them all."""
    from conftest import seqkd
    from corpus import write_corpus

    c = write_corpus(tmp_path / "c", n_train=200, n_valid=10, n_test=5)
    lines = (c / "train.de").read_text(encoding="utf-8").splitlines()
    squeezed = [x.replace(" ", "") if i % 2 else x for i, x in enumerate(lines)]
    (c / "train.de").write_text("".join(x + "\n" for x in squeezed), encoding="utf-8")
    args = ["prepare", "--train-prefix", c / "train", "--valid-prefix", c / "valid",
            "--vocab-size", "60", "--max-ratio", "1.5"]  # (its sentences are short)
    assert seqkd(*args, "--out", tmp_path / "half") == 0
    err = capsys.readouterr().err
    assert "the length-ratio rule dropped" in err and "written without spaces is one word" in err
    (c / "train.de").write_text("".join(x.replace(" ", "") + "\n" for x in lines),
                                encoding="utf-8")
    assert seqkd(*args, "--out", tmp_path / "all", "-q") == 1
    err = capsys.readouterr().err
    assert "no training pairs left" in err and "raise --max-ratio (1000 turns the rule off" in err
    assert seqkd(*args, "--out", tmp_path / "all", "--max-ratio", "1000", "-q") == 0


@pytest.mark.parametrize("text, length", [
    ("A man is riding a bike.", 6), ("Ein  Mann\tfährt Fahrrad.", 4), ("", 0), ("  ", 0),
    ("一个男人在骑自行车。", 9),                 # Han: a character a word
    ("男性が自転車に乗っています。", 10),         # 6 Han and 7 kana (2 a word, rounded up)
    ("ありがとうございます", 5),
    ("ผู้ชายกำลังขี่จักรยาน", 4),                # Thai: 15 letters (marks aside), 4 a word
    ("មនុស្សប្រុសកំពុងជិះកង់", 4),                # Khmer
    ("ང་བོད་པ་ཡིན།", 2),                          # Tibetan: 5 letters (a stack counts as its root)
    ("བཀྲ་ཤིས་བདེ་ལེགས།", 3),                    # 9 letters
    ("iPhone的 2020年 。", 5),                 # a Latin name or a number beside them: a word
])
def test_lengths_count_words_in_scripts_written_without_spaces(text, length):
    from seqkd.stages.bench.report import words as bench_words
    from seqkd.text_length import words

    assert words(text) == length
    assert bench_words([text, text]) == 2 * length  # what the bench's words/s counts


def test_loop_units_split_han_and_kana_and_keep_other_words_whole():
    from seqkd.text_length import units

    assert units("on the  beach") == ["on", "the", "beach"]
    assert units("一个男人。") == ["一", "个", "男", "人", "。"]
    assert units("iPhone的 2020年 ผู้ชาย") == ["iPhone", "的", "2020", "年", "ผู้ชาย"]
    assert units("乗っています") == ["乗", "っ", "て", "い", "ま", "す"]


def test_length_rules_keep_chinese_and_thai_pairs_and_drop_their_long_lines():
    """A Chinese or Thai side was one word a sentence: every pair with an English side
    failed the length ratio of 3, no line was too long, and the distill filter called every
    translation into them a length anomaly."""
    from collections import Counter

    import numpy as np

    from seqkd.stages.distill.anomalies import anomaly
    from seqkd.stages.prepare.mono import clean_mono

    en = ["A man is riding a bike .", "Two dogs play in the snow .", "A child eats ."]
    zh = ["一个男人在骑自行车。", "两只狗在雪地里玩。", "一个孩子在吃东西。"]
    th = ["ผู้ชายกำลังขี่จักรยาน", "สุนัขสองตัวเล่นในหิมะ", "เด็กกำลังกิน"]
    for other in (zh, th):
        kept_src, kept_tgt, counts = clean_pairs(en, other, max_len=50, max_ratio=3.0)
        assert (kept_src, kept_tgt) == (en, other), counts
        assert [anomaly(s, t, -0.5, None, 3.0) for s, t in zip(en, other)] == [None] * 3
        assert anomaly(en[0], other[2][:2], -0.5, None, 3.0) == "length_ratio"
    # a side too long (max_len 8): the first Chinese sentence has 9 characters
    assert clean_pairs(zh, en, max_len=8)[2]["dropped_too_long"] == 1
    empty = np.array([], dtype=np.uint64)
    counts = Counter()
    assert list(clean_mono(lambda: iter(zh), 8, empty, counts)) == zh[1:]
    assert counts["dropped_too_long"] == 1
