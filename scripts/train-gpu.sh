#!/usr/bin/env bash
# Train the default model and its AR twin on one GPU (Dream's recipe, equal token budgets):
#   1. an AR model from scratch for AR_TOKENS;
#   2. side by side: the AR twin continued for MORE_TOKENS, and the same AR weights adapted into the
#      diffusion model (bidirectional attention, shifted targets) for MORE_TOKENS.
# Both end having seen AR_TOKENS + MORE_TOKENS, on the same held-out files (those of step 1).
#   scripts/train-gpu.sh OUT_DIR AR_TOKENS MORE_TOKENS [WORKERS]    (DEVICE=cpu for a smoke run)
set -euo pipefail
out=${1:?OUT_DIR}; ar_tokens=${2:?AR_TOKENS}; more_tokens=${3:?MORE_TOKENS}; workers=${4:-12}
common=(--batch 64 --seq-len 512 --bf16 --device "${DEVICE:-cuda}" --eval-every 200 --ckpt-every 1000 --seed 7)
python3 -m dllm.train fit --kind ar --name ar-code-small --tokenizer dllm/weights/dllm-code-small/tokenizer.json \
  --size small --out "$out/ar-base" --tokens "$ar_tokens" --lr 2e-3 --warmup 200 --workers "$workers" \
  "${common[@]}" 2>"$out/ar-base.err"
then=(--init-from "$out/ar-base/model" --heldout-manifest "$out/ar-base/manifest.json" --tokens "$more_tokens"
      --lr 1e-3 --warmup 100 --workers $((workers / 2)))
python3 -m dllm.train fit --kind ar --name ar-code-small --out "$out/ar" "${then[@]}" "${common[@]}" 2>"$out/ar.err" &
python3 -m dllm.train fit --kind diffusion --name dllm-code-small --out "$out/dllm" "${then[@]}" "${common[@]}" \
  2>"$out/dllm.err"
wait
