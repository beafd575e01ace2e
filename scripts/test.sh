#!/usr/bin/env bash
# Sets up (scripts/setup.sh, with PyTorch as the reference of the GPT-2 parity test, and
# matplotlib for scripts/plot_run.py's test) and runs the
# whole test suite, the Fashion-MNIST accuracy runs included; then the sanitizer build's tests and
# fuzz targets (scripts/sanitize.sh). Tests labelled gpu skip themselves where there is no GPU.
# Arguments go to ctest of the main build alone: `bash scripts/test.sh -L quick` for the fast ones.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh python3-torch python3-matplotlib
# One thread per test process: ctest runs two at once on two cores.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
ctest --test-dir build --output-on-failure -j2 "$@"
if (($# == 0)); then bash scripts/sanitize.sh; fi
