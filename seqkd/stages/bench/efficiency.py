"""The WMT efficiency-task protocol (WMT 2019-2023): the deployed path, ``seqkd translate``,
run as a whole process on a large input (a test set repeated to N sentences), model loading
included; its time without loading (a run on empty input gives the load time), words/s and
peak memory on one pinned core and on all cores; then latency with one sentence at a time
through standard input (each line written, its translation read back, before the next)."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from seqkd import text_length
from seqkd.stats import percentile
from seqkd.stages.bench.systems import SystemSpec
from seqkd.errors import SeqkdError
from seqkd.machine import check_disk_room
from seqkd.procs import child_preexec, python_module, run_measured

logger = logging.getLogger("seqkd.bench.efficiency")

#: how often a running translate's peak memory (VmHWM) is read
RSS_POLL_S = 0.05


@dataclass
class EfficiencyRow:
    system: str
    beam: int
    compute_type: str
    vmap: bool
    #: 1 (pinned to one core) or the number of cores used
    threads: int
    pinned_cpu: Optional[int]
    test_set: str
    sentences: int
    src_words: int
    #: the whole process on the whole input, model load included
    wall_seconds: float
    #: the same command on empty input: start-up and model load
    load_seconds: float
    wps: float
    wps_without_load: Optional[float]
    peak_rss_mb: float
    size_mb: float
    latency_sentences: int = 0
    latency_p50_ms: Optional[float] = None
    latency_p90_ms: Optional[float] = None
    latency_p99_ms: Optional[float] = None


def repeat_to(lines: Sequence[str], n: int, path: Path) -> int:
    """Write ``lines`` over and over into ``path`` until it holds ``n`` lines; return the
    number of words written."""
    if not lines:
        raise SeqkdError("the efficiency protocol needs a test set with at least one line")
    total = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            line = lines[i % len(lines)]
            f.write(line + "\n")
            total += text_length.words(line)
    return total


def _preexec(cpu: Optional[int]) -> Optional[Callable[[], None]]:
    die = child_preexec()
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return die

    def pin_and_die() -> None:
        os.sched_setaffinity(0, {cpu})
        if die is not None:
            die()
    return pin_and_die


def translate_argv(spec: SystemSpec, threads: int, max_len: int, batch_tokens: int,
                   batch_lines: Optional[int] = None, parallel: int = 1) -> List[str]:
    argv = [*python_module("seqkd", "translate"), spec.path, "-q",
            "--beam", str(spec.beam), "--threads", str(threads), "--max-len", str(max_len),
            "--batch-tokens", str(batch_tokens), "--compute-type", spec.compute_type]
    if parallel > 1:
        argv += ["--parallel", str(parallel)]
    if spec.vmap:
        argv.append("--vmap")
    if spec.no_repeat_ngram:
        argv += ["--no-repeat-ngram", str(spec.no_repeat_ngram)]
    if batch_lines:
        argv += ["--batch-lines", str(batch_lines)]
    return argv


def timed_process(argv: List[str], stdin: Path, stdout: Path,
                  cpu: Optional[int]) -> tuple[float, int]:
    """Run ``argv`` with files for its input and output (its standard error beside the
    output, removed when it succeeds); return (wall seconds, peak RSS in bytes, read from
    /proc every RSS_POLL_S while it runs)."""
    log = stdout.with_suffix(".stderr")
    rc, wall, peak, _ = run_measured(argv, log, stdin, stdout, poll_s=RSS_POLL_S,
                                     preexec=_preexec(cpu))
    err = log.read_text(encoding="utf-8", errors="replace")
    log.unlink()
    if rc != 0:
        raise SeqkdError(f"`{' '.join(argv[2:])}` failed (exit {rc}): "
                         f"{err.strip().splitlines()[-1] if err.strip() else 'no message'}")
    return wall, peak


def latencies(argv: List[str], lines: Sequence[str], cpu: Optional[int]) -> List[float]:
    """Seconds from writing each line to reading its translation, one line at a time, after
    one untimed line (which waits for the model to load)."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, preexec_fn=_preexec(cpu))
    assert proc.stdin is not None and proc.stdout is not None
    out: List[float] = []
    try:
        for i, line in enumerate([lines[0], *lines]):
            t = time.perf_counter()
            proc.stdin.write(line.encode("utf-8") + b"\n")
            proc.stdin.flush()
            if not proc.stdout.readline():
                raise SeqkdError(f"`{' '.join(argv[2:])}` stopped answering after {i} lines")
            if i:
                out.append(time.perf_counter() - t)
    finally:
        proc.stdin.close()
        proc.wait()
    return out


def check_room(lines: Sequence[str], sentences: int, work: Path) -> None:
    """Refuse an input size whose files (the test set repeated, and an output of about its
    size) would not fit on the disk, before anything is measured."""
    line_bytes = sum(len(x.encode()) + 1 for x in lines) / max(1, len(lines))
    check_disk_room(work, 2.5 * sentences * line_bytes,
                    f"the efficiency protocol on {sentences:,} sentences",
                    "lower --efficiency-sentences")


def measure(spec: SystemSpec, test_set: str, lines: Sequence[str], sentences: int,
            latency_sentences: int, work: Path, pinned: Optional[int], all_threads: int,
            max_len: int, batch_tokens: int, size_mb: float,
            compute_type: str) -> List[EfficiencyRow]:
    """The protocol's rows of one CTranslate2 system: one pinned core, then all cores."""
    big, empty, out = work / "input.txt", work / "empty.txt", work / f"{spec.name}.out"
    src_words = repeat_to(lines, sentences, big)
    empty.write_text("")
    rows = []
    for threads, cpu in ((1, pinned), (all_threads, None)):
        # all cores: one batch per core at once, one thread each (for bulk work that beats
        # splitting each batch over the cores), blocks of lines large enough to feed them
        argv = (translate_argv(spec, 1, max_len, batch_tokens) if cpu is not None else
                translate_argv(spec, 1, max_len, batch_tokens, batch_lines=256 * threads,
                               parallel=threads))
        logger.info("efficiency protocol: %s on %d sentences, %d thread(s)", spec.name,
                    sentences, threads)
        load, _ = timed_process(argv, empty, out, cpu)
        wall, peak = timed_process(argv, big, out, cpu)
        with open(out, "rb") as f:
            produced = sum(1 for _ in f)
        out.unlink()
        if produced != sentences:
            raise SeqkdError(f"{spec.name}: `seqkd translate` wrote {produced} lines for "
                             f"{sentences} input lines")
        row = EfficiencyRow(spec.name, spec.beam or 0, compute_type, spec.vmap, threads,
                            cpu, test_set, sentences, src_words, round(wall, 3),
                            round(load, 3), round(src_words / wall, 1),
                            # None: the input too small to tell translating from loading
                            round(src_words / (wall - load), 1) if wall > load else None,
                            round(peak / 2**20, 1), size_mb)
        if cpu is not None and latency_sentences:
            lat = latencies(translate_argv(spec, 1, max_len, batch_tokens, batch_lines=1),
                            [lines[i % len(lines)] for i in range(latency_sentences)], cpu)
            row.latency_sentences = len(lat)
            row.latency_p50_ms, row.latency_p90_ms, row.latency_p99_ms = (
                round(1000 * percentile(lat, q), 2) for q in (0.5, 0.9, 0.99))
        rows.append(row)
    big.unlink()
    empty.unlink()
    return rows


def as_dicts(rows: List[EfficiencyRow]) -> List[Dict]:
    return [asdict(r) for r in rows]


def markdown_rows(rows: List[Dict], sig: Dict) -> List[str]:
    first = rows[0]
    lines = [f"### WMT efficiency protocol: `seqkd translate` on {first['test_set']} repeated "
             f"to {first['sentences']:,} sentences", "",
             "| system | beam | compute | threads | wall s (load included) | load s "
             "| words/s | words/s without load | peak RSS MB | size MB "
             "| latency p50 / p90 / p99 ms (one sentence at a time) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lat = (f"{r['latency_p50_ms']} / {r['latency_p90_ms']} / {r['latency_p99_ms']}"
               if r.get("latency_p50_ms") is not None else "–")
        threads = (f"1 (core {r['pinned_cpu']})" if r["pinned_cpu"] is not None
                   else f"{r['threads']} (all)")
        lines.append(f"| {r['system']} | {r['beam']} | {r['compute_type']} | {threads} | "
                     f"{r['wall_seconds']} | {r['load_seconds']} | {r['wps']} | "
                     f"{r['wps_without_load']} | {r['peak_rss_mb']} | {r['size_mb']} | {lat} |")
    lines += ["", f"Whole processes, one after another, on {sig.get('cpu')}; all cores: "
              "`--threads 1 --parallel CORES` (one batch per core at once); load s: the same "
              "command on empty input; peak RSS read from /proc every "
              f"{RSS_POLL_S:g} s; latency: each line written to standard input and its "
              "translation read back before the next (`--batch-lines 1`, one pinned core)."]
    return lines
