"""Cleaning a training corpus in bounded memory.

Rules, in order: drop pairs with an empty side; pairs with a side over ``max_len`` words
(:mod:`seqkd.text_length`: white space, or characters in scripts written without it); pairs
whose word-length ratio (longer over shorter) exceeds ``max_ratio``;
repeated pairs (the first is kept). Repeats are found by a 64-bit hash of the normalized pair
(BLAKE2b): the first pass keeps one hash per pair in a numpy array (8 bytes a pair, 36 MB for
4.5 M pairs), the first occurrence of each hash is marked, and the second pass streams the
kept pairs out. Two different pairs share a 64-bit hash with probability about n²/2⁶⁵ (some
5·10⁻⁵ for 40 M pairs); such a pair would be dropped as a repeat.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from seqkd.errors import SeqkdError
from seqkd.text_length import words

Pairs = Iterable[Tuple[str, str]]


def normalize(line: str) -> str:
    """Strip and collapse runs of whitespace (tabs included) into one space."""
    return " ".join(line.split())


def drop_reason(s: str, t: str, max_len: int, max_ratio: float) -> Optional[str]:
    """Why a normalized pair is dropped (a report key), or None to keep it."""
    if not s or not t:
        return "dropped_empty"
    ls, lt = words(s), words(t)
    if ls > max_len or lt > max_len:
        return "dropped_too_long"
    if max(ls, lt) / min(ls, lt) > max_ratio:
        return "dropped_ratio"
    return None


def pair_hash(s: str, t: str) -> int:
    """A 64-bit hash of a normalized pair (never 0, which marks a dropped pair)."""
    h = int.from_bytes(hashlib.blake2b(f"{s}\t{t}".encode(), digest_size=8).digest(), "little")
    return h or 1


def first_occurrences(hashes: np.ndarray) -> np.ndarray:
    """A boolean mask: True at the first position of each non-zero hash."""
    keep = np.zeros(len(hashes), dtype=bool)
    if len(hashes):
        _, first = np.unique(hashes, return_index=True)
        keep[first] = True
        keep &= hashes != 0
    return keep


def clean_stream(pairs: Callable[[], Pairs], max_len: int = 250, max_ratio: float = 3.0,
                 dedupe: bool = True, counts: Optional[Counter] = None,
                 limit: Optional[int] = None) -> Iterator[Tuple[str, str]]:
    """The kept (normalized) pairs, in order. ``pairs()`` opens the corpus afresh (it is read
    twice when ``dedupe`` is on); ``counts`` receives read, kept and each dropped_* count;
    ``limit`` keeps only the first N kept pairs (the rest counted as
    dropped_max_train_pairs)."""
    counts = Counter() if counts is None else counts
    for key in ("read", "kept", "dropped_empty", "dropped_too_long", "dropped_ratio",
                "dropped_duplicate"):
        counts.setdefault(key, 0)
    keep = None
    if dedupe:
        chunks: List[np.ndarray] = []
        buf: List[int] = []
        for s, t in pairs():
            s, t = normalize(s), normalize(t)
            buf.append(0 if drop_reason(s, t, max_len, max_ratio) else pair_hash(s, t))
            if len(buf) == 1 << 20:
                chunks.append(np.array(buf, dtype=np.uint64))
                buf = []
        chunks.append(np.array(buf, dtype=np.uint64))
        keep = first_occurrences(np.concatenate(chunks))
        del chunks, buf
    for i, (s, t) in enumerate(pairs()):
        counts["read"] += 1
        s, t = normalize(s), normalize(t)
        why = drop_reason(s, t, max_len, max_ratio)
        if why is None and keep is not None and not keep[i]:
            why = "dropped_duplicate"
        if why is None and limit is not None and counts["kept"] >= limit:
            why = "dropped_max_train_pairs"
        if why:
            counts[why] += 1
            continue
        counts["kept"] += 1
        yield s, t


def clean_pairs(src: Sequence[str], tgt: Sequence[str], max_len: int = 250,
                max_ratio: float = 3.0, dedupe: bool = True
                ) -> Tuple[List[str], List[str], Counter]:
    """:func:`clean_stream` over two lists: kept source, kept target and the counts."""
    if len(src) != len(tgt):
        raise SeqkdError(f"clean_pairs: {len(src)} source lines but {len(tgt)} target lines")
    counts: Counter = Counter()
    kept = list(clean_stream(lambda: zip(src, tgt), max_len, max_ratio, dedupe, counts))
    return [s for s, _ in kept], [t for _, t in kept], counts
