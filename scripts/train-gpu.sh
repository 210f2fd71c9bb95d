#!/usr/bin/env bash
# Train the default model and its AR twin on one GPU (Dream's recipe, equal token budgets):
#   1. an AR model from scratch, on a schedule that spans AR_TOKENS + MORE_TOKENS, stopped after AR_TOKENS;
#   2. side by side: the AR twin finishes that one schedule (--resume), and the AR_TOKENS weights are
#      adapted into the diffusion model (bidirectional attention, shifted targets) for MORE_TOKENS.
# Both end having seen AR_TOKENS + MORE_TOKENS, on the same held-out files.
#   [SIZE=medium] [COMPILE=1] scripts/train-gpu.sh OUT_DIR AR_TOKENS MORE_TOKENS [WORKERS]   (DEVICE=cpu: smoke run)
# COMPILE=1 trains with a torch.compile'd forward: measure it on the machine first
# (python -m bench.train_step --device cuda --batch 64 --compile).
# Re-running it with the same arguments resumes where it stopped (each stage from its last checkpoint), so a
# run longer than one device call is several calls of this same command on a machine kept warm.
set -euo pipefail
out=${1:?OUT_DIR}; ar_tokens=${2:?AR_TOKENS}; more_tokens=${3:?MORE_TOKENS}; workers=${4:-12}
size=${SIZE:-small}
common=(--batch 64 --seq-len 512 --bf16 --device "${DEVICE:-cuda}" --eval-every 200 --ckpt-every "${CKPT_EVERY:-250}"
        --seed 7 ${COMPILE:+--compile})
twin=(--kind ar --name "ar-code-$size" --tokens $((ar_tokens + more_tokens)) --lr 2e-3 --warmup 200 "${common[@]}")

fit() {  # fit RUN_DIR ARGS...: train into RUN_DIR, or resume it from its last checkpoint
  local dir=$1; shift
  if [[ -f $dir/state.json ]]; then set -- "$@" --resume "$dir"; fi
  python3 -m dllm_complete.dllm.train fit "$@" --out "$dir"
}

mkdir -p "$out"
if [[ ! -d $out/ar-base ]]; then
  fit "$out/ar" "${twin[@]}" --tokenizer dllm/weights/dllm-code-small/tokenizer.json --size "$size" \
    --stop-at "$ar_tokens" --workers "$workers" 2>>"$out/ar-base.err"
  cp -r "$out/ar" "$out/ar-base.tmp" && mv "$out/ar-base.tmp" "$out/ar-base"  # what the diffusion model starts from
fi
fit "$out/ar" "${twin[@]}" --workers $((workers / 2)) 2>>"$out/ar.err" &
twin_pid=$!
fit "$out/dllm" --kind diffusion --name "dllm-code-$size" --init-from "$out/ar-base/model" \
  --heldout-manifest "$out/ar-base/manifest.json" --tokens "$more_tokens" --lr 1e-3 --warmup 100 \
  --workers $((workers / 2)) "${common[@]}" 2>>"$out/dllm.err"
wait "$twin_pid"
