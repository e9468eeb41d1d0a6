#!/usr/bin/env bash
# Stage 1: fetch, clean, SentencePiece and binarize. Usage: WORK=runs/x pipelines/01-prepare.sh [seqkd prepare options]
set -euo pipefail
seqkd prepare --out "${WORK:?set WORK to the work folder}/data" "$@"
