"""`seqkd prepare` on a tiny generated corpus (and on the Multi30k mirror when present)."""

import json

import pytest

from conftest import mirror, seqkd
from seqkd.textio import read_lines

pytestmark = pytest.mark.slow  # real fairseq training or decoding


def test_prepare_layout_counts_and_rerun(corpus, tmp_path, capsys):
    src = (corpus / "train.en").read_text().splitlines()
    tgt = (corpus / "train.de").read_text().splitlines()
    # add an empty pair and a duplicate: both must be dropped and counted
    (tmp_path / "train.en").write_text("\n".join(src[:200] + ["", src[0]]) + "\n")
    (tmp_path / "train.de").write_text("\n".join(tgt[:200] + ["x", tgt[0]]) + "\n")
    out = tmp_path / "data"
    args = ["prepare", "--out", out, "--train-prefix", tmp_path / "train",
            "--valid-prefix", corpus / "valid", "--test", f"t1={corpus / 'test'}",
            "--vocab-size", "80", "-q"]
    assert seqkd(*args) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["train"]["read"] == 202
    assert report["train"]["dropped_empty"] == 1
    assert report["train"]["dropped_duplicate"] == 1 + (len(set(zip(src[:200], tgt[:200]))) < 200)
    assert len(read_lines(out / "text" / "train.en")) == report["train"]["kept"]
    assert json.loads((out / "bin" / "splits.json").read_text()) == {
        "train": "train", "valid": "valid", "t1": "test"}
    for split in ("train", "valid", "test"):
        assert (out / "bin" / f"{split}.en-de.de.bin").stat().st_size > 0
    assert (out / "spm.model").is_file() and (out / "config.yaml").is_file()
    # pieces decode back to the text
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=str(out / "spm.model"))
    pieces = read_lines(out / "pieces" / "valid.de")
    assert [sp.decode(p.split()) for p in pieces] == read_lines(out / "text" / "valid.de")
    # a re-run does nothing; other settings are refused
    stamp = (out / "DONE.json").stat().st_mtime_ns
    assert seqkd(*args) == 0
    assert (out / "DONE.json").stat().st_mtime_ns == stamp
    assert seqkd(*args, "--max-ratio", "2") == 1
    assert "use --force" in capsys.readouterr().err


def test_prepare_rejects_misaligned_and_empty_test_lines(corpus, tmp_path, capsys):
    (tmp_path / "t.en").write_text("a\nb\n")
    (tmp_path / "t.de").write_text("a\n")
    rc = seqkd("prepare", "--out", tmp_path / "o", "--train-prefix", corpus / "train",
               "--valid-prefix", corpus / "valid", "--test", f"bad={tmp_path / 't'}", "-q")
    assert rc == 1 and "t.en has 2 lines" in capsys.readouterr().err
    (tmp_path / "t.de").write_text("a\n\n")
    rc = seqkd("prepare", "--out", tmp_path / "o2", "--train-prefix", corpus / "train",
               "--valid-prefix", corpus / "valid", "--test", f"bad={tmp_path / 't'}", "-q")
    assert rc == 1 and "t.de, line 2: empty line" in capsys.readouterr().err


def test_prepare_multi30k_from_mirror(tmp_path, monkeypatch):
    root = mirror()
    if root is None:
        pytest.skip("no Multi30k mirror (set SEQKD_DATA_MIRROR)")
    monkeypatch.setenv("SEQKD_DATA_MIRROR", str(root))
    out = tmp_path / "m30k"
    assert seqkd("prepare", "--out", out, "--vocab-size", "2000", "-q") == 0
    report = json.loads((out / "report.json").read_text())
    assert report["train"]["read"] == 29000
    assert report["test_2016_flickr"]["kept"] == 1000
    assert set(json.loads((out / "bin" / "splits.json").read_text())) == {
        "train", "valid", "test_2016_flickr", "test_2017_flickr", "test_2017_mscoco"}
