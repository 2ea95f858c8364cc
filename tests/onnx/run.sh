#!/usr/bin/env bash
# ONNX export and import against the reference implementations:
#   run.sh CNNRUN ONNX_REF SOURCE_DIR BUILD_DIR
#
#  1. every model in models/ and tests/onnx/every_kind.yaml (every layer
#     kind), with random weights: onnx.checker (full_check) and ONNX shape
#     inference against `cnnrun check` (python3-onnx); onnxruntime (npm
#     onnxruntime-node, CPU) against cnnrun's own outputs to 1e-5; export →
#     `cnnrun import` → the same `cnnrun check` report, weights and outputs;
#  2. opset 17 for one model;
#  3. torch.onnx.export files (python3-torch) of LeNet-5, a VGG-style net
#     with batchnorm and a ResNet-style net with add: `cnnrun import`, then
#     the imported model's outputs against PyTorch's to 1e-5 and `cnnrun
#     predict` on an image against PyTorch's probabilities;
#  4. broken files: `cnnrun import` exits 1 with the expected message.
# What needs a missing tool is reported as "skipped: <why>" and the test
# exits 77 (ctest: skipped, not passed) after running the rest.
#
# onnxruntime-node is installed into BUILD_DIR/npm on first use with
# `npm install --onnxruntime-node-install=skip` (its postinstall would fetch
# GPU binaries; the CPU library ships inside the npm package).
set -uo pipefail

cnnrun="$1" ref="$2" src="$3" build="$4"
python="${CNNRUN_PYTHON:-/usr/bin/python3}"
ort_version=1.30.0
npm_dir="$build/npm"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

failures=0
skips=()
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
skip() {
    echo "skipped: $*"
    skips+=("$*")
}

have_onnx=0 have_torch=0 have_ort=0
if "$python" -c 'import onnx, numpy' 2>/dev/null; then
    have_onnx=1
else
    skip "onnx.checker and shape inference: $python cannot import onnx and numpy (Debian: python3-onnx)"
fi
if "$python" -c 'import torch, onnx' 2>/dev/null; then
    have_torch=1
else
    skip "torch.onnx.export imports: $python cannot import torch (Debian: python3-torch)"
fi
if ! command -v node >/dev/null; then
    skip "onnxruntime: no node (Debian: nodejs)"
elif [[ -f "$npm_dir/node_modules/onnxruntime-node/package.json" ]]; then
    have_ort=1
elif ! command -v npm >/dev/null; then
    skip "onnxruntime: no npm (Debian: npm) to install onnxruntime-node"
elif npm install --prefix "$npm_dir" --no-audit --no-fund --loglevel=error \
    "onnxruntime-node@$ort_version" --onnxruntime-node-install=skip >"$work/npm.log" 2>&1; then
    have_ort=1
else
    skip "onnxruntime: npm install onnxruntime-node@$ort_version failed: $(tail -n 3 "$work/npm.log")"
fi

# Reduced input sizes where the model's own makes the export slow (random
# weights, so any size its shape rules accept will do).
declare -A sizes=([vgg16]="32 32" [alexnet]="67 67")

# A model file with another input size: `cnnrun check` and the export then
# agree on every shape.
resized() { # MODEL OUT H W
    sed -E "s/^input: \[([0-9]+), [0-9]+, [0-9]+\]/input: [\1, $3, $4]/" "$1" >"$2"
}

export_case() { # NAME MODEL [onnx_ref options]
    local name="$1" model="$2"
    shift 2
    local dir="$work/$name"
    mkdir -p "$dir"
    if ! "$ref" export "$model" "$dir" "$@" 2>"$dir/export.err"; then
        fail "$name: export: $(cat "$dir/export.err")"
        return 1
    fi
    "$cnnrun" check --json "$model" >"$dir/check.json" 2>/dev/null || fail "$name: cnnrun check"
}

check_case() { # NAME
    local dir="$work/$1"
    if ((have_onnx)); then
        "$python" "$src/tests/onnx/exchange.py" check "$dir/model.onnx" "$dir/check.json" ||
            fail "$1: onnx checker / shape inference"
    fi
    if ((have_ort)); then
        node "$src/tests/onnx/ort_run.js" "$npm_dir" "$dir" | sed "s/^/$1 onnxruntime: /"
        ((PIPESTATUS[0] == 0)) || fail "$1: onnxruntime differs from cnnrun"
    fi
}

roundtrip_case() { # NAME
    local name="$1" dir="$work/$1"
    if ! "$cnnrun" import "$dir/model.onnx" -o "$dir/imported.yaml" \
        --weights-out "$dir/imported.safetensors" >"$dir/import.out" 2>&1; then
        fail "$name: import of the export: $(cat "$dir/import.out")"
        return
    fi
    "$cnnrun" check --json "$dir/imported.yaml" >"$dir/imported.json" 2>/dev/null ||
        fail "$name: cnnrun check of the imported model"
    if ((have_onnx)); then
        "$python" "$src/tests/onnx/exchange.py" roundtrip "$dir/check.json" "$dir/imported.json" \
            "$dir/weights.safetensors" "$dir/imported.safetensors" || fail "$name: round trip"
    fi
    local batch
    batch=$(grep -o '"input": \[[0-9]*' "$dir/meta.json" | grep -o '[0-9]*$')
    if "$ref" forward "$dir/imported.yaml" "$dir/imported.safetensors" "$dir/input.bin" \
        "$dir/imported.bin" "$batch"; then
        cmp -s "$dir/imported.bin" "$dir/output.bin" ||
            fail "$name: the imported model's output differs from the original's"
    else
        fail "$name: forward of the imported model"
    fi
}

echo "== every model in models/ and every layer kind"
"$ref" kinds "$src/tests/onnx/every_kind.yaml" || fail "every_kind.yaml lacks a kind"
for model in "$src"/models/*.yaml "$src/tests/onnx/every_kind.yaml"; do
    name="$(basename "$model" .yaml)"
    if [[ -n "${sizes[$name]:-}" ]]; then
        resized "$model" "$work/$name.yaml" ${sizes[$name]}
        echo "$name: at input ${sizes[$name]/ /×} (reduced from its own size)"
        model="$work/$name.yaml"
    fi
    export_case "$name" "$model" || continue
    check_case "$name"
    roundtrip_case "$name"
done

echo "== opset 17"
export_case lenet5_opset17 "$src/models/lenet5.yaml" --opset 17 && check_case lenet5_opset17

echo "== torch.onnx.export files"
if ((have_torch)); then
    mkdir -p "$work/torch"
    if "$python" "$src/tests/onnx/exchange.py" torch "$work/torch" 2>"$work/torch.err"; then
        for net in lenet5 vgg_bn resnet; do
            t="$work/torch/$net"
            if ! "$cnnrun" import "$t.onnx" -o "$t.yaml" --weights-out "$t.safetensors" \
                >"$t.import" 2>&1; then
                fail "$net: cnnrun import of torch's file: $(cat "$t.import")"
                continue
            fi
            "$ref" forward "$t.yaml" "$t.safetensors" "$t.input.bin" "$t.cnnrun.bin" 3 &&
                "$python" "$src/tests/onnx/exchange.py" close "$t.cnnrun.bin" "$t.torch.bin" ||
                fail "$net: cnnrun's output of the imported model differs from PyTorch's"
            "$cnnrun" predict "$t.yaml" --weights "$t.safetensors" --top 3 "$t.pnm" >"$t.predict" &&
                "$python" "$src/tests/onnx/exchange.py" predict "$t.predict" "$t.pnm.txt" ||
                fail "$net: cnnrun predict differs from PyTorch"
        done
    else
        fail "torch export: $(tail -n 5 "$work/torch.err")"
    fi
fi

echo "== what export refuses"
printf 'name: even\ninput: [4, 5, 5]\nlayers:\n  - {type: lrn, name: norm, size: 4}\n' >"$work/even.yaml"
"$cnnrun" export "$work/even.yaml" -o "$work/even.onnx" >"$work/even.out" 2>&1
code=$?
if [[ $code -ne 1 ]] || ! grep -q "layer 'norm': cannot export to ONNX: LRN size 4 is even" "$work/even.out"; then
    fail "export of an even LRN: exit $code, $(cat "$work/even.out")"
elif [[ -e "$work/even.onnx" ]]; then
    fail "export of an even LRN wrote a file"
else
    echo "even LRN: exit 1, $(cat "$work/even.out")"
fi

echo "== broken files"
mkdir -p "$work/bad"
bad_files=()
head -c 300 "$work/lenet5/model.onnx" >"$work/bad/truncated.onnx" 2>/dev/null &&
    echo "truncated or malformed" >"$work/bad/truncated.expect"
printf 'not a model' >"$work/bad/text.onnx" && echo "truncated or malformed" >"$work/bad/text.expect"
: >"$work/bad/empty.onnx" && echo "IR version 0" >"$work/bad/empty.expect"
if ((have_onnx)); then
    "$python" "$src/tests/onnx/exchange.py" bad "$work/bad" || fail "writing the broken files"
fi
for file in "$work"/bad/*.onnx; do
    expect="$(cat "${file%.onnx}.expect")"
    "$cnnrun" import "$file" -o "$work/bad/out.yaml" >"$work/bad/out.txt" 2>&1
    code=$?
    if [[ $code -ne 1 ]]; then
        fail "$(basename "$file"): exit $code, expected 1: $(cat "$work/bad/out.txt")"
    elif ! grep -qF -- "$expect" "$work/bad/out.txt"; then
        fail "$(basename "$file"): message lacks '$expect': $(cat "$work/bad/out.txt")"
    else
        echo "$(basename "$file"): exit 1, $(head -c 160 "$work/bad/out.txt")"
    fi
    [[ ! -e "$work/bad/out.yaml" ]] || fail "$(basename "$file"): a model file was written"
done

if ((failures)); then
    echo "$failures failure(s)"
    exit 1
fi
if ((${#skips[@]})); then
    echo "passed what could run; skipped: ${skips[*]}"
    exit 77
fi
echo "all ONNX exchange checks passed"
