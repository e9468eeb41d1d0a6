"""Check a `seqkd bench` report against the Kim & Rush targets of issue 6.

For each test set: the best KD student (any beam; every system but the teacher and the
baseline) against the teacher and against the baseline student at its best beam, and that
student's single-thread speed against the teacher's.

    python scripts/kd_targets.py runs/multi30k-en-de-medium/bench/report.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def check(results, teacher: str, baseline: str, max_gap: float, min_gain: float,
          min_speedup: float):
    rows = [r for r in results if r["threads"] == 1]
    out = []
    for test in dict.fromkeys(r["test_set"] for r in rows):
        here = [r for r in rows if r["test_set"] == test]
        t = next(r for r in here if r["system"] == teacher)
        base = max((r for r in here if r["system"].startswith(baseline)), key=lambda r: r["bleu"])
        kd = [r for r in here if r["system"] != teacher and not r["system"].startswith(baseline)]
        best = max(kd, key=lambda r: r["bleu"])
        gap, gain = t["bleu"] - best["bleu"], best["bleu"] - base["bleu"]
        speedup = best["src_wps_median"] / t["src_wps_median"]
        out.append({
            "test_set": test, "teacher_bleu": t["bleu"], "best_kd": best["system"],
            "best_kd_bleu": best["bleu"], "baseline": base["system"], "baseline_bleu": base["bleu"],
            "gap_to_teacher": round(gap, 2), "gain_over_baseline": round(gain, 2),
            "speedup": round(speedup, 1),
            "met": {"within_teacher": gap <= max_gap, "above_baseline": gain >= min_gain,
                    "speed": speedup >= min_speedup},
        })
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("report", type=Path, help="report.json of `seqkd bench`")
    p.add_argument("--teacher", default="teacher", help="the teacher's system name")
    p.add_argument("--baseline", default="baseline", help="prefix of the baseline's systems")
    p.add_argument("--max-gap", type=float, default=1.0)
    p.add_argument("--min-gain", type=float, default=1.0)
    p.add_argument("--min-speedup", type=float, default=10.0)
    a = p.parse_args(argv)
    results = json.loads(a.report.read_text())["results"]
    for row in check(results, a.teacher, a.baseline, a.max_gap, a.min_gain, a.min_speedup):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
