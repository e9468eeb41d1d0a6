"""File digests, and what a rerun of a stage leaves as it was for the stages that read only
part of its folder.

A stage's stamp records the digest of each file it reads (``input_files``), for a stage
folder its ``DONE.json``; a rerun of that stage writes a new ``DONE.json``, so every reader
is stale. Some readers read only parts of the folder: a teacher reads a prepare folder's
training and validation data, never its test sets or the monolingual corpora under
``mono/``. So:

- a stage kind whose folder has such parts declares, on its settings, ``lineage_parts(
  out_dir)``: the files of each part (prepare: ``training``, ``tests``, ``mono:NAME``). Its
  ``DONE.json`` records each part's digest (``"lineage"``); for each part whose digest a
  rerun ends with is that of the run it replaced, the new stamp also lists the old
  ``DONE.json``'s digest, and what that one listed (``"same_as"``);
- a reader declares ``lineage_inputs()``: the folders of which it reads only some parts, and
  those parts. A recorded digest of such a folder's ``DONE.json`` that the current one lists
  as ``same_as`` for every part read is as good as the current one: what the reader read is
  there byte for byte.

Adding a monolingual corpus or a test set to a finished config thus prepares again, and keeps
the trained teacher, and the distillations of the other corpora with their students.
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


def _digests(out_dir: Path, parts: Dict[str, List[Path]]) -> Dict[str, str]:
    return {part: files_digest(files, out_dir) for part, files in parts.items()}


def previous_run(out_dir: Path, config: Any) -> Optional[Dict[str, Any]]:
    """Before a finished stage's folder is emptied or written over: its digests (None for a
    kind without ``lineage_parts``, or a folder with no finished run), for :func:`keep`."""
    lineage_parts = getattr(config, "lineage_parts", None)
    out_dir = Path(out_dir)
    record = _read_done(out_dir) if lineage_parts is not None else None
    if record is None:
        return None
    lineage = record.get("lineage")
    lineage = lineage if isinstance(lineage, dict) else {}
    parts = lineage_parts(out_dir)
    if set(parts) - set(lineage):  # a stamp from before lineages, or before some of its
        # parts were told apart: the folder is as that run left it, so they are digested now
        lineage = {**_digests(out_dir, {p: parts[p] for p in set(parts) - set(lineage)}),
                   **lineage}
    same_as = record.get("same_as") if isinstance(record.get("same_as"), dict) else {}
    return {"done": file_digest(out_dir / DONE_FILE), "lineage": lineage, "same_as": same_as}


def keep(out_dir: Path, previous: Optional[Dict[str, Any]]) -> None:
    """Once the folder is emptied (or its stamp removed) for the run replacing ``previous``
    (:func:`previous_run`): its digests written there, read back by :func:`stamp` in
    whichever process finishes that run, after a kill too."""
    from seqkd.textio import write_text

    if previous is not None:
        write_text(Path(out_dir) / PREVIOUS_FILE, json.dumps(previous) + "\n")


def _previous(out_dir: Path) -> Optional[Dict[str, Any]]:
    """What :func:`keep` wrote in ``out_dir`` (taken away: it is read once), or None."""
    kept = out_dir / PREVIOUS_FILE
    previous = None
    if kept.is_file():
        try:
            previous = json.loads(kept.read_text())
        except ValueError:
            previous = None
    kept.unlink(missing_ok=True)
    ok = (isinstance(previous, dict) and isinstance(previous.get("same_as"), dict)
          and isinstance(previous.get("lineage"), dict) and isinstance(previous.get("done"), str))
    return previous if ok else None


def stamp(out_dir: Path, config: Any) -> Dict[str, Any]:
    """What a finished run's ``DONE.json`` records of its lineage: each part's digest, and
    for each part the stamps it stands for (the run it replaced, when that part's digest is
    that one's, and what that one stood for)."""
    lineage_parts = getattr(config, "lineage_parts", None)
    previous = _previous(Path(out_dir))
    if lineage_parts is None:
        return {}
    lineage = _digests(Path(out_dir), lineage_parts(Path(out_dir)))
    same_as: Dict[str, List[str]] = {part: [] for part in lineage}
    for part, digest in lineage.items():
        if previous is not None and previous["lineage"].get(part) == digest:
            same_as[part] = [*previous["same_as"].get(part, []), previous["done"]]
    return {"lineage": lineage, "same_as": same_as}


def stands_for(done_path: str, recorded: str, parts: Iterable[str]) -> bool:
    """Whether the stage stamp at ``done_path`` lists ``recorded`` (a digest of an earlier
    stamp of its folder) as one that left each of ``parts`` as it was."""
    record = _read_done(Path(done_path).parent)
    same_as = record.get("same_as") if record else None
    return isinstance(same_as, dict) and all(
        isinstance(same_as.get(p), list) and recorded in same_as[p] for p in parts)


def lineage_inputs(config: Any) -> Dict[str, Tuple[str, ...]]:
    """The ``DONE.json`` paths (as ``input_files`` names them) of the folders ``config``
    reads only lineage parts of, with those parts."""
    folders = getattr(config, "lineage_inputs", None)
    return {str(Path(d) / DONE_FILE): tuple(parts) for d, parts in folders().items()} \
        if folders is not None else {}


def through_lineage(recorded: Dict[str, Any], current: Dict[str, Any],
                    inputs: Dict[str, Tuple[str, ...]]) -> Tuple[Dict[str, Any], List[str]]:
    """``recorded`` settings with each digest of an ``inputs`` stamp that the current stamp
    stands for (:func:`stands_for`, for the parts read) taken as the current one; and those
    stamps' paths."""
    files, now = recorded.get("input_files"), current.get("input_files")
    if not inputs or not isinstance(files, dict) or not isinstance(now, dict):
        return recorded, []
    kept = [p for p, parts in inputs.items() if files.get(p) is not None
            and now.get(p) is not None and files[p] != now[p]
            and stands_for(p, files[p], parts)]
    if not kept:
        return recorded, []
    return {**recorded, "input_files": {**files, **{p: now[p] for p in kept}}}, kept
