"""A longer budget without training the first part again (``continue_from``): a finished
`seqkd train` folder whose settings are this training's but for its budget lends its
checkpoints, and fairseq goes on from its last one, as it would after a kill. The budget a
validation set chooses (train 30 epochs, look, go on to 60 with patience) then costs the
epochs it adds.

What may differ: the budget (max_epoch, max_updates), when to stop early and what to average
(patience, average_last), and where and on how many threads or processes it runs. Everything
that shapes the model or the updates (data, shape, learning rate, batch size, seed, word-level
KD, ...) must be the same, or the result would be a model no single setting describes. As
after any resume, fairseq's early stopping counts epochs without a better validation loss
from the first epoch it trains (its counter is not in the checkpoint)."""

from __future__ import annotations

import os
import shutil
from dataclasses import fields
from pathlib import Path
from typing import Any, Dict, List

from seqkd.checkpoints import AVERAGED
from seqkd.errors import SeqkdError
from seqkd.stage import CONFIG_FILE, DONE_FILE
from seqkd.yaml_file import load_yaml

#: settings a continued training may set otherwise than the one it continues
MAY_DIFFER = ("max_epoch", "max_updates", "patience", "average_last", "threads", "device",
              "nproc", "out_dir", "continue_from")
#: settings that name files (compared as resolved paths)
PATHS = ("data", "kd_cache")


def _same(key: str, mine: Any, theirs: Any) -> bool:
    if key in PATHS and mine and theirs:
        return Path(mine).resolve() == Path(theirs).resolve()
    if key == "kd_teachers" and isinstance(theirs, list):
        return [Path(t).resolve() for t in mine] == [Path(t).resolve() for t in theirs]
    return mine == theirs


def _shown(value: Any) -> str:
    return "unset (the preset's)" if value is None else repr(value)


def _budget_problem(cfg: Any, theirs: Dict[str, Any]) -> str:
    """Why the budget is not longer than the one of the run it continues ('' when it is)."""
    longer = [k for k in ("max_epoch", "max_updates") if getattr(cfg, k) is not None and (
        theirs.get(k) is None or getattr(cfg, k) > theirs[k])]
    shorter = [k for k in ("max_epoch", "max_updates") if getattr(cfg, k) is not None
               and theirs.get(k) is not None and getattr(cfg, k) < theirs[k]]
    if longer and not shorter:
        return ""
    return (f"its budget (max_epoch {theirs.get('max_epoch')}, max_updates "
            f"{theirs.get('max_updates')}) is not shorter than this one's (max_epoch "
            f"{cfg.max_epoch}, max_updates {cfg.max_updates}): give a longer budget, or "
            "use that folder as it is")


def check_continuation(cfg: Any) -> Path:
    """The folder ``cfg.continue_from`` names, checked: a finished `seqkd train` folder with
    these settings and a shorter budget; every difference named in one error."""
    src = Path(cfg.continue_from)
    what = f"continue_from {src}"
    if not (src / CONFIG_FILE).is_file() or not (src / "checkpoints").is_dir():
        raise SeqkdError(f"{what}: not a `seqkd train` folder (no {CONFIG_FILE} and "
                         "checkpoints/); name the folder of the training to go on from")
    if not (src / DONE_FILE).is_file():
        raise SeqkdError(f"{what}: its training has not finished (no {DONE_FILE}); finish it "
                         "first, or train this one from the start")
    if not (src / "checkpoints" / "checkpoint_last.pt").is_file():
        raise SeqkdError(f"{what}: no checkpoints/checkpoint_last.pt to go on from")
    if src.resolve() == Path(cfg.out_dir).resolve():
        raise SeqkdError(f"{what}: that is this training's own folder")
    theirs = load_yaml((src / CONFIG_FILE).read_text(encoding="utf-8"), str(src / CONFIG_FILE))
    if not isinstance(theirs, dict):
        raise SeqkdError(f"{what}: its {CONFIG_FILE} holds no settings")
    problems: List[str] = []
    for f in fields(cfg):
        if f.name in MAY_DIFFER or f.name not in theirs:
            continue
        mine = getattr(cfg, f.name)
        if not _same(f.name, mine, theirs[f.name]):
            problems.append(f"{f.name} {_shown(theirs[f.name])} there, {_shown(mine)} here")
    if problems:
        raise SeqkdError(f"{what}: it was trained with other settings ({'; '.join(problems)}); "
                         f"only {', '.join(MAY_DIFFER[:-2])} may differ")
    budget = _budget_problem(cfg, theirs)
    if budget:
        raise SeqkdError(f"{what}: {budget}")
    return src


def copy_checkpoints(src: Path, save_dir: Path) -> List[str]:
    """The checkpoints of ``src`` (its averaged one aside) copied into ``save_dir``, each
    under a temporary name first, checkpoint_last.pt the last: a kill while copying leaves no
    checkpoint_last.pt, and the next run copies again. Returns the names copied."""
    files = sorted(p for p in (src / "checkpoints").glob("checkpoint*.pt")
                   if p.name not in (AVERAGED, "checkpoint_last.pt"))
    files.append(src / "checkpoints" / "checkpoint_last.pt")
    save_dir.mkdir(parents=True, exist_ok=True)
    for f in files:
        tmp = save_dir / f".{f.name}.copy"
        shutil.copyfile(f, tmp)
        os.replace(tmp, save_dir / f.name)
    return [f.name for f in files]
