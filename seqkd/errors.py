"""The one error type of seqkd, and the machine's errors in the same words.

Library code raises :class:`SeqkdError` with a message that says what is wrong
and what to do about it; the command line prints the message and exits 1. An
``OSError`` of the machine rather than of seqkd (a full disk, a folder that cannot
be written) gets one such line too (:func:`machine_error_message`).
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Optional


class SeqkdError(Exception):
    """A problem the user can fix: bad input, a missing file, a conflicting run."""


class SettingsProblems(SeqkdError):
    """Several problems of one stage's settings found together: one line, joined by '; ',
    where one error is printed, and each its own line where a config's problems are listed."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


#: the folder of the stage this process began last (set by seqkd.stage): where a write
#: without a file name (a full disk inside a library) happened
LAST_FOLDER: list = []


def _folder_size(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


FULL = (errno.ENOSPC, errno.EDQUOT)


def stdout_full_message(written_lines: int) -> str:
    """A full disk under standard output (``seqkd translate > FILE``): the file is the
    user's own, so nothing can be kept aside; say which file and how far it got."""
    try:
        target = os.readlink("/proc/self/fd/1")
    except OSError:
        target = ""
    where = target if target.startswith("/") else "standard output"
    try:
        free = f"{shutil.disk_usage(Path(where).parent).free / 1e6:.1f} MB free there now"
    except OSError:
        free = "free space unknown"
    return (f"no space left on the device while writing the translations to {where} "
            f"({free}); it holds the first {written_lines:,} lines at most, the rest is "
            "missing: free some space, or send the output to another disk, and run again")


def machine_error_message(e: OSError) -> Optional[str]:
    """One line for the errors of the machine rather than of seqkd (a full disk, a folder
    that cannot be written), or None for anything else."""
    if e.errno in FULL:
        # a copy names its source first and the file it was writing second (filename2); a
        # write inside a library has no file name: it was in the stage's folder
        name = e.filename2 or e.filename
        target = Path(name) if name else (LAST_FOLDER[0] if LAST_FOLDER else None)
        if target is None:
            where, folder = "an output file", Path.cwd()
        elif target.is_dir():
            where, folder = f"into {target}", target
        else:
            where, folder = str(target), target.parent
        stage = LAST_FOLDER[0] if LAST_FOLDER else folder
        probe = folder
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        try:
            free = f"{shutil.disk_usage(probe).free / 1e6:.1f} MB free there now"
        except OSError:
            free = "free space unknown"
        written = (f"; {stage} holds {_folder_size(stage) / 1e6:.1f} MB and needs more than "
                   "that" if stage.is_dir() else "")
        return (f"no space left on the device while writing {where} ({free}{written}); "
                "unfinished outputs are under temporary names and were not kept: free some "
                "space, or choose a folder on another disk, and run again")
    if e.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
        return f"cannot write {e.filename or 'an output file'} ({e.strerror}); give a folder you may write to"
    return None
