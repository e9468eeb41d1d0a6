"""scripts/kd_targets.py: the issue-6 targets read off a bench report."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "kd_targets.py"


def _load():
    spec = importlib.util.spec_from_file_location("kd_targets", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _row(system, bleu, wps, test="t", threads=1):
    return {"system": system, "bleu": bleu, "src_wps_median": wps, "test_set": test,
            "threads": threads}


def test_best_kd_student_against_teacher_and_best_baseline():
    results = [_row("teacher", 20.0, 100.0), _row("baseline-b1", 15.0, 2000.0),
               _row("baseline-b5", 18.0, 900.0), _row("seqkd-b1", 19.2, 1500.0),
               _row("seqkd-b5", 19.0, 800.0), _row("seqkd-b1", 30.0, 5.0, threads=2)]
    [row] = _load().check(results, "teacher", "baseline", 1.0, 1.0, 10.0)
    assert (row["best_kd"], row["baseline"]) == ("seqkd-b1", "baseline-b5")
    assert (row["gap_to_teacher"], row["gain_over_baseline"], row["speedup"]) == (0.8, 1.2, 15.0)
    assert row["met"] == {"within_teacher": True, "above_baseline": True, "speed": True}


def test_missed_targets_are_reported_per_test_set():
    results = [_row("teacher", 20.0, 100.0, "a"), _row("baseline-b5", 18.0, 900.0, "a"),
               _row("kd-b5", 17.5, 900.0, "a"),
               _row("teacher", 10.0, 100.0, "b"), _row("baseline-b5", 5.0, 900.0, "b"),
               _row("kd-b5", 9.5, 900.0, "b")]
    a, b = _load().check(results, "teacher", "baseline", 1.0, 1.0, 10.0)
    assert a["met"] == {"within_teacher": False, "above_baseline": False, "speed": False}
    assert b["met"] == {"within_teacher": True, "above_baseline": True, "speed": False}
    assert (a["gap_to_teacher"], a["gain_over_baseline"]) == (2.5, -0.5)


def test_greedy_students_against_the_greedy_baseline_and_the_ct2_teacher():
    results = [_row("teacher", 20.0, 100.0), _row("teacher-int8-b5", 19.9, 400.0),
               _row("teacher-int8-b1", 19.0, 1600.0),
               _row("baseline-b1", 17.0, 3000.0), _row("baseline-b5", 18.5, 900.0),
               _row("seqkd-b1", 19.3, 2500.0), _row("seqkd-b5", 19.6, 800.0)]
    [row] = _load().check(results, "teacher", "baseline", 1.0, 2.0, 20.0, student_beam=1)
    # teacher-int8 rows are teachers, not students; b5 rows are left out at beam 1
    assert (row["best_kd"], row["baseline"]) == ("seqkd-b1", "baseline-b1")
    assert (row["gap_to_teacher"], row["gain_over_baseline"], row["speedup"]) == (0.7, 2.3, 25.0)
    assert row["speedup_vs_teacher-int8-b5"] == 6.2
    assert row["met"] == {"within_teacher": True, "above_baseline": True, "speed": True}
