"""Child processes that die with their parent, and folder locks that name their holder.

``kill -9`` of seqkd must not leave fairseq writing checkpoints on its own: every child is
started with ``PR_SET_PDEATHSIG`` (Linux), so the kernel kills it when seqkd dies, however
seqkd dies. A folder that only one process may write to (a checkpoint folder) is guarded by
an ``flock`` on a lock file holding the writer's pid; the kernel drops the lock when the
writer dies, so a stale lock file never blocks a rerun.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import signal
import sys
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

from seqkd.errors import SeqkdError

_PR_SET_PDEATHSIG = 1


def python_module(module: str, *args: str) -> list:
    """The command line that runs ``python -m MODULE ARGS`` with this interpreter. ``-P``:
    the folder it runs in is not put first on sys.path, so that a checkout of another seqkd
    there (a `seqkd/` folder in the working directory) cannot stand in for this one."""
    return [sys.executable, "-P", "-m", module, *args]


def _die_with_parent(sig: int = signal.SIGKILL) -> None:  # in the child, before exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def die_with_parent() -> None:
    """Tie this process's life to its parent's (a worker process calls it first)."""
    if sys.platform.startswith("linux"):
        _die_with_parent()


def child_preexec(signal_name: str = "SIGKILL") -> Optional[Callable[[], None]]:
    """A ``preexec_fn`` for subprocess.Popen that ties the child's life to this process: the
    kernel sends it ``signal_name`` when this process dies (SIGTERM for a child that kills
    what it started first, as :mod:`seqkd._guard`)."""
    sig = getattr(signal, signal_name)
    return (lambda: _die_with_parent(sig)) if sys.platform.startswith("linux") else None


def kill_group(proc) -> None:
    """Kill the process group a child leads (started with ``start_new_session``), then reap
    the child; nothing when the group is gone already."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


LOCK_FILE = ".seqkd.lock"
#: lock files this process holds (a nested lock of the same folder is the same lock: flock
#: would refuse a second descriptor of one process as if it were another process)
_HELD: Dict[str, int] = {}


@contextlib.contextmanager
def folder_lock(folder: Path, what: str, shared: bool = False) -> Iterator[None]:
    """Hold ``folder/.seqkd.lock`` while the block runs; fail at once, naming the holder's
    pid, when another live process holds it (``shared`` locks only exclude exclusive ones).
    Nested calls for one folder in one process share the outer lock."""
    path = folder / LOCK_FILE
    key = os.path.realpath(path)
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise SeqkdError(f"{what}: cannot write to {folder} ({e.strerror}); give a folder "
                         "you may write to") from None
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise SeqkdError(f"{what}: another seqkd process (pid {holder}) is writing to "
                             f"{folder}; wait for it to finish or stop it, then run again"
                             ) from None
        if not shared:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _HELD[key] = 1
        try:
            yield
        finally:
            del _HELD[key]
    finally:
        os.close(fd)  # releases the lock


def lock_holders(folder: Path) -> List[int]:
    """The pids of the processes that hold ``folder``'s lock now (exclusive or shared), read
    from Linux's ``/proc/locks`` without touching the lock: a look never makes a starting
    stage fail. Empty when nobody holds it, or where ``/proc/locks`` cannot be read."""
    try:
        st = os.stat(folder / LOCK_FILE)
        table = Path("/proc/locks").read_text()
    except OSError:
        return []
    # "1: FLOCK  ADVISORY  WRITE 27736 fe:00:5693610 0 EOF": major:minor in hex, then inode
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    pids = []
    for line in table.splitlines():
        fields = line.split()  # a waiter's line has "->" where a holder's has FLOCK
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == device:
            pids.append(int(fields[4]))
    return sorted(set(pids))


@contextlib.contextmanager
def waiting_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path``, waiting for it (for short critical sections that
    concurrent workers share, such as converting a teacher once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# ---------------------------------------------------------------- measured child processes


def status_kb(pid: int | str, key: str) -> int:
    """A field of /proc/PID/status in kB (``VmHWM:``, ``VmRSS:``), 0 when it cannot be read
    (the process is gone, or this is not Linux)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children() -> Dict[int, list]:
    out: Dict[int, list] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            out.setdefault(ppid, []).append(int(d))
    return out


def run_measured(argv: list, log: Path, stdin: Optional[Path] = None,
                 stdout: Optional[Path] = None, poll_s: float = 0.3,
                 preexec: Optional[Callable[[], None]] = None, tree: bool = False):
    """Run ``argv`` whole (files for its input and output, its standard error into ``log``,
    so that a chatty child never blocks on a full pipe); return (exit status, wall seconds,
    its peak RSS in bytes (VmHWM), and with ``tree`` the peak summed RSS of it and its
    descendants), memory read from /proc every ``poll_s`` while it runs."""
    import subprocess
    import time

    with contextlib.ExitStack() as files:
        fin = files.enter_context(open(stdin, "rb")) if stdin else subprocess.DEVNULL
        fout = files.enter_context(open(stdout, "wb")) if stdout else subprocess.DEVNULL
        ferr = files.enter_context(open(log, "wb"))
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=fin, stdout=fout, stderr=ferr,
                                preexec_fn=preexec or child_preexec())
        main_kb = tree_kb = 0
        while proc.poll() is None:
            main_kb = max(main_kb, status_kb(proc.pid, "VmHWM:"))
            if tree:
                kids, todo, total = _children(), [proc.pid], 0
                while todo:
                    pid = todo.pop()
                    total += status_kb(pid, "VmRSS:")
                    todo += kids.get(pid, [])
                tree_kb = max(tree_kb, total)
            time.sleep(poll_s)
        wall = time.perf_counter() - t0
    return proc.returncode, wall, main_kb * 1024, max(tree_kb, main_kb) * 1024
