#!/usr/bin/env bash
# Runs one fuzz target of the sanitizer build (scripts/sanitize.sh builds it) for SECONDS, from
# its seed corpus plus what earlier runs found (build-asan/fuzz/<target>/corpus), and prints
# libFuzzer's final figures. A crash leaves its input as build-asan/fuzz/<target>/crash-*;
# turn it into a regression test (a seed in fuzz/corpus/<target> and a test of the exact error).
#
#   bash scripts/fuzz.sh config|idx|tokens|llmc_weights|checkpoint_meta SECONDS [libFuzzer flags]
set -euo pipefail
cd "$(dirname "$0")/.."
target=$1 seconds=$2
shift 2
work=build-asan/fuzz/$target
mkdir -p "$work/corpus"
export ASAN_OPTIONS=detect_leaks=0 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
exec "build-asan/fuzz/${target}_fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$work/" "$@" \
  "$work/corpus" "fuzz/corpus/$target"
