#!/usr/bin/env bash
# Stage 3: sequence-level KD. Usage: WORK=runs/x pipelines/03-distill.sh --teacher CKPT [options]
set -euo pipefail
seqkd distill --data "${WORK:?set WORK}/data" --out "$WORK/distill" "$@"
