#!/usr/bin/env bash
# Issue 17 through the binary: runs that remember the options they were
# started with (`--resume DIR` alone continues them bit for bit), weights
# that describe themselves (class names, input, normalisation, model and
# data in their metadata; `cnnrun info`), and prediction at scale (folders,
# batches, JSON and CSV).
# Usage: cli_runs.sh PATH/TO/cnnrun SOURCE_DIR
set -u
cnnrun=${1:?usage: cli_runs.sh CNNRUN SOURCE_DIR}
case $cnnrun in /*) ;; *) cnnrun=$PWD/$cnnrun ;; esac
# shellcheck source=cli-helpers.bash
source "$(dirname "${BASH_SOURCE[0]}")/cli-helpers.bash"
cd "$scratch" || exit 1
# Bit-for-bit comparisons need one thread count for every run: the runs
# below are resumed with `--resume DIR` alone, so it comes from here.
export OMP_NUM_THREADS=1

# write_png_folder ROOT COUNT: ROOT/{train,test}/{bar_top,bar_middle,bar_bottom}/N.png,
# 8×8 grey PNGs with a bright bar whose row gives the class (learnable in an epoch).
write_png_folder() {
    python3 - "$1" "$2" <<'EOF'
import os, struct, sys, zlib
root, count = sys.argv[1], int(sys.argv[2])
def png(path, rows):
    raw = b"".join(b"\x00" + bytes(row) for row in rows)
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
for split, n in (("train", count), ("test", count // 2)):
    for label, name in enumerate(("bar_top", "bar_middle", "bar_bottom")):
        os.makedirs(f"{root}/{split}/{name}", exist_ok=True)
        for i in range(n):
            bar = 1 + 2 * label
            rows = [[(i * 7 + y * 13 + x * 5) % 32 + (200 if y in (bar, bar + 1) else 0)
                     for x in range(8)] for y in range(8)]
            png(f"{root}/{split}/{name}/{i}.png", rows)
EOF
}

write_split mnist train 60 3
write_split mnist t10k 30 3
write_png_folder shapes 12
write_tiny_model tiny.yaml "$scratch/mnist"
# The train section says 1 epoch: the runs below override it with --epochs 2.
sed -i 's/epochs: 2/epochs: 1/' tiny.yaml

# resume_hint FILE: the command the stop message says to resume with.
resume_hint() {
    sed -n 's/.*resume with: //p' "$scratch/$1"
}

# ---- 1. runs that remember their options ------------------------------------------------------
# Started with --data and --epochs 2, stopped by --max-steps, resumed with
# exactly the printed hint: the same weights as a run straight through.
folder_data="folder:shapes/train,shapes/test"
expect_exit 0 train tiny.yaml --data "$folder_data" --epochs 2 --lr 0.05 --out straight --quiet
expect_exit 0 train tiny.yaml --data "$folder_data" --epochs 2 --lr 0.05 --out stopped --max-steps 3
hint=$(resume_hint err)
expect_equal "$hint" "cnnrun train tiny.yaml --resume stopped" "the resume hint is the model and the folder"
eval "\"\$cnnrun\" ${hint#cnnrun }" >"$scratch/out" 2>"$scratch/err"
expect_equal "$?" 0 "the pasted hint runs"
expect_in out "the run's options: --data=folder:$scratch/shapes/train,$scratch/shapes/test --epochs=2 --lr=0.05" "the recorded options named"
expect_in out "training 'tiny' (tiny.yaml) for 2 epochs" "the recorded --epochs applies"
if cmp -s straight/last.safetensors stopped/last.safetensors; then pass; else fail "--data run resumed by its folder alone: weights differ from the straight run"; fi
if cmp -s straight/metrics.csv stopped/metrics.csv; then pass; else fail "--data run resumed by its folder alone: metrics.csv differs"; fi
expect_equal "$(wc -l <stopped/metrics.csv)" 3 "two epochs of metrics (the train section says one)"

# Started with --epochs 2 on the train section's data, stopped mid-epoch 2.
expect_exit 0 train tiny.yaml --epochs 2 --out e_straight --quiet
expect_exit 0 train tiny.yaml --epochs 2 --out e_stopped --max-steps 10 --quiet
expect_exit 0 train tiny.yaml --resume e_stopped --quiet
if cmp -s e_straight/last.safetensors e_stopped/last.safetensors; then pass; else fail "--epochs 2 run resumed by its folder alone: weights differ"; fi
expect_equal "$(wc -l <e_stopped/metrics.csv)" 3 "--epochs 2 is not shortened to the train section's 1"

# Given again: the same value is no change; another value follows the
# settings table (epochs applied with a line saying so, batch size and data refused).
expect_exit 0 train tiny.yaml --epochs 2 --out again --max-steps 3 --quiet
expect_exit 0 train tiny.yaml --resume again --epochs 2 --max-steps 4
if grep -q "changed since" "$scratch/out"; then fail "the same --epochs again was reported as a change"; else pass; fi
expect_exit 0 train tiny.yaml --resume again --epochs 3 --max-steps 5
expect_in out "changed since the checkpoint: epochs 3 (was 2)" "a changed --epochs is applied and said"
expect_exit 0 train tiny.yaml --resume again --max-steps 6
expect_in out "for 3 epochs" "the --epochs given at a resume is recorded in turn"
expect_exit 1 train tiny.yaml --resume again --batch-size 4
expect_in err "was saved with batch size 8, this run has 4" "a changed --batch-size is refused, naming both"
write_split other train 90 3
write_split other t10k 30 3
expect_exit 1 train tiny.yaml --resume stopped --data mnist:other --epochs 3
expect_in err "saved training on other data (folder:$scratch/shapes/train,$scratch/shapes/test with 36 images then, mnist:$scratch/other with 90 now" "a changed --data is refused, naming both"
# A resume started from another folder finds the recorded data all the same.
mkdir -p elsewhere
(cd elsewhere && "$cnnrun" train ../tiny.yaml --resume ../stopped --epochs 3 --quiet >/dev/null 2>&1)
expect_equal "$?" 0 "the recorded --data holds absolute folders"

report
