#!/usr/bin/env bash
# Install seqkd and everything it needs into a virtual environment (.venv unless one is active).
# torch: the CPU build, pinned, installed first so nothing pulls a CUDA build.
# fairseq: `fairseq-fixed` (builds on Python 3.11), installed without its declared
# dependencies because they name torchaudio, which would replace the CPU torch;
# its real runtime needs are in pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${VIRTUAL_ENV:-}" ]]; then
  py=python
else
  [[ -x .venv/bin/python ]] || python3 -m venv .venv
  py=.venv/bin/python
fi
"$py" -m pip install -q --upgrade pip setuptools wheel
"$py" -m pip install -q "torch==2.13.0"
"$py" -m pip install -q "numpy>=1.21.3,<2" cython
"$py" -m pip install -q --no-deps --no-build-isolation "fairseq-fixed==0.12.3.1"
"$py" -m pip install -q -e ".[test,serve]"
"$py" -m seqkd --version
