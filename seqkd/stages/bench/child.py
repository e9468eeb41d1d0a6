"""The measuring child: ``python -m seqkd.stages.bench.child`` reads a job (JSON) on stdin and writes
what it measured (JSON) on stdout. A module of its own, which the package never imports, so
that running it does not import it twice."""

import json
import logging
import sys
from dataclasses import asdict

from seqkd.stages.bench.measure import Job, run_job
from seqkd.errors import SeqkdError


def main() -> None:
    job = Job.from_json(sys.stdin.read())
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if job.quiet:  # -q: library warnings stay off the terminal
        import warnings
        warnings.simplefilter("ignore")
    try:
        print(json.dumps(asdict(run_job(job))))
    except SeqkdError as e:
        print(f"seqkd bench worker: error: {e}", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
