"""Helpers around fairseq: running its tools, the plugin folder, a binarized folder's split
names (its dictionaries: :mod:`seqkd.dictionaries`)."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from seqkd.errors import SeqkdError
from seqkd.procs import child_preexec, python_module

logger = logging.getLogger(__name__)

#: the fairseq plugin (criterion and architectures), loaded only with --user-dir
PLUGIN_DIR = Path(__file__).resolve().parent / "_plugins" / "seqkd_fairseq_plugin"


def plugin_dir() -> Path:
    """The plugin folder, checked: a broken installation is one error, not fairseq's
    import traceback in a child process."""
    if not (PLUGIN_DIR / "__init__.py").is_file():
        raise SeqkdError(f"seqkd's fairseq plugin is missing ({PLUGIN_DIR / '__init__.py'} not "
                         "found): the installation is incomplete; reinstall seqkd "
                         "(bash scripts/install.sh, or pip install -e .)")
    return PLUGIN_DIR


#: replaces ``python -m seqkd.fairseq_entry`` (a command line, split like a shell would): the
#: seam where tests put a fake fairseq that records its arguments
ENTRY_ENV = "SEQKD_FAIRSEQ_ENTRY"


def fairseq_entry() -> List[str]:
    """The command that runs a fairseq tool: the one place it is decided."""
    override = os.environ.get(ENTRY_ENV)
    return shlex.split(override) if override else python_module("seqkd.fairseq_entry")


def _tool_command(tool: str, args: Sequence[str], trust: Sequence[str | os.PathLike]) -> List[str]:
    cmd = fairseq_entry() + [tool]
    for t in trust:
        cmd += ["--trust", os.fspath(t)]
    return cmd + ["--"] + [os.fspath(a) for a in args]


def free_port() -> int:
    """A TCP port on this machine that nothing listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_log(log_path: Path, rank: int) -> Path:
    """Where rank ``rank`` (> 0) of a multi-process run writes its output."""
    return log_path.with_name(f"{log_path.stem}.rank{rank}{log_path.suffix}")


def run_tool(tool: str, args: Sequence[str], trust: Sequence[str | os.PathLike] = (),
             log_path: Path | None = None, nproc: int = 1,
             on_line: Optional[Callable[[str], None]] = None) -> None:
    """Run ``fairseq-<tool> args`` in a child process, trusting ``trust`` checkpoints.

    With ``nproc`` > 1, runs that many processes of one torch.distributed job on this machine
    (ranks 0..nproc-1, TCP rendezvous on a free local port; ``args`` carry the world size and
    backend). Rank 0 logs to ``log_path``, rank R to :func:`rank_log`; when any rank fails the
    others are stopped, so no rank waits forever for a peer that is gone. ``on_line`` sees each
    line rank 0 prints (a progress bar reads them)."""
    if nproc == 1:
        return _run_ranks(tool, [_tool_command(tool, args, trust)], log_path, on_line)
    init = f"tcp://127.0.0.1:{free_port()}"
    return _run_ranks(tool, [_tool_command(tool, [*args, "--distributed-rank", str(r),
                                                  "--distributed-init-method", init], trust)
                             for r in range(nproc)], log_path, on_line)


def _start_peers(cmds: List[List[str]], log_path: Path | None, env: Dict[str, str],
                 peers: List[subprocess.Popen]) -> None:
    """Start ranks 1.. of a distributed job into ``peers`` (each one as soon as it runs, so
    that the caller can stop those started if a later one fails), each logging to its own
    file."""
    for rank, peer_cmd in enumerate(cmds, start=1):
        out = (open(rank_log(log_path, rank), "a", encoding="utf-8") if log_path
               else subprocess.DEVNULL)
        peers.append(subprocess.Popen(peer_cmd, stdout=out, stderr=subprocess.STDOUT,
                                      text=True, env=env, preexec_fn=child_preexec()))
        if log_path:
            out.close()


def _watch_peers(proc: subprocess.Popen, peers: List[subprocess.Popen],
                 failed: List[int]):
    """A thread that ends the job when a peer rank fails (its peers would wait forever) and
    records the rank in ``failed``; set the returned event to stop it."""
    import threading

    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.5):
            for rank, p in enumerate(peers, start=1):
                if p.poll() not in (None, 0) and rank not in failed:
                    failed.append(rank)
                    for q in [proc, *peers]:
                        if q.poll() is None:
                            q.terminate()

    if peers:
        threading.Thread(target=watch, daemon=True).start()
    return stop


#: fairseq failures whose traceback hides what to do (the last lines of a diverged training
#: are a StopIteration inside fairseq's NaN detector): a line fairseq prints, what to say
KNOWN_FAILURES = {
    "FloatingPointError: gradients are Nan/Inf":
        "the training diverged: its gradients became NaN or infinite; lower the learning rate "
        "(--lr, config key lr) or warm up longer (--warmup-updates), then run it again",
    "FloatingPointError: Minimum loss scale reached":
        "the fp16 training diverged (fairseq's loss scale reached its minimum); train in "
        "float32 (leave out --fp16) or lower the learning rate (--lr), then run it again",
}


def _follow(proc: subprocess.Popen, tool: str, log,
            on_line) -> Tuple[List[str], Optional[str]]:
    """Copy rank 0's output into the log (and to ``on_line``) as it comes; its last 30
    lines, and the first known failure it printed (a key of :data:`KNOWN_FAILURES`)."""
    tail: List[str] = []
    known: Optional[str] = None
    assert proc.stdout is not None
    for line in proc.stdout:
        if log:
            log.write(line)
            log.flush()
        if known is None:
            known = next((m for m in KNOWN_FAILURES if m in line), None)
        tail = (tail + [line.rstrip()])[-30:]
        if on_line:
            on_line(line)
        if " | " in line or "ERROR" in line or "Error" in line:
            logger.info("fairseq-%s: %s", tool, line.rstrip())
    return tail, known


def _raise_failure(tool: str, rcs: List[int], failed: List[int], tail: List[str],
                   log_path: Path | None, known: Optional[str] = None) -> None:
    if any("No space left on device" in line for line in tail):
        # the child's disk filled: the same one line as a full disk in this process
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC),
                      str(log_path.parent) if log_path else None)
    bad = failed[0] if failed else next(r for r, c in enumerate(rcs) if c)
    where = f"\nfull log: {rank_log(log_path, bad) if bad else log_path}" if log_path else ""
    if known and not bad:
        raise SeqkdError(f"fairseq-{tool} failed (exit {rcs[bad]}): {KNOWN_FAILURES[known]}"
                         + where)
    raise SeqkdError(
        f"fairseq-{tool} failed (exit {rcs[bad]}"
        + (f", rank {bad} of {len(rcs)}" if len(rcs) > 1 else "")
        + ")" + ("; last lines:\n" + "\n".join(tail) if not bad else "") + where)


def _run_ranks(tool: str, cmds: List[List[str]], log_path: Path | None,
               on_line: Optional[Callable[[str], None]] = None) -> None:
    logger.info("running: %s", shlex.join(cmds[0]))
    with _torch_cache(dict(os.environ, PYTHONUNBUFFERED="1")) as env:
        _run_children(tool, cmds, env, log_path, on_line)


@contextlib.contextmanager
def _torch_cache(env: Dict[str, str]):
    """``env`` with torch's compile cache (which an optimizer step makes, empty, as
    $TMPDIR/torchinductor_USER) in a temporary folder removed afterwards, unless the user
    set TORCHINDUCTOR_CACHE_DIR."""
    if env.get("TORCHINDUCTOR_CACHE_DIR"):
        yield env
        return
    with tempfile.TemporaryDirectory(prefix="seqkd-torch-") as tmp:
        yield dict(env, TORCHINDUCTOR_CACHE_DIR=tmp)


def _run_children(tool: str, cmds: List[List[str]], env: Dict[str, str],
                  log_path: Path | None, on_line: Optional[Callable[[str], None]]) -> None:
    log = open(log_path, "a", encoding="utf-8") if log_path else None
    peers: List[subprocess.Popen] = []
    failed: List[int] = []
    try:
        _start_peers(cmds[1:], log_path, env, peers)
        proc = subprocess.Popen(cmds[0], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=env, preexec_fn=child_preexec())
        stop = _watch_peers(proc, peers, failed)
        tail, known = _follow(proc, tool, log, on_line)
        rc = proc.wait()
        for p in peers:
            if rc != 0 and p.poll() is None:
                p.terminate()
            p.wait()
        stop.set()
        rcs = [rc] + [p.returncode for p in peers]
    finally:
        for p in peers:
            if p.poll() is None:
                p.kill()
                p.wait()
        if log:
            log.close()
    if failed or any(rcs):
        _raise_failure(tool, rcs, failed, tail, log_path, known)


def split_prefixes(bin_dir: Path) -> Dict[str, str]:
    """Map of split name (train, valid, test set names) to fairseq's split prefix."""
    f = Path(bin_dir) / "splits.json"
    if not f.is_file():
        raise SeqkdError(f"{bin_dir} has no splits.json: is it the bin/ folder of `seqkd prepare`?")
    return json.loads(f.read_text())
