#!/usr/bin/env bash
# The main job on a fresh Debian/Ubuntu machine: install, build, and generate text with the embedded
# default model (fixed-seed random weights) on WebGPU. Extra arguments go to `webtune infer`.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-$(id -u)}"; mkdir -p "$XDG_RUNTIME_DIR"
[ -d node_modules/webgpu ] || npm ci --no-audit --no-fund
bash scripts/install-gpu-driver.sh >&2
npm run build >&2
node dist/webtune.mjs infer --prompt "Once upon a time" --max_new_tokens 64 --temperature 0 "$@"
