"""Check a `seqkd bench` report against the Kim & Rush targets (issue 10).

For each test set, among single-thread rows: the best KD student (every system but the
teachers and the baseline; with --student-beam B only its `-bB` rows, e.g. 1 for greedy)
against the teacher, against the baseline student (its `-bB` row too, else its best), and
that student's words/s against the teacher's (and against a CTranslate2 teacher row, when
the report has one).

    python scripts/kd_targets.py docs/multi30k-v2-report.json --student-beam 1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def check(results, teacher: str, baseline: str, max_gap: float, min_gain: float,
          min_speedup: float, student_beam=None, ct2_teacher: str = "teacher-int8-b5"):
    rows = [r for r in results if r["threads"] == 1]
    suffix = f"-b{student_beam}" if student_beam else None
    out = []
    for test in dict.fromkeys(r["test_set"] for r in rows):
        here = [r for r in rows if r["test_set"] == test]
        t = next(r for r in here if r["system"] == teacher)
        bases = [r for r in here if r["system"].startswith(baseline)]
        kd = [r for r in here if not r["system"].startswith((teacher, baseline))]
        if suffix:
            bases = [r for r in bases if r["system"].endswith(suffix)] or bases
            kd = [r for r in kd if r["system"].endswith(suffix)]
        base = max(bases, key=lambda r: r["bleu"])
        best = max(kd, key=lambda r: r["bleu"])
        gap, gain = t["bleu"] - best["bleu"], best["bleu"] - base["bleu"]
        speedup = best["src_wps_median"] / t["src_wps_median"]
        row = {
            "test_set": test, "teacher_bleu": t["bleu"], "best_kd": best["system"],
            "best_kd_bleu": best["bleu"], "baseline": base["system"], "baseline_bleu": base["bleu"],
            "gap_to_teacher": round(gap, 2), "gain_over_baseline": round(gain, 2),
            "speedup": round(speedup, 1),
            "met": {"within_teacher": gap <= max_gap, "above_baseline": gain >= min_gain,
                    "speed": speedup >= min_speedup},
        }
        ct2 = next((r for r in here if r["system"] == ct2_teacher), None)
        if ct2:
            row[f"speedup_vs_{ct2_teacher}"] = round(best["src_wps_median"] /
                                                     ct2["src_wps_median"], 1)
        out.append(row)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("report", type=Path, help="report.json of `seqkd bench`")
    p.add_argument("--teacher", default="teacher", help="the teacher's system name (fairseq)")
    p.add_argument("--ct2-teacher", default="teacher-int8-b5",
                   help="the teacher's CTranslate2 row, for the second speed ratio")
    p.add_argument("--baseline", default="baseline", help="prefix of the baseline's systems")
    p.add_argument("--student-beam", type=int, default=None,
                   help="compare students at this beam only (1: greedy)")
    p.add_argument("--max-gap", type=float, default=1.0)
    p.add_argument("--min-gain", type=float, default=2.0)
    p.add_argument("--min-speedup", type=float, default=20.0)
    a = p.parse_args(argv)
    results = json.loads(a.report.read_text())["results"]
    for row in check(results, a.teacher, a.baseline, a.max_gap, a.min_gain, a.min_speedup,
                     a.student_beam, a.ct2_teacher):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
