#!/usr/bin/env bash
# Stage 2: train a teacher (skip it when you bring one). Usage: WORK=runs/x pipelines/02-train-teacher.sh [options]
set -euo pipefail
seqkd train --role teacher --data "${WORK:?set WORK}/data" --out "$WORK/teacher" "$@"
