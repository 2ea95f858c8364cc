#!/usr/bin/env bash
# Transfer learning through the binary, on write_split's tiny bar images:
# `train --init` with --init-report and --init-partial (the exact report
# lines, the exit codes, init.txt in the run folder), `freeze:` in `check`
# (text and --json) and in a resume that changes it.
# Usage: cli_transfer.sh PATH/TO/cnnrun SOURCE_DIR
set -u
cnnrun=${1:?usage: cli_transfer.sh CNNRUN SOURCE_DIR}
case $cnnrun in /*) ;; *) cnnrun=$PWD/$cnnrun ;; esac
# shellcheck source=cli-helpers.bash
source "$(dirname "${BASH_SOURCE[0]}")/cli-helpers.bash"
cd "$scratch" || exit 1

write_bar_data

# tiny: 3 classes; tiny4: the same layers with a 4-class head, on 4 classes.
write_tiny_model tiny.yaml "$scratch/data"
sed 's/name: tiny/name: tiny4/; s/units: 3/units: 4/; s#/data$#/data4#' tiny.yaml >tiny4.yaml
expect_exit 0 train tiny.yaml --threads 1 --quiet
weights=runs/tiny/last.safetensors

# ---- usage ----------------------------------------------------------------------------------

expect_exit 2 train tiny4.yaml --init-report
expect_in err "--init-report needs --init W.safetensors" "--init-report alone"
expect_exit 2 train tiny4.yaml --init-partial
expect_in err "--init-partial needs --init W.safetensors" "--init-partial alone"

# ---- strict: the new head does not fit --------------------------------------------------------

expect_exit 1 train tiny4.yaml --init $weights --threads 1
expected="loaded      c1.weight [4, 1, 3, 3]
loaded      c1.bias [4]
mismatch    out.weight: model [4, 64], file [3, 64]
mismatch    out.bias: model [4], file [3]
init from $weights: 2 loaded, 0 missing, 0 unexpected, 2 shape mismatches
$weights: 2 of the model's tensors do not fit (listed above); give --init-partial to keep their fresh initialisation and train on"
expect_equal "$(cat err)" "$expected" "strict init: the report and the error on stderr"
expect_empty out "strict init: nothing trained"
if [ -e runs/tiny4 ]; then fail "a failed init left a run folder"; else pass; fi

# ---- partial: the head keeps its fresh initialisation -------------------------------------------

expect_exit 0 train tiny4.yaml --init $weights --init-partial --init-report --threads 1
expected="loaded      c1.weight [4, 1, 3, 3]
loaded      c1.bias [4]
mismatch    out.weight: model [4, 64], file [3, 64]
mismatch    out.bias: model [4], file [3]
init from $weights: 2 loaded, 0 missing, 0 unexpected, 2 shape mismatches
the 2 missing or mismatched tensors keep the fresh initialisation"
expect_equal "$(head -6 out)" "$expected" "partial init: the report first"
expect_in out "done: validation accuracy" "partial init trains"
expect_file runs/tiny4/init.txt "init.txt records the start"
expect_equal "$(sed -n 2p runs/tiny4/init.txt)" "weights: $weights" "init.txt: the weights"
expect_equal "$(tail -5 runs/tiny4/init.txt)" "$(head -5 out)" "init.txt: the report"
# Without --init-report: the counts only.
expect_exit 0 train tiny4.yaml --init $weights --init-partial --threads 1 --max-steps 1
expect_equal "$(head -2 out)" "init from $weights: 2 loaded, 0 missing, 0 unexpected, 2 shape mismatches
the 2 missing or mismatched tensors keep the fresh initialisation" "partial init without the report"

# A renamed head: missing in the file, unexpected in the model.
sed 's/name: out/name: head/; s/name: tiny4/name: renamed/' tiny4.yaml >renamed.yaml
expect_exit 0 train renamed.yaml --init $weights --init-partial --init-report --threads 1 --max-steps 1
expected="loaded      c1.weight [4, 1, 3, 3]
loaded      c1.bias [4]
missing     head.weight [4, 64] (not in the file)
missing     head.bias [4] (not in the file)
unexpected  out.weight [3, 64] (not in the model)
unexpected  out.bias [3] (not in the model)
init from $weights: 2 loaded, 2 missing, 2 unexpected, 0 shape mismatches"
expect_equal "$(head -7 out)" "$expected" "renamed head: missing and unexpected"
# Unexpected tensors alone do not fail a strict init.
sed 's/name: tiny/name: nohead/; /name: out/d; /softmax/d' tiny.yaml >nohead.yaml
expect_exit 0 check nohead.yaml
expect_exit 0 train nohead.yaml --data "mnist:$scratch/data" --init $weights --threads 1 --max-steps 1
expect_in out "init from $weights: 2 loaded, 0 missing, 2 unexpected, 0 shape mismatches" "unexpected only"

# A file that is not weights at all.
echo "not safetensors" >junk.safetensors
folders=$(ls runs | wc -l)
expect_exit 1 train tiny4.yaml --init junk.safetensors --init-partial
expect_equal "$(ls runs | wc -l)" "$folders" "a bad init file leaves no run folder"

# ---- freeze ---------------------------------------------------------------------------------

sed 's/name: tiny4/name: frozen/' tiny4.yaml >frozen.yaml
echo "  freeze: [c1]" >>frozen.yaml
expect_exit 0 check frozen.yaml
expect_in out "parameters:             300 (1.2 KiB as float32), 260 trainable, 40 frozen" "check: frozen counts"
expect_exit 0 check frozen.yaml --json
expect_in out '"frozen_parameters":	40' "check --json: frozen count"
expect_in out '"trainable_parameters":	260' "check --json: trainable count"
expect_exit 0 check tiny4.yaml
if grep -q frozen out; then fail "check names frozen parameters of a model without freeze"; else pass; fi

expect_exit 0 train frozen.yaml --init $weights --init-partial --threads 1 --max-steps 3 --quiet
expect_exit 1 train tiny4.yaml --resume runs/frozen --threads 1
expect_in err "train freeze removed (was c1)" "a resume without the freeze is refused"
expect_exit 0 train frozen.yaml --resume runs/frozen --threads 1 --quiet

report
