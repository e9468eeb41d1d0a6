#!/usr/bin/env bash
# Run some stages of a `seqkd run` config at once on a CUDA machine that has torch but not
# fairseq (wheels carried in .whl/, or package folders as .whl/*.tgz), then pack each stage
# folder into OUT_DIR for the way back (STAGE.tgz + STAGE.pt each, `seqkd pack`; `seqkd unpack
# OUT_DIR/STAGE --into WORK/STAGE` puts each back).
#   scripts/gpu_stages.sh CONFIG OUT_DIR STAGE [STAGE ...]
# The work folder's absolute path must be the same as where the earlier stages ran, since
# stage stamps record absolute paths: run it from a copy of the checkout at that path.
# DEADLINE (seconds, default none): stop the stages then and pack what they have (an
# unfinished stage travels with its best checkpoint and without DONE.json).
set -uo pipefail
config=$1 out=$2; shift 2
mkdir -p "$out" /tmp/seqkd-gpu-logs
logs=/tmp/seqkd-gpu-logs
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
# packages carried as plain archives of their folders (e.g. fairseq without its examples and
# the extensions training never loads, when the whole wheel does not fit the carry limit)
for t in .whl/*.tgz; do
  [[ -f $t ]] || continue
  mkdir -p /tmp/site && tar -xzf "$t" -C /tmp/site || exit 1
  export PYTHONPATH=/tmp/site:$PWD
done
python3 -c "import torch, fairseq; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'fairseq', fairseq.__version__)" || exit 1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
# the stages side by side as their dependencies allow (seqkd run's own scheduler)
rc=0
${DEADLINE:+timeout --signal=INT --kill-after=30 "$DEADLINE"} \
  python3 -m seqkd run "$config" --jobs $# --only "$@" > "$logs/run.log" 2>&1 \
  || { rc=1; echo "seqkd run stopped:"; tail -20 "$logs/run.log"; }
work=$(python3 -c "import yaml,sys,os; print(os.path.realpath(yaml.safe_load(open(sys.argv[1]))['work_dir']))" "$config")
for stage in "$@"; do
  [[ -d "$work/$stage" ]] && python3 -m seqkd pack "$work/$stage" --out "$out/$stage" -q
done
ls -la "$out"
exit $rc
