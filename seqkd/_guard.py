"""A guard between seqkd and a program it runs through the shell (a teacher command), so that
nothing the program starts outlives seqkd.

    python -m seqkd._guard COMMAND

The guard leads a process group of its own (seqkd starts it with ``start_new_session``), and
the kernel sends it SIGTERM when seqkd dies, however seqkd dies (``PR_SET_PDEATHSIG``, set by
seqkd between fork and exec). It runs ``/bin/sh -c COMMAND`` in its group with the same
standard input and output, and on SIGTERM, SIGINT or SIGHUP kills the whole group (the shell
and everything it started), itself last. seqkd itself kills the group on a timeout or an
interrupt. Kept free of seqkd's imports: it starts once per chunk.
"""

import os
import signal
import subprocess
import sys


def _kill_group(signum, frame):  # noqa: ARG001 (a signal handler's signature)
    os.killpg(0, signal.SIGKILL)


def main() -> int:
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _kill_group)
    if os.getppid() == 1:  # seqkd died before the handlers were in place
        _kill_group(None, None)
    child = subprocess.Popen(["/bin/sh", "-c", sys.argv[1]])
    return child.wait()


if __name__ == "__main__":
    sys.exit(main())
