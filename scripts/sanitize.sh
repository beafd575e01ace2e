#!/usr/bin/env bash
# The sanitizer build: trainer, its tests and the fuzz targets built by clang with
# AddressSanitizer + UndefinedBehaviorSanitizer (any report fails), in build-asan/; then the
# quick tests (the emulated GPU kernels among them), the fault tests and every fuzz target (10 s
# each) run there. Then, where the CUDA toolkit's headers are, the emulated kernels again under
# ThreadSanitizer, in build-tsan/: a block's threads are host threads there, so a missing
# barrier is a data race. scripts/test.sh runs it after the main suite; arguments go to the
# first ctest (`-L fuzz` for the fuzzers alone), and skip the second.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh clang libclang-rt-14-dev libomp-dev >/dev/null
cmake -S . -B build-asan -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
      -DTRAINER_CUDA=OFF -DTRAINER_SANITIZE=ON >/dev/null
cmake --build build-asan
# Leaks are not checked: Open MPI and yaml-cpp keep process-lifetime allocations.
export ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
if (($#)); then
  ctest --test-dir build-asan --output-on-failure -j2 "$@"
  exit
fi
ctest --test-dir build-asan --output-on-failure -j2 -L 'quick|faults|fuzz'

cmake -S . -B build-tsan -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
      -DTRAINER_CUDA=OFF -DTRAINER_SANITIZE_THREADS=ON >/dev/null
if cmake --build build-tsan --target help | grep -q '^EmulatedKernelsTest:'; then
  cmake --build build-tsan --target EmulatedKernelsTest
  TSAN_OPTIONS=halt_on_error=1 ctest --test-dir build-tsan --output-on-failure -j2 \
    -R '^EmulatedKernelsTest\.'
fi
