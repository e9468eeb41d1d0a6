"""A finished stage folder packed for a trip between machines (to and from a lent GPU machine,
which returns few and small files), and unpacked into a folder the user names.

``pack`` writes PREFIX.tgz (every file of the folder but its checkpoints/, names relative to
the folder) and, when the folder trained a model, PREFIX.pt: the checkpoint the folder stands
for (``checkpoint_avg.pt`` else ``checkpoint_best.pt``), its weights as float16 with tied
weights once, its settings as JSON, no optimizer state. ``unpack`` extracts the archive into
the folder it is told, refusing any member that is not a plain file or folder, that would land
outside it (an absolute name, ``..``) or that passes the size bound, and any folder that holds
the user's files or another stage's (their files would mix), and reads the weights with
``torch.load(weights_only=True)``: nothing in what travelled is unpickled. The checkpoint is
rebuilt in float32 (its values stay float16-rounded) under checkpoints/.

A stage's stamps record absolute paths: unpack into the folder the stage ran in (the same
path on both machines) for ``seqkd run`` to find it up to date."""

from __future__ import annotations

import argparse
import json
import tarfile
import zlib
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from seqkd.errors import SeqkdError
from seqkd.stage import CONFIG_FILE, made_by_seqkd

#: the checkpoints a training folder stands for, in order of preference
KEEP = ("checkpoint_avg.pt", "checkpoint_best.pt")
#: what a checkpoint keeps besides its weights (JSON); the optimizer and meters stay behind
SETTINGS = ("args", "cfg", "criterion", "task_state", "optimizer_history", "averaged_from")
#: the most bytes an archive may unpack to
MAX_BYTES = 4 * 2**30


def _as_json(x: Any, where: str) -> Any:
    """A checkpoint's settings as JSON data (an argparse Namespace marked as one)."""
    if isinstance(x, argparse.Namespace):
        return {"__namespace__": {k: _as_json(v, f"{where}.{k}") for k, v in vars(x).items()}}
    if isinstance(x, dict):
        return {str(k): _as_json(v, f"{where}.{k}") for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_as_json(v, f"{where}[{i}]") for i, v in enumerate(x)]
    if x is None or isinstance(x, (str, int, float, bool)):
        return x
    raise SeqkdError(f"the checkpoint's {where} is a {type(x).__name__}, which cannot travel "
                     "as JSON: pack a checkpoint that seqkd train wrote")


def _from_json(x: Any) -> Any:
    if isinstance(x, dict):
        if set(x) == {"__namespace__"}:
            return argparse.Namespace(**{k: _from_json(v) for k, v in x["__namespace__"].items()})
        return {k: _from_json(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_from_json(v) for v in x]
    return x


def pack(stage_dir: str | Path, prefix: str | Path) -> Dict[str, Any]:
    """PREFIX.tgz and, for a training folder, PREFIX.pt; what was written."""
    import torch

    from seqkd.checkpoints import tie_equal_tensors
    from seqkd.trust import trusted_checkpoints

    folder = Path(stage_dir).resolve()
    if not (folder / "config.yaml").is_file():
        raise SeqkdError(f"{folder} is not a stage folder (no config.yaml)")
    ckpts = folder / "checkpoints"
    chosen = next((ckpts / k for k in KEEP if (ckpts / k).is_file()), None)
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(f"{prefix}.tgz", "w:gz") as tar:
        for f in sorted(folder.rglob("*")):
            if f.is_file() and not f.is_symlink() and ckpts not in f.parents:
                tar.add(f, arcname=str(f.relative_to(folder)))
    written = {"archive": f"{prefix}.tgz"}
    if chosen is not None:
        with trusted_checkpoints([chosen]):  # in the folder the user named
            state = torch.load(chosen, map_location="cpu", weights_only=False)
        weights = tie_equal_tensors({k: v.half() if v.is_floating_point() else v
                                     for k, v in state["model"].items()})
        settings = {k: _as_json(state.get(k), k) for k in SETTINGS}
        torch.save({"model": weights, "settings": json.dumps(settings),
                    "name": chosen.name}, f"{prefix}.pt")
        written["weights"] = f"{prefix}.pt"
    return written


def _check_member(m: tarfile.TarInfo, into: Path) -> None:
    name = Path(m.name)
    if not (m.isfile() or m.isdir()):
        raise SeqkdError(f"the archive holds {m.name!r}, which is not a plain file or folder "
                         "(a link or a device): refused, nothing was unpacked")
    if name.is_absolute() or ".." in name.parts or not (into / name).resolve().is_relative_to(
            into):
        raise SeqkdError(f"the archive holds {m.name!r}, which would land outside {into}: "
                         "refused, nothing was unpacked")


def _out_dir_of(text: bytes | str) -> Optional[str]:
    """The folder a stage ran in, as its config.yaml says (``out_dir``), if it says."""
    import yaml

    cfg = yaml.safe_load(text)
    return cfg.get("out_dir") if isinstance(cfg, dict) else None


def _made_in(tar: tarfile.TarFile, archive: Path) -> Optional[str]:
    """The folder the packed stage ran in, from the archive's config.yaml."""
    import yaml

    try:
        f = tar.extractfile(CONFIG_FILE)
        return _out_dir_of(f.read()) if f is not None else None
    except (KeyError, yaml.YAMLError):
        raise SeqkdError(f"{archive} holds no readable config.yaml: it was not written by "
                         "seqkd pack; nothing was unpacked") from None


def _check_target(into: Path, made_in: Optional[str]) -> None:
    """A folder that holds something may only take the same stage back (the folder it ran
    in, on a machine with the same paths): never the user's own files, never another
    stage's folder, whose files would mix with the archive's."""
    import yaml

    if not into.is_dir():
        return
    if not made_by_seqkd(into):
        raise SeqkdError(f"{into} holds files seqkd did not write (no config.yaml): unpack "
                         "into an empty or new folder, or the stage's own; nothing was unpacked")
    try:
        here = _out_dir_of((into / CONFIG_FILE).read_bytes())
    except (OSError, yaml.YAMLError):  # no config.yaml (DONE.json alone), or a damaged one
        here = None
    if made_in and here and Path(here).name != Path(made_in).name:
        raise SeqkdError(f"{into} holds the stage made in {here}, and the archive the one made "
                         f"in {made_in}: their files would mix; unpack into that stage's own "
                         "folder or an empty one; nothing was unpacked")


def unpack(prefix: str | Path, into: str | Path,
           max_bytes: int = MAX_BYTES) -> Dict[str, Any]:
    """PREFIX.tgz (and PREFIX.pt when there is one) into the folder ``into``; both read and
    checked whole before anything is written."""
    import torch

    into = Path(into).resolve()
    archive, weights = Path(f"{prefix}.tgz"), Path(f"{prefix}.pt")
    if not archive.is_file():
        raise SeqkdError(f"{archive} not found (seqkd pack writes PREFIX.tgz)")
    restored = _read_weights(weights, torch) if weights.is_file() else None
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()  # (reads the archive to its end: a cut is found here)
            for m in members:  # every member checked before anything is written
                _check_member(m, into)
            total = sum(m.size for m in members)
            if total > max_bytes:
                raise SeqkdError(f"{archive} would unpack to {total:,} bytes, over the bound "
                                 f"of {max_bytes:,}: refused, nothing was unpacked")
            _check_target(into, _made_in(tar, archive))
            into.mkdir(parents=True, exist_ok=True)
            tar.extractall(into, members=members, filter="data")
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise SeqkdError(f"{archive} cannot be read as an archive ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''}); it was cut short or "
                         "damaged on its way: copy it again from where seqkd pack wrote "
                         "it") from None
    out: Dict[str, Any] = {"folder": str(into), "files": len(members)}
    if restored is not None:
        name, state = restored
        ckpts = into / "checkpoints"
        ckpts.mkdir(parents=True, exist_ok=True)
        torch.save(state, ckpts / name)
        out["checkpoint"] = str(ckpts / name)
    return out


def _read_weights(weights: Path, torch) -> Tuple[str, Dict[str, Any]]:
    """(its checkpoint's file name, the checkpoint) from what seqkd pack wrote to PREFIX.pt,
    read with ``weights_only=True``; anything else is one error."""
    import pickle

    try:
        packed = torch.load(weights, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:  # torch's refusal of anything but weights
        raise SeqkdError(f"{weights} holds more than weights and settings ({str(e)[:80]}); it "
                         "was not written by seqkd pack and is not loaded") from None
    except Exception as e:  # noqa: BLE001 (cut short or damaged: one error)
        raise SeqkdError(f"{weights} cannot be read ({type(e).__name__}); it was cut short or "
                         "damaged on its way: copy it again from where seqkd pack wrote "
                         "it") from None
    try:
        if not isinstance(packed, dict) or set(packed) != {"model", "settings", "name"}:
            raise ValueError("not its keys")
        state = {k: _from_json(v) for k, v in json.loads(packed["settings"]).items()}
        state["model"] = {k: v.float() if v.is_floating_point() else v
                          for k, v in packed["model"].items()}
        return Path(packed["name"]).name, state
    except (ValueError, TypeError, AttributeError):
        raise SeqkdError(f"{weights} was not written by seqkd pack") from None
