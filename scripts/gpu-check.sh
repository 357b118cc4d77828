#!/usr/bin/env bash
# The GPU check in one command (README "Real GPUs"): on a machine with a GPU, after scripts/gpu-pack.sh filled
# .gpu-pack/ and build/ (Node, npm and a network are not needed there): unpacks node, Dawn and the Vulkan loader,
# prints the adapter, runs the WebGPU kernel tests against PyTorch on that adapter, then bench/gpu-check.ts: SFT
# steps, GEMMs, decode and tokenizer next to PyTorch on the same machine. Writes gpu-check.json, gpu-check.md and the
# logs to $OUT (else ./gpu-check-out), within about 8 minutes (GPU_CHECK_TESTS_S and GPU_CHECK_BUDGET_S, seconds, bound
# the kernel tests and the benchmarks: 180 and 300 by default).
#   bash scripts/gpu-check.sh [--local] [--skip-kernel-tests]
# --local: the same steps on this machine at a tiny shape, with the node, Dawn and PyTorch already here (a test
# runs it so that the script cannot rot).
set -uo pipefail
cd "$(dirname "$0")/.."
local=0; kernel_tests=1
for a in "$@"; do case "$a" in --local) local=1;; --skip-kernel-tests) kernel_tests=0;; *) echo "gpu-check: unknown flag $a" >&2; exit 2;; esac; done
OUT_DIR="${OUT:-$PWD/gpu-check-out}"; mkdir -p "$OUT_DIR"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-$(id -u)}"; mkdir -p "$XDG_RUNTIME_DIR"
P=.gpu-pack
if [ $local = 0 ]; then
  PY=${WEBTUNE_PYTHON:-python3}
  T=/tmp/webtune-gpu; mkdir -p $T/tokenizer
  if ! ldconfig -p | grep -q libvulkan.so.1 || ! ldconfig -p | grep -q libGLdispatch.so.0; then for f in $P/debs/*.deb; do dpkg -x "$f" /; done; ldconfig; fi
  # the NVIDIA driver's Vulkan ICD where the container mounts it outside the loader's search path
  icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  if [ -f $icd ] && ! ls /usr/share/vulkan/icd.d/*nvidia* /etc/vulkan/icd.d/*nvidia* >/dev/null 2>&1; then export VK_DRIVER_FILES=$icd; fi
  [ -x $T/node ] || { xz -dc $P/node.xz > $T/node && chmod +x $T/node; }
  export PATH=$T:$PATH
  mkdir -p node_modules/webgpu/dist/linux-x64
  cp $P/webgpu/index.js $P/webgpu/package.json node_modules/webgpu/
  [ -f node_modules/webgpu/dist/linux-x64/dawn.node ] || xz -dc $P/webgpu/dawn.node.xz > node_modules/webgpu/dist/linux-x64/dawn.node
  for f in tokenizer.json tokenizer_config.json; do xz -dc $P/tokenizer/$f.xz > $T/tokenizer/$f; done
  [ -f $P/corpus.jsonl.xz ] && xz -dc $P/corpus.jsonl.xz > $T/corpus.jsonl
  bench_flags=(--python "$PY" --tokenizer $T/tokenizer); [ -f $T/corpus.jsonl ] && bench_flags+=(--corpus $T/corpus.jsonl)
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | sed 's/^/gpu-check: nvidia-smi: /'
  if ! node scripts/probe-gpu.mjs >/dev/null 2>&1; then  # say why, in the loader's words, before anything else runs
    VK_LOADER_DEBUG=error,warn node scripts/probe-gpu.mjs 2>&1 | tail -20 | sed 's/^/gpu-check: vulkan: /'
    echo "gpu-check: no WebGPU adapter on this machine"; exit 1
  fi
else
  PY=${WEBTUNE_PYTHON:-/usr/bin/python3}
  if [ $kernel_tests = 1 ]; then bash scripts/gpu-pack.sh --bundles-only >/dev/null; else bash scripts/gpu-pack.sh --bench-only >/dev/null; fi
  bench_flags=(--local --python "$PY")
fi
echo "gpu-check: node $(node --version), $($PY -c 'import torch; print("torch", torch.__version__, "cuda" if torch.cuda.is_available() else "cpu")' 2>&1 | tail -1)"
status=0
if [ $kernel_tests = 1 ]; then
  # 2. every WebGPU kernel (forward, backward, optimizer) against PyTorch float64, on this adapter
  WEBTUNE_PYTHON=$PY timeout ${GPU_CHECK_TESTS_S:-180} node --test --test-concurrency=1 build/test/train-ops.test.mjs build/test/webgpu-ops.test.mjs build/test/gemm.test.mjs > "$OUT_DIR/kernel-tests.log" 2>&1
  rc=$?; grep -E '^# (pass|fail|tests)|^not ok|worst error' "$OUT_DIR/kernel-tests.log" | sed 's/^/gpu-check: kernel tests: /'
  [ $rc = 0 ] || { echo "gpu-check: kernel tests FAILED (rc $rc), see kernel-tests.log"; status=1; }
fi
# 1 and 3. the adapter, then the timings beside PyTorch's
node build/bench/gpu-check.mjs --out "$OUT_DIR" --budget_s "${GPU_CHECK_BUDGET_S:-300}" "${bench_flags[@]}" 2>&1 | tee "$OUT_DIR/bench.log"
rc=${PIPESTATUS[0]}; [ $rc = 0 ] || status=$rc
exit $status
