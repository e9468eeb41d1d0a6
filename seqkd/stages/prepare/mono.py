"""Monolingual source corpora: more source text for the teacher to translate than the parallel
corpus has (registered ones, such as ``multi30k-captions``, or the user's own files).

prepare cleans each one with the training rules that apply to one side, streamed in bounded
memory (8 bytes a line for the repeat checks, as :mod:`seqkd.stages.prepare.cleaning`): a line is dropped
when it is empty, longer than ``max_len`` words, holds characters no sentence has (control
characters, the Unicode replacement character that a bad decoding leaves), repeats an earlier
line of the same corpus, is a source sentence of the training set (the parallel pair teaches
it already), or is a source sentence of the validation set or a test set: distilled, it would
teach the student the teacher's translation of a sentence the student is then scored on (the
Multi30k captions hold three sentences of test_2017_flickr and one of test_2016_flickr word for
word). The kept lines are written under ``mono/`` of the data folder:

    mono/text/NAME.SRC      cleaned text
    mono/pieces/NAME.SRC    SentencePiece pieces (the data's model)
    mono/bin/NAME.SRC.bin/.idx   fairseq's binary form of the pieces (source side only)
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List

import numpy as np

from seqkd.stages.prepare.cleaning import first_occurrences, normalize
from seqkd.errors import SeqkdError
from seqkd.text_length import words
from seqkd.textio import iter_lines, progress, write_lines

#: report keys, in order
COUNTS = ("read", "kept", "dropped_empty", "dropped_too_long", "dropped_characters",
          "dropped_duplicate", "dropped_in_train", "dropped_in_eval")
#: C0/C1 control characters (tab and newline are white space, normalized away before) and
#: U+FFFD, which a wrong decoding leaves behind
BAD_CHARACTERS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffd]")


def line_hash(line: str) -> int:
    """A 64-bit hash of a normalized line (never 0, which marks a dropped line)."""
    return int.from_bytes(hashlib.blake2b(line.encode(), digest_size=8).digest(), "little") or 1


def drop_reason(line: str, max_len: int) -> str | None:
    """Why a normalized source line is dropped (a report key), or None."""
    if not line:
        return "dropped_empty"
    if words(line) > max_len:
        return "dropped_too_long"
    if BAD_CHARACTERS.search(line):
        return "dropped_characters"
    return None


def hashes_of(*paths: Path) -> np.ndarray:
    """The sorted distinct hashes of the files' normalized lines (the training source; the
    validation and test sources)."""
    return np.unique(np.fromiter((line_hash(normalize(x)) for path in paths
                                  for x in iter_lines(path)), dtype=np.uint64))


def clean_mono(lines: Callable[[], Iterable[str]], max_len: int, train_hashes: np.ndarray,
               counts: Counter, eval_hashes: np.ndarray | None = None) -> Iterator[str]:
    """The kept (normalized) lines in order; ``lines()`` opens the corpus afresh (it is read
    twice: hashes first, then the kept lines); ``counts`` gets every key of :data:`COUNTS`.
    ``eval_hashes``: the validation and test sources' (:func:`hashes_of`)."""
    for key in COUNTS:
        counts.setdefault(key, 0)
    hashes = np.fromiter((0 if drop_reason(normalize(x), max_len) else line_hash(normalize(x))
                          for x in lines()), dtype=np.uint64)
    first = first_occurrences(hashes)
    in_train = np.isin(hashes, train_hashes)
    in_eval = np.isin(hashes, np.zeros(0, np.uint64) if eval_hashes is None else eval_hashes)
    changed = SeqkdError("a monolingual corpus changed while it was read: run prepare again")
    read = 0
    for i, raw in enumerate(lines()):
        if i >= len(hashes):
            raise changed
        read = i + 1
        counts["read"] += 1
        line = normalize(raw)
        why = drop_reason(line, max_len)
        if why is None and not first[i]:
            why = "dropped_duplicate"
        if why is None and in_train[i]:
            why = "dropped_in_train"
        if why is None and in_eval[i]:
            why = "dropped_in_eval"
        counts[why or "kept"] += 1
        if why is None:
            yield line
    if read != len(hashes):
        raise changed


def write_mono(out: Path, name: str, files: List[Path], lang: str, max_len: int,
               train_hashes: np.ndarray, eval_hashes: np.ndarray) -> Dict[str, int]:
    """Clean one monolingual corpus (its files concatenated) into ``out/mono/text/NAME.LANG``;
    return its counts. An empty result is an error naming the counts. ``train_hashes`` and
    ``eval_hashes``: :func:`hashes_of` the training source and of the validation and test
    sources, whose sentences are dropped (hashed once for every corpus)."""
    counts: Counter = Counter()

    def lines() -> Iterator[str]:
        for f in files:
            yield from iter_lines(f)

    kept = write_lines(out / "mono" / "text" / f"{name}.{lang}", clean_mono(
        lambda: progress(lines(), desc=f"mono {name}", unit="line", leave=False), max_len,
        train_hashes, counts, eval_hashes))
    if not kept:
        raise SeqkdError(f"monolingual corpus {name}: no line left after cleaning "
                         f"({', '.join(f'{k}: {counts[k]}' for k in COUNTS)}); "
                         f"{_empty_hint(counts, max_len)}")
    return {k: counts[k] for k in COUNTS}


#: what to do when a corpus loses every line, by the reason that took most of them
_HINTS = {
    "read": "its files are empty: give the files with the text",
    "dropped_empty": "its lines are empty: give the files with the text",
    "dropped_too_long": "its lines are all over {max_len} words: raise max_len, or split the "
                        "text into sentences",
    "dropped_characters": "its lines hold control characters: check the files' encoding "
                          "(UTF-8 text is wanted)",
    "dropped_in_train": "its lines are the training source already: it adds nothing to "
                        "distil; leave it out, or give other text",
    "dropped_in_eval": "its lines are validation or test sources: distilled, they would "
                       "teach the student the sets it is scored on; give other text",
}


def _empty_hint(counts: Counter, max_len: int) -> str:
    reasons = [k for k in COUNTS[2:] if counts[k]]
    top = max(reasons, key=lambda k: counts[k]) if reasons else "read"
    return _HINTS.get(top, "check its files and language").format(max_len=max_len)


def binarize_mono(out: Path, names: Iterable[str], lang: str, dictionary: Path,
                  spm_model: Path, workers: int) -> None:
    """Pieces and fairseq binaries of each cleaned monolingual corpus (source side only)."""
    from seqkd.binarize import Binarizer

    with Binarizer(dictionary, spm_model, workers) as job:
        for name in names:
            (out / "mono" / "bin").mkdir(parents=True, exist_ok=True)
            job.file(out / "mono" / "text" / f"{name}.{lang}",
                     out / "mono" / "bin" / f"{name}.{lang}",
                     out / "mono" / "pieces" / f"{name}.{lang}", desc=f"binarize {name}")
