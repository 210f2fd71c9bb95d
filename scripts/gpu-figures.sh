#!/usr/bin/env bash
# Every GPU check and figure of the fast path in one command (one device call): the CUDA tests, the
# LM-head kernel against its floor, its tile sweep, the default model's engine (CUDA graphs on and
# off), both shipped models' latency, and diffusion vs AR at 4 and 8 tokens per step.
# Summaries (JSON) and logs go to OUT_DIR, named as in bench/results/.
#   scripts/gpu-figures.sh OUT_DIR
# (needs the project's dependencies there: an image without msgspec needs it installed or carried as a wheel)
set -uo pipefail
out=${1:?OUT_DIR}
python3 -c "import sys, torch; sys.exit(not torch.cuda.is_available())" || { echo "no CUDA device" >&2; exit 1; }
mkdir -p "$out"
python3 -m pytest -q -m gpu -p no:cacheprovider tests/kernels tests/dllm/test_train.py tests/dllm/test_forward.py 2>&1 | tail -5 >"$out/gpu-tests.log"
run() {  # name, then the bench command: its JSON last line becomes NAME.summary.json
  local name=$1; shift
  "$@" >"$out/$name.out" 2>"$out/$name.log" && tail -1 "$out/$name.out" >"$out/$name.summary.json"
  rm -f "$out/$name.out"
}
run kernels-cuda python3 -m bench.kernels --device cuda
run lm-head-tune python3 -m bench.kernels --tune
run kernels-engine-cuda python3 -m bench.kernels --engine default --context 1000 --n 20
# the shipped models served on the GPU as `dllm.load` serves them (CUDA graphs decided by the load probe)
run latency-gpu python3 -m bench.latency --contexts 250,500 --n 20 --no-lsp --no-memory
run latency-gpu-ar python3 -m bench.latency --contexts 250,500 --n 20 --no-lsp --no-memory \
    --backend ar:dllm/weights/ar-code-small
if [ -d "${DLLM_HUMANEVAL_INFILL_DIR:-/nonexistent}" ]; then  # the splits, where carried (e.g. a copy in .he/)
  run arena-gpu python3 -m bench.arena --splits single-line,multi-line --limit 50 \
      --backend dllm:default --backend ar:dllm/weights/ar-code-small
fi
run gpu python3 -m bench.gpu
run gpu-k8 python3 -m bench.gpu --tokens-per-step 8
cat "$out/gpu-tests.log"; tail -n 3 "$out"/*.log
