#!/usr/bin/env bash
# Fuzz the model spec loader: tests/fuzz/run.sh [SECONDS] (default 600).
# CNNRUN_FUZZ_TARGET=fuzz_onnx fuzzes the ONNX importer instead.
#
# Builds the libFuzzer target with clang in build-fuzz/ and runs it with the
# seed corpus (tests/fuzz/corpus and models/, or tests/fuzz/corpus-onnx) and
# the format's dictionary.
# New inputs the fuzzer finds go to tests/fuzz/corpus-run/ (git-ignored);
# crashes, leaks and timeouts are written to build-fuzz/findings/ and make the
# script exit non-zero. Extra arguments after SECONDS go to the fuzzer
# (e.g. -jobs=2 -workers=2).
set -euo pipefail

seconds="${1:-600}"
shift || true
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${CNNRUN_FUZZ_BUILD:-$root/build-fuzz}"
target="${CNNRUN_FUZZ_TARGET:-fuzz_spec}"
scratch="$root/tests/fuzz/corpus-run"
findings="$build/findings"

CC=clang cmake -S "$root" -B "$build" -DCNNRUN_FUZZ=ON >/dev/null
cmake --build "$build" --target "$target" -j2 >/dev/null

# The first directory receives new corpus entries; the others are read-only
# seeds. ONNX seeds are small exported models (weights make them kilobytes).
if [[ $target == fuzz_onnx ]]; then
    scratch="$root/tests/fuzz/corpus-onnx-run"
    seeds=("$root/tests/fuzz/corpus-onnx")
    options=(-max_len=65536)
else
    seeds=("$root/tests/fuzz/corpus" "$root/models")
    options=(-dict="$root/tests/fuzz/spec.dict" -max_len=4096)
fi
mkdir -p "$scratch" "$findings"
"$build/tests/fuzz/$target" "$scratch" "${seeds[@]}" \
    "${options[@]}" \
    -max_total_time="$seconds" \
    -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 \
    -artifact_prefix="$findings/" \
    "$@"
