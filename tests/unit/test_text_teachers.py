"""Text-space teachers: where a CTranslate2 folder's tokenizers are found, prefix removal."""

import pytest

from seqkd.errors import SeqkdError
from seqkd.ct2_folder import is_ct2_folder
from seqkd.text_teachers import strip_prefix, teacher_tokenizers


def _folder(tmp_path, *files):
    d = tmp_path / "m"
    d.mkdir(exist_ok=True)
    for f in ("model.bin", *files):
        (d / f).write_bytes(b"x")
    return d


def test_tokenizers_are_found_named_or_asked_for(tmp_path):
    d = _folder(tmp_path, "source.spm", "target.spm")
    assert is_ct2_folder(d) and is_ct2_folder(tmp_path) is False
    assert teacher_tokenizers(d) == (d / "source.spm", d / "target.spm")
    (tmp_path / "own.model").write_bytes(b"x")
    assert teacher_tokenizers(d, spm=str(tmp_path / "own.model")) == (
        tmp_path / "own.model", tmp_path / "own.model")
    e = tmp_path / "e"
    e.mkdir()
    (e / "model.bin").write_bytes(b"x")
    (e / "sentencepiece.bpe.model").write_bytes(b"x")  # an NLLB / M2M-100 conversion
    assert teacher_tokenizers(e) == (e / "sentencepiece.bpe.model",) * 2
    (e / "sentencepiece.bpe.model").unlink()
    with pytest.raises(SeqkdError, match="has no SentencePiece model .*--teacher-spm"):
        teacher_tokenizers(e)
    with pytest.raises(SeqkdError, match="--teacher-target-spm: .* is not a file"):
        teacher_tokenizers(d, target_spm=str(tmp_path / "missing.model"))


def test_the_forced_prefix_and_end_markers_are_removed():
    assert strip_prefix(["deu_Latn", "▁Ein", "▁Hund", "</s>"], ["deu_Latn"]) == ["▁Ein", "▁Hund"]
    assert strip_prefix(["▁Ein", "deu_Latn"], ["deu_Latn"]) == ["▁Ein", "deu_Latn"]
    assert strip_prefix(["a"], []) == ["a"]
