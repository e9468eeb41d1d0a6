#!/usr/bin/env bash
# Distill Multi30k en-de with the shared teacher: the full training set with CTranslate2 (int8),
# and a 2,000-sentence slice with both decoders, in one run, so their speeds can be compared.
# Usage: scripts/compare_distill_decoders.sh TEACHER_DIR WORK [THREADS]
set -euo pipefail
teacher=${1:?teacher folder (checkpoint.pt, spm.model, dict.txt)}
work=${2:?work folder}
threads=${3:-2}
seqkd prepare --out "$work/data" --spm-model "$teacher/spm.model" --dict "$teacher/dict.txt"
seqkd prepare --out "$work/data-2k" --max-train-pairs 2000 --spm-model "$teacher/spm.model" --dict "$teacher/dict.txt"
seqkd distill --data "$work/data" --out "$work/distill-seqkd" --teacher "$teacher/checkpoint.pt" \
  --decoder ctranslate2 --compute-type int8 --beam 5 --threads "$threads"
for dec in fairseq ctranslate2; do
  seqkd distill --data "$work/data-2k" --out "$work/distill-2k-$dec" --teacher "$teacher/checkpoint.pt" \
    --decoder "$dec" --compute-type float32 --beam 5 --threads "$threads"
done
