"""Corpora on disk, shared by the stages: SentencePiece in and out, and the data folders
that `seqkd prepare` and `seqkd distill` write."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

from seqkd.errors import SeqkdError
from seqkd.fairseq_tools import split_prefixes
from seqkd.recorded import read_done
from seqkd.textio import require_file, unicode_problem


def load_spm(path: str | Path):
    import sentencepiece as spm

    require_file(path, "SentencePiece model")
    try:
        return spm.SentencePieceProcessor(model_file=str(path))
    except (RuntimeError, OSError) as e:
        raise SeqkdError(f"{path} is not a SentencePiece model ({str(e).strip()[:120]}); give "
                         "the .model file that spm_train wrote") from None


def text_batch(lines) -> Tuple[List[str], bool]:
    """What a model's ``translate`` was given, as a list, and whether it was one string (whose
    one translation is then returned as a string, not a list of its characters')."""
    single = isinstance(lines, str)
    if not single and (not isinstance(lines, (list, tuple))
                       or not all(isinstance(x, str) for x in lines)):
        raise SeqkdError(f"translate takes a string or a list of strings, got "
                         f"{type(lines).__name__}"
                         + ("" if not isinstance(lines, (list, tuple)) else " with items of "
                            + ", ".join(sorted({type(x).__name__ for x in lines}))))
    lines = [lines] if single else list(lines)
    for i, line in enumerate(lines):
        problem = unicode_problem(line)
        if problem:
            raise SeqkdError(f"{'the text' if single else f'text {i + 1}'}: {problem}; give "
                             "Unicode text")
    return lines, single


def encode_lines(sp, lines: List[str]) -> List[List[str]]:
    """Raw lines as SentencePiece pieces (outer white space stripped), for a decoder."""
    return [sp.encode(line.strip(), out_type=str) for line in lines]


def decode_text(decoder, sp, lines: List[str]) -> List[str]:
    """Translate raw lines with a piece-level decoder; return detokenized 1-best outputs."""
    return [sp.decode(hyps[0][0]) if hyps else ""
            for hyps in decoder.translate(encode_lines(sp, lines))]


def data_folder(path: str | Path) -> Path:
    """A folder with bin/, dict.txt and spm.model (a prepare or distill output)."""
    p = Path(path)
    for need in ("bin", "dict.txt", "spm.model", "DONE.json"):
        if not (p / need).exists():
            raise SeqkdError(
                f"{p} is not a finished data folder ({need} missing): give the output "
                "folder of `seqkd prepare` or `seqkd distill`")
    return p


class Prepared:
    """Read access to a finished prepare folder."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        done = self.path / "DONE.json"
        if not done.is_file():
            raise SeqkdError(f"{self.path} is not a finished prepare folder (no DONE.json); "
                             "run `seqkd prepare` first")
        record = read_done(done, "prepare")
        stage = record.get("stage")
        if stage != "prepare" or "src" not in record["settings"]:
            made_from = record["settings"].get("data") if stage == "distill" else None
            hint = f"; it was distilled from {made_from}: give that" if made_from else ""
            raise SeqkdError(f"{self.path} is not a prepare folder (it holds a finished "
                             f"{stage or 'unknown'} stage); give the output folder of "
                             f"`seqkd prepare` (WORK/data){hint}")
        self.settings = record["settings"]
        self.src = self.settings["src"]
        self.tgt = self.settings["tgt"]
        self.bin = self.path / "bin"
        self.spm = self.path / "spm.model"
        self.dictionary = self.path / "dict.txt"

    def text(self, split: str, lang: str) -> Path:
        return require_file(self.path / "text" / f"{split}.{lang}", f"{split} text")

    def pieces(self, split: str, lang: str) -> Path:
        return require_file(self.path / "pieces" / f"{split}.{lang}", f"{split} pieces")

    def mono_names(self) -> List[str]:
        """The monolingual source corpora prepared here (``mono/``), in the order given."""
        s = self.settings
        return [*(s.get("mono") or {}), *(s.get("mono_datasets") or {})]

    def source_text(self, name: str) -> Path:
        """The source side of ``train`` or of a monolingual corpus: cleaned text."""
        if name == "train":
            return self.text("train", self.src)
        return require_file(self.path / "mono" / "text" / f"{name}.{self.src}",
                            f"monolingual corpus {name}'s text")

    def source_pieces(self, name: str) -> Path:
        """The same as SentencePiece pieces."""
        if name == "train":
            return self.pieces("train", self.src)
        return require_file(self.path / "mono" / "pieces" / f"{name}.{self.src}",
                            f"monolingual corpus {name}'s pieces")

    def test_sets(self) -> List[str]:
        return [s for s in split_prefixes(self.bin) if s not in ("train", "valid")]


def bin_languages(bin_dir: str | Path) -> tuple[str, str]:
    """(source, target) language of a binarized folder, from its training files' names
    (``train.SRC-TGT.SRC.idx``)."""
    # a code holds no '.' but may hold '-' (zh-Hant): the pair is read against the codes
    names = [f.name[len("train."):-len(".idx")] for f in Path(bin_dir).glob("train.*.*.idx")]
    pairs = {n.rsplit(".", 1)[0] for n in names}
    langs = {n.rsplit(".", 1)[1] for n in names}
    pair = next(iter(pairs)) if len(pairs) == 1 else ""
    found = set()
    for lang in langs:  # each side's code is the pair's start or its end
        if pair.startswith(f"{lang}-"):
            found.add((lang, pair[len(lang) + 1:]))
        if pair.endswith(f"-{lang}"):
            found.add((pair[:-len(lang) - 1], lang))
    if len(found) != 1 or not all(next(iter(found))):
        raise SeqkdError(f"{bin_dir} does not hold one binarized training pair "
                         f"(train.SRC-TGT.SRC.idx and .TGT.idx; found {len(pairs)} "
                         "pair(s)): give the data folder of `seqkd prepare` or `seqkd distill`")
    return next(iter(found))


#: fairseq's mmap index (fairseq.data.indexed_dataset.MMapIndexedDataset.Index): magic,
#: version (<Q), dtype code (<B), length (<Q), then one int32 size (tokens, the end of
#: sentence included) a sentence
_INDEX_MAGIC = b"MMIDIDX\x00\x00"
_SIZES_AT = len(_INDEX_MAGIC) + 8 + 1 + 8


def sentence_sizes(index: Path):
    """The tokens of each sentence of a binarized file (its ``.idx``), end of sentence
    included, as fairseq counts them, memory-mapped (a large corpus is not read in); None
    when the file is not fairseq's mmap index (fairseq's own reading says what is wrong)."""
    import numpy as np

    try:
        with open(index, "rb") as f:
            head = f.read(_SIZES_AT)
    except OSError:
        return None
    if len(head) < _SIZES_AT or not head.startswith(_INDEX_MAGIC):
        return None
    count = int.from_bytes(head[_SIZES_AT - 8:], "little")
    if not count:
        return np.zeros(0, dtype=np.int32)
    return np.memmap(index, dtype=np.int32, mode="r", offset=_SIZES_AT, shape=(count,))


def pair_sizes(bin_dir: Path, split: str):
    """The tokens of each sentence pair of ``split`` as fairseq batches it (the longer side,
    end of sentence included), or None when its index files cannot be read."""
    import numpy as np

    src, tgt = bin_languages(bin_dir)
    sides = [sentence_sizes(Path(bin_dir) / f"{split}.{src}-{tgt}.{lang}.idx")
             for lang in (src, tgt)]
    if any(side is None for side in sides) or len(sides[0]) != len(sides[1]):
        return None
    return np.maximum(sides[0], sides[1])
