#!/usr/bin/env bash
# The train section's losses and controls through the binary: csv data
# (PGM images written here) with binary_cross_entropy and mse via the
# section and via --data csv:..., what train and eval print for them, early
# stopping's line, the run's ETA, and a loss changed on resume refused.
# Usage: cli_losses.sh PATH/TO/cnnrun SOURCE_DIR
set -u
cnnrun=${1:?usage: cli_losses.sh CNNRUN SOURCE_DIR}
case $cnnrun in /*) ;; *) cnnrun=$PWD/$cnnrun ;; esac
# shellcheck source=cli-helpers.bash
source "$(dirname "${BASH_SOURCE[0]}")/cli-helpers.bash"
cd "$scratch" || exit 1

# write_pgm FILE TOP BOTTOM LEVEL: an 8×8 grey PGM, bright bars on rows 1-2
# (TOP = 1) and 5-6 (BOTTOM = 1), the rest LEVEL plus a little pattern.
write_pgm() {
    local file=$1 top=$2 bottom=$3 level=$4 y x value octal bytes="P5 8 8 255\n"
    for ((y = 0; y < 8; y++)); do
        for ((x = 0; x < 8; x++)); do
            value=$((level + (x * 3 + y * 5) % 8))
            if { [ "$top" -eq 1 ] && { [ "$y" -eq 1 ] || [ "$y" -eq 2 ]; }; } ||
                { [ "$bottom" -eq 1 ] && { [ "$y" -eq 5 ] || [ "$y" -eq 6 ]; }; }; then
                value=$((value + 180))
            fi
            printf -v octal '\\%03o' "$value"
            bytes+=$octal
        done
    done
    printf "$bytes" >"$file"
}

# write_csv SPLIT COUNT: images SPLIT-i.pgm in data/img, data/SPLIT.csv
# (labels by name) and data/SPLIT-level.csv (brightness / 60).
write_csv() {
    local split=$1 count=$2 i top bottom level names
    mkdir -p data/img
    echo "image,labels" >"data/$split.csv"
    echo "image,brightness" >"data/$split-level.csv"
    for ((i = 0; i < count; i++)); do
        top=$((i % 2)) bottom=$((i / 2 % 2)) level=$((i * 13 % 61))
        write_pgm "data/img/$split-$i.pgm" "$top" "$bottom" "$level"
        names=""
        [ "$top" -eq 1 ] && names="top"
        [ "$bottom" -eq 1 ] && names="$names bottom"
        echo "img/$split-$i.pgm,$names" >>"data/$split.csv"
        echo "img/$split-$i.pgm,$(awk "BEGIN {print $level / 60}")" >>"data/$split-level.csv"
    done
}
write_csv train 32
write_csv test 12

cat >bars.yaml <<'MODEL'
name: bars
input: [1, 8, 8]
layers:
  - {type: flatten}
  - {type: dense, name: fc, units: 2}
  - {type: sigmoid, name: out}
train:
  data: {format: csv, train: data/train.csv, test: data/test.csv}
  loss: binary_cross_entropy
  epochs: 6
  batch_size: 8
  optimizer: {type: sgd, lr: 0.3}
  clip_grad_norm: 10
MODEL

expect_exit 0 check bars.yaml
expect_exit 0 train bars.yaml --out run-bce --quiet
expect_exit 0 eval bars.yaml --weights run-bce/best.safetensors
expect_in out "loss (binary cross-entropy)" "eval names the loss"
expect_in out "accuracy per output" "eval: per-output accuracy"
expect_in out "exact match" "eval: exact match"
# learnt: every output of every test image right
expect_in out "accuracy per output 100.00%" "multi-label bars learnt"
# eval --json for a per-output loss: the loss named, accuracy and exact
# match as fractions, no confusion matrix
expect_exit 0 eval bars.yaml --weights run-bce/best.safetensors --json
python3 - "$scratch/out" <<'PY' && pass || fail "eval --json (binary cross-entropy)"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["loss_type"] == "binary_cross_entropy", d
assert d["accuracy"] == 1.0 and 0.0 <= d["exact_match"] <= 1.0, d
assert d["loss"] >= 0 and d["images"] > 0 and "confusion" not in d and "rmse" not in d, d
PY

# predict on a model that ends in logits, trained with binary cross-entropy:
# one sigmoid per output, the same probabilities as the model with the
# sigmoid layer on the same weights (not a softmax over the outputs)
grep -v 'type: sigmoid' bars.yaml >bars-logits.yaml
expect_exit 0 train bars-logits.yaml --out run-logits --quiet
expect_exit 0 predict bars-logits.yaml --weights run-logits/best.safetensors --json --top 2 data/img/test-0.pgm data/img/test-3.pgm
cp "$scratch/out" logits.json
expect_exit 0 predict bars.yaml --weights run-logits/best.safetensors --json --top 2 data/img/test-0.pgm data/img/test-3.pgm
python3 - logits.json "$scratch/out" <<'PY' && pass || fail "predict: binary cross-entropy logits get one sigmoid per output"
import json, sys
logits, sigmoid = (json.load(open(p)) for p in sys.argv[1:3])
for a, b in zip(logits, sigmoid):
    pa = {e["class"]: e["probability"] for e in a["top"]}
    pb = {e["class"]: e["probability"] for e in b["top"]}
    assert pa.keys() == pb.keys() and all(abs(pa[k] - pb[k]) < 1e-6 for k in pa), (a, b)
# test-0 has no bar, test-3 both: far from a softmax's sum of 1
assert all(e["probability"] < 0.5 for e in logits[0]["top"]), logits
assert all(e["probability"] > 0.5 for e in logits[1]["top"]), logits
PY

# mse through --data csv:TRAIN,TEST (relative to the working directory)
cat >level.yaml <<'MODEL'
name: level
input: [1, 8, 8]
layers:
  - {type: flatten}
  - {type: dense, units: 1}
train:
  loss: mse
  epochs: 5
  batch_size: 8
  optimizer: {type: adam, lr: 0.01}
MODEL
expect_exit 0 train level.yaml --data csv:data/train-level.csv,data/test-level.csv --out run-mse
expect_in out "rmse" "mse: rmse instead of an accuracy"
expect_in out "done: validation loss" "mse: done line"
if grep -q "acc " "$scratch/out"; then fail "mse printed an accuracy"; else pass; fi
expect_exit 0 eval level.yaml --data csv:data/train-level.csv,data/test-level.csv --weights run-mse/best.safetensors
expect_in out "loss (mse)" "eval: mse"
expect_exit 0 eval level.yaml --data csv:data/train-level.csv,data/test-level.csv --weights run-mse/best.safetensors --json
python3 - "$scratch/out" <<'PY' && pass || fail "eval --json (mse): rmse, no accuracy"
import json, math, sys
d = json.load(open(sys.argv[1]))
assert d["loss_type"] == "mse", d
assert math.isclose(d["rmse"], math.sqrt(d["loss"]), rel_tol=1e-9), d
assert "accuracy" not in d and "exact_match" not in d, d
PY
# --data csv:... is remembered as csv (it was recorded as 'mnist:', so the
# weights named no data and a resume without --data failed)
expect_exit 0 info run-mse/last.safetensors
expect_in out "csv:$scratch/data/train-level.csv,$scratch/data/test-level.csv" "info: the csv data, absolute"
expect_exit 0 train level.yaml --resume run-mse --epochs 6 --quiet
expect_in out "after epoch 6" "a csv run resumes without --data"
# predict with mse: the outputs are values, named so
expect_exit 0 predict level.yaml --weights run-mse/best.safetensors --json data/img/test-1.pgm
python3 - "$scratch/out" <<'PY' && pass || fail "predict --json with mse: values, not probabilities"
import json, sys
top = json.load(open(sys.argv[1]))[0]["top"]
assert len(top) == 1 and "value" in top[0] and "probability" not in top[0], top
PY
expect_exit 0 predict level.yaml --weights run-mse/best.safetensors --csv data/img/test-1.pgm
expect_in out "image,rank,class,name,value" "predict --csv with mse: a value column"
# the loss may not change on resume
sed 's/loss: binary_cross_entropy/loss: mse/' bars.yaml >bars-mse.yaml
expect_exit 1 train bars-mse.yaml --resume run-bce --epochs 7
expect_in err "run-bce/checkpoint.safetensors was saved with loss binary_cross_entropy, this run has mse" "another loss on resume refused"

# mse on class data at run time (the section's data given by --data)
expect_exit 1 train level.yaml --data csv:data/train.csv,data/test.csv --out run-bad
expect_in err "has 2 target columns, but model 'level' has 1 outputs" "columns against outputs"

# early stopping: a learning rate too small to move the loss by min_delta
sed -e 's/lr: 0.3/lr: 0.000001/' -e 's/epochs: 6/epochs: 8/' bars.yaml >stall.yaml
echo "  early_stopping: {patience: 2, min_delta: 0.01}" >>stall.yaml
expect_exit 0 train stall.yaml --out run-stall
expect_in out "stopped early after epoch 3: val_loss did not improve by more than 0.01 for 2 epochs" "early stopping line"
rows=$(($(wc -l <run-stall/metrics.csv) - 1))
expect_equal "$rows" 3 "metrics.csv rows of an early-stopped run"
expect_exit 0 train stall.yaml --resume run-stall
rows=$(($(wc -l <run-stall/metrics.csv) - 1))
expect_equal "$rows" 3 "a resumed early-stopped run trains no more"

report
