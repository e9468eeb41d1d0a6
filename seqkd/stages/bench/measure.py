"""Measuring one system in a child process of its own (``python -m seqkd.stages.bench.child``), so
that its peak memory is its alone: the model is loaded (not timed), a warm-up pass runs over
the first sentences, then every test set is translated ``repeats`` times; with one thread the
process is pinned to one core. Latency is measured at batch size 1 on the first
``latency_sentences`` sentences; blind sets are translated once at the end, untimed, after the
peak memory is read. Also: which core to pin to, and a process's peak memory."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from seqkd.stages.bench.beside import cpu_counters
from seqkd.stages.bench.systems import SystemSpec
from seqkd.errors import SeqkdError
from seqkd.procs import child_preexec, python_module, status_kb


@dataclass
class Job:
    """What the parent asks one child to measure."""
    spec: SystemSpec
    data: str
    beam: int
    batch_tokens: int
    #: 0: the physical cores this process may use
    threads: int
    repeats: int
    warmup_sentences: int
    latency_sentences: int
    max_len: int
    #: test set name -> source lines
    tests: Dict[str, List[str]]
    #: the core to pin to (single-thread runs), None: not pinned
    cpu: Optional[int] = None
    quiet: bool = False
    #: blind set name -> source lines, translated once after the timed runs, untimed
    once: Dict[str, List[str]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Job":
        raw = json.loads(text)
        return cls(**{**raw, "spec": SystemSpec(**raw["spec"])})


@dataclass
class TimedRuns:
    seconds: List[float]
    outputs: List[str]
    latencies: List[float] = field(default_factory=list)


@dataclass
class Measured:
    """What one child reports back."""
    load_seconds: float
    compute_type: str
    params: Optional[int]
    disk_bytes: int
    deployed_bytes: int
    tests: Dict[str, TimedRuns]
    peak_rss_bytes: int = 0
    #: blind set name -> translations
    once: Dict[str, List[str]] = field(default_factory=dict)

    @classmethod
    def from_json(cls, text: str) -> "Measured":
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, raw: Dict) -> "Measured":
        """From :func:`dataclasses.asdict`'s form (as JSON keeps it)."""
        return cls(**{**raw, "tests": {k: TimedRuns(**v) for k, v in raw["tests"].items()}})


def peak_rss_bytes() -> int:
    """This process's peak resident memory since exec (VmHWM; ru_maxrss would include the
    parent's pages from before the exec)."""
    kb = status_kb("self", "VmHWM:")
    if kb:
        return kb * 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_job(job: Job) -> Measured:
    """In the child: load, warm up, time every test set, time single sentences."""
    if job.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {job.cpu})
    t0 = time.perf_counter()
    system = job.spec.kind_of.load(job.spec, Path(job.data), job.beam, job.batch_tokens,
                                   job.threads, job.max_len)
    load_s = time.perf_counter() - t0
    first = next(iter(job.tests.values()))
    system.translate(first[: job.warmup_sentences])
    tests = {}
    for name, src in job.tests.items():
        times: List[float] = []
        outputs: Optional[List[str]] = None
        for _ in range(job.repeats):
            t = time.perf_counter()
            out = system.translate(src)
            times.append(time.perf_counter() - t)
            outputs = outputs or out
        latencies = []
        for line in src[: job.latency_sentences]:
            t = time.perf_counter()
            system.translate([line])
            latencies.append(time.perf_counter() - t)
        tests[name] = TimedRuns(times, outputs or [], latencies)
    peak = peak_rss_bytes()
    once = {name: system.translate(src) for name, src in job.once.items()}
    return Measured(load_s, system.compute_type, system.params, system.disk_bytes,
                    system.deployed_bytes, tests, peak, once)


def measure_in_child(job: Job) -> Measured:
    """Run one job in a child process; return what it measured."""
    cmd = python_module("seqkd.stages.bench.child")
    env = dict(os.environ)
    if job.threads:
        env["OMP_NUM_THREADS"] = str(job.threads)
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                            text=True, preexec_fn=child_preexec())
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(job.to_json())
        proc.stdin.close()
    except BrokenPipeError:  # it died before reading its job: its exit status says so below
        pass
    payload = proc.stdout.read()
    if proc.wait() != 0:
        raise SeqkdError(f"benchmark of {job.spec.name} (threads {job.threads}) "
                         f"failed with exit {proc.returncode}; see the log above")
    return Measured.from_json(payload)


# ---------------------------------------------------------------- which core


def _cpu_times() -> Dict[int, Tuple[int, int]]:
    """Per-core (idle, total) jiffies from /proc/stat."""
    return {int(name[3:]): (nums[3] + (nums[4] if len(nums) > 4 else 0), sum(nums))
            for name, nums in cpu_counters().items() if name[3:].isdigit()}


def pick_cpu(requested: Optional[int] = None, sample_s: float = 0.3) -> Optional[int]:
    """The core to pin single-thread runs to: ``requested`` (checked against the cores this
    process may use), else the idlest allowed core over a short sample."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if requested is not None:
        if requested not in allowed:
            raise SeqkdError(f"--cpu {requested}: this process may only use cores "
                             f"{', '.join(map(str, allowed))}")
        return requested
    a = _cpu_times()
    time.sleep(sample_s)
    b = _cpu_times()

    def busy(c: int) -> float:
        if c not in a or c not in b or b[c][1] == a[c][1]:
            return 0.0
        return 1 - (b[c][0] - a[c][0]) / (b[c][1] - a[c][1])
    return min(allowed, key=lambda c: (round(busy(c), 2), -c))
