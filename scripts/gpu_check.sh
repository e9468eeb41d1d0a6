#!/usr/bin/env bash
# The whole of a `seqkd run` config on one CUDA machine (device cuda, fp16 training), in
# waves of concurrent stages, with a timing report: scripts/gpu_check.py says what it changes.
#   scripts/gpu_check.sh CONFIG REPORT_DIR            (default config: the Multi30k KD table)
# For a machine with torch (CUDA) but without fairseq, ctranslate2 or network: put the wheels
# in .whl/ (fairseq-fixed cp312 and its pure-Python dependencies, see docs/RESULTS.md); they
# are installed into /tmp/site. DEADLINE (seconds, default 480) stops what is left then.
set -euo pipefail
config=${1:-pipelines/multi30k-en-de.yaml}
report=${2:?give a folder for the report}
if ! python3 -c "import fairseq" 2> /dev/null && compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
exec python3 scripts/gpu_check.py "$config" "$report" --deadline "${DEADLINE:-480}"
