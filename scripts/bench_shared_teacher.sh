#!/usr/bin/env bash
# Export the shared Multi30k teacher to CTranslate2 float32 and int8 (with the fidelity check),
# then bench it under fairseq and in both CTranslate2 forms, in one run.
# Usage: scripts/bench_shared_teacher.sh TEACHER_DIR WORK   (WORK/data from compare_distill_decoders.sh
# or `seqkd prepare --out WORK/data --spm-model TEACHER/spm.model --dict TEACHER/dict.txt`)
set -euo pipefail
teacher=${1:?teacher folder}
work=${2:?work folder}
for q in float32 int8; do
  seqkd export "$teacher/checkpoint.pt" --data "$work/data" --out "$work/teacher-ct2-$q" \
    --quantization "$q" --fidelity-test test_2016_flickr --beam 5 --threads 2
done
seqkd bench --data "$work/data" --out "$work/bench-teacher" --test-sets test_2016_flickr \
  --system "teacher-fairseq=fairseq:$teacher/checkpoint.pt" \
  --system "teacher-ct2-float32=ct2:$work/teacher-ct2-float32/model" \
  --system "teacher-ct2-int8=ct2:$work/teacher-ct2-int8/model" \
  --beam 5 --threads 1 --repeats 3
