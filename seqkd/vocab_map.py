"""Vocabulary maps ("shortlists") for CTranslate2's ``use_vmap``: for each source piece and
frequent source-piece bigram, the target pieces it aligns to most often, plus the target
pieces that are always allowed. Word alignments come from eflomal; counting and selection are
pure functions, tested on their own.

File format (CTranslate2's): ``src_1 ... src_N<TAB>tgt_1 ... tgt_K`` per line; the line whose
source is empty lists the always-allowed targets.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from seqkd.errors import SeqkdError
from seqkd.textio import read_lines, write_lines

logger = logging.getLogger(__name__)

Links = List[Tuple[int, int]]


def parse_links(line: str) -> Links:
    """``"0-0 1-2"`` (Pharaoh format) as [(0, 0), (1, 2)]."""
    out = []
    for item in line.split():
        s, _, t = item.partition("-")
        out.append((int(s), int(t)))
    return out


def count_translations(src: Sequence[Sequence[str]], tgt: Sequence[Sequence[str]],
                       links: Sequence[Links], bigrams: bool = True
                       ) -> Tuple[Dict[str, Counter], Counter]:
    """(source n-gram -> Counter of aligned target pieces, target piece frequencies)."""
    if not len(src) == len(tgt) == len(links):
        raise SeqkdError(f"vocabulary map: {len(src)} source, {len(tgt)} target and "
                         f"{len(links)} alignment lines; they must be line-aligned")
    table: Dict[str, Counter] = defaultdict(Counter)
    freq: Counter = Counter()
    for s, t, ln in zip(src, tgt, links):
        freq.update(t)
        aligned: Dict[int, List[str]] = defaultdict(list)
        for i, j in ln:
            if i < len(s) and j < len(t):
                aligned[i].append(t[j])
        for i, piece in enumerate(s):
            table[piece].update(aligned.get(i, []))
            if bigrams and i + 1 < len(s):
                table[f"{piece} {s[i + 1]}"].update(aligned.get(i, []) + aligned.get(i + 1, []))
    return table, freq


def select(table: Dict[str, Counter], freq: Counter, top_k: int, always: int,
           min_bigram_count: int = 20) -> List[str]:
    """The vmap's lines: ``top_k`` targets per source unigram (and per bigram seen at least
    ``min_bigram_count`` times), and the ``always`` most frequent target pieces."""
    if top_k < 1:
        raise SeqkdError(f"--vmap-top-k must be at least 1, got {top_k}")
    lines = ["\t" + " ".join(p for p, _ in freq.most_common(always))]
    for key in sorted(table):
        counts = table[key]
        if " " in key and sum(counts.values()) < min_bigram_count:
            continue
        best = [p for p, _ in counts.most_common(top_k)]
        if best:
            lines.append(f"{key}\t{' '.join(best)}")
    return lines


@contextlib.contextmanager
def _temp_under(folder: Path):
    """Make tempfile (which eflomal uses for its inputs) write under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    before = tempfile.tempdir
    with tempfile.TemporaryDirectory(dir=folder, prefix=".eflomal.") as tmp:
        tempfile.tempdir = tmp
        try:
            yield Path(tmp)
        finally:
            tempfile.tempdir = before


def align(src_file: Path, tgt_file: Path, work: Path) -> List[Links]:
    """Symmetric word alignments of two piece files with eflomal (union of both directions)."""
    try:
        from eflomal import Aligner
    except ImportError:
        raise SeqkdError("the vocabulary map needs eflomal (pip install eflomal)") from None
    with _temp_under(work) as tmp, open(src_file, encoding="utf-8") as fs, \
            open(tgt_file, encoding="utf-8") as ft:
        fwd, rev = tmp / "fwd.links", tmp / "rev.links"
        Aligner().align(fs, ft, links_filename_fwd=str(fwd), links_filename_rev=str(rev),
                        quiet=True)
        forward = [parse_links(x) for x in read_lines(fwd)]
        reverse = [parse_links(x) for x in read_lines(rev)]
    return [sorted(set(a) | set(b)) for a, b in zip(forward, reverse)]


def build_vocabulary_map(src_file: Path, tgt_file: Path, out: Path, top_k: int = 20,
                         always: int = 100) -> Dict[str, int]:
    """Align, count, select and write ``out``; return a summary for the model card."""
    src = [x.split() for x in read_lines(src_file)]
    tgt = [x.split() for x in read_lines(tgt_file)]
    links = align(src_file, tgt_file, out.parent)
    table, freq = count_translations(src, tgt, links)
    lines = select(table, freq, top_k, always)
    write_lines(out, lines)
    logger.info("vocabulary map: %d entries, top %d targets each, %d always allowed -> %s",
                len(lines) - 1, top_k, always, out)
    return {"entries": len(lines) - 1, "top_k": top_k, "always": always,
            "pairs": len(src), "aligner": "eflomal (union of both directions)"}

