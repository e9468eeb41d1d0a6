"""The differences a bench report's claims rest on, each with a paired bootstrap 95 % interval
(seqkd.significance): every system against the first one (the teacher, in a config's bench),
and every KD student against the baseline of its shape (paired by name, seqkd.kd_gain), on each
test set at each thread count."""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

from seqkd.kd_gain import kd_pairs
from seqkd.significance import paired_bootstrap

#: (system, threads, test set) -> its outputs
Outputs = Dict[Tuple[str, int, str], List[str]]


def comparisons(rows: Sequence[Dict], outputs: Outputs,
                refs: Dict[str, List[str]]) -> List[Dict]:
    """Every system minus the first system, and every KD student minus its baseline: BLEU's
    difference, its interval, sacrebleu's p-value and both length ratios."""
    out: List[Dict] = []
    if not rows:
        return out
    first = rows[0]["system"]
    pairs = [("vs first system", r, b) for r in rows for b in rows
             if b["system"] == first and r["system"] != first
             and (b["test_set"], b["threads"]) == (r["test_set"], r["threads"])]
    pairs += [("kd gain", r, b) for r, b, _ in kd_pairs(rows)]
    for what, r, b in pairs:
        t = r["test_set"]
        got = paired_bootstrap(outputs[(b["system"], b["threads"], t)],
                               outputs[(r["system"], r["threads"], t)], refs[t], "bleu")
        out.append({"comparison": what, "test_set": t, "threads": r["threads"],
                    "system": r["system"], "against": b["system"], **got.to_dict()})
    return out


def markdown_rows(rows: Sequence[Dict]) -> List[str]:
    """The comparisons as a Markdown table."""
    lines = ["### Differences (BLEU, paired bootstrap 95 % interval)", "",
             "| test set | threads | system | minus | ΔBLEU [95 % interval] | p | length ratio "
             "(system / minus) |", "|---|---|---|---|---|---|---|"]
    for c in rows:
        lines.append(f"| {c['test_set']} | {c['threads']} | {c['system']} | {c['against']} | "
                     f"{c['delta']:+.2f} [{c['low']:+.2f}, {c['high']:+.2f}] | "
                     f"{c['p_value']:.3f} | {c['system_length_ratio']:.3f} / "
                     f"{c['baseline_length_ratio']:.3f} |")
    if rows:
        lines += ["", f"sacrebleu's paired bootstrap, {rows[0]['resamples']} resamples, seed "
                  f"{rows[0]['seed']}; the interval: the 2.5th and 97.5th percentile of the "
                  "difference on the same resamples (seqkd/significance.py)."]
    return lines
