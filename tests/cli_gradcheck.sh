#!/usr/bin/env bash
# `cnnrun gradcheck` through the binary: usage errors and their exit codes,
# an invalid model, a passing check (its table and summary) and a failing one.
# Usage: cli_gradcheck.sh PATH/TO/cnnrun SOURCE_DIR
set -u
cnnrun=${1:?usage: cli_gradcheck.sh CNNRUN SOURCE_DIR}
source_dir=${2:?usage: cli_gradcheck.sh CNNRUN SOURCE_DIR}
models=$source_dir/models
bad=$source_dir/tests/specs/bad
small=$source_dir/tests/gradcheck/dense_chain.yaml
# shellcheck source=cli-helpers.bash
source "$(dirname "${BASH_SOURCE[0]}")/cli-helpers.bash"

# ---- usage errors: exit 2, a message naming the problem -------------------------------

expect_exit 2 gradcheck
expect_in err "missing MODEL.yaml" "no model"
expect_in err "Try 'cnnrun help gradcheck'." "usage errors point to the help"
expect_exit 2 gradcheck "$small" --bogus
expect_in err "unknown option '--bogus'" "unknown option"
expect_exit 2 gradcheck "$small" "$models/lenet5.yaml"
expect_exit 2 gradcheck "$small" --batch 0
expect_in err "--batch must be a whole number ≥ 1, got '0'" "--batch 0"
expect_exit 2 gradcheck "$small" --samples x
expect_in err "--samples must be a whole number ≥ 1, got 'x'" "--samples x"
expect_exit 2 gradcheck "$small" --directions 17
expect_in err "--directions" "--directions above 16"
expect_in err "16" "--directions names its range"
expect_exit 2 gradcheck "$small" --directions -1
expect_exit 2 gradcheck "$small" --tolerance 0
expect_in err "--tolerance must be a positive number, got '0'" "--tolerance 0"
expect_exit 2 gradcheck "$small" --tolerance abc
expect_exit 2 gradcheck "$small" --seed 1x
expect_in err "--seed must be a whole number" "--seed 1x"
expect_exit 2 gradcheck "$small" --input 3,2
expect_in err "--input must be C,H,W (e.g. 3,32,32), got '3,2'" "--input with two numbers"
expect_exit 2 gradcheck "$small" --input 0,2,2
expect_exit 2 gradcheck "$small" --samples
expect_in err "--samples needs a value" "option without its value"
expect_exit 2 gradcheck "$scratch/no-such-model.yaml"
expect_in err "no-such-model.yaml: cannot open" "missing file"

# ---- help ------------------------------------------------------------------------------

expect_exit 0 help gradcheck
expect_in out "usage: cnnrun gradcheck MODEL.yaml" "help gradcheck"
expect_in out "--tolerance" "help lists --tolerance"
expect_in out "--directions" "help lists --directions"
expect_exit 0 gradcheck --help
expect_in out "usage: cnnrun gradcheck" "gradcheck --help"

# ---- invalid models: exit 1 ------------------------------------------------------------

expect_exit 1 gradcheck "$bad/lenet_c3_too_small.yaml"
expect_in err "layer 'c3'" "invalid model"
expect_empty out "an invalid model prints no table"
# an input size the model's layers cannot take
expect_exit 1 gradcheck "$models/lenet5.yaml" --input 1,4,4
expect_in err "layer 'c3'" "--input too small for the model"

# ---- a passing check -------------------------------------------------------------------

expect_exit 0 gradcheck "$small"
expect_empty err "a passing check"
expect_in out "gradient check of 'dense_chain', input 3×2×2, batch 2, seed 1, tolerance 0.02" "header"
expect_in out "worst rel err" "table heading"
# one row per parameter tensor (f2 has no bias) plus the input
rows=$(grep -cE '^(f[1-5]\.(weight|bias)|input) ' "$scratch/out")
expect_equal "$rows" 10 "rows: 9 parameter tensors and the input"
expect_in out "passed: 10 of 10 tensors within tolerance" "summary"
if grep -q "FAIL" "$scratch/out"; then fail "a passing check shows FAIL"; else pass; fi

# the options reach the check: batch, seed and tolerance appear in the header,
# and another input size changes the input row's element count (3×3×3 = 27
# per image, 54 for a batch of 2)
cat >"$scratch/conv.yaml" <<'MODEL'
name: tiny_conv
input: [2, 6, 6]
layers:
  - {type: conv, name: c, filters: 3, kernel: 3, padding: 1, activation: tanh}
  - {type: maxpool, size: 2}
  - {type: dense, name: d, units: 4}
  - {type: softmax}
MODEL
expect_exit 0 gradcheck "$scratch/conv.yaml" --batch 3 --seed 7 --tolerance 0.05 --samples 4 --directions 0
expect_in out "gradient check of 'tiny_conv', input 2×6×6, batch 3, seed 7, tolerance 0.05" "options in the header"
expect_in out "c.weight" "conv weight row"
expect_in out "passed: 5 of 5 tensors within tolerance" "conv model passes"
expect_exit 0 gradcheck "$small" --input 3,3,3 --batch 2
expect_in out "input 3×3×3" "--input changes the input size"
if grep -qE '^input +input +54 ' "$scratch/out"; then pass; else fail "--input 3,3,3: input row should have 54 elements: $(grep '^input' "$scratch/out")"; fi

# ---- an unchecked tensor: counted apart, never as passed, not a failure ------------------

# A conv bias before a batchnorm in training mode changes nothing (the
# batchnorm subtracts it out): every probe of c.bias is float32 noise.
cat >"$scratch/bias_before_bn.yaml" <<'MODEL'
name: bias_before_bn
input: [1, 4, 4]
layers:
  - {type: conv, name: c, filters: 2, kernel: 3, padding: 1}
  - {type: batchnorm, name: bn}
  - {type: flatten}
  - {type: dense, name: d, units: 3}
  - {type: softmax}
MODEL
expect_exit 0 gradcheck "$scratch/bias_before_bn.yaml"
if grep -qE '^c\.bias .* 0 +[0-9]+ .*unchecked' "$scratch/out"; then pass; else fail "c.bias should be unchecked: $(grep '^c.bias' "$scratch/out")"; fi
expect_in out "passed 6, unchecked 1 of 7 tensors" "unchecked counted apart"
if grep -q "7 of 7" "$scratch/out"; then fail "an unchecked tensor counted as passed"; else pass; fi
# ... and with failures too
expect_exit 1 gradcheck "$scratch/bias_before_bn.yaml" --tolerance 1e-30
expect_in out "FAILED: passed 0, unchecked 1, failed 6 of 7 tensors" "failed summary with unchecked"

# ---- a failing check: exit 1, FAIL rows and a FAILED summary ----------------------------

# no finite-difference estimate in float is within 1e-30 of the analytic
# gradient, so every checked tensor fails
expect_exit 1 gradcheck "$small" --tolerance 1e-30
expect_in out "FAIL" "rows marked FAIL"
expect_in out "FAILED: 0 of 10 tensors within tolerance" "failed summary"

report
