#!/usr/bin/env bash
# Student shapes on one distilled corpus and one budget, exported and benched in one run
# (docs/RESULTS.md, "Student shapes"). Needs the KD table's run (pipelines/multi30k-en-de.yaml):
#   scripts/shapes_front.sh KD_WORK OUT [STAGE]     STAGE: train, export, bench (default all),
#                                                    or headline (not in all; see the end)
# KD_WORK: that run's work folder (data/, distill-seqkd/, student-seqkd/); OUT: a new folder.
# Each shape trains 3 epochs on 1 thread (two at a time on 2 cores: run two copies with
# SHAPES set, e.g. SHAPES="e12d1 e3d1w384"), so that the budget is the same for all.
set -euo pipefail
kd=$1 out=$2 stage=${3:-all}
declare -A dims=([e3d1]="3 1 256 1024 4" [e6d1]="6 1 256 1024 4" [e6d2]="6 2 256 1024 4"
                 [e12d1]="12 1 256 1024 4" [e3d1w384]="3 1 384 1536 6")
shapes=${SHAPES:-e3d1 e6d1 e6d2 e12d1 e3d1w384}
if [[ $stage == all || $stage == train ]]; then
  for s in $shapes; do
    read -r enc dec dim ffn heads <<< "${dims[$s]}"
    seqkd train --role student --data "$kd/distill-seqkd" --out "$out/student-$s" \
      --preset enc6-dec1 --encoder-layers "$enc" --decoder-layers "$dec" --embed-dim "$dim" \
      --ffn-dim "$ffn" --heads "$heads" --max-epoch 3 --max-tokens 4096 --warmup-updates 150 \
      --dropout 0.1 --average-last 2 --threads 1 -q
  done
fi
if [[ $stage == all || $stage == export ]]; then
  for s in $shapes; do
    seqkd export "$out/student-$s" --data "$kd/data" --out "$out/export-$s" -q
  done
  # the table's 30-epoch seq-KD student: float32 (int8 is quantized from it when loaded)
  # with a vocabulary map from its distilled data
  seqkd export "$kd/student-seqkd" --data "$kd/data" --out "$out/export-kd30" \
    --quantization float32 --vmap --vmap-top-k 10 --vmap-data "$kd/distill-seqkd" -q
fi
if [[ $stage == all || $stage == bench ]]; then
  t=$kd/export-teacher/model k=$out/export-kd30/model
  args=(--system "teacher-b5=ct2:$t,beam=5,compute_type=int8")
  for s in $shapes; do args+=(--system "$s=ct2:$out/export-$s/model,beam=1"); done
  args+=(--system "kd30=ct2:$k,beam=1,compute_type=int8"
         --system "kd30-vmap=ct2:$k,beam=1,compute_type=int8,vmap=1"
         --system "kd30-f32=ct2:$k,beam=1,compute_type=float32"
         --system "kd30-2thr=ct2:$k,beam=1,compute_type=int8,threads=2"
         --system "kd30-2inter=ct2:$k,beam=1,compute_type=int8,inter=2"
         --system "kd30-batch64=ct2:$k,beam=1,compute_type=int8,batch=64"
         --system "kd30-batch256=ct2:$k,beam=1,compute_type=int8,batch=256"
         --system "kd30-batch4096=ct2:$k,beam=1,compute_type=int8,batch=4096")
  seqkd bench --data "$kd/data" --out "$out/bench" --test-sets test_2016_flickr \
    test_2017_flickr --threads 1 --repeats 3 "${args[@]}" -q
fi

# The headline with the vocabulary map: the fairseq teacher beside the greedy baseline and best
# KD student, each exported float32 with a map and run as int8 (docs/RESULTS.md says why).
if [[ $stage == headline ]]; then
  seqkd export "$kd/student-baseline" --data "$kd/data" --out "$out/export-baseline-f32" \
    --quantization float32 --vmap --vmap-top-k 10 -q
  seqkd export "$kd/student-seqkd-wordkd" --data "$kd/data" --out "$out/export-wordkd-f32" \
    --quantization float32 --vmap --vmap-top-k 10 --vmap-data "$kd/distill-seqkd" -q
  b=$out/export-baseline-f32/model w=$out/export-wordkd-f32/model
  seqkd bench --data "$kd/data" --out "$out/bench-headline" --test-sets test_2016_flickr \
    test_2017_flickr --threads 1 --repeats 3 \
    --system "teacher=fairseq:${TEACHER:-../shared/models/multi30k-en-de-teacher-v2/checkpoint.pt},beam=5" \
    --system "teacher-ct2-b5=ct2:$kd/export-teacher/model,beam=5,compute_type=int8" \
    --system "baseline-b1=ct2:$b,beam=1,compute_type=int8" \
    --system "baseline-vmap-b1=ct2:$b,beam=1,compute_type=int8,vmap=1" \
    --system "kd-wordkd-b1=ct2:$w,beam=1,compute_type=int8" \
    --system "kd-wordkd-vmap-b1=ct2:$w,beam=1,compute_type=int8,vmap=1" -q
fi
