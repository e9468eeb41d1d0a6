"""The ``seqkd`` command line: the stages' sub-commands (each room's, from
:mod:`seqkd.stages.registry`), then the tools around them; each a thin wrapper."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from typing import Callable, List, Optional

from seqkd.version import __version__
from seqkd.options import config_from, parse_key_value
from seqkd.cli.serving import build_serve, build_serve_bench
from seqkd.cli.tools import build_kd_gain, build_run, build_scale_bench, build_translate
from seqkd.cli.travel import build_pack, build_unpack
from seqkd.errors import SeqkdError, machine_error_message
from seqkd.stages import registry

__all__ = ["build_parser", "config_from", "main", "parse_key_value", "setup_logging"]

logger = logging.getLogger(__name__)


#: the sub-commands around the stages
TOOLS: List[Callable] = [build_translate, build_run, build_kd_gain, build_scale_bench,
                         build_serve, build_serve_bench, build_pack, build_unpack]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seqkd", description="Sequence-level knowledge distillation for NMT: a "
        "small, fast student from a big teacher, stage by stage (the commands below) or the "
        "whole chain from one config (seqkd run CONFIG).")
    parser.add_argument("--version", action="version", version=f"seqkd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for build in registry.commands() + TOOLS:
        build(sub)
    return parser


def setup_logging(quiet: bool = False) -> None:
    if quiet:  # -q: warnings and errors only, no progress bars, no report on stderr
        os.environ["TQDM_DISABLE"] = "1"
    else:
        os.environ.pop("TQDM_DISABLE", None)
    # the root logger passes INFO on, so every stage's log.txt is complete; -q only quiets
    # the terminal
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING if quiet else logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s",
                                           datefmt="%H:%M:%S"))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_seqkd_terminal", False)]:
        root.removeHandler(old)
    handler._seqkd_terminal = True
    if quiet:  # library warnings (torch's deprecations) go to log.txt, not the terminal
        handler.addFilter(lambda record: record.name != "py.warnings")
    logging.captureWarnings(False)  # (re)installed: another caller may have replaced it
    logging.captureWarnings(True)
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def _stdout_gone() -> bool:
    """Whether standard output is a pipe whose reader has closed it."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & select.POLLERR for _, ev in poller.poll(0))
    except (OSError, ValueError):
        return False


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "quiet", False))
    logger.debug("seqkd %s: %s", __version__, shlex.join(sys.argv))
    try:
        return args.func(args)
    except SeqkdError as e:
        print(f"seqkd {args.command}: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        if not _stdout_gone():  # a pipe to a child process, not ours: an error
            print(f"seqkd {args.command}: error: a process it started went away before it "
                  "was done (its error, if any, is above)", file=sys.stderr)
            return 1
        # the reader went away (`| head`): stop quietly, as other Unix filters do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:
        message = machine_error_message(e)
        if message is None:
            raise
        print(f"seqkd {args.command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        what = getattr(args, "interrupted", "finished outputs are kept and a re-run resumes")
        print(f"seqkd {args.command}: interrupted; {what}", file=sys.stderr)
        return 130
