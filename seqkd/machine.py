"""The machine a job runs on: library versions (stamped into every stage's outputs), the CPU
model (a speed's context), the device and the number of threads a job may use."""

from __future__ import annotations

import importlib.metadata
import logging
import os
import platform
from pathlib import Path
from typing import Dict

from seqkd.version import __version__
from seqkd.errors import SeqkdError

logger = logging.getLogger(__name__)

_DISTRIBUTIONS = {
    "torch": "torch",
    "fairseq": "fairseq-fixed",
    "ctranslate2": "ctranslate2",
    "sentencepiece": "sentencepiece",
    "sacrebleu": "sacrebleu",
}


def versions(*more: str) -> Dict[str, str]:
    """Versions of seqkd, Python and the libraries that affect results (and of the
    distributions ``more`` names)."""
    out = {"seqkd": __version__, "python": platform.python_version()}
    for name, dist in {**_DISTRIBUTIONS, **{m: m for m in more}}.items():
        try:
            out[name] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def cpu_model() -> str:
    """The CPU's model name (speeds are comparable only on one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str, cuda_available: bool) -> str:
    """``cpu`` or ``cuda`` for a requested device (``auto``: the GPU when there is one)."""
    if device not in DEVICES:
        raise SeqkdError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cuda" and not cuda_available:
        raise SeqkdError("device cuda was asked for but no CUDA GPU is visible (with a CPU "
                         "build of torch or CTranslate2 there never is); use device cpu or auto")
    if device == "auto":
        return "cuda" if cuda_available else "cpu"
    return device


#: set by ``seqkd run --jobs N`` in each stage it starts: how many stages share the machine
#: with it (itself included), so that an automatic thread count is its share of the cores
SHARE_ENV = "SEQKD_CORE_SHARE"


def default_threads() -> int:
    """Threads for a job that may use the whole machine: the physical cores, capped by the
    cores this process may run on (``sched_getaffinity``), so that hyper-threads and cores
    taken away by a cgroup or taskset are not oversubscribed; divided among the stages that
    ``seqkd run --jobs`` runs side by side (:data:`SHARE_ENV`)."""
    share = os.environ.get(SHARE_ENV, "")
    return max(1, _machine_threads() // (int(share) if share.isdigit() and share != "0"
                                         else 1))


def warn_oversubscribed(threads: int, parallel: int = 1, each: str = "parallel batches"
                        ) -> None:
    """A warning when ``parallel`` batches (or training processes: ``each``) on ``threads``
    threads each are more threads than the CPUs this process may run on: they take turns on
    the cores and slow each other (at hundreds of threads on two cores a server took minutes
    to answer its first request)."""
    cpus = _allowed_cpus()
    if threads * parallel > cpus:
        what = f"{threads} thread{'s' * (threads != 1)}"
        if parallel > 1:
            what += f" for each of {parallel} {each}"
        logger.warning(f"{what} on the {cpus} CPUs this process may use: they take turns and "
                       f"slow each other; give at most {cpus} in all (threads 0: the physical "
                       "cores)")


def _allowed_cpus() -> int:
    """The CPUs this process may run on (``sched_getaffinity``; all of them where there is
    none)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def _machine_threads() -> int:
    allowed = _allowed_cpus()
    physical = set()
    try:
        phys = core = None
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "physical id":
                phys = value.strip()
            elif key == "core id":
                core = value.strip()
            elif not line.strip() and core is not None:
                physical.add((phys, core))
                phys = core = None
        if core is not None:
            physical.add((phys, core))
    except OSError:
        pass
    return max(1, min(allowed, len(physical) or allowed))


def check_disk_room(folder: Path, need_bytes: float, what: str, fix: str) -> None:
    """Refuse work that would not fit on the disk of ``folder`` (or of its nearest existing
    parent) before writing anything: ``what`` needs about ``need_bytes``; ``fix`` says how
    to ask for less."""
    import shutil

    probe = Path(folder).resolve()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if need_bytes > free:
        raise SeqkdError(f"{what} needs about {need_bytes / 1e9:.1f} GB in {folder} and its "
                         f"disk has {free / 1e9:.1f} GB free: {fix}")

