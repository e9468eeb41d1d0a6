"""What every stage shares: resolved configs, done-stamps, versions and logs (the machine's
side in :mod:`seqkd.machine`).

A stage writes ``config.yaml`` (its resolved settings) next to its outputs when
it starts and ``DONE.json`` (settings hash, versions, summary) when it has
finished. A re-run with the same settings does nothing; a re-run with other
settings over a finished stage is refused unless ``force`` is given.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Set

import yaml

from seqkd.version import __version__
from seqkd.errors import LAST_FOLDER, SeqkdError
from seqkd import lineage
from seqkd.lineage import DONE_FILE
from seqkd.machine import versions
from seqkd.recorded import config_hash, defaults_of, input_digests, read_done, to_dict
from seqkd.procs import LOCK_FILE, folder_lock
from seqkd.textio import write_text

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
#: the damaged config.yaml files this process has warned about (one warning each)
_SAID_DAMAGED: Set[Path] = set()


class Stage:
    """Book-keeping for one stage run into ``out_dir``.

    ``settings`` are the values that decide the outputs; the keys a config class
    lists in ``VOLATILE`` (like thread counts) are recorded but do not make a
    finished stage stale.
    """

    def __init__(self, name: str, out_dir: Path, config: Any, force: bool = False,
                 resumable: bool = False, shared: bool = False):
        self.name = name
        self.out_dir = Path(out_dir)
        self.config = to_dict(config) if dataclasses.is_dataclass(config) else dict(config)
        self.volatile = tuple(getattr(config, "VOLATILE", ()))
        digests = input_digests(config)
        if digests:  # recorded in config.yaml too: what was really read
            self.config["input_files"] = digests
        # the code is part of the key: another seqkd version makes a finished stage stale
        self.config["seqkd_version"] = __version__
        self.settings = {k: v for k, v in self.config.items() if k not in self.volatile}
        #: the stamps of folders it reads only the lineage part of (:mod:`seqkd.lineage`)
        self.lineage_inputs = lineage.lineage_inputs(config)
        self._settings_of = config
        self.hash = config_hash(self.settings)
        #: settings at their defaults: a run recorded before such a setting existed matches
        self.defaults = defaults_of(config) if dataclasses.is_dataclass(config) else {}
        self.force = force
        self.resumable = resumable
        #: True when an unfinished run with the same settings is being continued
        self.resuming = False
        self._log_handler: Optional[logging.Handler] = None
        self._t0 = time.time()
        #: held from begin() to close(): no other seqkd process writes here or clears the
        #: folder meanwhile (``shared``: processes of one stage, such as distill shards, may
        #: work here together)
        self.shared = shared
        self._lock = contextlib.ExitStack()

    @property
    def done_path(self) -> Path:
        return self.out_dir / DONE_FILE

    def finished(self) -> Optional[Dict[str, Any]]:
        """The record of this folder's finished run, None when there is none (one that cannot
        be read: an error, :func:`seqkd.recorded.read_done`)."""
        if not self.done_path.is_file():
            return None
        record = read_done(self.done_path, self.name)
        record.setdefault("summary", {})
        return record

    def same_settings(self, recorded: Dict[str, Any]) -> bool:
        """Whether a run recorded with ``recorded`` settings is this one: every setting
        equal, where a setting the record lacks (added to seqkd after that run) counts as
        equal when it is at its default. The seqkd version is one of the settings."""
        recorded = {k: v for k, v in recorded.items() if k not in self.volatile}
        recorded, _ = lineage.through_lineage(recorded, self.settings, self.lineage_inputs)
        if config_hash(recorded) == self.hash:
            return True
        return all(recorded[k] == v if k in recorded else
                   (k in self.defaults and self.defaults[k] == v)
                   for k, v in self.settings.items())

    def _done_matches(self, done: Dict[str, Any]) -> bool:
        return done.get("config_hash") == self.hash or (
            isinstance(done.get("settings"), dict) and self.same_settings(done["settings"]))

    def is_current(self) -> bool:
        done = self.finished()
        return done is not None and self._done_matches(done)

    def holds_current_work(self) -> Optional[Dict[str, Any]]:
        """The settings recorded by a run here that is finished and current, or unfinished
        with these settings (it resumes); None otherwise."""
        done = self.finished()
        if done is not None:
            current = isinstance(done.get("settings"), dict) and self._done_matches(done)
            return done["settings"] if current else None
        started = self.started()
        return started if started is not None and self.same_settings(started) else None

    def kept_through(self) -> List[Path]:
        """The folders read whose stage ran again and left what this stage read of them as
        it was (:mod:`seqkd.lineage`), for a run here that is finished and current or that
        resumes: their rerun does not make it start over."""
        recorded = self.holds_current_work()
        if recorded is None:
            return []
        _, kept = lineage.through_lineage(recorded, self.settings, self.lineage_inputs)
        return [Path(p).parent.resolve() for p in kept]

    def started(self) -> Optional[Dict[str, Any]]:
        """The settings of the run that wrote config.yaml (finished or not), or None. One
        that cannot be read (damaged after seqkd wrote it whole) gives no settings, so the
        run there counts as one with other settings: it is started over, never resumed."""
        started = self.out_dir / CONFIG_FILE
        if not started.is_file():
            return None
        try:
            previous = yaml.safe_load(started.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, ValueError) as e:
            if started in _SAID_DAMAGED:  # --status's verdict and begin() both ask
                return {}
            _SAID_DAMAGED.add(started)
            logger.warning("%s is damaged (%s): the run in %s started with settings seqkd "
                           "cannot read, so it is not resumed", started, type(e).__name__,
                           self.out_dir)
            return {}
        return previous if isinstance(previous, dict) else {}

    def changed(self, recorded: Dict[str, Any]) -> List[str]:
        """The settings in which a run recorded with ``recorded`` differs from this one (a
        setting the record lacks and this one has at its default is not a change)."""
        return sorted(k for k in set(self.settings) | set(recorded)
                      if k not in self.volatile and self.settings.get(k) != recorded.get(k)
                      and not (k not in recorded and self.defaults.get(k, object()) ==
                               self.settings.get(k)))

    def unfinished_with_other_settings(self) -> bool:
        """True when the folder holds a started, unfinished run whose settings differ."""
        if self.finished() is not None:
            return False
        started = self.started()
        return started is not None and not self.same_settings(started)

    def begin(self) -> bool:
        """Return False when the stage is already finished with these settings.

        Raises when it finished with other settings and ``force`` is off.
        Otherwise clears the done-stamp, writes the resolved config and starts
        logging into ``out_dir/log.txt``. The folder's lock is held until :meth:`close`.
        """
        self._lock.enter_context(folder_lock(self.out_dir, self.name, shared=self.shared))
        LAST_FOLDER[:] = [self.out_dir]
        try:
            return self._begin()
        except BaseException:
            self._lock.close()
            raise

    def _begin(self) -> bool:
        if not made_by_seqkd(self.out_dir):  # the user's own files are never overwritten
            mine = sorted(p.name for p in self.out_dir.iterdir() if p.name != LOCK_FILE)
            shown = ", ".join(mine[:5]) + (f" and {len(mine) - 5} more" if len(mine) > 5 else "")
            raise SeqkdError(f"{self.name}: {self.out_dir} already holds files seqkd did not "
                             f"write ({shown}; no {CONFIG_FILE}): give a new or empty output "
                             "folder, or move them away")
        done = self.finished()
        if done is not None and not self.force:
            if self._done_matches(done):
                logger.info("%s: already finished in %s with these settings; nothing to do "
                            "(use --force to run it again)", self.name, self.out_dir)
                self._lock.close()
                return False
            changed = self.changed(done.get("settings") or {})
            raise SeqkdError(
                f"{self.name}: {self.out_dir} holds a finished run with other settings "
                f"(changed: {', '.join(changed) or 'unknown'}); use --force to overwrite it, "
                "or choose another output folder"
            )
        started = self.started() if done is None and self.resumable else None
        if started is not None:
            if self.same_settings(started):
                self.resuming = True
            elif not self.force:
                raise SeqkdError(
                    f"{self.name}: {self.out_dir} holds an unfinished run with other settings; "
                    "resume it with the same settings, or use --force to start over")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if done is not None:
            previous = lineage.previous_run(self.out_dir, self._settings_of)
            self.done_path.unlink()
            lineage.keep(self.out_dir, previous)
        write_text(self.out_dir / CONFIG_FILE, yaml.safe_dump(self.config, sort_keys=False))
        self._log_handler = logging.FileHandler(self.out_dir / "log.txt", encoding="utf-8")
        self._log_handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(self._log_handler)
        logger.info("%s: starting in %s", self.name, self.out_dir)
        logger.info("command: %s", shlex.join(sys.argv))
        logger.info("versions: %s", json.dumps(versions(), sort_keys=True))
        return True

    def finish(self, summary: Optional[Dict[str, Any]] = None) -> None:
        record = {
            "stage": self.name,
            "config_hash": self.hash,
            "settings": self.settings,
            "versions": versions(),
            "command": shlex.join(sys.argv),
            "seconds": round(time.time() - self._t0, 1),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "summary": summary or {},
            **lineage.stamp(self.out_dir, self._settings_of),
        }
        write_text(self.done_path, json.dumps(record, indent=2, sort_keys=True) + "\n")
        logger.info("%s: finished in %.1f s", self.name, record["seconds"])
        same = [part for part, was in (record.get("same_as") or {}).items() if was]
        if same:
            logger.info("%s: its %s are those of the run before, byte for byte: the stages "
                        "that read nothing else of it stay current", self.name,
                        " and ".join([", ".join(same[:-1]), same[-1]] if len(same) > 1
                                     else same))
        self.close()

    def close(self) -> None:
        if self._log_handler is not None:
            logging.getLogger().removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None
        self._lock.close()


def made_by_seqkd(path: Path) -> bool:
    """True when ``path`` is a stage folder seqkd started: it holds the stage's config.yaml
    or DONE.json, or nothing but seqkd's lock file and what its previous run left for the
    next (:data:`seqkd.lineage.PREVIOUS_FILE`)."""
    names = {p.name for p in path.iterdir()}
    # another process of the stage (a distill shard) may be writing config.yaml this moment
    # (atomic_path's temporary: .config.yaml.XXXX.tmp)
    writing = {n for n in names if n.startswith(f".{CONFIG_FILE}.") and n.endswith(".tmp")}
    kept = {LOCK_FILE, lineage.PREVIOUS_FILE}  # what clear_dir leaves or a run is told
    return bool({CONFIG_FILE, DONE_FILE} & names) or names <= kept | writing


def clear_dir(path: Path, why: str = "it runs again") -> None:
    """Empty a stage's folder so that its stage starts over. Only a folder seqkd made is
    touched, and only while no other seqkd process works in it (its lock is taken first);
    anything else is one error that names the folder."""
    if not os.path.lexists(path):
        return
    if path.is_symlink() or not path.is_dir():
        raise SeqkdError(f"{path} must be cleared ({why}) but it is a "
                         f"{'link' if path.is_symlink() else 'file'}, not a folder seqkd "
                         "made; move it away, or choose another work_dir")
    if not made_by_seqkd(path):
        raise SeqkdError(f"{path} must be cleared ({why}) but it holds files seqkd did not "
                         f"write (no {CONFIG_FILE}): move them away, or choose another "
                         "work_dir")
    with folder_lock(path, f"clearing {path}"):
        for child in path.iterdir():
            if child.name == LOCK_FILE:
                continue  # the lock stays: a process waiting on it must see the same file
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
