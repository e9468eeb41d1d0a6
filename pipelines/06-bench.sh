#!/usr/bin/env bash
# Stage 6: benchmark. Usage: WORK=runs/x pipelines/06-bench.sh --system NAME=KIND:PATH ... [options]
set -euo pipefail
seqkd bench --data "${WORK:?set WORK}/data" --out "$WORK/bench" "$@"
