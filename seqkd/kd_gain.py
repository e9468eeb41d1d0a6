"""Where KD pays: the BLEU a KD student gains over the baseline student of the same shape,
against the student's speed, from one bench report, with the paired bootstrap interval the
bench computed for each gain (seqkd.stages.bench.compare).

Rows pair by name: a system ``baseline-SUFFIX`` (trained on the references) pairs with every
``OTHER-SUFFIX`` of the same test set (``seqkd-3-1-w128-b1`` with ``baseline-3-1-w128-b1``),
so one shape at one beam is one point. ``seqkd kd-gain REPORT --out DIR`` writes
``DIR/kd-gain.md`` and ``DIR/kd-gain.png``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from seqkd.errors import SeqkdError
from seqkd.plotting import pyplot, save_figure
from seqkd.textio import write_text

BASELINE = "baseline-"


@dataclass(frozen=True)
class Gain:
    test_set: str
    shape: str  #: the shared name suffix, e.g. ``3-1-w128-b1``
    student: str
    baseline: str
    beam: int
    bleu_student: float
    bleu_baseline: float
    src_wps_student: float
    src_wps_baseline: float
    macs_per_src_token: Optional[int]
    #: the gain's paired bootstrap 95 % interval and the two length ratios (None: a report
    #: written before the bench computed them)
    low: Optional[float] = None
    high: Optional[float] = None
    length_ratio_student: Optional[float] = None
    length_ratio_baseline: Optional[float] = None

    @property
    def gain(self) -> float:
        return round(self.bleu_student - self.bleu_baseline, 2)


def kd_pairs(rows: Sequence[Dict]) -> Iterator[Tuple[Dict, Dict, str]]:
    """(KD row, baseline row, the shared name suffix) for every pair of one test set and
    thread count, in report order."""
    baselines = {(r["test_set"], r.get("threads"), r["system"][len(BASELINE):]): r
                 for r in rows if r["system"].startswith(BASELINE)}
    for r in rows:
        if r["system"].startswith(BASELINE) or "-" not in r["system"]:
            continue
        for (test, threads, suffix), b in baselines.items():
            if (test, threads) == (r["test_set"], r.get("threads")) and \
                    r["system"].endswith("-" + suffix):
                yield r, b, suffix


def kd_gains(rows: List[Dict], compared: List[Dict] = ()) -> List[Gain]:
    """Every (KD student, baseline of the same name suffix) pair of one test set and
    thread count, in report order, with its interval from the report's ``comparisons``."""
    intervals = {(c["test_set"], c["threads"], c["system"], c["against"]): c
                 for c in compared if c.get("comparison") == "kd gain"}
    out = []
    for r, b, suffix in kd_pairs(rows):
        c = intervals.get((r["test_set"], r.get("threads"), r["system"], b["system"]), {})
        out.append(Gain(r["test_set"], suffix, r["system"], b["system"], r["beam"], r["bleu"],
                        b["bleu"], r["src_wps_median"], b["src_wps_median"],
                        r.get("macs_per_src_token"), c.get("low"), c.get("high"),
                        r.get("length_ratio"), b.get("length_ratio")))
    return out


def markdown(gains: List[Gain], signature: str = "") -> str:
    lines = ["| test set | shape | beam | student | baseline BLEU | KD BLEU | KD gain | 95 % "
             "interval | length ratio KD / baseline | KD src words/s | baseline src words/s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for g in gains:
        interval = f"[{g.low:+.2f}, {g.high:+.2f}]" if g.low is not None else "–"
        ratios = (f"{g.length_ratio_student:.3f} / {g.length_ratio_baseline:.3f}"
                  if g.length_ratio_student is not None else "–")
        lines.append(f"| {g.test_set} | {g.shape} | {g.beam} | {g.student} | "
                     f"{g.bleu_baseline:.2f} | {g.bleu_student:.2f} | **{g.gain:+.2f}** | "
                     f"{interval} | {ratios} | {g.src_wps_student:,.0f} | "
                     f"{g.src_wps_baseline:,.0f} |")
    if signature:
        lines += ["", f"BLEU signature: `{signature}`"]
    if any(g.low is not None for g in gains):
        lines += ["", "95 % interval: sacrebleu's paired bootstrap of the two students' outputs "
                  "(1,000 resamples, seed 12345), as the bench report's comparisons."]
    return "\n".join(lines) + "\n"


def plot(gains: List[Gain], path: Path, beam: int = 1) -> None:
    """KD gain against the KD student's single-thread words/s, one panel per test set, one
    point per shape at ``beam``."""
    plt = pyplot(path.parent)
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    chosen = [g for g in gains if g.beam == beam]
    tests = list(dict.fromkeys(g.test_set for g in chosen))
    students = list(dict.fromkeys(g.student for g in chosen))
    if not tests:
        raise SeqkdError(f"no KD/baseline pairs at beam {beam} to plot")
    fig, axes = plt.subplots(1, len(tests), figsize=(6 * len(tests), 5.5), squeeze=False)
    for ax, test in zip(axes[0], tests):
        pts = [g for g in chosen if g.test_set == test]
        ax.axhline(0, color="grey", lw=0.8)
        # one marker per student, the same in every panel, named in a legend below it in
        # order of gain (labels beside the points print over each other where students run
        # at about the same speed)
        for g in sorted(pts, key=lambda g: -g.gain):
            i = students.index(g.student)
            ax.scatter([g.src_wps_student], [g.gain], color=f"C{i % 10}",
                       marker="osD^v<>ph*"[i % 10], s=36,
                       label=f"{g.student.removesuffix(f'-b{beam}')} ({g.gain:+.2f})")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=7,
                  frameon=False)
        ax.set_title(test)
        ax.set_xlabel("KD student source words/s (1 thread)")
        ax.set_ylabel(f"KD gain over the baseline, BLEU (beam {beam})")
        low, high = min([0.0] + [g.gain for g in pts]), max([0.0] + [g.gain for g in pts])
        pad = max(0.5, 0.2 * (high - low))
        ax.set_ylim(low - pad, high + pad)
        ax.set_xscale("log")
        # plain thousands on every 1..9 x 10^n tick (matplotlib's defaults print overlapping
        # powers of ten when the speeds span less than a decade)
        ax.xaxis.set_major_locator(LogLocator(subs=tuple(range(1, 10))))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


#: what every row of a bench report has that the readers of a report use
_ROW_FIELDS = {"system": str, "test_set": str, "threads": int, "beam": int,
               "bleu": (int, float)}


def read_bench_report(path: Path) -> Dict:
    """A bench report.json, checked: an object whose ``results`` are rows with the fields
    above (and ``comparisons``, when there, a list of objects)."""
    def wrong(why: str) -> SeqkdError:
        return SeqkdError(f"{path} is not a bench report.json ({why}); give the report.json "
                          "that `seqkd bench` wrote")

    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SeqkdError(f"bench report not found: {path}") from None
    except (OSError, ValueError, RecursionError) as e:
        raise wrong(type(e).__name__) from None
    rows = report.get("results") if isinstance(report, dict) else None
    if not isinstance(rows, list) or not rows:
        raise wrong("no list of results")
    for k, row in enumerate(rows, 1):
        bad = [name for name, tp in _ROW_FIELDS.items() if not isinstance(row, dict)
               or not isinstance(row.get(name), tp) or isinstance(row.get(name), bool)]
        if bad:
            raise wrong(f"result {k} has no valid {', '.join(bad)}")
    compared = report.get("comparisons", [])
    if not isinstance(compared, list) or not all(isinstance(c, dict) for c in compared):
        raise wrong("comparisons is not a list of objects")
    return report


def write(report_path: str | Path, out_dir: str | Path, beam: int = 1) -> List[Gain]:
    """Read a bench report, write ``kd-gain.md``, ``kd-gain.json`` and ``kd-gain.png``."""
    p = Path(report_path)
    report = read_bench_report(p)
    rows = report["results"]
    gains = kd_gains(rows, report.get("comparisons") or [])
    if not gains:
        raise SeqkdError(f"{p} has no pairs: name baseline students baseline-SUFFIX and KD "
                         "students OTHER-SUFFIX (e.g. baseline-3-1-b1 and seqkd-3-1-b1)")
    beams = sorted({g.beam for g in gains})
    if beam not in beams:  # said before anything is written
        raise SeqkdError(f"{p} has no KD/baseline pair at beam {beam}; its pairs are at "
                         f"beam {', '.join(map(str, beams))}: give --beam {beams[0]}")
    out = Path(out_dir)
    signature = report.get("signature", {})
    bleu_sig = signature.get("sacrebleu_bleu", "") if isinstance(signature, dict) else ""
    write_text(out / "kd-gain.md", markdown(gains, bleu_sig))
    write_text(out / "kd-gain.json", json.dumps(
        [{**asdict(g), "gain": g.gain} for g in gains], indent=2) + "\n")
    plot(gains, out / "kd-gain.png", beam)
    return gains
