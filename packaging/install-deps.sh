#!/usr/bin/env bash
# Installs everything QLoRA Studio needs to build, test and run its GUI on Debian 12 or
# Ubuntu 24.04. Idempotent and non-interactive: when every package is present it does nothing.
# CUDA is not installed here; the build finds /usr/local/cuda by itself when it exists.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  qt6-base-dev qt6-base-dev-tools libqcustomplot-dev libqcustomplot2.1-qt6
  nlohmann-json3-dev libopenblas-dev libpcre2-dev libicu-dev libcurl4-openssl-dev libssl-dev
  xvfb xauth python3 python3-jinja2 python3-numpy
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
  as_root=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
