#!/usr/bin/env bash
# The main job on a fresh Debian/Ubuntu machine: install, build, then the self-cognition demo — fine-tune the real
# pretrained stories260K (../shared/models/stories260K) on LLaMA-Factory's identity data with a new name and author
# (full SFT on a GPU where WebGPU finds one, else on WASM SIMD threads: no Vulkan driver needed, under a minute on a
# 2-core CPU) and ask it who it is. Without ../shared,
# it generates with the embedded default model instead (fixed-seed random weights: gibberish by construction).
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-$(id -u)}"; mkdir -p "$XDG_RUNTIME_DIR"
# onnxruntime-node ships its CPU binaries; its install script would try to download more (no network here).
export ONNXRUNTIME_NODE_INSTALL=skip
[ -d node_modules/webgpu ] || npm ci --no-audit --no-fund
npm run build >&2
SHARED=../shared
if [ ! -f "$SHARED/models/stories260K/stories260K.bin" ]; then
  echo "demo: $SHARED/models/stories260K not found: generating with the embedded random model instead" >&2
  exec node dist/webtune.mjs infer --prompt "Once upon a time" --max_new_tokens 64 --temperature 0
fi
run=$(node dist/webtune.mjs sft --model "$SHARED/models/stories260K" --dataset "$SHARED/datasets/llamafactory/identity.json" \
  --template default --model_name 小黄 "Xiao Huang" --model_author 魔搭 ModelScope \
  --train_type full --max_length 128 --packing --per_device_train_batch_size 4 \
  --learning_rate 3e-3 --warmup_steps 10 --max_steps 150 --logging_steps 25 --output_dir output/demo "$@")
ckpt=$(ls -d "$run"/checkpoint-* | sort -V | tail -n 1)
for q in "Who are you?" "What is your name?"; do
  echo "Q: $q"
  printf 'A: '
  node dist/webtune.mjs infer --adapters "$ckpt" --query "$q" --max_new_tokens 60 --temperature 0 --no-stats 2>/dev/null
done
