#!/usr/bin/env bash
# The whole of a `seqkd run` config on one CUDA machine, in a work folder of its own, with the
# stages side by side as their dependencies allow, and each stage's seconds gathered:
#   scripts/gpu_check.sh CONFIG REPORT_DIR        (default config: the Multi30k KD table)
# `seqkd run --device cuda` says what runs where (fp16 trainings, the distillations on the
# GPU, no bench). For a machine with torch (CUDA) but without fairseq, ctranslate2 or network:
# put the wheels in .whl/ (fairseq-fixed cp312 and its pure-Python dependencies, see
# docs/RESULTS.md); they are installed into /tmp/site. DEADLINE (seconds, default 480) stops
# what is left then; what finished is in the report.
set -euo pipefail
config=${1:-pipelines/multi30k-en-de.yaml}
report=$(realpath -m "${2:?give a folder for the report}")
if ! python3 -c "import fairseq" 2> /dev/null && compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
mkdir -p "$report"
# the same config, its work folder under REPORT_DIR (so that no CPU run's folder is touched)
sed "s|^work_dir:.*|work_dir: $report/work|" "$config" > "$report/config.yaml"
start=$(date +%s)
timeout --signal=INT --kill-after=30 "${DEADLINE:-480}" \
  python3 -m seqkd run "$report/config.yaml" --device cuda --jobs 16 > "$report/run.json" \
  2> "$report/run.log" || echo "stopped (exit $?): see $report/run.log"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$report/gpu.txt" || true
# each finished stage's seconds, from its stamp
for done in "$report"/work/*/DONE.json; do
  [[ -f $done ]] && printf '%s\t%s\n' "$(basename "$(dirname "$done")")" \
    "$(grep -o '"seconds": [0-9.]*' "$done" | head -1 | cut -d' ' -f2)"
done > "$report/seconds.tsv"
echo "total $(( $(date +%s) - start )) s; per stage: $report/seconds.tsv"
