#!/usr/bin/env bash
# Data-parallel training over MPI (docs/distributed.md), through the binary:
#   - 2 ranks and 1 process at the same global batch and seed end with the
#     same weights (max relative error below $bound, see weights_agree);
#   - a batch the ranks do not divide (7 on 2 ranks, and a last batch of one
#     image: rank 1's share is empty), with augmentation on;
#   - a checkpoint written by 2 ranks resumes on 1 and one written by 1
#     resumes on 2, ending where the straight runs end;
#   - a data error on one rank, another setting on one rank, and a rank
#     killed mid-run, end the job with an error (the failing rank's message
#     from rank 0), never a hang.
# Registered by CMakeLists.txt only when MPI and mpiexec were found.
# Usage: mpi_train.sh PATH/TO/cnnrun SOURCE_DIR MPIEXEC
set -u
cnnrun=${1:?usage: mpi_train.sh CNNRUN SOURCE_DIR MPIEXEC}
mpiexec=${3:?usage: mpi_train.sh CNNRUN SOURCE_DIR MPIEXEC}
case $cnnrun in /*) ;; *) cnnrun=$PWD/$cnnrun ;; esac
# shellcheck source=cli-helpers.bash
source "$(dirname "${BASH_SOURCE[0]}")/cli-helpers.bash"
cd "$scratch" || exit 1

# Open MPI refuses root without these; --oversubscribe: more ranks than cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Shared memory between the ranks of one machine; no network probing.
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
bound=1e-5

# mpi NP ARGS...: `cnnrun ARGS` on NP ranks (at most 120 s), leaving $status,
# $scratch/out and $scratch/err.
mpi() {
    local np=$1
    shift
    timeout 120 "$mpiexec" --oversubscribe -np "$np" "$cnnrun" "$@" >"$scratch/out" 2>"$scratch/err"
    status=$?
}

expect_status() {
    if [ "$status" -eq "$1" ]; then pass; else fail "$2: exit $status, expected $1: $(head -c 600 "$scratch/err")"; fi
}

# ---- data and model ---------------------------------------------------------------------

# IDX files of COUNT 8×8 grey images in three classes (a bright bar whose
# row depends on the label, over a pattern that depends on the image).
python3 - <<'EOF' || exit 1
import os, struct
def split(folder, prefix, count, salt):
    os.makedirs(folder, exist_ok=True)
    images, labels = bytearray(), bytearray()
    for i in range(count):
        label = i % 3
        for y in range(8):
            for x in range(8):
                value = (i * 7 + y * 13 + x * 5 + salt) % 40
                if y in (1 + 2 * label, 2 + 2 * label):
                    value += 180
                images.append(value)
        labels.append(label)
    with open(f"{folder}/{prefix}-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, count, 8, 8) + images)
    with open(f"{folder}/{prefix}-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 0x801, count) + labels)
split("data", "train", 85, 0)
split("data", "t10k", 31, 1)
split("other", "train", 85, 2)
split("other", "t10k", 31, 1)
EOF

# model NAME BATCH EPOCHS [AUGMENT]: a small conv net (no batchnorm, no
# dropout, so that the ranks compute exactly what one process does).
model() {
    cat >"$1.yaml" <<EOF
name: $1
input: [1, 8, 8]
layers:
  - {type: conv, name: c1, filters: 4, kernel: 3, padding: 1, activation: relu}
  - {type: maxpool, size: 2}
  - {type: conv, name: c2, filters: 6, kernel: 3, padding: 1, activation: tanh}
  - {type: flatten}
  - {type: dense, name: fc, units: 12, activation: relu}
  - {type: dense, name: out, units: 3}
  - {type: softmax}
train:
  data: {format: mnist, dir: $scratch/data}
  epochs: $3
  batch_size: $2
  optimizer: {type: sgd, lr: 0.05, momentum: 0.9}
  seed: 11
${4:-}
EOF
}
model even 10 3                                   # 9 steps per epoch, last batch 5: shares 2 and 3
model odd 7 2 "  augment: {crop_padding: 1, hflip: true}" # shares 3 and 4; last batch 1: shares 0 and 1
# class weights make each share's loss a weighted mean over its own
# denominator; clipping acts on the summed gradient
model weighted 10 2 "  loss: {type: cross_entropy, label_smoothing: 0.1, class_weights: [0.5, 2, 1]}
  clip_grad_norm: 0.5"

# weights_agree A B WHAT: every tensor of A within $bound of B's, relative
# to B's largest magnitude (a per-element relative error is meaningless for
# weights near 0). Prints the worst error.
weights_agree() {
    local line
    line=$(python3 - "$1" "$2" "$bound" <<'EOF'
import json, struct, sys
def load(path):
    data = open(path, "rb").read()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + size])
    body = data[8 + size:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__" or name.startswith("__checkpoint__"):
            continue
        start, end = info["data_offsets"]
        tensors[name] = struct.unpack(f"<{(end - start) // 4}f", body[start:end])
    return tensors
a, b, bound = load(sys.argv[1]), load(sys.argv[2]), float(sys.argv[3])
assert a.keys() == b.keys() and a, (sorted(a), sorted(b))
worst, where = 0.0, ""
for name in a:
    scale = max(abs(v) for v in b[name]) or 1.0
    error = max(abs(x - y) for x, y in zip(a[name], b[name])) / scale
    if error >= worst:
        worst, where = error, name
print(f"{'ok' if worst <= bound else 'FAIL'} {worst:.3g} {where}")
EOF
    )
    echo "$3: max relative error $line"
    case $line in ok*) pass ;; *) fail "$3: weights differ: $line" ;; esac
}

# ---- 2 ranks against 1 process ----------------------------------------------------------

"$cnnrun" train even.yaml --threads 1 --out one-even --quiet >/dev/null 2>&1
expect_equal "$?" 0 "1 process, batch 10"
mpi 2 train even.yaml --threads 1 --out two-even
expect_status 0 "2 ranks, batch 10"
expect_in out "85 images for training, 31 for validation: 9 steps of 10 images per epoch" "rank 0's start line"
expect_equal "$(grep -c "images for training" out)" 1 "only rank 0 prints"
expect_equal "$(grep -c "epoch 3/3  train loss" out)" 1 "only rank 0 prints its epochs"
weights_agree two-even/last.safetensors one-even/last.safetensors "2 ranks vs 1, batch 10"
# The validation figures are sums over the ranks' shares: the same images.
expect_equal "$(cut -d, -f1,3,5,6 two-even/metrics.csv)" "$(cut -d, -f1,3,5,6 one-even/metrics.csv)" \
    "metrics.csv accuracies and lr"

"$cnnrun" train odd.yaml --threads 1 --out one-odd --quiet >/dev/null 2>&1
expect_equal "$?" 0 "1 process, batch 7"
mpi 2 train odd.yaml --threads 1 --out two-odd
expect_status 0 "2 ranks, batch 7"
weights_agree two-odd/last.safetensors one-odd/last.safetensors "2 ranks vs 1, batch 7, augmented"
mpi 3 train odd.yaml --threads 1 --out three-odd
expect_status 0 "3 ranks, batch 7"
weights_agree three-odd/last.safetensors one-odd/last.safetensors "3 ranks vs 1, batch 7, augmented"

"$cnnrun" train weighted.yaml --threads 1 --out one-weighted --quiet >/dev/null 2>&1
expect_equal "$?" 0 "1 process, class weights, smoothing, clipping"
mpi 2 train weighted.yaml --threads 1 --out two-weighted
expect_status 0 "2 ranks, class weights, smoothing, clipping"
weights_agree two-weighted/last.safetensors one-weighted/last.safetensors \
    "2 ranks vs 1, class weights (each share's weighted mean), smoothing, clipping"
# the weighted validation loss is a sum over the shares with their denominators
expect_equal "$(cut -d, -f1,4,5 two-weighted/metrics.csv)" "$(cut -d, -f1,4,5 one-weighted/metrics.csv)" \
    "weighted validation loss and accuracy"

# ---- resume across rank counts ----------------------------------------------------------

mpi 2 train even.yaml --threads 1 --out two-then-one --max-steps 13
expect_status 0 "2 ranks stop at step 13"
"$cnnrun" train even.yaml --threads 1 --resume two-then-one >/dev/null 2>&1
expect_equal "$?" 0 "1 process resumes the 2-rank run"
weights_agree two-then-one/last.safetensors one-even/last.safetensors "2 ranks, then 1"

"$cnnrun" train even.yaml --threads 1 --out one-then-two --max-steps 13 >/dev/null 2>&1
expect_equal "$?" 0 "1 process stops at step 13"
mpi 2 train even.yaml --threads 1 --resume one-then-two
expect_status 0 "2 ranks resume the 1-process run"
expect_in out "resuming at epoch 2 of 3, step 4" "resume line"
weights_agree one-then-two/last.safetensors one-even/last.safetensors "1 process, then 2 ranks"
expect_equal "$(cut -d, -f1,3,5,6 one-then-two/metrics.csv)" "$(cut -d, -f1,3,5,6 one-even/metrics.csv)" \
    "metrics.csv after resuming on 2 ranks"

# ---- failures ---------------------------------------------------------------------------

# Rank 1 cannot read its data: rank 0 says so and the job ends.
timeout 120 "$mpiexec" --oversubscribe -np 1 "$cnnrun" train even.yaml --out bad-data : \
    -np 1 "$cnnrun" train even.yaml --out bad-data --data "mnist:$scratch/nowhere" >out 2>err
status=$?
expect_status 2 "rank 1 without data"
expect_in err "rank 1 of 2" "rank 0 names the failing rank"
expect_in err "nowhere" "rank 0 names rank 1's missing folder"

# Rank 1 has other images than rank 0: the replicas would silently differ.
timeout 120 "$mpiexec" --oversubscribe -np 1 "$cnnrun" train even.yaml --out other-data : \
    -np 1 "$cnnrun" train even.yaml --out other-data --data "mnist:$scratch/other" >out 2>err
status=$?
expect_status 1 "rank 1 with other data"
expect_in err "rank 1 of 2" "rank 0 names the rank with other data"
expect_in err "differs from rank 0's" "other data"

# Rank 1 has another learning rate: the settings table names the setting.
timeout 120 "$mpiexec" --oversubscribe -np 1 "$cnnrun" train even.yaml --out other-lr : \
    -np 1 "$cnnrun" train even.yaml --out other-lr --lr 0.5 >out 2>err
status=$?
expect_status 2 "rank 1 with another lr"
expect_in err "rank 1 of 2" "rank 0 names the rank with another lr"
expect_in err "its training setting lr (0.5) differs from rank 0's" "the setting named"

# Rank 1 is killed mid-run: Open MPI ends the whole job (no hang).
model long 5 100000
"$mpiexec" --oversubscribe -np 2 "$cnnrun" train long.yaml --threads 1 --out killed >out 2>err &
launcher=$!
# children PID: the processes whose parent is PID (from /proc: no procps needed).
children() {
    local stat fields
    for stat in /proc/[0-9]*/stat; do
        read -ra fields <"$stat" 2>/dev/null || continue
        # pid (comm) state ppid ...: comm has no spaces here (cnnrun)
        [ "${fields[3]:-}" = "$1" ] && echo "${fields[0]}"
    done
}
victim=""
for _ in $(seq 300); do
    for pid in $(children "$launcher"); do
        if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1; then victim=$pid; fi
    done
    [ -n "$victim" ] && [ -f killed/metrics.csv ] && break
    sleep 0.1
done
if [ -n "$victim" ] && [ -f killed/metrics.csv ]; then
    pass
    kill -9 "$victim"
    ended=no
    for tenths in $(seq 300); do
        if ! kill -0 "$launcher" 2>/dev/null; then ended=yes && break; fi
        sleep 0.1
    done
    expect_equal "$ended" yes "the job ends within 30 s of a rank's death"
    echo "rank 1 killed: the job ended after about $((tenths / 10)).$((tenths % 10)) s"
    if [ "$ended" = no ]; then kill -9 "$launcher"; fi
    wait "$launcher"
    status=$?
    if [ "$status" -ne 0 ]; then pass; else fail "a job with a dead rank exited 0"; fi
else
    fail "the 2-rank run did not start training: $(head -c 600 err)"
    kill -9 "$launcher" 2>/dev/null
    wait "$launcher"
fi

report
