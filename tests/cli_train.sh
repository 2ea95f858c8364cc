#!/usr/bin/env bash
# `cnnrun train`, `eval` and `predict` through the binary, on a tiny IDX data
# set written here (8×8 grey images, three classes told apart by where a
# bright bar is): exit codes, help, messages, the run folder, --max-steps and
# --resume, Ctrl-C, a NaN loss, eval's and predict's output.
# Usage: cli_train.sh PATH/TO/cnnrun SOURCE_DIR
set -u
cnnrun=${1:?usage: cli_train.sh CNNRUN SOURCE_DIR}
case $cnnrun in /*) ;; *) cnnrun=$PWD/$cnnrun ;; esac
# shellcheck source=cli-helpers.bash
source "$(dirname "${BASH_SOURCE[0]}")/cli-helpers.bash"
cd "$scratch" || exit 1


# ---- a tiny data set ------------------------------------------------------------------------

write_bar_data

write_tiny_model tiny.yaml "$scratch/data"

# ---- help and usage errors ------------------------------------------------------------------

expect_exit 0 help train
expect_in out "usage: cnnrun train MODEL.yaml" "help train"
expect_in out "--resume DIR" "help train"
expect_exit 0 train --help
expect_in out "usage: cnnrun train" "train --help"
expect_exit 0 help eval
expect_in out "usage: cnnrun eval MODEL.yaml --weights" "help eval"
expect_exit 0 help predict
expect_in out "--top K" "help predict"
expect_exit 0 --help
expect_in out "train " "--help lists train"
expect_in out "predict " "--help lists predict"

expect_exit 2 train
expect_in err "missing MODEL.yaml" "train without a model"
expect_exit 2 train tiny.yaml --bogus
expect_in err "unknown option '--bogus'" "unknown option"
expect_exit 2 train tiny.yaml --epochs 0
expect_in err "--epochs must be a whole number ≥ 1, got '0'" "--epochs 0"
expect_exit 2 train tiny.yaml --lr -1
expect_exit 2 train tiny.yaml --batch-size
expect_in err "--batch-size needs a value" "option without its value"
expect_exit 2 train tiny.yaml --init w.safetensors --resume runs/tiny
expect_in err "--init and --resume do not go together" "--init with --resume"
expect_exit 2 train tiny.yaml --data nowhere
expect_exit 2 train no-such-model.yaml
expect_exit 2 train tiny.yaml --resume "$scratch/no-run"
expect_in err "cannot resume" "--resume on an empty folder"

# ---- a run -------------------------------------------------------------------------------

expect_exit 0 train tiny.yaml --threads 1
expect_in out "60 images for training, 30 for validation: 8 steps of 8 images per epoch" "start line"
expect_in out "epoch 1/2  train loss" "epoch line (not a terminal: no progress bar)"
expect_in out "epoch 2/2  train loss" "epoch line"
expect_in out "files in runs/tiny/:" "where the files are"
if grep -q $'\r' out; then fail "carriage returns written to a file"; else pass; fi
for file in metrics.csv last.safetensors best.safetensors checkpoint.safetensors; do
    expect_file "runs/tiny/$file" "run folder"
done
expect_equal "$(head -1 runs/tiny/metrics.csv)" "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr" "metrics.csv header"
expect_equal "$(wc -l <runs/tiny/metrics.csv)" "3" "metrics.csv: header and two epochs"
expect_equal "$(ls runs/tiny | grep -c tmp)" "0" "no temporary files left"

# The same command again does not overwrite the first run.
expect_exit 0 train tiny.yaml --threads 1 --quiet
expect_in out "files in runs/tiny-2/:" "a second run gets its own folder"
expect_equal "$(cut -d, -f1-6 runs/tiny/metrics.csv)" "$(cut -d, -f1-6 runs/tiny-2/metrics.csv)" "same seed, same metrics"
if grep -q "epoch 1/2" out; then fail "--quiet still printed epochs"; else pass; fi
# ... and an explicit folder that holds a run is refused.
expect_exit 2 train tiny.yaml --out runs/tiny
expect_in err "runs/tiny already holds a training run" "--out on an existing run"

# ---- --max-steps and --resume --------------------------------------------------------------

expect_exit 0 train tiny.yaml --out stepped --max-steps 3 --threads 1
expect_in err "stopped (--max-steps) at epoch 1 step 3; resume with: cnnrun train tiny.yaml --resume stepped" "--max-steps message"
expect_exit 0 train tiny.yaml --resume stepped --threads 1
expect_in out "resuming at epoch 1 of 2, step 3" "resume"
if cmp -s stepped/last.safetensors runs/tiny/last.safetensors; then pass; else fail "stopped and resumed run differs from the straight one"; fi
expect_exit 0 train tiny.yaml --resume stepped --epochs 3 --lr 0.05 --threads 1
expect_in out "changed since the checkpoint: epochs 3 (was 2), lr 0.05 (was 0.1)" "resume with changes"
expect_in out "epoch 3/3" "a third epoch"
expect_exit 1 train tiny.yaml --resume stepped --batch-size 4
expect_in err "batch size 8, this run has 4" "resume with another batch size"

# ---- Ctrl-C ------------------------------------------------------------------------------

"$cnnrun" train tiny.yaml --out interrupted --epochs 100000 >out 2>err &
pid=$!
for ((i = 0; i < 100; i++)); do
    [ -f interrupted/metrics.csv ] && break
    sleep 0.05
done
kill -INT "$pid"
wait "$pid"
status=$?
expect_equal "$status" "1" "exit status after Ctrl-C"
expect_in err "interrupted at epoch " "Ctrl-C message"
expect_in err "; resume with: cnnrun train tiny.yaml --resume interrupted" "Ctrl-C says how to resume"
expect_file interrupted/checkpoint.safetensors "checkpoint after Ctrl-C"

# ---- bad runs ----------------------------------------------------------------------------

expect_exit 1 train tiny.yaml --out diverged --lr 1e30
expect_in err "the loss became" "NaN stop"
expect_in err "at epoch 1, step 2" "NaN stop names the step"
expect_exit 1 train tiny.yaml --out four --data "mnist:$scratch/data4"
expect_in err "image 3 has label 3, but model 'tiny' has 3 outputs" "labels beyond the outputs"
expect_in err "data4/train-images-idx3-ubyte" "labels error names the data"
if [ -e four ]; then fail "a refused run created its folder"; else pass; fi

# ---- eval --------------------------------------------------------------------------------

expect_exit 0 eval tiny.yaml --weights runs/tiny/best.safetensors
expect_in out "model 'tiny', weights runs/tiny/best.safetensors" "eval header"
expect_in out "(30 images)" "eval data"
expect_in out "accuracy" "eval accuracy"
expect_in out "confusion matrix (rows: true class, columns: predicted class)" "confusion matrix"
# the accuracy line agrees with the confusion matrix's diagonal, and each row sums to 10
rows=$(awk '/^confusion/ {on = 1; getline; next} on && NF == 4 {print $2 + $3 + $4}' out | tr '\n' ' ')
expect_equal "$rows" "10 10 10 " "confusion rows: 10 images per class"
right=$(awk '/^confusion/ {on = 1; getline; row = 0; next} on && NF == 4 {row++; d += $(row + 1)} END {print d}' out)
expect_in out "($right of 30)" "accuracy count = confusion diagonal"
expect_exit 2 eval tiny.yaml
expect_in err "missing --weights" "eval without weights"
expect_exit 2 eval tiny.yaml --weights no-such.safetensors
expect_exit 1 eval tiny.yaml --weights runs/tiny/best.safetensors --data "mnist:$scratch/data4"
expect_in err "has label 3" "eval on data with more classes"

# ---- predict -----------------------------------------------------------------------------

# An 8×8 binary PGM with the class-1 bar (rows 3 and 4).
{
    printf 'P5\n8 8\n255\n'
    for ((y = 0; y < 8; y++)); do
        for ((x = 0; x < 8; x++)); do
            if [ "$y" -eq 3 ] || [ "$y" -eq 4 ]; then printf '\310'; else printf '\010'; fi
        done
    done
} >bar1.pgm
printf 'not an image' >junk.png
expect_exit 0 predict tiny.yaml --weights runs/tiny/best.safetensors bar1.pgm
expect_in out "bar1.pgm" "predict names the image"
expect_equal "$(grep -c '%' out)" "3" "three classes, all shown (top 5 > 3)"
top=$(sed -n 2p out | awk '{print $2}')
expect_equal "$top" "1" "the bar in rows 3-4 is class 1"
sum=$(awk 'NR > 1 {sub("%", "", $1); s += $1} END {printf "%.0f", s}' out)
expect_equal "$sum" "100" "probabilities add up to 100%"
expect_exit 0 predict tiny.yaml --weights runs/tiny/best.safetensors --top 1 bar1.pgm bar1.pgm
expect_equal "$(grep -c '%' out)" "2" "--top 1: one line per image"
# --json: one document, a list with one object per image; the probabilities
# are the same as the text's, at full precision, and add up to 1.
expect_exit 0 predict tiny.yaml --weights runs/tiny/best.safetensors --json bar1.pgm bar1.pgm
json_check=$(/usr/bin/python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))
assert isinstance(doc, list) and len(doc) == 2, doc
for item in doc:
    assert item["image"] == "bar1.pgm"
    top = item["top"]
    assert [entry["class"] for entry in top][0] == 1 and len(top) == 3
    assert abs(sum(entry["probability"] for entry in top) - 1) < 1e-6
    assert all("name" in entry for entry in top)
    assert any(len(repr(entry["probability"])) > 8 for entry in top)
print("ok")' out 2>&1)
expect_equal "$json_check" "ok" "predict --json: a list of {image, top: [{class, name, probability}]}"
expect_exit 1 predict tiny.yaml --weights runs/tiny/best.safetensors junk.png
expect_in err "junk.png" "undecodable image named"
expect_exit 2 predict tiny.yaml --weights runs/tiny/best.safetensors missing.png
expect_exit 2 predict tiny.yaml --weights runs/tiny/best.safetensors
expect_in err "no image files or folders given" "predict without images"
expect_exit 2 predict tiny.yaml --weights runs/tiny/best.safetensors --top 0 bar1.pgm


# ---- a model's warnings: one line pointing at `cnnrun check`, --quiet none --------------

# (8 − 3)/2 + 1 = 3 windows read rows 0–6: row 7 and column 7 are dropped.
cat >drops.yaml <<EOF
input: [1, 8, 8]
layers:
  - {type: conv, name: c1, filters: 2, kernel: 3, stride: 2}
  - {type: dense, units: 3}
  - {type: softmax}
train: {data: {format: mnist, dir: $scratch/data}, epochs: 1, batch_size: 8}
EOF
expect_exit 0 train drops.yaml --out drops --threads 1
expect_equal "$(grep -c 'warning' err)" "1" "train: the warnings in one line"
expect_in err "drops.yaml has 2 warnings (layer 'c1': height: pixels dropped" "train: the warning line"
expect_in err "\`cnnrun check drops.yaml\` shows them all" "train: points at check"
expect_exit 0 train drops.yaml --out drops-quiet --threads 1 --quiet
expect_equal "$(grep -c 'warning' err)" "0" "train --quiet: no warning line"
expect_exit 0 eval drops.yaml --weights drops/best.safetensors
expect_equal "$(grep -c 'cnnrun check drops.yaml' err)" "1" "eval: one warning line"
expect_exit 0 eval drops.yaml --weights drops/best.safetensors --quiet
expect_empty err "eval --quiet: no warning line"
expect_exit 0 predict drops.yaml --weights drops/best.safetensors --quiet bar1.pgm
expect_empty err "predict --quiet: no warning line"
expect_exit 0 predict drops.yaml --weights drops/best.safetensors bar1.pgm
expect_equal "$(grep -c 'cnnrun check drops.yaml' err)" "1" "predict: one warning line"

report
