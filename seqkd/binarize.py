"""Text to fairseq's binary datasets in one streaming pass, in parallel.

A split's text file is read in blocks of lines; worker processes encode each block with
SentencePiece, join the pieces (the ``pieces/`` file), split them as fairseq does and map them
through the fairseq dictionary; the parent writes the pieces, the token ids and, at the end,
the index with fairseq's own mmap index writer. The files are the bytes fairseq-preprocess
writes from the same pieces (tested), without the second pass over piece strings, the torch
tensor per line or holding a split in memory: memory is a few blocks plus 4 bytes a line.
Files that are pieces already (a distilled corpus's) skip the SentencePiece step.
"""

from __future__ import annotations

import array
import contextlib
import json
import multiprocessing
import shutil
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Tuple

import numpy as np

from seqkd.procs import die_with_parent
from seqkd.textio import atomic_path, count_lines, iter_lines, progress, write_text

#: lines a worker encodes at a time
BLOCK_LINES = 20_000

_WORKER: Dict[str, object] = {}


def _load_dictionary(path: Path):
    from fairseq.data import Dictionary

    return Dictionary.load(str(path))


def token_dtype(dictionary) -> type:
    """The id type fairseq-preprocess chooses for a dictionary of this size."""
    from fairseq.data.indexed_dataset import best_fitting_int_dtype

    return best_fitting_int_dtype(len(dictionary))


def _start_worker(spm_model: Optional[str], table: Tuple[Dict[str, int], int, int, type]) -> None:
    die_with_parent()
    _load_worker(spm_model, table)


def _load_worker(spm_model: Optional[str], table: Tuple[Dict[str, int], int, int, type]) -> None:
    """A worker needs the SentencePiece model and the dictionary's lookup table, not fairseq
    (whose import costs seconds per process)."""
    _WORKER.clear()
    if spm_model:
        import sentencepiece as spm

        _WORKER["sp"] = spm.SentencePieceProcessor(model_file=spm_model)
    _WORKER["indices"], _WORKER["unk"], _WORKER["eos"], _WORKER["dtype"] = table


def encode_block(lines: List[str]) -> Tuple[str, bytes, array.array]:
    """One block: (its pieces as text, one line each; the token ids with fairseq's
    end-of-sentence after each line, as bytes; the length of each line in tokens)."""
    sp = _WORKER.get("sp")
    piece_lines = ([" ".join(p) for p in sp.encode(lines, out_type=str, num_threads=1)]
                   if sp else lines)  # one thread: the workers are the parallelism
    indices, unk, eos = _WORKER["indices"], _WORKER["unk"], _WORKER["eos"]
    ids: List[int] = []
    sizes = array.array("i")
    for line in piece_lines:
        # str.split() splits at the characters fairseq's tokenize_line does (Python's
        # Unicode white space, the set of re's \s): the same tokens, without the import
        tokens = line.split()
        ids.extend([indices.get(t, unk) for t in tokens])
        ids.append(eos)
        sizes.append(len(tokens) + 1)
    text = "".join(line + "\n" for line in piece_lines)
    return text, np.asarray(ids, dtype=_WORKER["dtype"]).tobytes(), sizes


def _blocks(path: Path) -> Iterator[List[str]]:
    block: List[str] = []
    for line in iter_lines(path):
        block.append(line)
        if len(block) == BLOCK_LINES:
            yield block
            block = []
    if block:
        yield block


class Binarizer:
    """Worker processes shared by the splits of one binarizing job (use it as a context)."""

    def __init__(self, dictionary: Path, spm_model: Optional[Path], workers: int):
        self.dictionary = Path(dictionary)
        self.spm_model = str(spm_model) if spm_model else None
        self.workers = max(1, workers)
        #: fairseq's Dictionary (its save() writes the dict.LANG.txt files)
        self.fairseq_dict = _load_dictionary(self.dictionary)
        d = self.fairseq_dict
        self.dtype = token_dtype(d)
        self.table = (dict(d.indices), d.unk_index, d.eos_index, self.dtype)
        self._pool = None

    def __enter__(self) -> "Binarizer":
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def _encoder(self, lines: int):
        """map() over blocks: in worker processes when the file has more than one block and
        there are workers, else here (a small file is not worth starting processes)."""
        if self.workers > 1 and lines > BLOCK_LINES:
            if self._pool is None:
                self._pool = multiprocessing.get_context("spawn").Pool(
                    self.workers, initializer=_start_worker,
                    initargs=(self.spm_model, self.table))
            return self._pool.imap
        if _WORKER.get("owner") is not self:  # this job's model and dictionary, read once
            _load_worker(self.spm_model, self.table)
            _WORKER["owner"] = self
        return map

    def file(self, text: Path, dataset: Path, pieces: Optional[Path] = None,
             desc: str = "") -> int:
        """Binarize one file of lines into ``dataset``.bin/.idx (and its pieces into
        ``pieces`` when given); return the number of lines."""
        from fairseq.data.indexed_dataset import MMapIndexedDataset

        total = count_lines(text)
        encoded = self._encoder(total)(encode_block, _blocks(text))
        sizes = array.array("i")
        bin_path, idx_path = Path(f"{dataset}.bin"), Path(f"{dataset}.idx")
        with atomic_path(bin_path) as tmp_bin, \
                (atomic_path(pieces) if pieces else contextlib.nullcontext()) as tmp_pieces:
            with open(tmp_bin, "wb") as fb, \
                    (open(tmp_pieces, "w", encoding="utf-8", newline="\n")
                     if tmp_pieces else contextlib.nullcontext()) as fp:
                bar = progress(total=total, desc=desc or f"binarize {text.name}",
                               unit="line", leave=False)
                for piece_text, ids, block_sizes in encoded:
                    if fp:
                        fp.write(piece_text)
                    fb.write(ids)
                    sizes.extend(block_sizes)
                    bar.update(len(block_sizes))
                bar.close()
            with atomic_path(idx_path) as tmp_idx:
                with MMapIndexedDataset.Index.writer(str(tmp_idx), self.dtype) as index:
                    index.write(sizes)
        return len(sizes)


def _their_split(bin_dir: Path, name: str) -> str:
    """A split's fairseq name in another binarized folder (its splits.json, when it has one)."""
    listed = bin_dir / "splits.json"
    if listed.is_file():
        return json.loads(listed.read_text(encoding="utf-8"))[name]
    return name


def split_names(names: List[str]) -> Dict[str, str]:
    """fairseq's split name for each of ours: train, valid, then test, test1, ... in order."""
    tests = [n for n in names if n not in ("train", "valid")]
    mapping = {n: n for n in ("train", "valid") if n in names}
    mapping.update({t: "test" if i == 0 else f"test{i}" for i, t in enumerate(tests)})
    return mapping


def binarize_splits(dest: Path, src: str, tgt: str, dictionary: Path,
                    splits: Mapping[str, Tuple[Path, Optional[Path]]],
                    spm_model: Optional[Path], workers: int,
                    copied: Mapping[str, Path] = {}) -> Dict[str, str]:
    """Write fairseq's binarized data for ``splits`` (name -> (input prefix, pieces prefix or
    None)) into ``dest``: ``{split}.{src}-{tgt}.{lang}.bin/.idx``, ``dict.{lang}.txt`` and
    ``splits.json`` (our names -> fairseq's), as fairseq-preprocess lays them out. Inputs are
    text encoded with ``spm_model``, or pieces already when it is None; with a pieces prefix
    the pieces are written there too. ``copied`` (name -> a bin folder) takes a split's
    binaries from another data folder whose dictionary is the same."""
    mapping = split_names([*splits, *(n for n in copied if n not in splits)])
    with atomic_path(dest) as tmp, Binarizer(dictionary, spm_model, workers) as job:
        for lang in (src, tgt):
            job.fairseq_dict.save(str(tmp / f"dict.{lang}.txt"))
        for name in mapping:
            for lang in (src, tgt):
                base = f"{mapping[name]}.{src}-{tgt}.{lang}"
                if name in copied:
                    theirs = _their_split(Path(copied[name]), name)
                    for ext in (".bin", ".idx"):
                        shutil.copyfile(Path(copied[name]) / f"{theirs}.{src}-{tgt}.{lang}{ext}",
                                        tmp / f"{base}{ext}")
                    continue
                text, pieces = splits[name]
                job.file(Path(f"{text}.{lang}"), tmp / base,
                         Path(f"{pieces}.{lang}") if pieces else None,
                         desc=f"binarize {name}.{lang}")
        write_text(tmp / "splits.json", json.dumps(mapping, indent=2) + "\n")
    return mapping
