#!/usr/bin/env bash
# Fuzz the model spec loader: tests/fuzz/run.sh [SECONDS] (default 600).
#
# Builds the libFuzzer target with clang in build-fuzz/ and runs it with the
# seed corpus (tests/fuzz/corpus and models/) and the format's dictionary.
# New inputs the fuzzer finds go to tests/fuzz/corpus-run/ (git-ignored);
# crashes, leaks and timeouts are written to build-fuzz/findings/ and make the
# script exit non-zero. Extra arguments after SECONDS go to the fuzzer
# (e.g. -jobs=2 -workers=2).
set -euo pipefail

seconds="${1:-600}"
shift || true
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${CNNRUN_FUZZ_BUILD:-$root/build-fuzz}"
scratch="$root/tests/fuzz/corpus-run"
findings="$build/findings"

CC=clang cmake -S "$root" -B "$build" -DCNNRUN_FUZZ=ON >/dev/null
cmake --build "$build" --target fuzz_spec -j2 >/dev/null
mkdir -p "$scratch" "$findings"

# The first directory receives new corpus entries; the others are read-only seeds.
"$build/tests/fuzz/fuzz_spec" "$scratch" "$root/tests/fuzz/corpus" "$root/models" \
    -dict="$root/tests/fuzz/spec.dict" \
    -max_total_time="$seconds" \
    -rss_limit_mb=2048 -timeout=10 \
    -max_len=4096 \
    -print_final_stats=1 \
    -artifact_prefix="$findings/" \
    "$@"
