#!/usr/bin/env bash
# Installs what trainer needs on Debian 12 (run as root), builds it, and installs `trainer` on
# the PATH (/usr/local/bin). Safe to run again: it installs only what is missing. Arguments name
# more Debian packages to install (scripts/test.sh adds PyTorch, the tests' reference).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake ninja-build g++ pkg-config
          libyaml-cpp-dev libopenblas-dev zlib1g-dev libcli11-dev nlohmann-json3-dev
          libgtest-dev libopenmpi-dev openmpi-bin
          dataset-fashion-mnist "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build
cmake --install build >/dev/null
echo "setup: $(command -v trainer) is installed"
