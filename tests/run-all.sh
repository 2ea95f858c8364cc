#!/usr/bin/env bash
# The whole test suite, as the README shows it and .ci/run runs it:
#   1. a normal build in build/ and ctest,
#   2. an AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/
#      and ctest again,
#   3. when clang is installed, a 40-second smoke run shared among the
#      fuzzers (spec loader, checkpoint reader, text readers, ONNX importer;
#      tests/fuzz/run.sh; CNNRUN_FUZZ_SECONDS changes the length, 0 skips it).
# Every stage runs even if an earlier one failed; the exit status is non-zero
# if any did.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
jobs="$(nproc 2>/dev/null || echo 2)"
fuzz_seconds="${CNNRUN_FUZZ_SECONDS:-40}"
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

failed=()
summary=()
total_passed=0
total_failed=0

# ctest_stage NAME BUILD_DIR [CMAKE_ARGS...]
ctest_stage() {
    local name="$1" dir="$2"
    shift 2
    echo "=== $name: configure and build in $dir"
    local status=0
    if cmake -S "$root" -B "$dir" "$@" >"$logs/$name-configure.log" 2>&1 &&
        cmake --build "$dir" -j"$jobs" >"$logs/$name-build.log" 2>&1; then
        echo "=== $name: ctest"
        ctest --test-dir "$dir" --output-on-failure -j"$jobs" 2>&1 | tee "$logs/$name-ctest.log" ||
            status=$?
        # ctest with no tests exits 0: that is a failure here.
        grep -q "tests passed" "$logs/$name-ctest.log" || status=1
    else
        status=1
        total_failed=$((total_failed + 1)) # the build counts as one failed test
        cat "$logs/$name-configure.log" "$logs/$name-build.log" 2>/dev/null | tail -40 || true
    fi
    local line
    line="$(grep -E "tests passed|No tests were found" "$logs/$name-ctest.log" 2>/dev/null | tail -1)" || true
    summary+=("$name: ${line:-build failed}")
    # "100% tests passed, 0 tests failed out of 12"
    if [[ $line =~ ([0-9]+)\ tests\ failed\ out\ of\ ([0-9]+) ]]; then
        total_failed=$((total_failed + BASH_REMATCH[1]))
        total_passed=$((total_passed + BASH_REMATCH[2] - BASH_REMATCH[1]))
    fi
    [[ $status -eq 0 ]] || failed+=("$name")
}

ctest_stage tests "$root/build"
ctest_stage asan-ubsan "$root/build-asan" -DCNNRUN_SANITIZE=ON

if [[ "$fuzz_seconds" != 0 ]] && command -v clang >/dev/null; then
    echo "=== fuzz: ${fuzz_seconds}-second smoke run of tests/fuzz/run.sh (every target)"
    if bash "$root/tests/fuzz/run.sh" "$fuzz_seconds" >"$logs/fuzz.log" 2>&1; then
        runs="$(grep -E '^Done [0-9]+ runs' "$logs/fuzz.log" | awk '{n += $2} END {print n}')" || true
        summary+=("fuzz: ${runs:-?} runs over every target, no finding")
    else
        tail -40 "$logs/fuzz.log"
        summary+=("fuzz: FINDING or build failure (see above; reproducer in build-fuzz/findings/)")
        failed+=(fuzz)
    fi
else
    summary+=("fuzz: skipped (no clang, or CNNRUN_FUZZ_SECONDS=0)")
fi

echo "=== summary"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
    echo "FAILED after $SECONDS s: ${failed[*]}"
    status=1
else
    echo "all stages passed in $SECONDS s"
    status=0
fi
# Both ctest runs together, as the last line.
echo "ctest: $total_passed passed, $total_failed failed"
exit $status
