"""File digests, and what a rerun of a stage leaves as it was for the stages that read only
part of its folder.

A stage's stamp records the digest of each file it reads (``input_files``), for a stage
folder its ``DONE.json``; a rerun of that stage writes a new ``DONE.json``, so every reader
is stale. Some readers read only part of the folder: a teacher reads a prepare folder's
training and validation data, never the monolingual corpora under ``mono/``. So:

- a stage kind whose folder has such a part declares, on its settings, ``lineage_files(
  out_dir)``: every file of the rest. Its ``DONE.json`` records their digest
  (``"lineage"``); when a rerun ends with the digest of the run it replaced, the new stamp
  also lists the old ``DONE.json``'s digest, and what that one listed (``"same_as"``);
- a reader declares ``lineage_inputs()``: the folders of which it reads only that part. A
  recorded digest of such a folder's ``DONE.json`` that the current one lists as
  ``same_as`` is as good as the current one: what the reader read is there byte for byte.

Adding a monolingual corpus to a finished config thus prepares again and distils the new
corpus, and keeps the trained teacher.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

DONE_FILE = "DONE.json"
#: the previous run's digests, kept in the folder of the run replacing it until that one
#: finishes (so a run killed and resumed still knows them); hidden, as the lock is
PREVIOUS_FILE = ".previous-run.json"

_DIGESTS: Dict[Tuple[str, int, int], str] = {}

#: the digest of a previous finished run, taken before its folder was emptied or overwritten
#: (resolved folder: {"done": its DONE.json's digest, "lineage": ..., "same_as": [...]})
_PREVIOUS: Dict[str, Dict[str, Any]] = {}


def file_digest(path: str | os.PathLike) -> str:
    """``size:sha256`` of a file (cached per path, size and modification time)."""
    from seqkd.textio import sha256_file

    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = f"{st.st_size}:{sha256_file(p)}"
    return _DIGESTS[key]


def files_digest(files: Iterable[Path], root: Path) -> str:
    """One digest of ``files`` (their paths under ``root`` and their contents)."""
    h = hashlib.sha256()
    for f in sorted(Path(f) for f in files):
        h.update(f"{f.relative_to(root).as_posix()}\0{file_digest(f)}\n".encode())
    return h.hexdigest()[:32]


def _read_done(out_dir: Path) -> Optional[Dict[str, Any]]:
    try:
        record = json.loads((out_dir / DONE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def remember(out_dir: Path, config: Any) -> None:
    """Before a finished stage's folder is emptied or written over: its digests, for the
    stamp of the run that replaces it (:func:`stamp`). Only for kinds with
    ``lineage_files``."""
    lineage_files = getattr(config, "lineage_files", None)
    out_dir = Path(out_dir)
    record = _read_done(out_dir) if lineage_files is not None else None
    if record is None:
        return
    lineage = record.get("lineage") or files_digest(lineage_files(out_dir), out_dir)
    same_as = record.get("same_as") if isinstance(record.get("same_as"), list) else []
    _PREVIOUS[str(out_dir.resolve())] = {"done": file_digest(out_dir / DONE_FILE),
                                         "lineage": lineage, "same_as": same_as}


def keep(out_dir: Path) -> None:
    """At the start of the run replacing a remembered one (:func:`remember`): its digests
    written into the folder, read back by :func:`stamp` in whichever process finishes."""
    from seqkd.textio import write_text

    previous = _PREVIOUS.get(str(Path(out_dir).resolve()))
    if previous is not None:
        write_text(Path(out_dir) / PREVIOUS_FILE, json.dumps(previous) + "\n")


def _previous(out_dir: Path) -> Optional[Dict[str, Any]]:
    previous = _PREVIOUS.pop(str(out_dir.resolve()), None)
    kept = out_dir / PREVIOUS_FILE
    if previous is None and kept.is_file():
        try:
            previous = json.loads(kept.read_text())
        except ValueError:
            previous = None
    kept.unlink(missing_ok=True)
    ok = (isinstance(previous, dict) and isinstance(previous.get("same_as"), list)
          and isinstance(previous.get("done"), str))
    return previous if ok else None


def stamp(out_dir: Path, config: Any) -> Dict[str, Any]:
    """What a finished run's ``DONE.json`` records of its lineage: its digest, and the
    stamps it stands for (the run it replaced, when the digest is that one's)."""
    lineage_files = getattr(config, "lineage_files", None)
    previous = _previous(Path(out_dir))
    if lineage_files is None:
        return {}
    lineage = files_digest(lineage_files(Path(out_dir)), Path(out_dir))
    same_as: List[str] = []
    if previous is not None and previous["lineage"] == lineage:
        same_as = [*previous["same_as"], previous["done"]]
    return {"lineage": lineage, "same_as": same_as}


def stands_for(done_path: str, recorded: str) -> bool:
    """Whether the stage stamp at ``done_path`` lists ``recorded`` (a digest of an earlier
    stamp of its folder) as one whose lineage files it left unchanged."""
    record = _read_done(Path(done_path).parent)
    same_as = record.get("same_as") if record else None
    return isinstance(same_as, list) and recorded in same_as


def lineage_inputs(config: Any) -> List[str]:
    """The ``DONE.json`` paths (as ``input_files`` names them) of the folders ``config``
    reads only the lineage part of."""
    folders = getattr(config, "lineage_inputs", None)
    return [str(Path(d) / DONE_FILE) for d in folders()] if folders is not None else []


def through_lineage(recorded: Dict[str, Any], current: Dict[str, Any],
                    inputs: List[str]) -> Tuple[Dict[str, Any], List[str]]:
    """``recorded`` settings with each digest of an ``inputs`` stamp that the current stamp
    stands for (:func:`stands_for`) taken as the current one; and those stamps' paths."""
    files, now = recorded.get("input_files"), current.get("input_files")
    if not inputs or not isinstance(files, dict) or not isinstance(now, dict):
        return recorded, []
    kept = [p for p in inputs if files.get(p) is not None and now.get(p) is not None
            and files[p] != now[p] and stands_for(p, files[p])]
    if not kept:
        return recorded, []
    return {**recorded, "input_files": {**files, **{p: now[p] for p in kept}}}, kept
