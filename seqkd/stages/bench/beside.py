"""What else the machine did while a bench ran: the CPU time used beside the bench's own
processes, from Linux's ``/proc/stat`` (every core's busy time, including time a hypervisor
gave to other machines) less the bench's own (its process and the children it waited for),
so that a report shows whether its speed figures come from a quiet machine."""

from __future__ import annotations

import logging
import os
import resource
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

logger = logging.getLogger(__name__)

#: more than this many cores busy beside the bench on average makes its speed figures suspect
NOT_QUIET_CORES = 0.1


def cpu_counters(stat: Path = Path("/proc/stat")) -> Dict[str, List[int]]:
    """The counters (jiffies) of ``stat``'s ``cpu`` line (all cores) and ``cpuN`` lines (one
    core each), by name; empty where it cannot be read."""
    try:
        text = stat.read_text()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line.startswith("cpu"):
            name, *vals = line.split()
            out[name] = [int(v) for v in vals]
    return out


def machine_cpu_seconds(stat: Path = Path("/proc/stat")) -> Optional[float]:
    """CPU seconds every core has been busy since boot (user, nice, system, irq, softirq and
    steal time; not idle or iowait), or None where ``stat`` cannot be read."""
    first = cpu_counters(stat).get("cpu", [])
    if len(first) < 8:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = first[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU seconds this process and its waited-for children have used."""
    me, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                       resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


class Beside:
    """Started before the timed work; :meth:`result` after it (its children waited for)."""

    def __init__(self, machine: Callable[[], Optional[float]] = machine_cpu_seconds,
                 own: Callable[[], float] = own_cpu_seconds,
                 clock: Callable[[], float] = time.monotonic):
        self.machine, self.own, self.clock = machine, own, clock
        self.start = (clock(), machine(), own())

    def result(self, warn: bool = True) -> Optional[Dict[str, float]]:
        """``{"seconds", "other_cores"}``: the wall time, and the cores busy beside the bench on
        average over it; None where the machine's CPU time cannot be read. ``warn``: a
        warning when that was not a quiet machine."""
        t0, m0, o0 = self.start
        seconds, m1, o1 = self.clock() - t0, self.machine(), self.own()
        if m0 is None or m1 is None or seconds <= 0:
            return None
        others = max(0.0, (m1 - m0) - (o1 - o0))
        out = {"seconds": round(seconds, 1), "other_cores": round(others / seconds, 3)}
        if warn:
            warn_if_busy(out)
        return out


def warn_if_busy(beside: Dict[str, float]) -> None:
    """A warning when more than :data:`NOT_QUIET_CORES` were busy beside the bench."""
    if beside["other_cores"] > NOT_QUIET_CORES:
        logger.warning("while the bench ran, %.2f cores on average were busy with other "
                       "work: its speed figures come from a busy machine; run it again "
                       "with nothing else running", beside["other_cores"])


def combined(besides: List[Optional[Dict[str, float]]]) -> Optional[Dict[str, float]]:
    """One :meth:`Beside.result` over several spans (each system's, the protocol's): their
    seconds summed, the cores busy beside the bench averaged over them (a warning when that
    was not a quiet machine); None when one is unknown."""
    if not besides or any(b is None for b in besides):
        return None
    seconds = sum(b["seconds"] for b in besides)
    # spans too short to count (rounded to 0 s) weigh alike
    weights = [b["seconds"] for b in besides] if seconds > 0 else [1.0] * len(besides)
    others = sum(b["other_cores"] * w for b, w in zip(besides, weights)) / sum(weights)
    out = {"seconds": round(seconds, 1), "other_cores": round(others, 3)}
    warn_if_busy(out)
    return out


def markdown_line(beside: Optional[Dict[str, float]]) -> str:
    """The report's line on it (empty for a report made before it was measured)."""
    if not beside:
        return ""
    verdict = ("a quiet machine" if beside["other_cores"] <= NOT_QUIET_CORES
               else "**not a quiet machine: the speed figures are suspect**")
    return (f"- beside the bench: {beside['other_cores']:.2f} cores busy with other work on "
            f"average over its {beside['seconds']:,.0f} s ({verdict}; /proc/stat's busy time "
            "less the bench's own)")
