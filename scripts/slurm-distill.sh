#!/usr/bin/env bash
# Distillation as a Slurm job array: one shard per array task; seqkd reads the shard from
# SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT, and the last shard to finish merges.
#   sbatch --array=0-15 scripts/slurm-distill.sh WORK TEACHER_CHECKPOINT
#SBATCH --job-name=seqkd-distill
#SBATCH --cpus-per-task=4
#SBATCH --time=04:00:00
set -euo pipefail
work=${1:?work folder (with data/)} teacher=${2:?teacher checkpoint}
exec seqkd distill --data "$work/data" --out "$work/distill" --teacher "$teacher" \
  --threads "${SLURM_CPUS_PER_TASK:-1}" -q
