#!/usr/bin/env bash
# Gives WebGPU a device on a Debian/Ubuntu machine without a GPU: installs Mesa's lavapipe (software
# Vulkan). Dawn (Node's WebGPU) needs Mesa >= 25; on Debian 12 that comes from the distribution's own
# bookworm-backports suite, whose apt source is derived from the machine's existing Debian source.
# Does nothing when a WebGPU adapter is already found. Run as root (or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-$(id -u)}"; mkdir -p "$XDG_RUNTIME_DIR"

if node scripts/probe-gpu.mjs >/dev/null 2>&1; then
  echo "install-gpu-driver: a WebGPU adapter is already available: $(node scripts/probe-gpu.mjs 2>/dev/null)"
  exit 0
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
. /etc/os-release
if [ "${ID:-}" = debian ] && [ "${VERSION_CODENAME:-}" = bookworm ]; then
  src=/etc/apt/sources.list.d/debian.sources
  dst=/etc/apt/sources.list.d/webtune-bookworm-backports.sources
  if [ -f "$src" ] && [ ! -f "$dst" ]; then
    # First deb822 stanza (the main archive), with its suites replaced by bookworm-backports.
    awk 'BEGIN{RS=""; ORS="\n"} NR==1' "$src" | sed -E 's/^Suites:.*/Suites: bookworm-backports/' | $SUDO tee "$dst" >/dev/null
  elif [ ! -f "$src" ] && [ -f /etc/apt/sources.list ] && ! grep -q bookworm-backports /etc/apt/sources.list; then
    grep -E '^deb .* bookworm main' /etc/apt/sources.list | head -n1 | sed 's/ bookworm main/ bookworm-backports main/' \
      | $SUDO tee /etc/apt/sources.list.d/webtune-bookworm-backports.list >/dev/null
  fi
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q -t bookworm-backports mesa-vulkan-drivers libvulkan1
else
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q mesa-vulkan-drivers libvulkan1 libegl1 libegl-mesa0
fi
node scripts/probe-gpu.mjs
