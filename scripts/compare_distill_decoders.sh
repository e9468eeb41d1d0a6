#!/usr/bin/env bash
# Distill Multi30k en-de with the shared teacher, in one run: the whole training set with
# CTranslate2 int8, then the first 2,000 training sentences with fairseq, CTranslate2 float32
# and CTranslate2 int8, so the decoders' speeds can be compared on the same input.
# Each distill prints its report (sentences/sec under "decode"). Re-running re-measures (--force).
# Usage: scripts/compare_distill_decoders.sh TEACHER_DIR WORK [THREADS]
set -euo pipefail
teacher=${1:?teacher folder (checkpoint.pt, spm.model, dict.txt)}
work=${2:?work folder}
threads=${3:-2}
common=(--teacher "$teacher/checkpoint.pt" --beam 5 --threads "$threads" --force)
seqkd prepare --out "$work/data" --spm-model "$teacher/spm.model" --dict "$teacher/dict.txt"
seqkd prepare --out "$work/data-2k" --max-train-pairs 2000 --spm-model "$teacher/spm.model" --dict "$teacher/dict.txt"
seqkd distill --data "$work/data" --out "$work/distill-seqkd" --decoder ctranslate2 --compute-type int8 "${common[@]}"
seqkd distill --data "$work/data-2k" --out "$work/distill-2k-fairseq" --decoder fairseq "${common[@]}"
for q in float32 int8; do
  seqkd distill --data "$work/data-2k" --out "$work/distill-2k-ct2-$q" --decoder ctranslate2 --compute-type "$q" "${common[@]}"
done
