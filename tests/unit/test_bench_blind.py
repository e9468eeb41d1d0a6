"""Blind sets in the bench: NAME=FILE entries checked all at once, empty lines kept in place,
the outputs gzipped byte-for-byte reproducibly, and a count mismatch refused."""

import gzip

import pytest

from seqkd.errors import SeqkdError
from seqkd.stages.bench import blind


def test_every_problem_of_the_entries_is_named_at_once(tmp_path):
    src = tmp_path / "b.en"
    src.write_text("a dog\n")
    entries = ["oops", "../x=" + str(src), "ok=" + str(src), "ok=" + str(src),
               "gone=" + str(tmp_path / "nowhere.en")]
    with pytest.raises(SeqkdError) as e:
        blind.parse(entries)
    msg = str(e.value)
    assert "'oops' is not NAME=FILE" in msg
    assert "name '../x': use letters, digits" in msg
    assert "name 'ok' is given twice" in msg
    assert f"gone: {tmp_path / 'nowhere.en'} is not a file" in msg
    assert blind.parse(["ok=" + str(src)]) == {"ok": src}
    # the files a stage digests, whether they are there or not
    assert blind.files(entries[1:]) == [src, src, src, tmp_path / "nowhere.en"]


def test_a_test_set_with_references_or_a_file_without_text_is_no_blind_set(tmp_path):
    src, blank = tmp_path / "b.en", tmp_path / "blank.en"
    src.write_text("a dog\n")
    blank.write_text("\n  \n")
    with pytest.raises(SeqkdError, match="test2 is a test set of the data folder, with "
                                         "references: name it in test_sets"):
        blind.load(["test2=" + str(src)], ["test1", "test2", "valid"])
    with pytest.raises(SeqkdError, match="has no text to translate"):
        blind.load(["x=" + str(blank)], ["test1"])


def test_outputs_keep_empty_lines_in_place_and_the_same_bytes(tmp_path):
    src = tmp_path / "b.en.gz"
    with gzip.open(src, "wt", encoding="utf-8") as f:
        f.write("a dog runs\n\ntwo cats\n   \nend\n")
    (b,) = blind.load(["held=" + str(src)], ["test1"])
    assert b.to_translate == ["a dog runs", "two cats", "end"]
    written = {}
    blind.write_outputs(tmp_path / "one", "sys-b1", [b], "de",
                        {"held": ["ein hund", "zwei katzen", "ende"]}, written)
    out = tmp_path / "one" / "outputs" / "sys-b1.held.de.gz"
    assert written == {"held": ["outputs/sys-b1.held.de.gz"]}
    assert gzip.decompress(out.read_bytes()).decode().split("\n") == [
        "ein hund", "", "zwei katzen", "", "ende", ""]
    blind.write_outputs(tmp_path / "two", "sys-b1", [b], "de",
                        {"held": ["ein hund", "zwei katzen", "ende"]}, {})
    assert (tmp_path / "two" / "outputs" / "sys-b1.held.de.gz").read_bytes() == out.read_bytes()
    # a system that did not translate the set (a second thread count) writes nothing
    blind.write_outputs(tmp_path / "three", "sys-b1", [b], "de", {}, written)
    assert not (tmp_path / "three").exists() and len(written["held"]) == 1
    with pytest.raises(SeqkdError, match="returned 2 translations of blind set held for 3"):
        blind.write_outputs(tmp_path / "four", "sys-b1", [b], "de", {"held": ["x", "y"]}, {})
    assert not (tmp_path / "four" / "outputs" / "sys-b1.held.de.gz").exists()
    summary = blind.summary([b], written)
    assert summary[0]["lines"] == 5 and summary[0]["outputs"] == ["outputs/sys-b1.held.de.gz"]
    assert "blind set held" in blind.markdown_lines(summary)[0]
