"""The differences a bench report's claims rest on, each with a paired bootstrap 95 % interval
(seqkd.significance): every system against the first one (the teacher, in a config's bench),
every KD student against the baseline of its shape (paired by name, seqkd.kd_gain), and the
pairs the bench was told to compare (``compare: [SYSTEM,AGAINST, ...]``, declared before any
score), on each test set at each thread count; and, for systems trained with several seeds
(``NAME-sN``), the mean and spread over the seeds of their scores and of their KD gains."""

from __future__ import annotations

import re
import statistics
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from seqkd.errors import SeqkdError
from seqkd.kd_gain import kd_pairs
from seqkd.significance import paired_bootstrap

#: (system, threads, test set) -> its outputs
Outputs = Dict[Tuple[str, int, str], List[str]]

#: the part of a system's name that says which seed trained it: ``captions-2-1-w256-s2-b1``
#: is seed 2 of ``captions-2-1-w256-b1`` (a name without it is the seed-1 run)
SEED_PART = re.compile(r"-s\d+(?=-|$)")


def parse_pair(text: str) -> Tuple[str, str]:
    """``SYSTEM,AGAINST`` -> (system, against)."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
        raise SeqkdError(f"compare {text!r}: give two different system names as "
                         "SYSTEM,AGAINST (SYSTEM minus AGAINST), e.g. "
                         "captions-1-1-w64-b1,seqkd-1-1-w64-b1")
    return parts[0], parts[1]


def pair_problems(pairs: Sequence[str], names: Sequence[str]) -> List[str]:
    """What is wrong with each declared pair: its form, or a name no system has."""
    problems = []
    for text in pairs:
        try:
            wanted = parse_pair(text)
        except SeqkdError as e:
            problems.append(str(e))
            continue
        unknown = [n for n in wanted if n not in names]
        if unknown:
            problems.append(f"compare {text!r}: no system named {', '.join(unknown)}; the "
                            f"bench's systems: {', '.join(names)}")
    return problems


def comparisons(rows: Sequence[Dict], outputs: Outputs, refs: Dict[str, List[str]],
                declared: Sequence[str] = (), tgt_lang: str = "") -> List[Dict]:
    """Every system minus the first system, every KD student minus its baseline and every
    declared pair: BLEU's difference (tokenized for ``tgt_lang``), its interval, sacrebleu's
    p-value and both length ratios."""
    out: List[Dict] = []
    if not rows:
        return out
    first = rows[0]["system"]

    def same_run(r: Dict, b: Dict) -> bool:
        return (b["test_set"], b["threads"]) == (r["test_set"], r["threads"])

    pairs = [("vs first system", r, b) for r in rows for b in rows
             if b["system"] == first and r["system"] != first and same_run(r, b)]
    pairs += [("kd gain", r, b) for r, b, _ in kd_pairs(rows)]
    for system, against in map(parse_pair, declared):
        pairs += [("declared", r, b) for r in rows if r["system"] == system
                  for b in rows if b["system"] == against and same_run(r, b)]
    for what, r, b in pairs:
        t = r["test_set"]
        got = paired_bootstrap(outputs[(b["system"], b["threads"], t)],
                               outputs[(r["system"], r["threads"], t)], refs[t], "bleu",
                               tgt_lang=tgt_lang)
        out.append({"comparison": what, "test_set": t, "threads": r["threads"],
                    "system": r["system"], "against": b["system"], **got.to_dict()})
    return out


def _spread(values: List[float]) -> Dict:
    return {"mean": round(statistics.fmean(values), 2),
            "sd": round(statistics.stdev(values), 2) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values)}


def seeds(rows: Sequence[Dict], compared: Sequence[Dict] = ()) -> List[Dict]:
    """Systems that differ only by their seed part (``-sN``), grouped on each test set and
    thread count: the mean, standard deviation, lowest and highest BLEU and chrF over the
    seeds; and the same for the KD gains (from ``compared``) of seed-paired students."""
    groups: Dict[Tuple, List[Dict]] = {}
    for r in rows:
        key = ("system", r["test_set"], r["threads"], SEED_PART.sub("", r["system"]), "")
        groups.setdefault(key, []).append(r)
    for c in compared:
        if c["comparison"] == "kd gain":
            key = ("kd gain", c["test_set"], c["threads"], SEED_PART.sub("", c["system"]),
                   SEED_PART.sub("", c["against"]))
            groups.setdefault(key, []).append(c)
    out = []
    for (what, test, threads, name, against), members in groups.items():
        if len(members) < 2:
            continue
        entry = {"what": what, "test_set": test, "threads": threads, "system": name,
                 "against": against or None, "seeds": len(members),
                 "members": [m["system"] for m in members]}
        if what == "system":
            entry["bleu"] = _spread([m["bleu"] for m in members])
            chrf = [m.get("chrf") for m in members]
            entry["chrf"] = _spread(chrf) if None not in chrf else None
        else:
            entry["delta"] = _spread([m["delta"] for m in members])
            entry["intervals_above_zero"] = sum(m["low"] > 0 for m in members)
        out.append(entry)
    return out


def markdown_rows(rows: Sequence[Dict]) -> List[str]:
    """The comparisons as a Markdown table."""
    lines = ["### Differences (BLEU, paired bootstrap 95 % interval)", "",
             "| test set | threads | system | minus | ΔBLEU [95 % interval] | p | length ratio "
             "(system / minus) | why compared |", "|---|---|---|---|---|---|---|---|"]
    for c in rows:
        lines.append(f"| {c['test_set']} | {c['threads']} | {c['system']} | {c['against']} | "
                     f"{c['delta']:+.2f} [{c['low']:+.2f}, {c['high']:+.2f}] | "
                     f"{c['p_value']:.3f} | {c['system_length_ratio']:.3f} / "
                     f"{c['baseline_length_ratio']:.3f} | {c.get('comparison', '')} |")
    if rows:
        lines += ["", f"sacrebleu's paired bootstrap, {rows[0]['resamples']} resamples, seed "
                  f"{rows[0]['seed']}; the interval: the 2.5th and 97.5th percentile of the "
                  "difference on the same resamples (seqkd/significance.py)."]
    return lines


def seed_rows(entries: Sequence[Dict]) -> List[str]:
    """The seed groups as a Markdown table."""
    if not entries:
        return []
    lines = ["### Seeds (mean ± standard deviation [lowest, highest])", "",
             "| test set | threads | system | seeds | BLEU or KD gain | chrF | gain intervals "
             "above zero |", "|---|---|---|---|---|---|---|"]
    for e in entries:
        if e["what"] == "system":
            b, c = e["bleu"], e["chrf"]
            chrf = f"{c['mean']:.2f} ± {c['sd']:.2f}" if c else "–"
            lines.append(f"| {e['test_set']} | {e['threads']} | {e['system']} | {e['seeds']} "
                         f"| {b['mean']:.2f} ± {b['sd']:.2f} [{b['min']:.2f}, {b['max']:.2f}] "
                         f"| {chrf} | |")
        else:
            d = e["delta"]
            lines.append(f"| {e['test_set']} | {e['threads']} | {e['system']} minus "
                         f"{e['against']} | {e['seeds']} | {d['mean']:+.2f} ± {d['sd']:.2f} "
                         f"[{d['min']:+.2f}, {d['max']:+.2f}] | | "
                         f"{e['intervals_above_zero']} of {e['seeds']} |")
    lines += ["", "A system's seeds: the systems whose names differ only by `-sN` (the name "
              "without it is seed 1); a KD gain's: each seed's student minus the baseline of "
              "the same seed."]
    return lines


def _output_file(folder: Path, system: str, threads: int, test: str) -> Path:
    for name in (f"{system}.t{threads}.{test}.txt", f"{system}.t{threads}.{test}.txt.gz"):
        if (folder / name).is_file():
            return folder / name
    raise SeqkdError(f"no outputs of {system} ({threads} threads) on {test} in {folder}: "
                     f"expected {system}.t{threads}.{test}.txt (or .txt.gz)")


def recompute(report_path: Path, outputs_dir: Path, data: Path,
              declared: Sequence[str] = ()) -> Dict:
    """The comparisons and seed groups of a bench report again, from its systems' outputs
    (the bench's outputs/ folder, or a copy with the files gzipped) and the prepared data's
    references: the report's own declared pairs and ``declared``. Raises when a comparison the
    report holds comes out otherwise."""
    from seqkd.corpus import Prepared
    from seqkd.kd_gain import read_bench_report
    from seqkd.textio import read_lines

    report = read_bench_report(report_path)
    rows = report["results"]
    names = list(dict.fromkeys(r["system"] for r in rows))
    problems = pair_problems(declared, names)
    if problems:
        raise SeqkdError("; ".join(problems))
    committed = report.get("comparisons") or []
    pairs = list(dict.fromkeys([f"{c['system']},{c['against']}" for c in committed
                                if c.get("comparison") == "declared"] + list(declared)))
    prepared = Prepared(data)
    tests = sorted({r["test_set"] for r in rows})
    refs = {t: read_lines(prepared.text(t, prepared.tgt)) for t in tests}
    outputs = {}
    for r in rows:
        path = _output_file(outputs_dir, r["system"], r["threads"], r["test_set"])
        outputs[r["system"], r["threads"], r["test_set"]] = lines = read_lines(path)
        want = len(refs[r["test_set"]])
        if len(lines) != want:
            raise SeqkdError(f"{path} has {len(lines):,} lines; {r['test_set']} has {want:,} "
                             f"references in {data}: the outputs belong to another run or "
                             "data folder, or the file was cut short")
    compared = comparisons(rows, outputs, refs, pairs, prepared.tgt)
    _same_as_committed(compared, committed, report_path)
    return {"comparisons": compared, "seeds": seeds(rows, compared)}


def _same_as_committed(compared: Sequence[Dict], committed: Sequence[Dict],
                       report_path: Path) -> None:
    def key(c):
        return c["test_set"], c["threads"], c["system"], c["against"]

    again = {key(c): c for c in compared}
    differ = [f"{c['system']} minus {c['against']} on {c['test_set']}: report "
              f"{c['delta']:+.2f} [{c['low']:+.2f}, {c['high']:+.2f}], outputs "
              f"{again[key(c)]['delta']:+.2f} [{again[key(c)]['low']:+.2f}, "
              f"{again[key(c)]['high']:+.2f}]"
              for c in committed if key(c) in again and any(
                  c[k] != again[key(c)][k] for k in ("delta", "low", "high"))]
    if differ:
        raise SeqkdError(f"{len(differ)} comparison(s) of {report_path} do not come out of "
                         "these outputs and references (other outputs, other references or "
                         "another sacrebleu?):\n  " + "\n  ".join(differ))
