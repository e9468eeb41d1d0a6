"""distill's chunks, merge and filter, apart from the stage: which chunks a shard decodes,
reading only those lines of the source, and the merge that streams chunk by chunk through
selection (seq-KD's best or MBR choice, seq-inter), the anomaly filter and the output files,
so memory holds one chunk and one line, never the corpus."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from seqkd import text_length
from seqkd.errors import SeqkdError
from seqkd.stages.distill.anomalies import all_filtered_message, anomaly
from seqkd.stages.distill.selection import choose, rule
from seqkd.stats import seconds_each, time_left
from seqkd.textio import atomic_path, count_lines, iter_lines, progress, write_text


def chunk_ranges(n_lines: int, chunk_size: int) -> List[Tuple[int, int]]:
    if chunk_size < 1:
        raise SeqkdError(f"--chunk-size must be positive, got {chunk_size}")
    return [(s, min(s + chunk_size, n_lines)) for s in range(0, n_lines, chunk_size)]


def shard_chunks(n_chunks: int, num_shards: int, shard_id: int) -> List[int]:
    if num_shards < 1 or not 0 <= shard_id < num_shards:
        raise SeqkdError(f"--shard-id must be in [0, {num_shards}), got {shard_id}")
    return list(range(shard_id, n_chunks, num_shards))


def scheduler_shard(env) -> Optional[Tuple[int, int]]:
    """(number of shards, this shard) from a job array's environment: a Slurm array
    (SLURM_ARRAY_TASK_COUNT, SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN) or torchrun
    (WORLD_SIZE, RANK); None when neither is set."""
    def num(key):
        value = env.get(key)
        if value is None:
            return None
        if not str(value).strip().isdigit():
            raise SeqkdError(f"{key}={value!r} in the environment is not a number")
        return int(value)

    count, task = num("SLURM_ARRAY_TASK_COUNT"), num("SLURM_ARRAY_TASK_ID")
    if count is not None and task is not None:
        shard = task - (num("SLURM_ARRAY_TASK_MIN") or 0)
        return count, shard
    world, rank = num("WORLD_SIZE"), num("RANK")
    if world is not None and rank is not None:
        return world, rank
    return None


def chunk_path(out: Path, index: int) -> Path:
    return out / "chunks" / f"{index:06d}.jsonl"


#: how the sources were cut (lines, chunk size, chunks), written when decoding starts
CHUNKS_PLAN = "chunks.json"


def note_chunks(out: Path, ranges: Sequence[Tuple[int, int]]) -> None:
    """Record how the sources were cut, for :func:`where` (every shard cuts alike)."""
    plan = json.dumps({"lines": ranges[-1][1] if ranges else 0, "chunks": len(ranges),
                       "chunk_size": ranges[0][1] - ranges[0][0] if ranges else 0}) + "\n"
    path = out / CHUNKS_PLAN
    if not path.is_file() or path.read_text() != plan:
        write_text(path, plan)


def where(out_dir: Path, cfg: Any) -> Optional[str]:
    """How far an unfinished distillation got (``seqkd run --status``): the chunks decoded,
    of how many; a new run decodes only the others."""
    out = Path(out_dir)
    # when each chunk was written: the pace of the last ones (shards together)
    written = sorted(c.stat().st_mtime for c in (out / "chunks").glob("[0-9]*.jsonl"))
    done = len(written)
    try:  # (a report: a damaged plan is no plan, never a traceback)
        p = json.loads((out / CHUNKS_PLAN).read_text(encoding="utf-8"))
        p = p if isinstance(p, dict) and all(isinstance(p.get(k), int) for k in (
            "lines", "chunks", "chunk_size")) else None
    except (OSError, ValueError):
        p = None
    if p is not None:
        left = time_left(p["chunks"] - done,
                         seconds_each([(t, n) for n, t in enumerate(written, start=1)]),
                         "chunk")
        return (f"{done} of {p['chunks']} chunks decoded ({p['lines']:,} source lines, "
                f"{p['chunk_size']:,} a chunk; a run with the settings it started with decodes "
                "the rest)"
                + (f"; {left}" if left else ""))
    return f"{done} chunks decoded" if done else None


def iter_chunks(path: Path, ranges: Sequence[Tuple[int, int]],
                wanted: Sequence[int]) -> Iterator[Tuple[int, List[str]]]:
    """(chunk index, its lines) for the ``wanted`` chunks, in file order, reading ``path``
    once as a stream: a shard holds one chunk of the source, not the source."""
    want = sorted(set(wanted))
    if not want:
        return
    k, block = 0, []
    start, end = ranges[want[0]]
    for n, line in enumerate(iter_lines(path)):
        if n < start:
            continue
        block.append(line)
        if n + 1 == end:
            yield want[k], block
            k, block = k + 1, []
            if k == len(want):
                return
            start, end = ranges[want[k]]
    raise SeqkdError(f"{path} ended before chunk {want[k]} (lines {start + 1}-{end}); it "
                     "changed since the chunks were planned: run distill again with --force")


def iter_merged(out: Path, ranges: Sequence[Tuple[int, int]]) -> Iterator[List[Tuple[str, float]]]:
    """The chunks' n-best lists in order, one source line at a time; fails at once if any
    chunk is missing, and on a chunk with the wrong number of lines when it gets there."""
    missing = [i for i in range(len(ranges)) if not chunk_path(out, i).is_file()]
    if missing:
        shown = ", ".join(str(i) for i in missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise SeqkdError(f"{len(missing)} of {len(ranges)} chunks are not finished yet "
                         f"(chunks {shown}); run the missing shards, then merge")
    for i, (start, end) in enumerate(ranges):
        path = chunk_path(out, i)
        n = 0
        try:
            for line in iter_lines(path):
                n += 1
                if n > end - start:
                    break
                yield [(h, float(s)) for h, s in json.loads(line)["hyps"]]
            if n != end - start:
                raise ValueError(f"{n}{'+' if n > end - start else ''} lines, expected "
                                 f"{end - start}")
        except (ValueError, KeyError, TypeError) as e:
            raise SeqkdError(f"{path} is damaged ({str(e)[:80]}); delete it and run distill "
                             "again: only that chunk is decoded again") from None


def merge_chunks(out: Path, ranges: Sequence[Tuple[int, int]]) -> List[List[Tuple[str, float]]]:
    """All n-best lists in memory (small data and tests; the stage streams
    :func:`iter_merged`)."""
    return list(iter_merged(out, ranges))


#: one source of a distillation: its name, its cleaned text and its reference (None for a
#: monolingual corpus)
Source = Tuple[str, Path, Optional[Path]]


def iter_sources(sources: Sequence[Source]) -> Iterator[Tuple[str, int, str, Optional[str]]]:
    """(source name, line number from 1, source line, reference or None) over every source in
    order: the lines the chunks translate."""
    for name, text, ref in sources:
        refs = iter_lines(ref) if ref else None
        for k, line in enumerate(iter_lines(text), 1):
            yield name, k, line, next(refs) if refs else None


#: the counts write_distilled keeps for each source (the totals are their sums)
_COUNTS = ("lines", "pairs_written", "anomalous", "selection_changed",
           "empty_replaced_by_reference", "empty_dropped")


class _Merged:
    """write_distilled's output files, each of which appears only complete, and its counts."""

    def __init__(self, files: contextlib.ExitStack, out: Path, src: str, tgt: str,
                 sources: Sequence[Source]):
        def opened(path: Path):
            tmp = files.enter_context(atomic_path(path))
            return files.enter_context(open(tmp, "w", encoding="utf-8", newline="\n"))
        self.nbest, self.hyp = opened(out / "nbest.jsonl"), opened(out / f"hyp.{tgt}")
        self.filter, self.origin = opened(out / "filter.tsv"), opened(out / "origin.tsv")
        self.src = opened(out / "text" / f"train.{src}")
        self.tgt = opened(out / "text" / f"train.{tgt}")
        self.tgt_lang = tgt
        self.filter.write("line\treason\tscore\tlength_ratio\n")
        self.origin.write("source\tline\n")
        self.per: Dict[str, Dict[str, int]] = {name: dict.fromkeys(_COUNTS, 0)
                                               for name, _, _ in sources}
        self.reasons: Dict[str, int] = {}
        self.n = self.empty = 0

    def add(self, row: List[Tuple[str, float]], name: str, k_line: int, source: str,
            ref: Optional[str], rules: Any) -> None:
        """One source line: its n-best kept, its candidate chosen and filtered, its pair
        written unless it is dropped."""
        self.n += 1
        counts = self.per[name]
        counts["lines"] += 1
        self.nbest.write(json.dumps({"hyps": [list(h) for h in row]}, ensure_ascii=False) + "\n")
        hyp, score = row[choose(row, ref, rules, self.tgt_lang)]
        self.empty += not hyp.strip()
        counts["selection_changed"] += hyp != row[0][0]  # the kept text is not the 1-best's
        self.hyp.write(hyp + "\n")
        why = None if rules.filter == "off" else anomaly(
            source, hyp, score, rules.min_score, rules.max_len_ratio, rules.loop_repeats,
            rules.word_loop_repeats)
        if why:
            self.reasons[why] = self.reasons.get(why, 0) + 1
            counts["anomalous"] += 1
            ratio = text_length.words(hyp) / max(1, text_length.words(source))
            self.filter.write(f"{self.n}\t{why}\t{score:.4f}\t{ratio:.2f}\n")
            if rules.filter == "drop":
                return
        if not hyp.strip():
            if rules.empty == "drop" or ref is None:  # a monolingual line has no reference
                counts["empty_dropped"] += 1
                return
            counts["empty_replaced_by_reference"] += 1
            hyp = ref
        self.src.write(source + "\n")
        self.tgt.write(hyp + "\n")
        self.origin.write(f"{name}\t{k_line}\n")
        counts["pairs_written"] += 1

    def check(self, n_src: int, max_empty: float) -> None:
        """Raise (so that nothing is written) when the merge is short or the teacher's
        outputs are mostly empty."""
        n, empty = self.n, self.empty
        if n != n_src:
            raise SeqkdError(f"merged {n} lines but the source has {n_src}")
        if empty > max_empty * n:  # the teacher does not translate
            raise SeqkdError(f"{empty} of the teacher's {n} outputs are empty ({empty / n:.0%}, "
                             f"over max_empty {max_empty:.0%}): the teacher does not "
                             "translate; try it on a few lines by hand (the chunks/ folder "
                             "holds what it wrote: delete it to decode again)")

    def totals(self) -> Dict[str, int]:
        return {key: sum(c[key] for c in self.per.values()) for key in _COUNTS}


def _report(merged: _Merged, rules: Any) -> Dict:
    """The stage report's counts, in total and per source."""
    total = merged.totals()
    changed = total["selection_changed"]
    how, metric = rule(rules)
    selection = {"closest": "seq-inter", "mbr": f"mbr ({metric})"}.get(how, how)
    return {"method": rules.method, "selection": selection, "lines": merged.n,
            "pairs_written": total["pairs_written"],
            "empty_share": round(merged.empty / merged.n, 4),
            "anomalous": total["anomalous"], "anomaly_reasons": merged.reasons,
            "filter": rules.filter,
            "empty_outputs": {"policy": rules.empty,
                              "replaced_by_reference": total["empty_replaced_by_reference"],
                              "dropped": total["empty_dropped"]},
            "seq_inter_changed": changed if rules.method == "seq-inter" else None,
            "selection_changed": changed, "sources": merged.per}


def write_distilled(out: Path, sources: Sequence[Source], tgt: str, src: str,
                    ranges: Sequence[Tuple[int, int]], rules: Any) -> Dict:
    """Merge, select, filter and write nbest.jsonl, hyp.TGT, filter.tsv, origin.tsv and
    text/train.*, one line at a time; every file appears only complete (nothing when an error
    stops it). ``rules`` holds the distill settings (method, select, filter, ...). Returns the
    stage report's counts, in total and per source."""
    n_src = sum(count_lines(text) for _, text, _ in sources)
    planned = ranges[-1][1] if ranges else 0
    if planned != n_src:
        raise SeqkdError(f"the chunks cover {planned} lines but the source has {n_src}; it "
                         "changed since they were decoded: run distill again with --force")
    with contextlib.ExitStack() as files:
        merged = _Merged(files, out, src, tgt, sources)
        for row, (name, k_line, source, ref) in progress(
                zip(iter_merged(out, ranges), iter_sources(sources)), total=n_src,
                unit="sent", desc="merge", leave=False):
            merged.add(row, name, k_line, source, ref, rules)
        merged.check(n_src, rules.max_empty)
    total = merged.totals()
    if not total["pairs_written"]:  # filter.tsv stays: it says why each line went
        for path in (out / "text" / f"train.{src}", out / "text" / f"train.{tgt}",
                     out / "origin.tsv"):
            path.unlink()
        raise SeqkdError(all_filtered_message(merged.n, merged.reasons, total["empty_dropped"]))
    return _report(merged, rules)
