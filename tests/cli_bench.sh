#!/usr/bin/env bash
# `cnnrun bench` through the binary: usage errors, exit codes, and that the
# JSON figures add up (shares, step = layers + other, images/s = batch/time,
# GFLOP/s = FLOPs/time) with one entry per model layer, names and shapes as
# `cnnrun check --json` gives them.
# Usage: cli_bench.sh PATH/TO/cnnrun SOURCE_DIR
set -u
cnnrun=${1:?usage: cli_bench.sh CNNRUN SOURCE_DIR}
source_dir=${2:?usage: cli_bench.sh CNNRUN SOURCE_DIR}
models=$source_dir/models
bad=$source_dir/tests/specs/bad
# shellcheck source=cli-helpers.bash
source "$(dirname "${BASH_SOURCE[0]}")/cli-helpers.bash"

quick=(--batch-size 8 --steps 3 --warmup 1)

# ---- usage and invalid models ------------------------------------------------------------

expect_exit 2 bench
expect_in err "missing MODEL.yaml" "no model"
expect_exit 2 bench "$models/lenet5.yaml" --steps 0
expect_in err "--steps must be a whole number ≥ 1, got '0'" "--steps 0"
expect_exit 2 bench "$models/lenet5.yaml" --batch-size x
expect_in err "--batch-size must be a whole number ≥ 1, got 'x'" "--batch-size x"
expect_exit 2 bench "$models/lenet5.yaml" --warmup -1
expect_exit 2 bench "$models/lenet5.yaml" --threads
expect_in err "--threads needs a value" "--threads without a value"
expect_exit 2 bench "$models/lenet5.yaml" --input 1,28
expect_exit 2 bench "$models/lenet5.yaml" --fast
expect_in err "unknown option '--fast'" "unknown option"
expect_exit 2 bench "$models/lenet5.yaml" "$models/vgg_small.yaml"
expect_exit 2 bench "$scratch/missing.yaml"
expect_exit 1 bench "$bad/lenet_c3_too_small.yaml"
expect_in err "layer 'c3'" "invalid model"
expect_empty out "an invalid model"
expect_exit 1 bench "$models/lenet5.yaml" --input 1,8,8 "${quick[@]}"
expect_in err "layer 'c3'" "an input too small for the model"
expect_exit 0 help bench
expect_in out "usage: cnnrun bench MODEL.yaml" "help"

# ---- --data: the steps fed by the loader -------------------------------------------------

write_split "$scratch/data" train 40 3
write_split "$scratch/data" t10k 10 3
write_tiny_model "$scratch/tiny.yaml" "$scratch/data"
printf '  augment: [{random_resized_crop: {scale: [0.5, 1]}}, hflip, mixup]\n' >>"$scratch/tiny.yaml"
expect_exit 0 bench "$scratch/tiny.yaml" --data "mnist:$scratch/data" --loader-threads 2 "${quick[@]}"
expect_in out "loader:" "bench --data reports the loader"
expect_in out "images/s alone (2 threads: decode, augment, mix)" "bench --data"
expect_exit 0 bench "$scratch/tiny.yaml" --data "mnist:$scratch/data" --json "${quick[@]}"
wait_ms=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["loader_images_per_second"] > 0 and d["loader_wait_ms"] >= 0)' "$scratch/out")
expect_equal "$wait_ms" "True" "bench --data --json: loader figures"
expect_exit 2 bench "$scratch/tiny.yaml" --data "mnist:$scratch/nowhere" "${quick[@]}"
expect_in err "data folder does not exist" "bench --data on a missing folder"
expect_exit 2 bench "$scratch/tiny.yaml" --loader-threads -1

# ---- the table ---------------------------------------------------------------------------

expect_exit 0 bench "$models/lenet5.yaml" "${quick[@]}"
expect_empty err "bench (no progress when stderr is not a terminal)"
for text in "fwd ms" "bwd ms" "share" "sgemm GFLOP/s" "efficiency" "c1  " "f6  " \
    "training:" "inference:" "peak RSS" "OPENBLAS_CORETYPE=" "threads:"; do
    expect_in out "$text" "bench table"
done

# ---- the JSON and its identities ---------------------------------------------------------

# The planned memory includes per-thread scratch: check it at bench's 1 thread.
OMP_NUM_THREADS=1 "$cnnrun" check --json --batch 8 "$models/lenet5.yaml" >"$scratch/check.json"
expect_exit 0 bench "$models/lenet5.yaml" "${quick[@]}" --threads 1 --json
cp "$scratch/out" "$scratch/bench.json"
expect_exit 0 bench "$models/lenet5.yaml" "${quick[@]}" --input 1,32,32 --json
cp "$scratch/out" "$scratch/bench32.json"

# Each failed assertion prints one line; the last line is the count of checks.
/usr/bin/python3 - "$scratch/bench.json" "$scratch/check.json" "$scratch/bench32.json" \
    >"$scratch/python" 2>&1 <<'EOF'
import json, math, os, sys

d = json.load(open(sys.argv[1]))
check = json.load(open(sys.argv[2]))
d32 = json.load(open(sys.argv[3]))
checks = 0

def expect(condition, what):
    global checks
    checks += 1
    if not condition:
        print("FAIL:", what)

def near(a, b, tolerance=1e-9):
    return abs(a - b) <= tolerance * max(1.0, abs(b))

keys = ["model", "input", "batch", "threads", "steps", "warmup", "openblas_coretype",
        "openblas_l2_size", "layers", "step_ms", "layers_ms", "other_ms",
        "train_images_per_second", "inference_ms", "inference_images_per_second",
        "peak_rss_bytes", "planned_bytes"]
for key in keys:
    expect(key in d, "key " + key)
expect(d["model"] == "lenet5" and d["input"] == [1, 28, 28], "model and input")
expect(d["batch"] == 8 and d["steps"] == 3 and d["warmup"] == 1, "batch, steps, warmup")
expect(d["threads"] == 1, "--threads 1")
expect(d["openblas_coretype"] == os.environ.get("OPENBLAS_CORETYPE"), "OPENBLAS_CORETYPE")
expect(d["openblas_l2_size"] == os.environ.get("OPENBLAS_L2_SIZE"), "OPENBLAS_L2_SIZE")

layers = d["layers"]
expect([l["name"] for l in layers] == [l["name"] for l in check["layers"]], "layer names")
expect([l["kind"] for l in layers] == [l["type"] for l in check["layers"]], "layer kinds")
expect([l["output"] for l in layers] == [l["output"] for l in check["layers"]], "output shapes")
for key in ["forward_ms", "backward_ms", "share"]:
    expect(all(math.isfinite(l[key]) and l[key] >= 0 for l in layers), key + " finite, ≥ 0")
expect(near(sum(l["share"] for l in layers), 1.0, 1e-6), "shares sum to 1")
expect(near(d["layers_ms"], sum(l["forward_ms"] + l["backward_ms"] for l in layers)),
       "layers_ms = Σ forward + backward")
for l in layers:
    expect(near(l["share"], (l["forward_ms"] + l["backward_ms"]) / d["layers_ms"]),
           l["name"] + " share")
expect(d["other_ms"] >= 0, "other_ms ≥ 0")
expect(near(d["step_ms"], d["layers_ms"] + d["other_ms"]), "step = layers + other")
expect(near(d["train_images_per_second"], d["batch"] * 1000 / d["step_ms"]), "training images/s")
expect(near(d["inference_images_per_second"], d["batch"] * 1000 / d["inference_ms"]),
       "inference images/s")
for key in ["step_ms", "layers_ms", "train_images_per_second", "inference_ms",
            "inference_images_per_second", "peak_rss_bytes", "planned_bytes"]:
    expect(math.isfinite(d[key]) and d[key] > 0, key + " positive")
total = check["training_memory"]["total"]
expect(total <= d["planned_bytes"] < total * 1.01, "planned bytes = check's training memory")
expect(d["peak_rss_bytes"] > d["planned_bytes"], "peak RSS above what was planned")

# FLOPs: 2·MACs·batch per product; c1 (the first layer) has no input gradient.
macs = {l["name"]: l["macs"] for l in check["layers"]}
for l in layers:
    if macs[l["name"]] == 0:
        expect(l["gflops"] is None and l["gemm_gflops"] is None and l["efficiency"] is None,
               l["name"] + " has no GFLOP/s")
        continue
    products = 2 if l["name"] == "c1" else 3
    flops = 2 * macs[l["name"]] * d["batch"] * products
    seconds = (l["forward_ms"] + l["backward_ms"]) / 1000
    expect(l["flops"] == flops, l["name"] + " FLOPs")
    expect(l["gemm_flops"] == flops, l["name"] + " GEMM FLOPs")
    expect(near(l["gflops"], flops / seconds / 1e9), l["name"] + " GFLOP/s = FLOPs / time")
    expect(near(l["gemm_gflops"], flops / (l["gemm_ms"] / 1000) / 1e9), l["name"] + " sgemm GFLOP/s")
    expect(near(l["efficiency"], l["gflops"] / l["gemm_gflops"]), l["name"] + " efficiency")
    expect(l["efficiency"] > 0, l["name"] + " efficiency positive")

expect(d32["input"] == [1, 32, 32], "--input")
expect(d32["layers"][0]["output"] == [6, 32, 32] and d32["layers"][2]["output"] == [16, 12, 12],
       "--input re-infers the shapes")
print(checks)
EOF
python_status=$?
checks=$(tail -n 1 "$scratch/python")
if [ "$python_status" -eq 0 ] && ! grep -q '^FAIL' "$scratch/python" && [ "$checks" -gt 40 ]; then
    passed=$((passed + checks))
else
    fail "bench JSON: $(head -c 2000 "$scratch/python")"
fi

report
