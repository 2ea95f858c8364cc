#!/usr/bin/env bash
# `cnnrun check` and the command line around it, through the binary: exit
# codes, help, version, JSON output, --batch, and where messages go.
# Usage: cli_check.sh PATH/TO/cnnrun SOURCE_DIR
set -u
cnnrun=${1:?usage: cli_check.sh CNNRUN SOURCE_DIR}
source_dir=${2:?usage: cli_check.sh CNNRUN SOURCE_DIR}
models=$source_dir/models
bad=$source_dir/tests/specs/bad
# shellcheck source=cli-helpers.bash
source "$(dirname "${BASH_SOURCE[0]}")/cli-helpers.bash"

# json EXPRESSION...: evaluates Python expressions over the JSON document `d`
# in $scratch/out (one Python start for all of them: it is the slow part),
# leaving the results in the array `value`.
json() {
    mapfile -t value < <(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
for expression in sys.argv[2:]:
    print(eval(expression))' "$scratch/out" "$@")
}


# ---- exit codes -------------------------------------------------------------------------

for model in "$models"/*.yaml; do
    expect_exit 0 check "$model"
    case "$(basename "$model")" in
    resnet*)
        # The ResNets' 1×1 stride-2 projection shortcuts skip the last row
        # and column of an even map by design (the 3×3 path beside them
        # covers it): those warnings, and nothing else.
        expect_equal "$(grep -vc 'downsample_conv.*is not divisible by stride 2' "$scratch/err")" \
            "0" "check $(basename "$model") warns only about its projection shortcuts"
        ;;
    *) expect_empty err "check $(basename "$model") (a valid model warns about nothing)" ;;
    esac
done

expect_exit 1 check "$bad/lenet_c3_too_small.yaml"
expect_in err "lenet_c3_too_small.yaml:9:41: layer 'c3': output height (4 + 2·0 − 5)/1 + 1 = 0 < 1: input 6×4×4 is smaller than the 5×5 kernel" "shape error"
expect_empty out "an invalid model"
expect_exit 1 check "$bad/syntax_unclosed_bracket.yaml"
expect_in err "YAML syntax error" "syntax error"
expect_exit 1 check "$bad/unknown_type_convolutional.yaml"
expect_in err "did you mean 'conv'?" "unknown type"
expect_exit 1 check "$bad/empty.yaml"
# --json always prints one document: on an invalid model the error with its
# position and layer, the same exit code, nothing on stderr.
expect_exit 1 check --json "$bad/cycle.yaml"
json 'd["ok"]' 'len(d["errors"])' 'd["errors"][0]["line"]' 'd["errors"][0]["column"]' \
    'd["errors"][0]["layer"]' 'd["errors"][0]["message"]' 'd["errors"][0]["file"].endswith("cycle.yaml")' \
    'd["warnings"]'
expect_equal "${value[0]:-}" "False" "--json error: ok false"
expect_equal "${value[1]:-}" "1" "--json error: one error"
expect_equal "${value[2]:-}:${value[3]:-}" "6:5" "--json error: line and column"
expect_equal "${value[4]:-}" "a" "--json error: layer"
expect_equal "${value[5]:-}" "the layers' inputs form a cycle: b -> c -> a -> b (each layer's input must be computed before it)" "--json error: message"
expect_equal "${value[6]:-}" "True" "--json error: file"
expect_equal "${value[7]:-}" "[]" "--json error: warnings"
expect_empty err "--json error: nothing on stderr"
expect_exit 1 check --json "$bad/version_unknown.yaml"
json 'd["errors"][0]["layer"]' 'd["errors"][0]["line"]'
expect_equal "${value[0]:-}:${value[1]:-}" "None:3" "--json error without a layer: null"
expect_exit 2 check --json "$scratch/no-such-model.yaml"
json 'd["ok"]' 'd["errors"][0]["line"]'
expect_equal "${value[0]:-}:${value[1]:-}" "False:None" "--json: an unreadable file is a document too, exit 2"
# every bad spec is exit 1, never a crash (which would be 128+)
for spec in "$bad"/*.yaml; do
    expect_exit 1 check "$spec"
done

expect_exit 2 check "$scratch/no-such-model.yaml"
expect_in err "no-such-model.yaml: cannot open" "missing file"
expect_exit 2 check "$source_dir/models"
expect_exit 2
expect_in err "usage: cnnrun COMMAND" "no arguments"
expect_exit 2 check
expect_in err "missing MODEL.yaml" "check without a file"
expect_exit 2 check --bogus "$models/lenet5.yaml"
expect_in err "unknown option '--bogus'" "unknown option"
expect_exit 2 check "$models/lenet5.yaml" "$models/alexnet.yaml"
expect_exit 2 check --batch 0 "$models/lenet5.yaml"
expect_exit 2 check --batch many "$models/lenet5.yaml"
expect_exit 2 check "$models/lenet5.yaml" --batch
expect_exit 2 chek "$models/lenet5.yaml"
expect_in err "unknown command 'chek'; did you mean 'check'?" "unknown command"
expect_exit 2 help no-such-command

# ---- help and version -------------------------------------------------------------------

expect_exit 0 --help
expect_in out "usage: cnnrun COMMAND" "--help"
expect_in out "check" "--help lists check"
expect_empty err "--help"
expect_exit 0 -h
expect_exit 0 help
expect_in out "commands:" "help"
expect_exit 0 help check
expect_in out "usage: cnnrun check MODEL.yaml [--batch N] [--json]" "help check"
expect_in out "--batch N" "help check"
expect_exit 0 check --help
expect_in out "usage: cnnrun check" "check --help"
expect_exit 0 --version
if grep -qE '^cnnrun [0-9]+\.[0-9]+\.[0-9]+' "$scratch/out"; then pass; else fail "--version: $(cat "$scratch/out")"; fi

# ---- the table ----------------------------------------------------------------------------

expect_exit 0 check "$models/lenet5.yaml"
expect_in out "61,706" "LeNet-5 parameters"
expect_in out "416,520 (0.42 M)" "LeNet-5 MACs in human units"
expect_in out "6×28×28" "c1 output shape"
# columns line up although '×' takes two bytes: every row's parameter
# column ends where the header's does (counted in characters)
widths=$(python3 -c '
import sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
at = next(i for i, l in enumerate(lines) if l.startswith("layer "))
end = lines[at].index("parameters") + len("parameters")
rows = lines[at + 1 : at + 10]
print(sum(1 for r in rows if r[end - 1] != " " and r[end] == " "), len(rows))
' "$scratch/out")
expect_equal "$widths" "9 9" "LeNet-5 rows aligned with the header"
expect_exit 0 check "$models/vgg16.yaml"
expect_in out "138,357,544" "VGG-16 parameters"
expect_in out "15,470,264,320 (15.47 G)" "VGG-16 MACs"
expect_in out "block5.conv3" "VGG-16 repeat names"
expect_exit 0 check "$models/alexnet.yaml"
expect_in out "60,965,224" "AlexNet parameters"

# ---- JSON ---------------------------------------------------------------------------------

expect_exit 0 check --json "$models/lenet5.yaml"
expect_empty err "check --json on a valid model"
json 'd["totals"]["parameters"]' 'd["totals"]["macs_per_image"]' 'd["totals"]["activations_per_image"]' \
    'd["name"]' 'd["input"]' 'len(d["layers"])' \
    'd["layers"][0]["name"], d["layers"][0]["output"], d["layers"][0]["parameters"]' \
    'sum(l["parameters"] for l in d["layers"])' 'sum(l["macs"] for l in d["layers"])' \
    'd["training_memory"]["batch"]' 'd["warnings"]' 'd["training_memory"]["total"]' \
    'd["training_memory"]["activations"]'
expect_equal "${#value[@]}" 13 "check --json is valid JSON with every field"
expect_equal "${value[0]:-}" "61706" "JSON parameters"
expect_equal "${value[1]:-}" "416520" "JSON MACs"
expect_equal "${value[2]:-}" "9288" "JSON activations"
expect_equal "${value[3]:-}" "lenet5" "JSON name"
expect_equal "${value[4]:-}" "[1, 28, 28]" "JSON input"
expect_equal "${value[5]:-}" "9" "JSON layer count"
expect_equal "${value[6]:-}" "('c1', [6, 28, 28], 156)" "JSON first layer"
expect_equal "${value[7]:-}" "61706" "JSON layer parameters add up"
expect_equal "${value[8]:-}" "416520" "JSON layer MACs add up"
expect_equal "${value[9]:-}" "64" "JSON default batch"
expect_equal "${value[10]:-}" "[]" "JSON warnings"
memory_64=${value[11]:-0}
activations_64=${value[12]:-0}

expect_exit 0 check --json --batch 128 "$models/lenet5.yaml"
json 'd["training_memory"]["batch"]' 'd["training_memory"]["total"]' 'd["training_memory"]["activations"]'
expect_equal "${value[0]:-}" "128" "--batch 128 in JSON"
memory_128=${value[1]:-0}
expect_equal "${value[2]:-}" "$((${activations_64%.*} * 2))" "--batch 128 doubles activation memory"
if [ "${memory_128%.*}" -gt "${memory_64%.*}" ]; then pass; else fail "--batch 128 total $memory_128 is not above batch 64's $memory_64"; fi

expect_exit 0 check --batch 128 "$models/lenet5.yaml"
expect_in out "training memory at batch 128" "--batch 128 in the table"
table_128=$(grep "training memory at batch" "$scratch/out")
run check "$models/lenet5.yaml"
table_64=$(grep "training memory at batch" "$scratch/out")
if [ "${table_128#*: }" != "${table_64#*: }" ]; then pass; else fail "--batch 128 does not change the figure: $table_128"; fi

expect_exit 0 check --json "$models/vgg16.yaml"
json 'd["totals"]["parameters"]' 'd["totals"]["macs_per_image"]'
expect_equal "${value[0]:-}" "138357544" "VGG-16 JSON parameters"
expect_equal "${value[1]:-}" "15470264320" "VGG-16 JSON MACs"

# ---- warnings: stderr, exit 0 ------------------------------------------------------------

cat >"$scratch/drops.yaml" <<'EOF'
input: [1, 28, 28]
layers:
  - {type: conv, name: c, filters: 2, kernel: 3, stride: 2}
  - {type: dense, units: 10}
EOF
expect_exit 0 check "$scratch/drops.yaml"
expect_in err "drops.yaml:3:" "warning position"
expect_in err "layer 'c': warning: height: pixels dropped: the last 1 row of the input (height 28) is never read: (28 + 2·0 − 3) = 25 is not divisible by stride 2" "warning text"
expect_in err "the last 1 column" "width warning"
if grep -q "warning" "$scratch/out"; then fail "warnings leaked to stdout"; else pass; fi
expect_in out "2×13×13" "shape despite the warning"
expect_exit 0 check --json "$scratch/drops.yaml"
json 'len(d["warnings"])'
expect_equal "${value[0]:-}" "2" "--json with warnings is valid JSON and lists them"
expect_empty err "--json: the warnings are in the document, not on stderr"
json 'd["ok"]' 'd["version"]'
expect_equal "${value[0]:-}:${value[1]:-}" "True:1" "--json success: ok true, format version 1"

# ---- receptive fields, exact input sizes, --input ----------------------------------------

expect_exit 0 check "$models/vgg16.yaml"
expect_in out "exact input sizes:      any multiple of 32 from 32 (height and width" "VGG-16 exact sizes"
expect_in out "receptive field" "receptive field column"
expect_exit 0 check "$models/lenet5.yaml"
if grep -qE '^s4 .* 16×16$' "$scratch/out"; then pass; else fail "LeNet-5 s4 sees 16×16"; fi
expect_exit 0 check "$models/vgg16.yaml" --input 3,64,64
expect_in out "input 3×64×64" "--input re-infers"
expect_exit 1 check "$models/lenet5.yaml" --input 1,2,2
expect_in err "layer 'c3': output height" "--input too small: the layer's error"
expect_exit 2 check "$models/lenet5.yaml" --input 1,2
expect_exit 0 check --json "$models/alexnet.yaml"
json 'd["exact_input_sizes"]["height"]["text"]' 'd["exact_input_sizes"]["width"]["step"]' \
    'd["layers"][-2]["receptive_field"]["global"]' 'd["layers"][0]["receptive_field"]["size"]'
expect_equal "${value[0]:-}" "67 + any multiple of 32 (67, 99, 131, ...)" "AlexNet exact heights"
expect_equal "${value[1]:-}" "32" "AlexNet width step"
expect_equal "${value[2]:-}" "True" "dense sees the whole input"
expect_equal "${value[3]:-}" "[11, 11]" "conv1 sees 11×11"

# ResNet's stride-2 stem, pool and 1×1 shortcut leave only padding unread: no warning.
cat >"$scratch/resnet_stem.yaml" <<'EOF'
input: [3, 224, 224]
layers:
  - {type: conv, name: stem, filters: 8, kernel: 7, stride: 2, padding: 3}
  - {type: maxpool, name: pool, size: 3, stride: 2, padding: 1}
  - {type: conv, name: shortcut, filters: 8, kernel: 1, stride: 2}
EOF
expect_exit 0 check "$scratch/resnet_stem.yaml"
expect_empty err "ResNet-style stride-2 layers: no warnings"

# ---- version -----------------------------------------------------------------------------

printf 'version: 1\ninput: [1, 4, 4]\nlayers:\n  - {type: flatten}\n' >"$scratch/v1.yaml"
expect_exit 0 check "$scratch/v1.yaml"
expect_exit 1 check "$bad/version_unknown.yaml"
expect_in err "version_unknown.yaml:3:10: model format version 2 is not one this build of cnnrun reads (it reads version 1)" "unknown version"

# ---- schema and draw -----------------------------------------------------------------------

expect_exit 0 schema
if cmp -s "$scratch/out" "$source_dir/docs/cnnrun-model.schema.json"; then pass; else
    fail "docs/cnnrun-model.schema.json differs from cnnrun schema: regenerate it with cnnrun schema -o docs/cnnrun-model.schema.json"
fi
expect_exit 0 schema -o "$scratch/schema.json"
if cmp -s "$scratch/schema.json" "$source_dir/docs/cnnrun-model.schema.json"; then pass; else fail "schema -o"; fi
expect_exit 0 draw "$models/residual.yaml" -o "$scratch/residual.svg"
expect_in residual.svg ">res_add<" "draw: a merge's name"
expect_in residual.svg ">24×32×32<" "draw: the concat's output shape on its edge"
expect_exit 0 draw "$models/lenet5.yaml" -o "$scratch/lenet5.png"
if [ "$(head -c 4 "$scratch/lenet5.png" | od -An -c | tr -d ' ')" = '211PNG' ]; then pass; else fail "draw -o .png writes a PNG"; fi
expect_exit 2 draw "$models/lenet5.yaml" -o "$scratch/lenet5.pdf"
expect_exit 2 draw "$models/lenet5.yaml"
expect_exit 1 draw "$bad/cycle.yaml" -o "$scratch/cycle.svg"

report
