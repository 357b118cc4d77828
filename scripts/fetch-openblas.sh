#!/usr/bin/env bash
# For bench/train.ts --torch_blas openblas: Debian's python3-torch calls whatever libblas.so.3 the system's
# alternatives select, by default the reference BLAS (~3 GFLOP/s here). This unpacks Debian's OpenBLAS
# (libopenblas0-pthread, the same archive apt installs from) under build/openblas without installing it, so the
# PyTorch peer can run with LD_LIBRARY_PATH pointing at it while the system stays as it is. Prints that directory.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build/openblas
lib=$dir/root/usr/lib/x86_64-linux-gnu/openblas-pthread
if [ ! -e "$lib/libblas.so.3" ]; then
  mkdir -p "$dir"
  (cd "$dir" && apt-get download -q libopenblas0-pthread) >&2
  dpkg-deb -x "$dir"/libopenblas0-pthread_*.deb "$dir/root"
fi
realpath "$lib"
