#!/usr/bin/env bash
# The whole test suite on a fresh Debian/Ubuntu machine: installs what it needs (npm packages, Mesa's
# software Vulkan for WebGPU when no GPU adapter exists, PyTorch as the reference, chromium for the browser tests),
# builds, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-$(id -u)}"; mkdir -p "$XDG_RUNTIME_DIR"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
if ! /usr/bin/python3 -c 'import torch, jinja2, onnx' 2>/dev/null; then
  $SUDO apt-get update -q && $SUDO apt-get install -y -q python3-torch python3-numpy python3-jinja2 python3-onnx
fi
# Debian's chromium for the browser tests (test/browser*.test.ts drive it with puppeteer-core: no browser download)
if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/lib/chromium/chromium ]; then
  $SUDO apt-get update -q && $SUDO apt-get install -y -q chromium
fi
# onnxruntime-node ships its CPU binaries; its install script would try to download more (no network here).
export ONNXRUNTIME_NODE_INSTALL=skip
[ -d node_modules/webgpu ] || npm ci --no-audit --no-fund
bash scripts/install-gpu-driver.sh
# the driver is installed now: a test meant for WebGPU fails without an adapter rather than skipping (test/gpu.ts)
export WEBTUNE_REQUIRE_GPU=1
# types first: a type error fails in seconds, before the ten-minute suite
npx tsc -p .
npm test
