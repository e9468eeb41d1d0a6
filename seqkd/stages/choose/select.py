"""``seqkd choose``: the protocol's choice made by a command, from a bench report. Among the
candidate systems, the one with the best mean score over the choosing sets (development
data: ``valid``, test_2016_flickr) that is at least ``min_speedup`` times as fast as the
reference system on each of them; then what the report says of it on every other set (the
claims), with the paired intervals the bench computed. The choice never reads a score of a
claim set, so a figure reported for the chosen system was not selected on."""

from __future__ import annotations

import fnmatch
import math
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence

from seqkd.errors import SeqkdError


@dataclass
class Candidate:
    system: str
    #: choosing set -> score (the metric) and speed over the reference's
    scores: Dict[str, float] = field(default_factory=dict)
    speedups: Dict[str, float] = field(default_factory=dict)
    mean: float = math.nan
    #: why it cannot be chosen ('' when it can)
    out: str = ""


def _rows(report: Dict, threads: int) -> Dict[tuple, Dict]:
    return {(r["system"], r["test_set"]): r for r in report["results"]
            if r["threads"] == threads}


def _candidate(name: str, rows: Dict[tuple, Dict], on: Sequence[str], against: str,
               metric: str, min_speedup: float) -> Candidate:
    c = Candidate(name)
    for t in on:
        row, ref = rows.get((name, t)), rows[(against, t)]
        if row is None:
            c.out = f"no row on {t}"
            return c
        c.scores[t] = row[metric]
        if row.get("src_wps_median") and ref.get("src_wps_median"):
            c.speedups[t] = round(row["src_wps_median"] / ref["src_wps_median"], 1)
    c.mean = round(sum(c.scores.values()) / len(c.scores), 2)
    unmeasured = [t for t in on if t not in c.speedups]
    slow = [t for t in on if c.speedups.get(t, 0) < min_speedup]
    if min_speedup and unmeasured:
        c.out = f"no words/s of it or of {against} on {', '.join(unmeasured)}"
    elif min_speedup and slow:
        c.out = (f"{min(c.speedups.get(t, 0) for t in slow)}x {against}'s words/s on "
                 f"{', '.join(slow)}, under {min_speedup:g}x")
    return c


def candidates_of(systems: Sequence[str], against: str, patterns: Sequence[str]) -> List[str]:
    """The systems that ``patterns`` (shell patterns) name, the reference aside."""
    return [s for s in systems if s != against
            and any(fnmatch.fnmatchcase(s, str(p)) for p in patterns)]


def choose(report: Dict, on: Sequence[str], against: Optional[str] = None,
           candidates: Sequence[str] = ("*",), min_speedup: float = 0.0,
           metric: str = "bleu", threads: int = 1) -> Dict:
    """The choice over a (checked) bench report: every candidate with its choosing-set
    scores and speeds, the chosen one, and the report's comparisons of it on the other sets."""
    rows = _rows(report, threads)
    if not rows:
        raise SeqkdError(f"the report has no rows at {threads} thread(s); choose --threads "
                         "among those it measured")
    systems = list(dict.fromkeys(s for s, _ in rows))
    tests = list(dict.fromkeys(t for _, t in rows))
    against = against or systems[0]
    problems = [f"--on {t}: the report has no such test set" for t in on if t not in tests]
    if not problems and not set(tests) - set(on):
        problems.append("--on names every set the report measured: leave out at least one "
                        "for the claims (a figure that was chosen on is not a result)")
    if against not in systems:
        problems.append(f"--against {against}: no such system in the report")
    elif not problems:
        problems += [f"--against {against} has no row on {t}" for t in on
                     if (against, t) not in rows]
    named = candidates_of(systems, against, candidates)
    if not named:
        problems.append(f"no system but {against} matches --candidates "
                        f"{' '.join(candidates)}")
    if problems:
        raise SeqkdError("; ".join(problems) + f" (its test sets: {', '.join(tests)}; its "
                         f"systems: {', '.join(systems)})")
    found = [_candidate(s, rows, on, against, metric, min_speedup) for s in named]
    found.sort(key=lambda c: (bool(c.out), -c.mean if not math.isnan(c.mean) else 0,
                              -min(c.speedups.values(), default=0)))
    if found[0].out:
        fastest = max(found, key=lambda c: min(c.speedups.values(), default=0))
        raise SeqkdError(f"no candidate can be chosen; the fastest, {fastest.system}: "
                         f"{fastest.out or 'no speed in the report'}")
    chosen = found[0].system
    claims = [c for c in report.get("comparisons") or []
              if c.get("system") == chosen and c.get("threads") == threads
              and c.get("test_set") not in on]
    return {"on": list(on), "against": against, "metric": metric, "threads": threads,
            "min_speedup": min_speedup, "candidates": [asdict(c) for c in found],
            "chosen": chosen, "claims": claims,
            "claim_sets": [t for t in tests if t not in on]}


def markdown(choice: Dict) -> str:
    """The choice in words: the candidates ranked, the chosen one, its claims."""
    on = choice["on"]
    lines = [f"Chosen on {', '.join(on)} by mean {choice['metric']} at {choice['threads']} "
             f"thread(s), at least {choice['min_speedup']:g}x {choice['against']}'s words/s "
             "on each:", "",
             "| system | " + " | ".join(on) + " | mean | × words/s | can be chosen |",
             "|---|" + "---|" * (len(on) + 3)]
    for c in choice["candidates"]:
        speed = " / ".join(f"{c['speedups'][t]:g}" for t in on if t in c["speedups"])
        lines.append(f"| {c['system']} | " + " | ".join(
            f"{c['scores'][t]:.2f}" if t in c["scores"] else "–" for t in on)
            + f" | {c['mean']:.2f} | {speed or '–'} | {'no: ' + c['out'] if c['out'] else 'yes'} |")
    lines += ["", f"**Chosen: {choice['chosen']}.** Its figures on the sets it was not "
                  f"chosen on ({', '.join(choice['claim_sets']) or 'none in this report'}), "
                  "from the report's comparisons:", ""]
    for c in choice["claims"]:
        lines.append(f"- {c['test_set']}: {c['system']} minus {c['against']} "
                     f"({c['comparison']}): {c['delta']:+.2f} [{c['low']:+.2f}, "
                     f"{c['high']:+.2f}]")
    if not choice["claims"]:
        lines.append("- (the report holds no comparison of it on those sets)")
    return "\n".join(lines) + "\n"
