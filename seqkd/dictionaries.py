"""fairseq dictionaries: reading them, and checking that a checkpoint, its dictionary and the
data agree before anything is decoded or trained."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List

from seqkd.errors import SeqkdError


def read_dictionary(path: str | os.PathLike) -> List[str]:
    """The symbols of a fairseq dictionary file (without the 4 built-in specials)."""
    p = Path(path)
    if not p.is_file():
        raise SeqkdError(f"dictionary not found: {p}")
    symbols = []
    for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.rstrip().split(" ")
        if parts[-1] == "#fairseq:overwrite":
            parts = parts[:-1]
        if len(parts) < 2 or not parts[-1].isdigit():
            raise SeqkdError(f"{p}, line {lineno}: not a fairseq dictionary line ('<symbol> <count>')")
        symbols.append(" ".join(parts[:-1]))
    return symbols


def check_same_dictionary(expected: str | os.PathLike, actual: str | os.PathLike,
                          what: str) -> None:
    """Fail clearly when two fairseq dictionaries do not list the same symbols in order."""
    a, b = read_dictionary(expected), read_dictionary(actual)
    if a == b:
        return
    first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    sx = a[first] if first < len(a) else "<end>"
    sy = b[first] if first < len(b) else "<end>"
    raise SeqkdError(
        f"{what}: dictionary {actual} ({len(b)} symbols) does not match {expected} "
        f"({len(a)} symbols); first difference at entry {first + 1}: {sy!r} vs {sx!r}. "
        "The data must be prepared with the teacher's SentencePiece model and dictionary: "
        "run `seqkd prepare --spm-model TEACHER/spm.model --dict TEACHER/dict.txt`")


def teacher_dictionary_path(checkpoint: str | os.PathLike) -> Path:
    """The dictionary that belongs to a checkpoint.

    ``dict.txt`` (or ``dict.<lang>.txt``) beside it, or one folder up (the
    layout of `seqkd train`: OUT/dict.txt and OUT/checkpoints/*.pt).
    """
    folder = Path(checkpoint).resolve().parent
    for f in (folder, folder.parent):
        for candidate in [f / "dict.txt", *sorted(f.glob("dict.*.txt"))]:
            if candidate.is_file():
                return candidate
    raise SeqkdError(
        f"no dictionary beside checkpoint {checkpoint}: put the fairseq dictionary it was "
        f"trained with into {folder} as dict.txt")


def check_checkpoint_dictionary(checkpoint: str | os.PathLike, dictionary: str | os.PathLike,
                                role: str) -> None:
    """Fail clearly unless the dictionary beside ``checkpoint`` equals ``dictionary`` (the
    data's) and has as many entries as the checkpoint's embeddings have rows."""
    own = teacher_dictionary_path(checkpoint)
    check_same_dictionary(dictionary, own, f"{role} {checkpoint}")
    rows = embedding_rows(checkpoint)
    size = dictionary_size(own)
    if rows is not None and rows != size:
        raise SeqkdError(
            f"{role} {checkpoint}: its embeddings have {rows} rows but the dictionary beside it "
            f"({own}) has {size} entries ({SPECIAL_SYMBOLS} special symbols + {size - SPECIAL_SYMBOLS} lines); it is not the "
            "dictionary this checkpoint was trained with: put that one beside it as dict.txt")


def check_dictionary_file(path: str | os.PathLike) -> None:
    """One clear error unless ``path`` is a fairseq dictionary: UTF-8 lines of a symbol and
    a count (optionally followed by ``#fairseq:overwrite``)."""
    p = Path(path)
    if not p.is_file():
        raise SeqkdError(f"fairseq dictionary not found: {p}")
    try:
        with open(p, encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                fields = line.rstrip("\n").split(" ")
                if fields[-1] == "#fairseq:overwrite":
                    fields = fields[:-1]
                if len(fields) < 2 or not fields[-1].lstrip("-").isdigit():
                    raise SeqkdError(f"{p} is not a fairseq dictionary: line {n} is {line[:60]!r}"
                                     ", not 'SYMBOL COUNT'; give the dict.txt that "
                                     "fairseq-preprocess or `seqkd prepare` wrote")
    except UnicodeDecodeError:
        raise SeqkdError(f"{p} is not a fairseq dictionary (not UTF-8 text)") from None


#: symbols fairseq adds before a dictionary file's entries (<s>, <pad>, </s>, <unk>)
SPECIAL_SYMBOLS = 4


def dictionary_size(path: str | os.PathLike) -> int:
    """The number of entries of a fairseq dictionary: its lines plus the special symbols."""
    with open(path, encoding="utf-8") as f:
        return SPECIAL_SYMBOLS + sum(1 for line in f if line.strip())


def embedding_rows(checkpoint: str | os.PathLike) -> int | None:
    """Rows of a fairseq checkpoint's target embedding (its dictionary size), or None when
    the checkpoint has no such tensor."""
    from seqkd.checkpoints import load_mapped

    model = load_mapped(checkpoint).get("model") or {}
    for key in ("decoder.embed_tokens.weight", "decoder.output_projection.weight",
                "encoder.embed_tokens.weight"):
        if key in model:
            return int(model[key].shape[0])
    return None
