#!/usr/bin/env bash
# Fuzz cnnrun's readers: tests/fuzz/run.sh [SECONDS] (default 600), shared
# among the targets:
#   fuzz_spec        the model spec loader (seeds: tests/fuzz/corpus, models/)
#   fuzz_checkpoint  the checkpoint reader (seeds: tests/fuzz/corpus-checkpoint)
#   fuzz_text        metrics.csv and batches.meta.txt (seeds: tests/fuzz/corpus-text)
#   fuzz_onnx        the ONNX importer (seeds: tests/fuzz/corpus-onnx: small exports)
#
# Builds the libFuzzer targets with clang in build-fuzz/ and runs each with
# its seed corpus (and, for the spec, the format's dictionary). New inputs
# the fuzzer finds go to tests/fuzz/corpus-run/TARGET/ (git-ignored);
# crashes, leaks and timeouts are written to build-fuzz/findings/ and make
# the script exit non-zero. Extra arguments after SECONDS go to the fuzzer
# (e.g. -jobs=2 -workers=2). CNNRUN_FUZZ_TARGETS="fuzz_spec" runs one.
set -euo pipefail

seconds="${1:-600}"
shift || true
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${CNNRUN_FUZZ_BUILD:-$root/build-fuzz}"
findings="$build/findings"
targets=(${CNNRUN_FUZZ_TARGETS:-fuzz_spec fuzz_checkpoint fuzz_text fuzz_onnx})
share=$((seconds / ${#targets[@]}))
[ "$share" -ge 1 ] || share=1

CC=clang cmake -S "$root" -B "$build" -DCNNRUN_FUZZ=ON >/dev/null
cmake --build "$build" --target "${targets[@]}" -j2 >/dev/null
mkdir -p "$findings"

for target in "${targets[@]}"; do
    scratch="$root/tests/fuzz/corpus-run/$target"
    mkdir -p "$scratch"
    case $target in
    fuzz_spec) seeds=("$root/tests/fuzz/corpus" "$root/models")
        extra=(-dict="$root/tests/fuzz/spec.dict" -max_len=4096) ;;
    fuzz_checkpoint) seeds=("$root/tests/fuzz/corpus-checkpoint") extra=(-max_len=16384) ;;
    fuzz_text) seeds=("$root/tests/fuzz/corpus-text") extra=(-max_len=4096) ;;
    fuzz_onnx) seeds=("$root/tests/fuzz/corpus-onnx") extra=(-max_len=65536) ;;
    esac
    echo "=== $target, $share s"
    # The first directory receives new corpus entries; the others are read-only seeds.
    "$build/tests/fuzz/$target" "$scratch" "${seeds[@]}" "${extra[@]}" \
        -max_total_time="$share" \
        -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 \
        -artifact_prefix="$findings/$target-" \
        "$@"
done
