"""Checkpoints, shared by the stages: which file a folder stands for, reading one safely,
averaging epoch checkpoints, and keeping tied weights tied."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional

from seqkd.errors import SeqkdError
from seqkd.stage import CONFIG_FILE, DONE_FILE
from seqkd.textio import atomic_path, require_file

if TYPE_CHECKING:
    import torch


def checkpoint_of(path: str | Path, ct2_hint: Optional[str] = None) -> Path:
    """A checkpoint file, or the checkpoint a finished `seqkd train` folder stands for: its
    averaged checkpoint when it was trained with ``--average-last``, else its best one.
    ``ct2_hint``: what to do instead with a CTranslate2 folder (default: as a teacher)."""
    from seqkd.ct2_folder import is_ct2_folder

    p = Path(path)
    if is_ct2_folder(p):
        raise SeqkdError(f"{path} is a CTranslate2 model folder, not a fairseq checkpoint: " + (
            ct2_hint or f"it can teach sequence-level KD (seqkd distill --teacher {path}), but "
            "word-level KD and the top-k cache need the teacher's distributions over the "
            "student's vocabulary, which only a fairseq checkpoint with the data's dictionary "
            "gives"))
    if p.is_dir():
        if not (p / "checkpoints").is_dir():
            ct2 = [n for n in ("config.json", "shared_vocabulary.json", "source_vocabulary.json",
                               "shared_vocabulary.txt") if (p / n).is_file()]
            kind = (f"it looks like a CTranslate2 model folder without its model.bin (it has "
                    f"{', '.join(ct2)}): convert the model again" if ct2 else
                    "give a checkpoint file, a `seqkd train` folder (with checkpoints/) or a "
                    "CTranslate2 model folder (with model.bin)")
            raise SeqkdError(f"{path} is a folder but neither a `seqkd train` folder nor a "
                             f"CTranslate2 model: {kind}")
        if (p / CONFIG_FILE).is_file() and not (p / DONE_FILE).is_file():
            # its best or last checkpoint would stand for a model that is still training
            raise SeqkdError(f"{path} is a `seqkd train` folder whose training has not "
                             f"finished (no {DONE_FILE}): finish it first (the same `seqkd "
                             "train` or `seqkd run` resumes it), or name one of its checkpoint "
                             "files to use that one as it is")
        averaged = p / "checkpoints" / AVERAGED
        p = averaged if averaged.is_file() else p / "checkpoints" / "checkpoint_best.pt"
    return require_file(p, "checkpoint")


AVERAGED = "checkpoint_avg.pt"


def resolved_checkpoints(paths: List[str]) -> List[Path]:
    """The checkpoint files that exist for ``paths`` (files or train folders)."""
    out = []
    for p in paths:
        try:
            out.append(checkpoint_of(p))
        except SeqkdError:
            pass
    return out


def last_epoch_checkpoints(save_dir: Path, n: int) -> List[Path]:
    """The ``n`` epoch checkpoints (``checkpointE.pt``) of the highest epochs, oldest first."""
    found = []
    for f in save_dir.glob("checkpoint*.pt"):
        m = re.fullmatch(r"checkpoint(\d+)\.pt", f.name)
        if m:
            found.append((int(m.group(1)), f))
    return [f for _, f in sorted(found)[-n:]]


def tie_equal_tensors(state: Dict[str, "torch.Tensor"]) -> Dict[str, "torch.Tensor"]:
    """The state dict with identical float tensors of one shape made one tensor, so a tied
    weight (shared embeddings) is stored once. Checkpoints saved from a GPU hold tied weights
    as separate copies (fairseq moves each tensor to the CPU on its own)."""
    import torch

    kept: List["torch.Tensor"] = []
    out = {}
    for k, v in state.items():
        if v.is_floating_point():
            same = next((u for u in kept if u.shape == v.shape and u.dtype == v.dtype
                         and torch.equal(u, v)), None)
            if same is None:
                kept.append(v)
            else:
                v = same
        out[k] = v
    return out


def average_checkpoints(paths: List[Path], out: Path) -> None:
    """Write the element-wise mean of the models in ``paths`` (fairseq checkpoints that this
    run wrote) as a fairseq checkpoint: the last one's config, no optimizer state."""
    import torch

    total = None
    for path in paths:
        state = torch.load(path, map_location="cpu", weights_only=False)
        model = state["model"]
        if total is None:
            total = {k: v.double() if v.is_floating_point() else v.clone()
                     for k, v in model.items()}
        else:
            if set(model) != set(total):
                raise SeqkdError(f"{path} holds other parameters than {paths[0]}; "
                                 "cannot average them")
            for k, v in model.items():
                # float tensors are summed; integer buffers are taken from the last one
                total[k] = total[k] + v.double() if v.is_floating_point() else v.clone()
    last = state
    averaged = {k: (v / len(paths)).to(last["model"][k].dtype) if v.is_floating_point() else v
                for k, v in total.items()}
    result = {k: v for k, v in last.items()
              if k not in ("model", "last_optimizer_state", "optimizer_history")}
    result["model"] = tie_equal_tensors(averaged)
    result["optimizer_history"] = last.get("optimizer_history", [])[-1:]
    result["averaged_from"] = [p.name for p in paths]
    with atomic_path(out) as tmp:
        torch.save(result, tmp)


def _damaged_member(path: Path) -> Optional[str]:
    """The first member of a zip checkpoint (torch's format) that fails its checksum (CRC),
    'the archive (why)' when the archive cannot be read, None when it is whole. torch's
    reader does not check the CRCs: damaged tensor bytes would load as garbage."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        return f"the archive ({e})"


def whole_archive(path: Path) -> bool:
    """Whether a checkpoint file is whole: a zip archive whose members pass their checksums,
    or an older (non-zip) torch file that loads. A copy cut short by a kill is neither (its
    zip directory, at the end, is missing)."""
    import zipfile

    try:
        if not zipfile.is_zipfile(path):
            return updates_done(path) is not None
    except OSError:
        return False
    return _damaged_member(path) is None


def repair_last(save_dir: Path) -> None:
    """fairseq saves an epoch's (or an interval's) checkpoint atomically, then copies it to
    checkpoint_best.pt and checkpoint_last.pt, where a new run resumes; a kill during that
    copy leaves checkpoint_last.pt cut short, and every resume after it failing. Put the
    newest whole saved checkpoint in its place (or, with none, remove it: the training
    starts over, the same as it would have run)."""
    import logging
    import shutil

    last = save_dir / "checkpoint_last.pt"
    if not last.is_file() or whole_archive(last):
        return
    saved = [p for p in save_dir.glob("checkpoint*.pt")
             if p.name not in (last.name, "checkpoint_best.pt", AVERAGED) and whole_archive(p)]
    newest = max(saved, key=lambda p: updates_done(p) or -1, default=None)
    log = logging.getLogger(__name__)
    if newest is None:
        log.warning("%s is cut short (killed while fairseq copied it) and no whole checkpoint "
                    "is beside it: the training starts over", last)
        last.unlink()
        return
    log.warning("%s is cut short (killed while fairseq copied it): resuming from %s, the "
                "checkpoint it was a copy of", last, newest.name)
    with atomic_path(last) as tmp:
        shutil.copyfile(newest, tmp)


def check_checkpoint(path: str | os.PathLike, what: str = "checkpoint") -> Path:
    """``path`` when it is a readable fairseq checkpoint; else one clear error saying what
    the file is not (missing, truncated or not a torch file, or a torch file that is not a
    fairseq checkpoint). The file is one the user named or the pipeline wrote, so it is
    unpickled in full (see seqkd/trust.py)."""
    import pickle
    import zipfile

    p = Path(path)
    if not p.is_file():
        raise SeqkdError(f"{what} not found: {p}")
    try:
        state = load_mapped(p)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, OSError,
            ValueError, AttributeError, ImportError, IndexError, KeyError) as e:
        reason = (str(e).splitlines() or [""])[0].split(". ")[0][:160]
        raise SeqkdError(f"{what} {p} cannot be read as a torch checkpoint "
                         f"({type(e).__name__}: {reason}); it may be truncated (copy it "
                         "again) or not a checkpoint at all") from None
    if zipfile.is_zipfile(p):
        damaged = _damaged_member(p)
        if damaged:
            raise SeqkdError(f"{what} {p} is corrupt: {damaged} fails its checksum (CRC); "
                             "copy the checkpoint again or use another one")
    if not isinstance(state, dict) or "model" not in state or not (
            state.get("args") is not None or _model_settings(state.get("cfg")) is not None):
        raise SeqkdError(f"{what} {p} is a torch file but not a fairseq checkpoint (it needs "
                         "'model' and the model's settings, in 'cfg' (its 'model' entry) or "
                         "'args'); give a checkpoint written by fairseq-train or `seqkd "
                         "train`")
    return p


def _model_settings(cfg):
    """The ``model`` entry of a checkpoint's ``cfg`` (a dict or an OmegaConf config), or
    None."""
    try:
        return cfg.get("model") if cfg is not None else None
    except (AttributeError, KeyError, TypeError):  # not a mapping, or OmegaConf in struct mode
        return None


def load_mapped(path: str | os.PathLike) -> Dict:
    """A checkpoint the user named or the pipeline wrote, unpickled in full (see
    seqkd/trust.py) and memory-mapped: its structure is read, a tensor's bytes only when
    used. An old-format (non-zip) file, which cannot be mapped, is read whole."""
    import torch

    from seqkd.trust import trusted_checkpoints

    with trusted_checkpoints([Path(path)]):
        try:
            return torch.load(path, map_location="cpu", mmap=True)
        except RuntimeError as e:
            if "mmap" not in str(e):  # a broken file, not one that cannot be mapped
                raise
            return torch.load(path, map_location="cpu")


def checkpoint_shape(path: str | os.PathLike):
    """The :class:`~seqkd.model_cost.ModelShape` of a fairseq transformer checkpoint."""
    from seqkd.model_cost import shape_from_weights

    state = load_mapped(path)
    return shape_from_weights({k: tuple(v.shape) for k, v in state["model"].items()})


def updates_done(path: str | os.PathLike) -> int | None:
    """The number of updates a fairseq checkpoint was saved at, or None when it cannot be
    read (fairseq then deals with the file itself)."""
    try:
        return int(load_mapped(path)["optimizer_history"][-1]["num_updates"])
    except Exception:  # truncated or not a fairseq checkpoint
        return None
