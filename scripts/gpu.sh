#!/usr/bin/env bash
# Everything that needs a GPU, in two halves (the GPU machine has nvcc, CMake and a Python with
# PyTorch, but none of Debian's libraries, Open MPI or the data):
#
#   bash scripts/gpu.sh pack    here (Debian 12, packages of scripts/setup.sh installed): builds the
#                               CUDA binaries for sm_90 into build-gpu/ and gathers what they need
#                               into gpu_bundle/: the binaries, the Debian libraries they link
#                               (as .deb files), Open MPI and PMIx, the Fashion-MNIST files and,
#                               when made (scripts/text_to_tokens.py), data/fortunes.
#   bash scripts/gpu.sh run [STAGE...]  on the GPU machine, with gpu_bundle/ carried over: the check below,
#                               stage by stage, each under its own time limit, each writing its
#                               results to $OUT/<stage>/ (default gpu_results/) as it finishes and
#                               a line to $OUT/stages.tsv (stage, outcome, seconds); a stage that is
#                               cut off leaves what it wrote. Without a GPU (a stand-in), each stage
#                               that needs one is reported as not run.
#
# The plan: 495 s of limits, within 8 minutes on an H200 with the machine's start (about a
# minute); the first run on an H200 took 153 s without the GPT stage, its speed stage cut off.
#
#   stage        limit  what
#   env            15   nvidia-smi, the CUDA driver and library versions, ldd of every binary
#                       (a library not found fails the stage)
#   gpu-ops        30   GpuOpsTest: every op's forward and gradients against its CPU twin; a test
#                       that reports itself skipped on a GPU machine fails the stage
#   sanitizers     45   compute-sanitizer on GpuOpsTest: memcheck and initcheck (reads of device
#                       memory nothing wrote: the CI's emulation zeroes it) on the linear, conv2d,
#                       attention, layer_norm, embedding and loss cases, the 16-bit convolution
#                       and attention, dropout, and the vocabulary-parallel loss; racecheck and
#                       synccheck (shared-memory hazards, barriers) on the kernels that share
#                       memory or shuffle: flash attention, the row and column reductions, the
#                       losses, the fused optimizer
#   nccl           20   NcclTest under 2 ranks (this also checks the relocated Open MPI and PMIx)
#   gpu-vs-cpu     30   GpuTrainingTest: training on the GPU against training on the CPU, and two
#                       ranks sharing the GPU
#   configs        35   the Fashion-MNIST CNN and MLP and the small GPT, 300 steps each, in fp32
#                       and bf16 (summary.json and metrics.jsonl of each)
#   speed         190   bench/gpu_speed.py --models cnn,mlp --precisions fp32,bf16 --repeats 1
#                       --steps 300 --compile-models cnn --graph-models cnn,mlp: steady-state
#                       samples/s, trainer eager and with train.cuda_graph, against PyTorch
#                       eager (and torch.compile for the CNN), written after each point
#   gpt-speed     130   bench/gpt_gpu_speed.py: GPT-2 124M in bf16, 10 warm-up and 30 timed
#                       steps, trainer eager and with train.cuda_graph, tokens/s against PyTorch
#                       eager and torch.compile; then 6 steps with log.layer_times (each layer
#                       pass's GPU time, and the rest of the step's work)
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=$PWD/gpu_bundle

pack() {
  local build=${GPU_BUILD:-build-gpu}  # GPU_BUILD=build reuses the main build (sm_90 too)
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null
  cmake --build "$build" --target trainer GpuOpsTest GpuTrainingTest NcclTest
  rm -rf "$bundle" && mkdir -p "$bundle/bin" "$bundle/debs" "$bundle/data"
  cp "$build"/launcher/trainer "$build"/tests/GpuOpsTest "$build"/tests/GpuTrainingTest \
     "$build"/tests/NcclTest "$bundle/bin/"
  strip --strip-unneeded "$bundle"/bin/*  # symbols a failure's report does not need: ~3 MB
  # The Debian packages of every library the binaries link, except CUDA's (the GPU machine has
  # its own) and the C library's; then Open MPI's programs and plugins, and PMIx.
  local packages=(openmpi-bin openmpi-common libopenmpi3 libpmix2)
  local lib
  for lib in $(ldd "$bundle"/bin/* | awk '/=> \// {print $3}' | sort -u); do
    case "$lib" in */cuda/* | */libc.so* | */libm.so* | */libpthread* | */libdl.so* | */librt.so* | */ld-linux*) continue ;; esac
    # dpkg knows a file by the path its package ships (/lib or /usr/lib, after usrmerge).
    packages+=("$({ dpkg -S "$lib" || dpkg -S "$(readlink -f "$lib")"; } 2>/dev/null | head -1 | cut -d: -f1)")
  done
  (cd "$bundle/debs" && apt-get download $(printf '%s\n' "${packages[@]}" | sort -u | grep .))
  cp /usr/share/datasets/fashion-mnist/*.gz "$bundle/data/"
  # The commit the binaries were built from, for the results (uncommitted changes marked).
  git describe --always --dirty >"$bundle/COMMIT"
  if [ -f data/fortunes/train.bin ]; then cp -r data/fortunes "$bundle/data/"; fi
  # The device tool carries at most 64 MiB: find out here, not after a GPU machine has started.
  local bytes
  bytes=$(du -sb "$bundle" | cut -f1)
  echo "gpu_bundle: $((bytes / 1048576)) MiB"
  if [ "$bytes" -gt $((64 * 1048576)) ]; then
    echo "gpu_bundle is over the 64 MiB that can be carried to a GPU machine" >&2
    return 1
  fi
  echo "carry gpu_bundle and run: bash scripts/gpu.sh run"
}

# The bundle's libraries and relocated Open MPI, in variables that only the trainer and test
# processes get (through `bundled`): Python and PyTorch keep their own environment, since Debian's
# libstdc++ and libgomp from the bundle would be loaded into them.
bundle_env() {
  local root=$bundle/root
  if [ ! -d "$root" ]; then
    mkdir -p "$root"
    for deb in "$bundle"/debs/*.deb; do dpkg -x "$deb" "$root"; done
    ln -sf orterun "$root/usr/bin/mpirun"  # Debian's alternatives link is not in the package
  fi
  local libs=$root/usr/lib/x86_64-linux-gnu
  local nvidia extra=""
  nvidia=$(python3 -c "import nvidia, os; print(os.path.dirname(nvidia.__path__[0]))" 2>/dev/null || true)
  if [ -n "$nvidia" ]; then
    for d in "$nvidia"/nvidia/*/lib; do extra=$extra:$d; done
  fi
  BUNDLE_LD_LIBRARY_PATH=$libs:$libs/openblas-pthread:$libs/openmpi/lib:$libs/pmix2/lib$extra:${LD_LIBRARY_PATH:-}
  # Open MPI relocates with OPAL_PREFIX; PMIx does not (its plugin paths are compiled in).
  BUNDLE_PMIX=$libs/pmix2
  MPIRUN=$root/usr/bin/orterun
  TRAINER_BIN=$bundle/bin/trainer
  TRAINER_COMMIT=$(cat "$bundle/COMMIT")
  export BUNDLE_LD_LIBRARY_PATH BUNDLE_PMIX MPIRUN TRAINER_BIN TRAINER_COMMIT
  export OPAL_PREFIX=$root/usr OPAL_LIBDIR=$libs/openmpi/lib
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
}

# A bundled program: the bundle's libraries, Open MPI and PMIx for it alone.
bundled() {
  env LD_LIBRARY_PATH="$BUNDLE_LD_LIBRARY_PATH" PMIX_PREFIX="$BUNDLE_PMIX" \
    PMIX_MCA_mca_base_component_path="$BUNDLE_PMIX/lib/pmix" "$@"
}

stage_env() {
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv || true
  nvcc --version | tail -n 2 || true
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" || true
  local missing=0 bin
  # (Not `tee /dev/stderr`: with the log on both streams, tee reopens and truncates it.)
  local linked
  for bin in "$bundle"/bin/*; do
    echo "== ldd $(basename "$bin")"
    linked=$(bundled ldd "$bin")
    echo "$linked"
    if grep -q "not found" <<<"$linked"; then missing=1; fi
  done
  bundled "$MPIRUN" --version | head -n 1
  return $missing
}

# gtest JSON reports: failed if any test failed or reported itself skipped (on a GPU machine a
# skipped GPU test means the GPU was not used).
check_reports() {
  python3 - "$@" <<'EOF'
import json, sys
for path in sys.argv[1:]:
    r = json.load(open(path))
    skipped = [t["name"] for s in r["testsuites"] for t in s["testsuite"] if t.get("result") == "SKIPPED"]
    print(f"{path}: {r['tests']} tests, {r['failures']} failed, {len(skipped)} skipped")
    if skipped or r["failures"]:
        sys.exit(1)
EOF
}

# A gtest program, its JSON report checked.
gtest() {
  local name=$1
  shift
  bundled "$@" --gtest_output=json:"$OUT_STAGE/$name.json"
  check_reports "$OUT_STAGE/$name.json"
}

stage_gpu_ops() { gtest GpuOpsTest "$bundle/bin/GpuOpsTest"; }

stage_sanitizers() {
  local main='*/linear*:*/conv2d*:*/attention*:*/layer_norm*:*/embedding*:*loss*:*SixteenBit*:*Dropout*:*VocabularySlices*'
  local shared='*SixteenBitAttention*:*/linear*:*/layer_norm*:*Losses*:*VocabularySlices*:*FusedOptimizer*:*Dropout*'
  local status=0 tool
  for tool in memcheck initcheck racecheck synccheck; do
    echo "== $tool"
    local filter=$main
    if [ $tool = racecheck ] || [ $tool = synccheck ]; then filter=$shared; fi
    bundled compute-sanitizer --tool $tool --error-exitcode 1 "$bundle/bin/GpuOpsTest" \
      --gtest_filter="$filter" --gtest_brief=1 || status=1
  done
  return $status
}

stage_nccl() {
  # One report per rank: each rank writes its own (Open MPI gives it its rank in the variable).
  bundled "$MPIRUN" --oversubscribe -np 2 bash -c 'exec "$0" \
    --gtest_output=json:"$1/NcclTest-rank$OMPI_COMM_WORLD_RANK.json"' \
    "$bundle/bin/NcclTest" "$OUT_STAGE"
  check_reports "$OUT_STAGE"/NcclTest-rank*.json
}

stage_gpu_vs_cpu() { gtest GpuTrainingTest "$bundle/bin/GpuTrainingTest"; }

stage_configs() {
  local data=$bundle/data status=0 model precision
  local fmnist=(--set data.train.images="$data/train-images-idx3-ubyte.gz"
                --set data.train.labels="$data/train-labels-idx1-ubyte.gz"
                --set data.test.images="$data/t10k-images-idx3-ubyte.gz"
                --set data.test.labels="$data/t10k-labels-idx1-ubyte.gz")
  local gpt=(--set data.train.path="$data/fortunes/train.bin"
             --set data.test.path="$data/fortunes/val.bin")
  for model in fashion_mnist_cnn fashion_mnist_mlp tiny_gpt; do
    for precision in fp32 bf16; do
      local args=("${fmnist[@]}")
      if [ $model = tiny_gpt ]; then
        [ -f "$data/fortunes/train.bin" ] || { echo "$model: no data/fortunes in the bundle"; continue; }
        args=("${gpt[@]}")
      fi
      echo "== $model $precision"
      local run=$OUT_STAGE/$model-$precision
      bundled "$TRAINER_BIN" configs/$model.yaml --set device=cuda --set train.max_steps=300 \
        --set precision.compute=$precision --set run.out_dir="$run" "${args[@]}" \
        >"$run.log" 2>&1 || status=1
      tail -n 3 "$run.log"
    done
  done
  return $status
}

stage_gpt_speed() {
  python3 bench/gpt_gpu_speed.py --trainer "$TRAINER_BIN" --tokens "$bundle/data/fortunes/train.bin" \
    --results "$OUT_STAGE"
}

# Not in the default run (name it): each GPT-2 kernel's time over two steps, for where the time goes.
stage_gpt_profile() {
  local ncu
  ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -n 1)
  "$ncu" --clock-control none --metrics gpu__time_duration.sum --print-summary per-kernel \
    --target-processes all env LD_LIBRARY_PATH="$BUNDLE_LD_LIBRARY_PATH" "$TRAINER_BIN" \
    configs/gpt2_124m.yaml --set device=cuda --set train.max_steps=2 --set data.test=null \
    --set run.out_dir="$OUT_STAGE/run" --set data.train.path="$bundle/data/fortunes/train.bin" \
    --set checkpoint.every_steps=0 >"$OUT_STAGE/kernels.txt"
}

stage_speed() {
  python3 bench/gpu_speed.py --trainer "$TRAINER_BIN" --data "$bundle/data" \
    --results "$OUT_STAGE" --models cnn,mlp --precisions fp32,bf16 --repeats 1 --steps 300 \
    --compile-models cnn --graph-models cnn,mlp
}

# stage NAME LIMIT gpu|any: runs stage_<NAME> under `timeout`, its output in $OUT/NAME/log.txt.
stage() {
  local name=$1 limit=$2 needs=$3
  local fn=stage_${name//-/_}
  if [ -n "$only" ] && [[ " $only " != *" $name "* ]]; then return 0; fi
  if [ "${4:-}" = named ] && [[ " $only " != *" $name "* ]]; then return 0; fi
  export OUT_STAGE=$out/$name
  mkdir -p "$OUT_STAGE"
  if [ "$needs" = gpu ] && [ "$have_gpu" = 0 ]; then
    printf '%s\tnot run (no GPU)\t0\n' "$name" | tee -a "$out/stages.tsv"
    return 0
  fi
  local t0=$SECONDS rc=0
  timeout -k 5 "$limit" bash -c "$fn" >"$OUT_STAGE/log.txt" 2>&1 || rc=$?
  local outcome=passed
  if [ $rc = 124 ] || [ $rc = 137 ]; then outcome="timed out after $limit s"; elif [ $rc != 0 ]; then outcome="failed ($rc)"; fi
  printf '%s\t%s\t%d\n' "$name" "$outcome" $((SECONDS - t0)) | tee -a "$out/stages.tsv"
  [ $rc = 0 ] || failed=1
  # Everything so far in one archive too, for a transport that brings back only a few files.
  tar -czf "$out.tgz.part" --exclude=checkpoints --exclude=results.tgz -C "$out" . &&
    mv "$out.tgz.part" "$out/results.tgz" || echo "results.tgz not refreshed"
}

# run [STAGE...]: every stage, or only those named (to rerun a failed one).
run() {
  only="$*"
  out=${OUT:-$PWD/gpu_results}
  mkdir -p "$out" && : >"$out/stages.tsv"
  bundle_env
  # GPU_STAGES=all runs the GPU stages on a stand-in too (they fail there): to try their plumbing.
  have_gpu=0
  if nvidia-smi -L 2>/dev/null | grep -q '^GPU' || [ "${GPU_STAGES:-}" = all ]; then have_gpu=1; fi
  export -f bundled check_reports gtest stage_env stage_gpu_ops stage_sanitizers stage_nccl stage_gpu_vs_cpu \
    stage_configs stage_speed stage_gpt_speed stage_gpt_profile
  export bundle
  failed=0
  stage env 15 any
  stage gpu-ops 30 gpu
  stage sanitizers 45 gpu
  stage nccl 20 gpu
  stage gpu-vs-cpu 30 gpu
  stage configs 35 gpu
  stage speed 190 gpu
  stage gpt-speed 130 gpu
  stage gpt-profile 150 gpu named
  exit $failed
}

case "${1:-}" in
  pack) pack ;;
  run) shift; run "$@" ;;
  *) echo "usage: bash scripts/gpu.sh pack|run" >&2; exit 2 ;;
esac
