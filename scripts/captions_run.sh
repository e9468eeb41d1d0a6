#!/usr/bin/env bash
# Issue 36's whole run on a 2-core machine without a GPU, from the committed configs alone:
# every preparation, distillation and training of pipelines/multi30k-en-de-captions.yaml,
# the ensemble's second teacher (pipelines/multi30k-en-de-ensemble.yaml) and the ensemble's
# captions student (pipelines/multi30k-en-de-captions-ensemble.yaml), in two one-thread lanes
# side by side; when both are done, scripts/captions_final.sh (the exports, the one bench with
# nothing beside it, choose, the copies to commit).
#   SEQKD_DATA_MIRROR=../shared/datasets scripts/captions_run.sh LOGDIR [PREFIX]
#   scripts/captions_run.sh --status     (where every stage of the three configs stands)
# LOGDIR gets lane0.log, lane1.log and final.log; PREFIX is captions_final.sh's
# (default docs/multi30k-captions-final). Every stage resumes after a kill and a finished one
# is skipped, so after a lost session the same command goes on where the run stood.
# About 23 hours a lane (one thread each; the longest chain, the ensemble's teacher, its
# distillation and its student, goes first in lane 0), then 1.5 hours of bench. Every first
# seed comes before any seed 2 or 3, so that after about 12.5 hours a lane every row of the
# claims but the headline pair's other seeds (and the baseline's budget chosen on valid) is
# trained: what is lost with a machine's folders is then the least it can be.
# The order keeps each stage after what it needs: lane 0 reaches the captions config's
# students hours after lane 1 has prepared and distilled for them. The lanes' shares were
# evened out by measured times (2026-12-06: a 2-1-w256 student on the captions about 2.75 h
# on one core beside the other lane, on the references 1.85 h): the MBR student and the
# clean distillation (no bench row reads it) moved from lane 1 to lane 0, about 12 h each
# left at that point; on 2026-12-07, with lane 0 about 10.5 h from its end and lane 1 about
# 8.6 h, the clean distillation went back to the end of lane 1.
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: scripts/captions_run.sh LOGDIR [PREFIX] | --status" >&2; exit 1
fi
C=pipelines/multi30k-en-de-captions.yaml
E=pipelines/multi30k-en-de-ensemble.yaml
CE=pipelines/multi30k-en-de-captions-ensemble.yaml
if [ "$1" = --status ]; then
  cd "$(dirname "$0")/.."
  for c in $E $CE $C; do echo "## $c"; seqkd run $c --status; done
  exit 0
fi
mkdir -p "$1"
logs=$(cd "$1" && pwd)
prefix=${2:-docs/multi30k-captions-final}
cd "$(dirname "$0")/.."  # the configs' paths are the repository root's
# each lane's automatic thread counts are half the machine's (seqkd.machine.SHARE_ENV)
export SEQKD_CORE_SHARE=2

step() {  # step CONFIG STAGE...: one `seqkd run --only`, logged, stopping the lane on failure
  echo "=== $(date -u +%FT%TZ) $*"
  seqkd run "$@"
}

lane0() {
  step $E --only prepare teacher
  step $CE --only prepare distill-ens-captions student-captions-ens-2-1-w256 \
    export-captions-ens-2-1-w256
  step $C --only student-baseline-1-1-w64 student-seqkd-1-1-w64 student-captions-1-1-w64 \
    student-captions-mbr-1-1-w64
  # (the first-seed set, a complete table but for seeds 2 and 3, ends about here)
  step $CE --only student-captions-ens-2-1-w256-s2 export-captions-ens-2-1-w256-s2
  step $C --only student-baseline-2-1-w256-s2 student-baseline-2-1-w256-valid
}

lane1() {
  step $C --only prepare distill-v2-captions distill-v2 distill-v2-captions-mbr
  for s in captions-2-1-w256 baseline-2-1-w256 seqkd-2-1-w256 captions-2-1-w256-s2 \
           captions-2-1-w256-s3; do
    step $C --only student-$s
  done
  # lane 0 distilled its data hours before
  step $CE --only student-captions-ens-2-1-w256-s3 export-captions-ens-2-1-w256-s3
  step $C --only student-baseline-2-1-w256-s3 distill-v2-captions-clean
}

set -m  # each lane in its own process group, so that stopping this script stops its stages
lane0 >> "$logs/lane0.log" 2>&1 &
l0=$!
lane1 >> "$logs/lane1.log" 2>&1 &
l1=$!
trap 'kill -- -$l0 -$l1 2>/dev/null' EXIT
rc=0
wait $l0 || rc=1
wait $l1 || rc=1
trap - EXIT
if [ $rc != 0 ]; then
  echo "a lane failed: its log in $logs says which stage; run again to resume" >&2
  exit 1
fi
scripts/captions_final.sh "$prefix" >> "$logs/final.log" 2>&1
