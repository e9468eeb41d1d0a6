"""Small statistics shared by the bench and the server's load measurement."""

from __future__ import annotations

from typing import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (linear between the two nearest ranks); NaN when
    there are none."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def seconds_each(points: Sequence[tuple], last: int = 20) -> float:
    """The pace of a count over time, in seconds per unit: the median over the ``last``
    steps between consecutive ``(time, count)`` points (in time order) whose count grew.
    A median, so that one long pause among them (a stop and a resume) does not set it; NaN
    with no such step."""
    steps = [(t1 - t0) / (c1 - c0) for (t0, c0), (t1, c1) in zip(points, points[1:])
             if c1 > c0 and t1 >= t0]
    return percentile(steps[-last:], 0.5)


def time_left(units: float, each: float, unit: str, at_most: bool = False) -> str:
    """``units`` still to go at ``each`` seconds a unit, in words ('' when either is not a
    positive number)."""
    if not (units > 0 and each > 0):
        return ""
    minutes = max(1, round(units * each / 60))
    span = f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
    pace = f"{each:.1f} s" if each < 100 else f"{each / 60:.1f} min"
    article = "an" if unit[:1] in "aeiou" else "a"
    return (f"{'at most ' if at_most else ''}about {span} left at its last pace ({pace} "
            f"{article} {unit})")
