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

expect_exit 0 info stopped/checkpoint.safetensors
expect_in out "run options: --data=folder:$scratch/shapes/train,$scratch/shapes/test --epochs=2 --lr=0.05" "info shows a checkpoint's recorded options"

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

# ---- 2. weights that describe themselves -----------------------------------------------------
# A model whose train section names Fashion-MNIST (10 outputs), trained on
# the generated folder of 3 classes: predict and eval name that folder's
# classes from the weights, not Fashion-MNIST's, and need no data set.
sed -e 's/units: 3/units: 10/' -e 's|data: .*|data: fashion-mnist|' \
    -e 's/seed: 3/seed: 3\n  normalize: {mean: [0.5], std: [0.25]}/' tiny.yaml >fashion.yaml
expect_exit 0 train fashion.yaml --data "$folder_data" --epochs 2 --out described --quiet
expect_exit 0 predict fashion.yaml --weights described/last.safetensors shapes/test/bar_top/0.png --top 3
expect_in out "2 bar_top" "predict names the folder's class from the weights"
if grep -qE "T-shirt|Trouser|Pullover|Dress|Coat|Sandal|Shirt|Sneaker|Bag|Ankle" "$scratch/out"; then
    fail "predict showed Fashion-MNIST's names for a folder-trained run: $(cat "$scratch/out")"
else pass; fi
expect_exit 0 eval fashion.yaml --weights described/best.safetensors --data "$folder_data"
expect_in out "1 bar_middle" "eval names the classes from the weights"
expect_exit 0 info described/last.safetensors
expect_in out "classes:    3: 0 bar_bottom, 1 bar_middle, 2 bar_top" "info: class names"
expect_in out "input:      1×8×8" "info: input shape"
expect_in out "normalize:  mean [0.5], std [0.25]" "info: normalisation"
expect_in out "model:      tiny (sha256 $(sha256sum fashion.yaml | cut -d' ' -f1))" "info: the model file's sha256, as sha256sum prints it"
expect_in out "data:       folder:$scratch/shapes/train,$scratch/shapes/test" "info: the data set"
expect_in out "out.weight  F32    10×64                      640" "info: a tensor's dtype, shape and parameters"
expect_in out "4 tensors, 690 parameters" "info: totals"
expect_exit 0 info described/best.safetensors --model
if cmp -s "$scratch/out" fashion.yaml; then pass; else fail "info --model does not give the model file back"; fi
expect_exit 0 info described/last.safetensors --json
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["classes"] == ["bar_bottom", "bar_middle", "bar_top"], d["classes"]
assert d["input"] == [1, 8, 8] and d["normalize"] == {"mean": [0.5], "std": [0.25]}, d
assert [t["name"] for t in d["tensors"]] == ["c1.weight", "c1.bias", "out.weight", "out.bias"]
assert d["parameters"] == 690 and d["metadata"]["format"] == "pt"
' "$scratch/out" && pass || fail "info --json: $(head -c 300 "$scratch/out")"
expect_exit 1 info fashion.yaml
expect_in err "not a safetensors file" "info on a model file"
expect_exit 2 info missing.safetensors
# The recorded normalisation comes first: a model file without the train
# section's normalize gives the same probabilities as the one trained with it.
grep -v normalize fashion.yaml >plain.yaml
expect_exit 0 predict fashion.yaml --weights described/last.safetensors shapes/test --csv
cp "$scratch/out" with_section.csv
expect_exit 0 predict plain.yaml --weights described/last.safetensors shapes/test --csv
if cmp -s "$scratch/out" with_section.csv; then pass; else fail "the weights' normalisation was not used first"; fi
# Weights without metadata (written before, or by PyTorch) still work: numbers.
python3 - described/last.safetensors bare.safetensors <<'EOF2'
import json, struct, sys
data = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + n])
header["__metadata__"] = {"format": "pt"}
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(text)) + text + data[8 + n:])
EOF2
expect_exit 0 predict plain.yaml --weights bare.safetensors shapes/test/bar_top/0.png --top 1
expect_in out "%  2" "weights without metadata: class numbers"

# ---- 3. prediction at scale ------------------------------------------------------------------
mkdir -p many/nested/deeper
cp shapes/test/bar_top/0.png many/a.png
cp shapes/test/bar_middle/1.png many/nested/b.png
cp shapes/test/bar_bottom/2.png many/nested/deeper/no-extension
echo "not an image" >many/nested/README.png
ln -s ../nested many/nested/deeper/loop        # a link to a folder: not followed
ln -s nowhere.png many/dangling.png            # a dangling link: skipped
mkfifo many/pipe.png                           # never opened (it would block)
expect_exit 0 predict fashion.yaml --weights described/last.safetensors many --top 1
expect_in out "many/a.png" "a folder's image"
expect_in out "many/nested/deeper/no-extension" "an image found by content, deep in the folder"
expect_in err "note: skipped many/nested/README.png: not an image" "a folder's non-image skipped with a note"
expect_equal "$(grep -c '^many/' "$scratch/out")" 3 "every image of the folder, once"
expect_in err "note: skipped many/dangling.png" "a dangling link skipped"
expect_in err "note: skipped many/nested/deeper/loop" "a link to a folder skipped"
expect_in err "note: skipped many/pipe.png" "a FIFO skipped unopened"
expect_exit 1 predict fashion.yaml --weights described/last.safetensors many/nested/README.png
expect_in err "many/nested/README.png: not an image" "a named non-image file is an error"
expect_exit 2 predict fashion.yaml --weights described/last.safetensors nowhere
expect_in err "nowhere: no such image file or folder" "a missing argument named"
expect_exit 2 predict fashion.yaml --weights described/last.safetensors many --json --csv
# Another batch size or thread count changes the probabilities only by
# float rounding (GEMMs of other shapes sum in another order).
expect_exit 0 predict fashion.yaml --weights described/last.safetensors shapes/test --csv --top 3 --batch-size 1 --threads 1
cp "$scratch/out" batch1.csv
for variant in "--batch-size 7 --threads 1" "--batch-size 7 --threads 2" "--threads 2"; do
    # shellcheck disable=SC2086
    expect_exit 0 predict fashion.yaml --weights described/last.safetensors shapes/test --csv --top 3 $variant
    python3 - "$scratch/out" batch1.csv <<'EOF2' && pass || fail "predict $variant against one image at a time: $(diff batch1.csv "$scratch/out" | head -4)"
import csv, sys
a, b = (list(csv.DictReader(open(f))) for f in sys.argv[1:])
assert len(a) == len(b) == 54
pa = {(r["image"], r["class"]): float(r["probability"]) for r in a}
pb = {(r["image"], r["class"]): float(r["probability"]) for r in b}
assert [r["image"] for r in a] == [r["image"] for r in b]
assert [r["class"] for r in a if r["rank"] == "1"] == [r["class"] for r in b if r["rank"] == "1"]
for key in pa.keys() & pb.keys():
    assert abs(pa[key] - pb[key]) <= 1e-6, (key, pa[key], pb[key])
EOF2
done
expect_equal "$(head -1 batch1.csv)" "image,rank,class,name,probability" "CSV header"
expect_equal "$(wc -l <batch1.csv)" $((1 + 18 * 3)) "CSV: one row per image and class"
expect_exit 0 predict fashion.yaml --weights described/last.safetensors shapes/test --json --top 3 --batch-size 1 --threads 1
python3 - "$scratch/out" batch1.csv <<'EOF2' && pass || fail "predict --json against --csv"
import csv, json, sys
doc = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open(sys.argv[2])))
assert len(doc) == 18 and all(len(item["top"]) == 3 for item in doc)
flat = [(item["image"], k + 1, t["class"], t["name"], t["probability"]) for item in doc for k, t in enumerate(item["top"])]
for (image, rank, cls, name, p), row in zip(flat, rows):
    assert (image, rank, cls, name) == (row["image"], int(row["rank"]), int(row["class"]), row["name"]), (image, row)
    import struct
    f32 = lambda x: struct.unpack("f", struct.pack("f", x))[0]
    assert f32(p) == f32(float(row["probability"])), (p, row["probability"])
EOF2
# eval --json and train --json.
expect_exit 0 eval fashion.yaml --weights described/best.safetensors --data "$folder_data" --json
python3 - "$scratch/out" <<'EOF2' && pass || fail "eval --json: $(head -c 300 "$scratch/out")"
import json, sys
d = json.load(open(sys.argv[1]))
m = d["confusion"]
assert len(m) == 10 and all(len(r) == 10 for r in m)
assert d["images"] == sum(map(sum, m)) == 18
assert d["correct"] == sum(m[i][i] for i in range(10)) and abs(d["accuracy"] - d["correct"] / 18) < 1e-12
assert [c["name"] for c in d["classes"][:3]] == ["bar_bottom", "bar_middle", "bar_top"]
assert d["classes"][3]["name"] is None and d["classes"][3]["accuracy"] is None
assert all(c["images"] == sum(m[c["class"]]) for c in d["classes"])
EOF2
expect_exit 0 train tiny.yaml --epochs 2 --out jsonrun --json
expect_equal "$(wc -l <"$scratch/out")" 2 "train --json: one line per epoch on stdout"
expect_in err "epoch 2/2  train loss" "train --json: the progress for people on stderr"
python3 - "$scratch/out" jsonrun/metrics.csv <<'EOF2' && pass || fail "train --json lines: $(head -c 300 "$scratch/out")"
import csv, json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
rows = list(csv.DictReader(open(sys.argv[2])))
assert [l["epoch"] for l in lines] == [1, 2] and lines[0]["epochs"] == 2 and lines[0]["lr"] == 0.1
for l, r in zip(lines, rows):
    assert abs(l["val_accuracy"] - float(r["val_accuracy"])) < 1e-6 and abs(l["train_loss"] - float(r["train_loss"])) < 1e-6
EOF2

report
