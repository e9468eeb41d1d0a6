#!/usr/bin/env bash
# Stage 4: train a student on the distilled data. Usage: WORK=runs/x pipelines/04-train-student.sh [--kd-teacher CKPT] [options]
set -euo pipefail
seqkd train --role student --data "${WORK:?set WORK}/distill" --out "$WORK/student" "$@"
