#!/usr/bin/env bash
# Data-parallel training throughput on one machine: VGG-style training
# (models/vgg_small.yaml, 3×32×32, global batch 64) as
#   mpirun -np 2 cnnrun train ... --threads 1   (2 ranks × 1 BLAS thread)
# against
#   cnnrun train ... --threads 2                (1 process × 2 BLAS threads)
# on synthetic CIFAR-10-format images (random pixels: the speed does not
# depend on them). Each configuration runs twice, for FIRST and for
# FIRST + STEPS optimizer steps; images/s = STEPS × 64 / (difference of the
# wall times), which leaves out start-up and data loading.
#
# Usage: bench/mpi_scaling.sh [BUILD_DIR] [STEPS]   (defaults: build, 20)
# Needs a build with MPI (libopenmpi-dev found by CMake) and mpirun. About
# 1–3 minutes on a 2-core machine. Figures: docs/distributed.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
steps="${2:-20}"
first=3
batch=64
cnnrun="$build/cnnrun"
[[ -x $cnnrun ]] || { echo "no $cnnrun: build first (cmake -S . -B build && cmake --build build)" >&2; exit 2; }
command -v mpirun >/dev/null || { echo "mpirun not found: apt-get install openmpi-bin libopenmpi-dev" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Enough images that the longest run stays inside epoch 1 (no validation).
images=$(((first + steps + 1) * batch))
python3 - "$work/data" "$images" <<'PY'
import os, random, sys
folder, count = sys.argv[1], int(sys.argv[2])
os.makedirs(folder)
rng = random.Random(1)
def batch_file(name, n):
    with open(os.path.join(folder, name), "wb") as f:
        for _ in range(n):
            f.write(bytes([rng.randrange(10)]) + rng.randbytes(3072))
per_file = -(-count // 5)
for k in range(5):
    batch_file(f"data_batch_{k + 1}.bin", per_file)
batch_file("test_batch.bin", 64)
PY

# seconds CMD...: wall time of CMD (its output to $work/log).
seconds() {
    local start end
    start=$(date +%s.%N)
    "$@" >"$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }
    end=$(date +%s.%N)
    python3 -c "print($end - $start)"
}

train=(train "$root/models/vgg_small.yaml" --data "cifar10:$work/data" --batch-size "$batch" --seed 1 --quiet)
run_one() { # NAME MAX_STEPS
    rm -rf "$work/$1"
    if [[ $1 == ranks* ]]; then
        seconds mpirun --oversubscribe -np 2 "$cnnrun" "${train[@]}" --threads 1 --max-steps "$2" --out "$work/$1"
    else
        seconds "$cnnrun" "${train[@]}" --threads 2 --max-steps "$2" --out "$work/$1"
    fi
}

echo "VGG-style training (models/vgg_small.yaml), global batch $batch, $steps steps timed, $(nproc) cores"
for config in process ranks; do
    short=$(run_one "$config-short" "$first")
    long=$(run_one "$config-long" $((first + steps)))
    took=$(python3 -c "print($long - $short)")
    rate=$(python3 -c "print($steps * $batch / $took)")
    if [[ $config == process ]]; then label="1 process × 2 threads"; else label="2 ranks × 1 thread   "; fi
    printf "%s  %6.1f images/s  (%d steps in %.1f s)\n" "$label" "$rate" "$steps" "$took"
done
