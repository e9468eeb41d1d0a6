#!/usr/bin/env bash
# Stage 5: export the student to CTranslate2 int8. Usage: WORK=runs/x pipelines/05-export.sh [options]
set -euo pipefail
seqkd export "${WORK:?set WORK}/student" --data "$WORK/data" --out "$WORK/export" "$@"
