#!/usr/bin/env bash
# Everything that needs a GPU, in two halves (see ../shared/DEVICE.md: the GPU machine has nvcc,
# CMake and a Python with PyTorch, but none of Debian's libraries, Open MPI or the data):
#
#   bash scripts/gpu.sh pack    here (Debian 12, packages of scripts/setup.sh installed): builds the
#                               CUDA binaries for sm_90 into build-gpu/ and gathers what they need
#                               into gpu_bundle/: the binaries, the Debian libraries they link
#                               (as .deb files), Open MPI, and the Fashion-MNIST files.
#   bash scripts/gpu.sh run     on the GPU machine, with gpu_bundle/ carried over: the GPU tests,
#                               both Fashion-MNIST configs trained on the GPU, two ranks sharing the
#                               GPU, and bench/gpu_speed.py against PyTorch eager and torch.compile.
#                               Results go to $OUT (default gpu_results/).
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=$PWD/gpu_bundle

pack() {
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null
  cmake --build build-gpu --target trainer GpuOpsTest GpuTrainingTest NcclTest
  rm -rf "$bundle" && mkdir -p "$bundle/bin" "$bundle/debs" "$bundle/data"
  cp build-gpu/launcher/trainer build-gpu/tests/GpuOpsTest build-gpu/tests/GpuTrainingTest \
     build-gpu/tests/NcclTest "$bundle/bin/"
  # The Debian packages of every library the binaries link, except CUDA's (the GPU machine has
  # its own) and the C library's; then Open MPI's programs and plugins.
  local packages=(openmpi-bin openmpi-common libopenmpi3 libpmix2)
  local lib
  for lib in $(ldd "$bundle"/bin/* | awk '/=> \// {print $3}' | sort -u); do
    case "$lib" in */cuda/* | */libc.so* | */libm.so* | */libpthread* | */libdl.so* | */librt.so* | */ld-linux*) continue ;; esac
    # dpkg knows a file by the path its package ships (/lib or /usr/lib, after usrmerge).
    packages+=("$({ dpkg -S "$lib" || dpkg -S "$(readlink -f "$lib")"; } 2>/dev/null | head -1 | cut -d: -f1)")
  done
  (cd "$bundle/debs" && apt-get download $(printf '%s\n' "${packages[@]}" | sort -u | grep .))
  cp /usr/share/datasets/fashion-mnist/*.gz "$bundle/data/"
  du -sh "$bundle"
  echo "carry gpu_bundle (64 MiB at most) and run: bash scripts/gpu.sh run"
}

# Environment for the bundle on the GPU machine: its libraries first, then CUDA's, cuDNN's and
# NCCL's from PyTorch's site-packages, and Open MPI relocated into the bundle.
bundle_env() {
  local root=$bundle/root
  if [ ! -d "$root" ]; then
    mkdir -p "$root"
    for deb in "$bundle"/debs/*.deb; do dpkg -x "$deb" "$root"; done
    ln -sf orterun "$root/usr/bin/mpirun"  # Debian's alternatives link is not in the package
  fi
  local libs=$root/usr/lib/x86_64-linux-gnu
  local nvidia
  nvidia=$(python3 -c "import nvidia, os; print(os.path.dirname(nvidia.__path__[0]))" 2>/dev/null || true)
  local extra=""
  if [ -n "$nvidia" ]; then
    for d in "$nvidia"/nvidia/*/lib; do extra=$extra:$d; done
  fi
  export LD_LIBRARY_PATH=$libs:$libs/openblas-pthread:$libs/openmpi/lib$extra:${LD_LIBRARY_PATH:-}
  export OPAL_PREFIX=$root/usr OPAL_LIBDIR=$libs/openmpi/lib PATH=$root/usr/bin:$PATH
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  export TRAINER_BIN=$bundle/bin/trainer
}

run() {
  local out=${OUT:-$PWD/gpu_results}
  mkdir -p "$out"
  bundle_env
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
  local status=0
  # GPU tests: every op against its CPU twin, training against the CPU, ranks sharing the GPU,
  # NCCL with one rank per communicator.
  "$bundle/bin/GpuOpsTest" --gtest_output=json:"$out/GpuOpsTest.json" || status=1
  "$bundle/bin/GpuTrainingTest" --gtest_output=json:"$out/GpuTrainingTest.json" || status=1
  timeout 300 orterun --oversubscribe -np 2 "$bundle/bin/NcclTest" \
    --gtest_output=json:"$out/NcclTest.json" || status=1
  # Both Fashion-MNIST configs to the end, on the GPU.
  local data=$bundle/data model
  for model in cnn mlp; do
    "$TRAINER_BIN" configs/fashion_mnist_$model.yaml --set device=cuda \
      --set run.out_dir="$out/fmnist-$model" \
      --set data.train.images="$data/train-images-idx3-ubyte.gz" \
      --set data.train.labels="$data/train-labels-idx1-ubyte.gz" \
      --set data.test.images="$data/t10k-images-idx3-ubyte.gz" \
      --set data.test.labels="$data/t10k-labels-idx1-ubyte.gz" >"$out/fmnist-$model.log" 2>&1 || status=1
  done
  python3 bench/gpu_speed.py --trainer "$TRAINER_BIN" --data "$data" --results "$out" || status=1
  exit $status
}

case "${1:-}" in
  pack) pack ;;
  run) run ;;
  *) echo "usage: bash scripts/gpu.sh pack|run" >&2; exit 2 ;;
esac
