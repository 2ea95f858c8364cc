# Shared by the command-line tests (tests/cli_*.sh, tests/mpi_train.sh),
# which source it after setting $cnnrun (the binary). Sourcing creates
# $scratch, a temporary folder removed when the script exits. Each check
# counts as passed or failed; the script ends with report.

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() {
    failed=$((failed + 1))
    echo "FAIL: $*" >&2
}

# run ARGS...: runs cnnrun, leaving $status, $scratch/out and $scratch/err.
run() {
    "$cnnrun" "$@" >"$scratch/out" 2>"$scratch/err"
    status=$?
}

# expect_exit CODE ARGS...
expect_exit() {
    local want=$1
    shift
    run "$@"
    if [ "$status" -eq "$want" ]; then pass; else fail "cnnrun $* exited $status, expected $want: $(head -c 400 "$scratch/err")"; fi
}

# expect_in FILE TEXT WHAT: FILE (out or err) contains TEXT.
expect_in() {
    if grep -qF -- "$2" "$scratch/$1"; then pass; else fail "$3: std$1 lacks '$2': $(head -c 400 "$scratch/$1")"; fi
}

# expect_empty FILE WHAT: FILE (out or err) is empty.
expect_empty() {
    if [ ! -s "$scratch/$1" ]; then pass; else fail "$2: std$1 should be empty: $(head -c 300 "$scratch/$1")"; fi
}

# expect_equal ACTUAL EXPECTED WHAT
expect_equal() {
    if [ "$1" = "$2" ]; then pass; else fail "$3: got '$1', expected '$2'"; fi
}

# The closing line ctest's log shows, and the exit status.
report() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
