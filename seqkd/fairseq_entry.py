"""Run a fairseq command-line tool with seqkd's scoped checkpoint trust.

``python -m seqkd.fairseq_entry TOOL [--trust PATH ...] -- ARGS`` runs
``fairseq-TOOL ARGS`` in this process, with full unpickling allowed only for
checkpoints under the ``--trust`` paths (the run's own save folder, teacher
checkpoints the user named). seqkd starts fairseq this way so that a crash or
an exit() inside fairseq cannot take the calling process with it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from seqkd.trust import trusted_checkpoints

TOOLS = {
    "preprocess": "fairseq_cli.preprocess",
    "train": "fairseq_cli.train",
    "generate": "fairseq_cli.generate",
    # seqkd's own fairseq glue: the teacher's top-k distributions for word-level KD
    "topk": "seqkd.stages.topk_cache.worker",
}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" in argv:
        split = argv.index("--")
        ours, theirs = argv[:split], argv[split + 1:]
    else:
        ours, theirs = argv, []
    parser = argparse.ArgumentParser(prog="python -m seqkd.fairseq_entry")
    parser.add_argument("tool", choices=sorted(TOOLS))
    parser.add_argument("--trust", action="append", default=[])
    args = parser.parse_args(ours)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    module = importlib.import_module(TOOLS[args.tool])
    sys.argv = [f"fairseq-{args.tool}"] + theirs
    with trusted_checkpoints(args.trust):
        module.cli_main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
