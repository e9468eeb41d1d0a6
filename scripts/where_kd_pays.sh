#!/usr/bin/env bash
# Where KD pays (issue 19), the whole run on 2 CPU cores: the shapes x {baseline, seq-KD} of
# pipelines/multi30k-en-de-sizes.yaml (teacher v2's data) and the ensemble's teacher, data
# and students of pipelines/multi30k-en-de-ensemble.yaml, then ONE bench run over all of them
# and the teachers, the KD gains, the blind test's translations and every output gzipped.
#   SEQKD_DATA_MIRROR=../shared/datasets scripts/where_kd_pays.sh OUT [PHASE]
# PHASE: train, export, bench, outputs (default all, in that order). OUT: where the bench,
# the gains and the gzipped outputs go (e.g. a docs/ folder). Every phase resumes: `seqkd run`
# skips finished stages and a killed training goes on from its last epoch, so rerun the same
# command after any interruption. train takes about 13 hours on 2 cores (two one-thread
# trainings at a time; the second teacher alone with both threads first), minutes on a GPU
# (scripts/gpu_stages.sh with the same stage names).
set -euo pipefail
out=$1 phase=${2:-all}
S=pipelines/multi30k-en-de-sizes.yaml E=pipelines/multi30k-en-de-ensemble.yaml
SW=runs/multi30k-en-de-sizes EW=runs/multi30k-en-de-ensemble  # their work folders
T=${TEACHER_V2:-../shared/models/multi30k-en-de-teacher-v2}
BLIND=${BLIND:-../shared/blind/multi30k-test_2018_flickr.en}
# the students, most telling first: CONFIG-LETTER NAME (S: sizes, E: ensemble)
STUDENTS=("S baseline-1-1-w128" "S seqkd-1-1-w128" "E seqkd-ens-1-1-w128"
          "E seqkd-ens-wordkd-1-1-w128" "S baseline-3-1-w128" "S seqkd-3-1-w128"
          "E seqkd-ens-wordkd-2-1-w256" "S baseline-2-1-w256" "S seqkd-2-1-w256"
          "S baseline-1-1-w64" "S seqkd-1-1-w64" "S seqkd-wordkd-3-1-w128")
RECOMMENDED=seqkd-ens-wordkd-2-1-w256  # exported float32 with a map (its config entry)
want() { [[ $phase == all || $phase == "$1" ]]; }

if want train; then
  seqkd run $E --only prepare teacher
  seqkd run $E --only distill-seqkd-ens topk-seqkd-ens-k8
  seqkd run $S --only prepare distill-seqkd topk-seqkd-k8
  # two one-thread trainings at a time (each line: CONFIG --only STAGE; each stage logs to its
  # folder's log.txt)
  for st in "${STUDENTS[@]}"; do
    c=${st%% *}; echo "${!c} --only student-${st#* }"
  done | xargs -P 2 -L 1 seqkd run -q
fi

if want export; then
  s_exports=(export-teacher) e_exports=()
  for st in "${STUDENTS[@]}"; do
    if [[ ${st%% *} == S ]]; then s_exports+=("export-${st#* }")
    else e_exports+=("export-${st#* }"); fi
  done
  seqkd run $S --only "${s_exports[@]}"
  seqkd run $E --only "${e_exports[@]}"
  # teacher v2's recommended student of the previous run, with its map
  [[ -f $SW/export-seqkd-2-1-w256-vmap/DONE.json ]] ||
    seqkd export $SW/student-seqkd-2-1-w256 --data $SW/data --out $SW/export-seqkd-2-1-w256-vmap \
      --quantization float32 --vmap --vmap-top-k 10 --vmap-data $SW/distill-seqkd -q
fi

# every system of the bench: NAME=SPEC
systems=("teacher=fairseq:$T/checkpoint.pt,beam=5"
         "teacher-ensemble=fairseq:$T/checkpoint.pt,beam=5,with=$EW/teacher"
         "teacher-int8-b5=ct2:$SW/export-teacher/model,beam=5"
         "seqkd-2-1-w256-vmap-b1=ct2:$SW/export-seqkd-2-1-w256-vmap/model,beam=1,compute_type=int8,vmap=1")
for st in "${STUDENTS[@]}"; do
  c=${st%% *}W n=${st#* } m=${!c}/export-$n/model
  if [[ $n == "$RECOMMENDED" ]]; then
    systems+=("$n-b1=ct2:$m,beam=1,compute_type=int8"
              "$n-vmap-b1=ct2:$m,beam=1,compute_type=int8,vmap=1"
              "$n-b5=ct2:$m,beam=5,compute_type=int8")
  else
    systems+=("$n-b1=ct2:$m,beam=1" "$n-b5=ct2:$m,beam=5")
  fi
done

if want bench; then
  args=()
  for s in "${systems[@]}"; do args+=(--system "$s"); done
  seqkd bench --data $SW/data --out "$out/bench" --test-sets test_2016_flickr test_2017_flickr \
    --threads 1 --repeats 3 "${args[@]}"
  seqkd kd-gain "$out/bench/report.json" --out "$out/bench/gain"
fi

if want outputs; then
  # the bench's outputs of the public test sets, and the blind test (teachers at beam 5,
  # students greedy), one gzipped file per system and test set
  mkdir -p "$out/outputs"
  shopt -s nullglob
  for f in "$out"/bench/outputs/*.t1.*.txt; do  # NAME.t1.TEST.txt -> NAME.TEST.de.gz
    base=$(basename "$f" .txt)
    gzip -9nc "$f" > "$out/outputs/${base%%.t1.*}.${base#*.t1.}.de.gz"
  done
  for s in "${systems[@]}"; do
    name=${s%%=*} spec=${s#*=}
    [[ $name == *-b5 && $name != teacher-int8-b5 ]] && continue
    dest=$out/outputs/$name.test_2018_flickr.de.gz
    [[ -f $dest ]] && continue
    model=${spec#*:} model=${model%%,*}
    opts=(--beam 1)
    [[ $name == teacher* ]] && opts=(--beam 5)
    [[ $spec == fairseq:* ]] && opts+=(--data $SW/data)
    [[ $spec == *with=* ]] && opts+=(--ensemble "${spec##*with=}")
    [[ $spec == *compute_type=int8* ]] && opts+=(--compute-type int8)
    [[ $spec == *vmap=1* ]] && opts+=(--vmap)
    seqkd translate "$model" "${opts[@]}" --threads 1 < "$BLIND" | gzip -9n > "$dest.part"
    mv "$dest.part" "$dest"
  done
fi
