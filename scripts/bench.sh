#!/usr/bin/env bash
# Benchmarks (not tests): decode tokens/s per backend and runtime, WebGPU and WASM matmul GFLOP/s next to
# plain JS. Prints one JSON line per figure. Usage: bash scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-$(id -u)}"; mkdir -p "$XDG_RUNTIME_DIR"
node scripts/build.mjs >/dev/null
mkdir -p build/bench
for f in bench/*.ts; do
  npx esbuild "$f" --bundle --platform=neutral --main-fields=module,main --format=esm --target=es2022 --log-level=warning \
    --loader:.wasm=binary --external:webgpu --external:puppeteer-core --external:onnxruntime-node '--external:node:*' --outfile="build/bench/$(basename "${f%.ts}").mjs"
done
DENO=node_modules/.bin/deno
for device in webgpu wasm; do
  node build/bench/decode.mjs --device $device 2>/dev/null | grep '^{'
  $DENO run -A build/bench/decode.mjs --device $device 2>/dev/null | grep '^{'
done
# Peer for decode: PyTorch 1.13 eager, the per-token KV-cache loop of the test oracle (stories260K, 200 tokens).
M=../shared/models/stories260K
/usr/bin/python3 test/oracle/llama2c_reference.py $M/stories260K.bin $M/tok512.bin "" 200 | node -e \
  'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);console.log(JSON.stringify({bench:"decode",model:"stories260K",runtime:"pytorch-1.13-eager",device:"cpu",tokens_per_s:+(r.ids.length/r.seconds).toFixed(1)}))})'
for f in build/bench/*matmul*.mjs build/bench/webgpu-attention.mjs build/bench/webgpu-swiglu.mjs; do node "$f" 2>/dev/null; done
node build/bench/train.mjs --torch_blas default,openblas 2>/dev/null | grep '^{'
# serve: 64 concurrent streaming completions against `webtune deploy` (WASM); a table, then its JSON line
node build/bench/serve-load.mjs --device wasm --requests 64 --max_tokens 64 --rounds 3
node build/bench/bundle-runtimes.mjs 2>/dev/null | grep '^{'
node build/bench/edge-decode.mjs
node build/bench/dist-scaling.mjs
