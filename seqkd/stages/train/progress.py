"""A progress bar for fairseq-train, fed by its own log lines (``--log-format simple``).

fairseq prints ``train_inner: epoch 008:  62 / 74 loss=4.057, ..., wps=2830, ...,
num_updates=580`` every ``--log-interval`` updates and ``valid: epoch 008 | ... | loss 4.55``
after each validation; :func:`parse` reads them (pure), :class:`TrainProgress` turns them into a
tqdm bar over updates: the epoch, the last training and validation loss, words/s and, from
tqdm, the time left. The bar's total is ``max_updates``, or ``max_epoch`` times the updates per
epoch once the first line says how many an epoch has.
"""

from __future__ import annotations

import re
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import Dict, List, Optional

from seqkd.stats import seconds_each, time_left
from seqkd.textio import progress

_INNER = re.compile(r"train_inner: epoch (\d+):\s+(\d+) / (\d+) (.*)")
_VALID = re.compile(r"\bvalid: epoch (\d+) \| .*?\| loss ([\d.]+)")
_FIELD = re.compile(r"(\w+)=([\d.e+-]+)")


def parse(line: str) -> Optional[Dict[str, float]]:
    """What a fairseq-train log line says about progress, or None for other lines:
    ``{"epoch", "step", "steps", "updates", "loss", "wps"}`` for a training line,
    ``{"epoch", "valid_loss"}`` for a validation line."""
    m = _INNER.search(line)
    if m:
        fields = dict(_FIELD.findall(m.group(4)))
        if "num_updates" not in fields:
            return None
        return {"epoch": int(m.group(1)), "step": int(m.group(2)), "steps": int(m.group(3)),
                "updates": int(fields["num_updates"]), "loss": float(fields.get("loss", "nan")),
                "wps": float(fields.get("wps", "nan"))}
    m = _VALID.search(line)
    if m:
        return {"epoch": int(m.group(1)), "valid_loss": float(m.group(2))}
    return None


class TrainProgress:
    """Call with each log line; ``close()`` at the end. Off under ``seqkd -q``."""

    def __init__(self, max_updates: Optional[int], max_epoch: Optional[int], desc: str):
        self.max_updates, self.max_epoch = max_updates, max_epoch
        self.bar = progress(total=max_updates, desc=desc, unit="upd", leave=False)
        self.valid_loss: Optional[float] = None

    def __call__(self, line: str) -> None:
        got = parse(line)
        if got is None:
            return
        if "valid_loss" in got:
            self.valid_loss = got["valid_loss"]
            return
        if self.bar.total is None and self.max_epoch:
            self.bar.total = self.max_epoch * got["steps"]
        if self.bar.n == 0:  # a resumed run starts where its epoch began; speed from there
            self.bar.initial = self.bar.last_print_n = got["updates"] - got["step"]
        self.bar.n = got["updates"]
        postfix = {"epoch": f"{got['epoch']}" + (f"/{self.max_epoch}" if self.max_epoch else ""),
                   "loss": f"{got['loss']:.3f}", "words/s": f"{got['wps']:.0f}"}
        if self.valid_loss is not None:
            postfix["valid"] = f"{self.valid_loss:.3f}"
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


_SAVED = re.compile(r"Saved checkpoint \S+ \(epoch (\d+) @ (\d+) updates")
#: the time python's logging puts first on fairseq's lines
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:,(\d{3}))?")


def _seconds(line: str) -> Optional[float]:
    m = _STAMP.match(line)
    if not m:
        return None
    when = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").timestamp()
    return when + int(m.group(2) or 0) / 1000


def _left(cfg, latest: Optional[Dict[str, float]], updates: int, points: List) -> str:
    """The time left to the budget at the pace of the last training lines ('' unknown)."""
    total = getattr(cfg, "max_updates", None)
    if getattr(cfg, "max_epoch", None) and latest is not None:
        by_epochs = cfg.max_epoch * latest["steps"]
        total = min(total, by_epochs) if total else by_epochs
    if not total:
        return ""
    return time_left(total - updates, seconds_each(points), "update",
                     at_most=bool(getattr(cfg, "patience", 0)))


def where(out_dir: Path, cfg) -> Optional[str]:
    """How far an unfinished training got, from its ``fairseq-train.log``: the last checkpoint
    fairseq saved (where a new run resumes) and how far it went after that (lost when it was
    stopped), in words; None before fairseq wrote anything."""
    log = Path(out_dir) / "fairseq-train.log"
    if not log.is_file():
        return None
    saved, since, latest, points = None, None, None, deque(maxlen=41)
    with open(log, encoding="utf-8", errors="replace") as f:  # a stream: logs grow long
        for line in f:
            m = _SAVED.search(line)
            if m:
                saved, since = (int(m.group(1)), int(m.group(2))), None
                continue
            got = parse(line)
            if got is not None and "steps" in got:
                since = latest = got
                when = _seconds(line)
                if when is not None:
                    points.append((when, got["updates"]))
    of_epochs = f" of {cfg.max_epoch}" if getattr(cfg, "max_epoch", None) else ""
    of_updates = f" of {cfg.max_updates:,}" if getattr(cfg, "max_updates", None) else ""
    said = (f"last checkpoint at epoch {saved[0]}{of_epochs}, update {saved[1]:,}{of_updates} "
            "(a run with the settings it started with resumes there)" if saved
            else "no checkpoint saved yet")
    if since is not None:
        said += (f"; {'since then' if saved else 'so far'} epoch {since['epoch']}, step "
                 f"{since['step']} of {since['steps']}")
    left = _left(cfg, latest, since["updates"] if since else saved[1] if saved else 0,
                 list(points))
    return said + (f"; {left}" if left else "")
