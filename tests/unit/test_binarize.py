"""The one-pass binarizer against fairseq-preprocess: the same bytes from the same text
(pieces files, .bin/.idx, dictionaries), in one process and in worker processes, over block
boundaries, with pieces outside the dictionary and Unicode white space in the text."""

import filecmp
import json
from pathlib import Path

import pytest

import seqkd.binarize as binarize
from corpus import write_corpus
from seqkd.corpus import load_spm
from seqkd.fairseq_tools import run_tool
from seqkd.stages.prepare.vocab import dictionary_from_spm, train_spm

# a test set with what a corpus may hold: accents, a character SentencePiece does not know,
# tabs and runs of spaces, an information separator (white space to Python), an empty line,
# the dictionary's special symbols as text
ODD_LINES = "w1 \u00e9t\u00e9 \u5b57  w2\tw3 \x1c w4\n\n<s> </s> <unk> w5\n"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Text, a SentencePiece model trained on the source side only (the target's letters are
    unknown to it), its dictionary, and fairseq-preprocess's output from the pieces."""
    w = tmp_path_factory.mktemp("binarize")
    c = write_corpus(w / "c")
    for lang in ("en", "de"):
        with open(c / f"test.{lang}", "a", encoding="utf-8") as f:
            f.write(ODD_LINES)
    train_spm([c / "train.en"], w / "spm", 30, "unigram", 1, 1.0)
    sp = load_spm(w / "spm.model")
    dictionary_from_spm(sp, w / "dict.txt")
    for split in ("train", "valid", "test"):
        for lang in ("en", "de"):
            lines = (c / f"{split}.{lang}").read_text(encoding="utf-8").split("\n")[:-1]
            (w / "pieces").mkdir(exist_ok=True)
            (w / "pieces" / f"{split}.{lang}").write_text(
                "".join(" ".join(sp.encode(x, out_type=str)) + "\n" for x in lines),
                encoding="utf-8")
    p = w / "pieces"
    run_tool("preprocess", ["--source-lang", "en", "--target-lang", "de", "--trainpref",
                            str(p / "train"), "--validpref", str(p / "valid"), "--testpref",
                            str(p / "test"), "--srcdict", str(w / "dict.txt"), "--tgtdict",
                            str(w / "dict.txt"), "--workers", "2", "--destdir", str(w / "ref")])
    return w, c


def _same_files(ours: Path, theirs: Path) -> None:
    names = sorted(f.name for f in theirs.iterdir() if f.name != "preprocess.log")
    assert names and names == sorted(f.name for f in ours.iterdir() if f.name != "splits.json")
    for name in names:
        assert filecmp.cmp(ours / name, theirs / name, shallow=False), name


@pytest.mark.parametrize("workers,block", [(1, 20_000), (2, 300)])
def test_text_to_binaries_in_one_pass_equals_fairseq_preprocess(reference, tmp_path,
                                                                monkeypatch, workers, block):
    w, c = reference
    monkeypatch.setattr(binarize, "BLOCK_LINES", block)  # 2000 lines: 7 blocks, 2 workers
    mapping = binarize.binarize_splits(
        tmp_path / "bin", "en", "de", w / "dict.txt",
        {n: (c / n, tmp_path / "pieces" / n) for n in ("train", "valid", "test")},
        w / "spm.model", workers)
    _same_files(tmp_path / "bin", w / "ref")
    _same_files(tmp_path / "pieces", w / "pieces")
    assert mapping == json.loads((tmp_path / "bin" / "splits.json").read_text()) == {
        "train": "train", "valid": "valid", "test": "test"}


def test_pieces_in_and_splits_copied_from_another_folder(reference, tmp_path):
    """Files that are pieces already skip SentencePiece; copied splits keep their bytes and
    get this folder's split names."""
    w, _ = reference
    binarize.binarize_splits(tmp_path / "bin", "en", "de", w / "dict.txt",
                             {"train": (w / "pieces" / "train", None)}, None, 1,
                             copied={"valid": w / "ref"})
    for lang in ("en", "de"):
        for ext in (".bin", ".idx"):
            for split in ("train", "valid"):
                name = f"{split}.en-de.{lang}{ext}"
                assert filecmp.cmp(tmp_path / "bin" / name, w / "ref" / name, shallow=False)
    assert not (tmp_path / "pieces").exists()


def test_fairseq_names_the_splits_train_valid_then_test_test1():
    assert binarize.split_names(["train", "valid", "t16", "t17"]) == {
        "train": "train", "valid": "valid", "t16": "test", "t17": "test1"}
