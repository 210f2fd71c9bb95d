#!/usr/bin/env bash
# Train the default model and its AR twin on one GPU (Dream's recipe, equal token budgets):
#   1. an AR model from scratch, on a schedule that spans AR_TOKENS + MORE_TOKENS, stopped after AR_TOKENS;
#   2. side by side: the AR twin finishes that one schedule (--resume), and the AR_TOKENS weights are
#      adapted into the diffusion model (bidirectional attention, shifted targets) for MORE_TOKENS.
# Both end having seen AR_TOKENS + MORE_TOKENS, on the same held-out files.
#   scripts/train-gpu.sh OUT_DIR AR_TOKENS MORE_TOKENS [WORKERS]    (DEVICE=cpu for a smoke run)
set -euo pipefail
out=${1:?OUT_DIR}; ar_tokens=${2:?AR_TOKENS}; more_tokens=${3:?MORE_TOKENS}; workers=${4:-12}
common=(--batch 64 --seq-len 512 --bf16 --device "${DEVICE:-cuda}" --eval-every 200 --ckpt-every 1000 --seed 7)
twin=(--kind ar --name ar-code-small --tokens $((ar_tokens + more_tokens)) --lr 2e-3 --warmup 200 "${common[@]}")
mkdir -p "$out"
python3 -m dllm.train fit "${twin[@]}" --tokenizer dllm/weights/dllm-code-small/tokenizer.json --size small \
  --out "$out/ar" --stop-at "$ar_tokens" --workers "$workers" 2>"$out/ar-base.err"
cp -r "$out/ar" "$out/ar-base"  # what the diffusion model starts from (the twin's run goes on in $out/ar)
python3 -m dllm.train fit "${twin[@]}" --resume "$out/ar" --out "$out/ar" --workers $((workers / 2)) \
  2>"$out/ar.err" &
twin_pid=$!
python3 -m dllm.train fit --kind diffusion --name dllm-code-small --init-from "$out/ar-base/model" \
  --heldout-manifest "$out/ar-base/manifest.json" --tokens "$more_tokens" --lr 1e-3 --warmup 100 \
  --workers $((workers / 2)) "${common[@]}" --out "$out/dllm" 2>"$out/dllm.err"
wait "$twin_pid"
