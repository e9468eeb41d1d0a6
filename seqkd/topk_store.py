"""The top-k cache of a teacher's token distributions: its files, written and read.

For word-level KD without the teacher in the training loop, the teacher (or the
ensemble's mean distribution) is run once, forced on every target sentence of a
binarized corpus, and at each target position the ``k`` most probable tokens and
their probabilities, renormalized over those ``k``, are stored. One subset
(``train``, ``valid``) is three arrays in ``.npy`` files, read memory-mapped:

    SUBSET.offsets.npy   int64 (sentences + 1,): sentence i's rows are offsets[i]:offsets[i+1]
    SUBSET.ids.npy       uint16 or int32 (tokens, k): fairseq dictionary ids, most probable first
    SUBSET.probs.npy     float16 (tokens, k): the teacher's probabilities, summing to 1 per row
    meta.json            k, temperature, the teachers, the data's digests, the sizes

A sentence has as many rows as fairseq's target has tokens (EOS included), so a
batch's rows are found from fairseq's sample ids alone. While the cache is
written, ``SUBSET.filled.npy`` marks the sentences done: a killed run goes on
where it stopped. Only numpy here: the fairseq plugin and the stage both use it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, Sequence, Tuple

import numpy as np
from numpy.lib.format import open_memmap

from seqkd.errors import SeqkdError
from seqkd.lineage import file_digest

META = "meta.json"
SUBSETS = ("train", "valid")


def ids_dtype(vocab_size: int) -> np.dtype:
    """The smallest integer type that holds every id of a dictionary of ``vocab_size``."""
    return np.dtype(np.uint16) if vocab_size <= np.iinfo(np.uint16).max + 1 else np.dtype(np.int32)


def files(folder: Path, subset: str) -> Dict[str, Path]:
    return {part: Path(folder) / f"{subset}.{part}.npy"
            for part in ("offsets", "ids", "probs", "filled")}


class TopkWriter:
    """Preallocated, memory-mapped arrays for one subset, filled sentence by sentence in
    any order; what was flushed survives a kill and is skipped on the next run."""

    def __init__(self, folder: Path, subset: str, lengths: Sequence[int], k: int,
                 vocab_size: int):
        self.paths = files(folder, subset)
        lengths = np.asarray(lengths, dtype=np.int64)
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        rows = int(offsets[-1])
        old = self._resumable(offsets, k, vocab_size)
        if old:
            self.offsets = np.load(self.paths["offsets"])
            self.ids = np.load(self.paths["ids"], mmap_mode="r+")
            self.probs = np.load(self.paths["probs"], mmap_mode="r+")
            self.filled = np.load(self.paths["filled"], mmap_mode="r+")
        else:
            for p in self.paths.values():
                p.unlink(missing_ok=True)
            np.save(self.paths["offsets"], offsets)
            self.offsets = offsets
            self.ids = open_memmap(self.paths["ids"], "w+", ids_dtype(vocab_size), (rows, k))
            self.probs = open_memmap(self.paths["probs"], "w+", np.float16, (rows, k))
            # written last: a filled mask exists only beside arrays of the right shape
            self.filled = open_memmap(self.paths["filled"], "w+", np.uint8, (len(lengths),))

    def _resumable(self, offsets: np.ndarray, k: int, vocab_size: int) -> bool:
        if not all(p.is_file() for p in self.paths.values()):
            return False
        try:
            old = np.load(self.paths["offsets"])
            ids = np.load(self.paths["ids"], mmap_mode="r")
            probs = np.load(self.paths["probs"], mmap_mode="r")
            filled = np.load(self.paths["filled"], mmap_mode="r")
        except (ValueError, OSError, EOFError):
            return False  # a file cut short by a kill: start this subset again
        return (np.array_equal(old, offsets) and ids.shape == (int(offsets[-1]), k)
                and ids.dtype == ids_dtype(vocab_size) and probs.shape == ids.shape
                and filled.shape == (len(offsets) - 1,))

    def todo(self, sentence_ids: Sequence[int]) -> bool:
        """True when any of ``sentence_ids`` is not written yet."""
        return not bool(np.all(self.filled[np.asarray(sentence_ids, dtype=np.int64)]))

    def put(self, sentence_id: int, ids: np.ndarray, probs: np.ndarray) -> None:
        start, end = int(self.offsets[sentence_id]), int(self.offsets[sentence_id + 1])
        if ids.shape != (end - start, self.ids.shape[1]):
            raise SeqkdError(f"top-k cache: sentence {sentence_id} has {end - start} target "
                             f"tokens, the teacher gave {ids.shape[0]} rows")
        self.ids[start:end] = ids
        self.probs[start:end] = probs

    def mark(self, sentence_ids: Sequence[int]) -> None:
        """Flush the rows written so far, then mark ``sentence_ids`` as done."""
        self.ids.flush()
        self.probs.flush()
        self.filled[np.asarray(sentence_ids, dtype=np.int64)] = 1
        self.filled.flush()

    def missing(self) -> int:
        return int(len(self.filled) - int(np.count_nonzero(self.filled)))

    def close(self) -> None:
        """Finish the subset: everything written, the progress mask removed."""
        self.mark([])
        if self.missing():
            raise SeqkdError(f"top-k cache: {self.missing()} sentences of "
                             f"{self.paths['ids'].name} were not computed")
        del self.ids, self.probs, self.filled
        self.paths["filled"].unlink()


class TopkCache:
    """A finished cache folder, read memory-mapped (nothing is loaded up front)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        meta = self.folder / META
        if not meta.is_file():
            raise SeqkdError(f"{self.folder} is not a top-k cache (no {META}); make one with "
                             "`seqkd topk-cache --data DISTILLED --teacher CKPT --out DIR`")
        try:
            self.meta = json.loads(meta.read_text(encoding="utf-8"))
            self.k = int(self.meta["k"])
            self.temperature = float(self.meta["temperature"])
        except (ValueError, TypeError, KeyError) as e:
            raise SeqkdError(f"{meta} is damaged ({type(e).__name__}: {e}); make the cache "
                             "again (`seqkd topk-cache ... --force`)") from None
        self._subsets: Dict[str, Tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def subset(self, name: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        if name not in self._subsets:
            paths = files(self.folder, name)
            missing = [p.name for part, p in paths.items() if part != "filled"
                       and not p.is_file()]
            if missing:
                raise SeqkdError(f"top-k cache {self.folder} has no {name} subset "
                                 f"({', '.join(missing)} missing); make it again")
            self._subsets[name] = (np.load(paths["offsets"]),
                                   np.load(paths["ids"], mmap_mode="r"),
                                   np.load(paths["probs"], mmap_mode="r"))
        return self._subsets[name]

    def sentences(self, name: str) -> int:
        return len(self.subset(name)[0]) - 1

    def batch(self, name: str, sentence_ids: Sequence[int], lengths: Sequence[int],
              width: int, pad_id: int) -> Tuple[np.ndarray, np.ndarray]:
        """(ids, probs), each (batch, width, k): sentence b's rows first, then padding
        (id ``pad_id``, probability 0). ``lengths`` are the batch's target lengths as the
        data loader made them, checked against the cache's."""
        offsets, ids, probs = self.subset(name)
        out_ids = np.full((len(sentence_ids), width, self.k), pad_id, dtype=np.int64)
        out_p = np.zeros((len(sentence_ids), width, self.k), dtype=np.float32)
        for b, (sid, n) in enumerate(zip(sentence_ids, lengths)):
            sid = int(sid)
            if not 0 <= sid < len(offsets) - 1:
                raise SeqkdError(f"top-k cache {self.folder} ({name}) has "
                                 f"{len(offsets) - 1} sentences; the data has sentence "
                                 f"{sid}: the cache was made for other data")
            start, end = int(offsets[sid]), int(offsets[sid + 1])
            if end - start != int(n):
                raise SeqkdError(f"top-k cache {self.folder} ({name}): sentence {sid} has "
                                 f"{end - start} tokens in the cache and {n} in the data: the "
                                 "cache was made for other data; make it again for this data")
            out_ids[b, :n] = ids[start:end]
            out_p[b, :n] = probs[start:end]
        return out_ids, out_p


def write_meta(folder: Path, meta: Dict) -> None:
    (Path(folder) / META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def cache_digests(folder: Path, subsets: Sequence[str]) -> Dict[str, str]:
    """``size:sha256`` of each array file of a finished cache (recorded in meta.json and
    checked before training, so a damaged or altered cache is one error naming it)."""
    return {p.name: file_digest(p) for s in subsets for part, p in files(folder, s).items()
            if part != "filled"}


def data_digests(data: str | os.PathLike) -> Dict[str, str]:
    """Digests of the binarized target side of ``data``'s train and valid sets: what a
    cache's rows line up with."""
    out = {}
    for subset in SUBSETS:
        for ext in ("idx", "bin"):
            f = target_file(data, subset, ext)
            if f.is_file():
                out[f.name] = file_digest(f)
    return out


def target_file(data: str | os.PathLike, subset: str, ext: str) -> Path:
    """The binarized target side of ``subset`` in a data folder (``bin/SUBSET.SRC-TGT.TGT.EXT``)."""
    from seqkd.corpus import bin_languages

    src, tgt = bin_languages(Path(data) / "bin")
    return Path(data) / "bin" / f"{subset}.{src}-{tgt}.{tgt}.{ext}"


def check_cache_for(cache_dir: str | os.PathLike, data: str | os.PathLike,
                    temperature: float) -> TopkCache:
    """The cache in ``cache_dir`` when it was made for ``data`` at ``temperature``; one
    clear error otherwise."""
    cache_dir = Path(cache_dir)
    if not (cache_dir / "DONE.json").is_file():
        raise SeqkdError(f"{cache_dir} is not a finished top-k cache (no DONE.json); make it "
                         f"with `seqkd topk-cache --data {data} --teacher CKPT --out "
                         f"{cache_dir}`")
    cache = TopkCache(cache_dir)
    recorded = cache.meta.get("files")  # caches made before seqkd recorded them: unchecked
    if recorded is not None:
        now = cache_digests(cache_dir, cache.meta.get("subsets", SUBSETS))
        damaged = sorted(name for name, digest in now.items() if recorded.get(name) != digest)
        if damaged:
            raise SeqkdError(f"the top-k cache {cache_dir} is damaged: {', '.join(damaged)} "
                             "changed since it was made (its size or SHA-256 differs from "
                             f"{META}); make it again (`seqkd topk-cache ... --force`)")
    if cache.meta.get("data") != data_digests(data):
        raise SeqkdError(f"the top-k cache {cache_dir} was made for other data than {data} "
                         "(its binarized targets differ): make the cache from this data "
                         "folder")
    if abs(cache.temperature - temperature) > 1e-9:
        raise SeqkdError(f"the top-k cache {cache_dir} holds the teacher's distribution at "
                         f"temperature {cache.temperature:g}; train with --kd-temperature "
                         f"{cache.temperature:g}, or make a cache at {temperature:g}")
    return cache
