"""The bench's plot: BLEU against single-thread words/s, one panel per test set, the Pareto
front marked and labels placed so that none overlaps another."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Tuple


def pareto_front(points: List[Tuple[float, float]]) -> List[int]:
    """Indices of the points no other point beats: none is at least as fast and at least as
    good with one of the two strictly better. Fastest first."""
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any((x2 >= x and y2 >= y) and (x2 > x or y2 > y)
                        for j, (x2, y2) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: -points[i][0])


def _place_labels(ax, points: List[Tuple[float, float, str]], fontsize: int = 7) -> None:
    """Annotate points so that no two labels overlap: each label tries positions around its
    point (right, left, then one line further up or down at a time), measured as drawn, and
    takes the first that overlaps no label placed before it (when none is free: the one that
    overlaps least)."""
    renderer = ax.figure.canvas.get_renderer()
    placed: List = []
    step = 1.4 * fontsize  # one line, in points
    spots = [(dx, dy, ha) for k in range(6) for dy in ((2, -step) if k == 0 else
                                                        (2 + k * step, -(k + 1) * step))
             for dx, ha in ((3, "left"), (-3, "right"))]

    def overlap(box) -> float:
        return sum(max(0.0, min(box.x1, b.x1) - max(box.x0, b.x0))
                   * max(0.0, min(box.y1, b.y1) - max(box.y0, b.y0)) for b in placed)

    for x, y, label in sorted(points, key=lambda p: (p[0], -p[1])):
        best = None
        for dx, dy, ha in spots:
            ann = ax.annotate(label, (x, y), xytext=(dx, dy), textcoords="offset points",
                              fontsize=fontsize, ha=ha,
                              arrowprops=None if abs(dy) < step else
                              {"arrowstyle": "-", "lw": 0.4, "color": "0.5"})
            box = ann.get_window_extent(renderer).expanded(1.04, 1.1)
            cost = overlap(box)
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, ann, box)
            else:
                ann.remove()
            if cost == 0:
                break
        placed.append(best[2])


def plot(rows: List[Dict], path: Path, batch_tokens: Optional[int] = None) -> None:
    """BLEU against single-thread words/s, one panel per test set, labels that do not
    overlap; rows measured at ``batch_tokens`` (default: the first row's), one batch at a
    time."""
    from seqkd.plotting import DPI, pyplot, save_figure

    plt = pyplot(path.parent)  # first: it keeps matplotlib's caches out of $HOME
    from matplotlib.ticker import NullFormatter

    if batch_tokens is None and rows:
        batch_tokens = rows[0].get("batch_tokens")
    single = [r for r in rows if r["threads"] == 1 and r.get("inter_threads", 1) == 1
              and r.get("batch_tokens") == batch_tokens] or rows
    tests = list(dict.fromkeys(r["test_set"] for r in single))
    fig, axes = plt.subplots(len(tests), 1, figsize=(8, 3.6 * len(tests)), squeeze=False,
                             dpi=DPI)  # the dpi it is saved at: labels are measured as drawn
    for ax, t in zip(axes[:, 0], tests):
        pts = [r for r in single if r["test_set"] == t]
        front = pareto_front([(r["src_wps_median"], r["bleu"]) for r in pts])
        on_front = set(front)
        ax.scatter([r["src_wps_median"] for i, r in enumerate(pts) if i not in on_front],
                   [r["bleu"] for i, r in enumerate(pts) if i not in on_front], s=18,
                   facecolors="none", edgecolors="C0", label="dominated")
        ax.scatter([pts[i]["src_wps_median"] for i in front], [pts[i]["bleu"] for i in front],
                   s=22, color="C3", label="Pareto front (nothing faster and better)")
        ax.step([pts[i]["src_wps_median"] for i in front], [pts[i]["bleu"] for i in front],
                where="post", color="C3", lw=0.8, ls="--")
        ax.legend(fontsize=7, loc="lower left")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        xs = [r["src_wps_median"] for r in pts]
        ys = [r["bleu"] for r in pts]
        ax.set_xlim(min(xs) / 1.5, max(xs) * 2.2)
        ax.set_ylim(min(ys) - 0.8, max(ys) + 0.8)
        ax.set_title(t, fontsize=9)
        ax.set_ylabel("BLEU (sacrebleu)")
        ax.grid(True, alpha=0.3)
    axes[-1, 0].set_xlabel("source words / second (1 thread, log scale)")
    fig.tight_layout()  # before the labels: they are placed where the axes end up
    for ax, t in zip(axes[:, 0], tests):
        _place_labels(ax, [(r["src_wps_median"], r["bleu"],
                            f"{r['system']}" + (f" (b{r['beam']})" if f"b{r['beam']}"
                                                 not in r["system"] else ""))
                           for r in single if r["test_set"] == t])
    save_figure(fig, path)
