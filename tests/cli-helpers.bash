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

# expect_file PATH WHAT: PATH is a regular file.
expect_file() {
    if [ -f "$1" ]; then pass; else fail "$2: no file $1"; fi
}

# The closing line ctest's log shows, and the exit status.
report() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

# ---- a tiny IDX data set (cli_train.sh, cli_reliability.sh) ------------------------------------

# be32 N: four bytes, big-endian, as printf escapes.
be32() {
    local n=$1
    printf '\\%03o\\%03o\\%03o\\%03o' $((n >> 24 & 255)) $((n >> 16 & 255)) $((n >> 8 & 255)) $((n & 255))
}

# write_split DIR PREFIX COUNT CLASSES: IDX images and labels; image i has
# label i % CLASSES and a bright bar at rows 1 + 2·(label % 3), 2 + 2·(label % 3).
write_split() {
    local dir=$1 prefix=$2 count=$3 classes=$4 images labels i y x label bar value octal
    images="$(be32 $((0x803)))$(be32 "$count")$(be32 8)$(be32 8)"
    labels="$(be32 $((0x801)))$(be32 "$count")"
    for ((i = 0; i < count; i++)); do
        label=$((i % classes))
        bar=$((1 + 2 * (label % 3)))
        for ((y = 0; y < 8; y++)); do
            for ((x = 0; x < 8; x++)); do
                value=$(((i * 7 + y * 13 + x * 5) % 32))
                if [ "$y" -eq "$bar" ] || [ "$y" -eq $((bar + 1)) ]; then value=$((value + 200)); fi
                printf -v octal '\\%03o' "$value"
                images+=$octal
            done
        done
        printf -v octal '\\%03o' "$label"
        labels+=$octal
    done
    mkdir -p "$dir"
    printf "$images" >"$dir/$prefix-images-idx3-ubyte"
    printf "$labels" >"$dir/$prefix-labels-idx1-ubyte"
}

# write_tiny_model FILE DATA_DIR: a 4-layer model for write_split's 8×8 images
# of 3 classes (conv, maxpool, dense, softmax), 2 epochs of batch 8, seed 3.
# The bar images with three classes in data/ and with four in data4/: 60
# training and 30 test images each.
write_bar_data() {
    write_split data train 60 3
    write_split data t10k 30 3
    write_split data4 train 60 4
    write_split data4 t10k 30 4
}

write_tiny_model() {
    cat >"$1" <<EOF
name: tiny
input: [1, 8, 8]
layers:
  - {type: conv, name: c1, filters: 4, kernel: 3, padding: 1, activation: relu}
  - {type: maxpool, size: 2}
  - {type: flatten}
  - {type: dense, name: out, units: 3}
  - {type: softmax}
train:
  data: {format: mnist, dir: $2}
  epochs: 2
  batch_size: 8
  optimizer: {type: sgd, lr: 0.1, momentum: 0.9}
  seed: 3
EOF
}

# ---- a tiny image folder (cli_runs.sh) ---------------------------------------------------------

# write_png_folder ROOT COUNT: ROOT/{train,test}/{bar_top,bar_middle,bar_bottom}/N.png,
# 8×8 grey PNGs with a bright bar whose row gives the class (learnable in an epoch).
write_png_folder() {
    python3 - "$1" "$2" <<'EOF'
import os, struct, sys, zlib
root, count = sys.argv[1], int(sys.argv[2])
def png(path, rows):
    raw = b"".join(b"\x00" + bytes(row) for row in rows)
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
for split, n in (("train", count), ("test", count // 2)):
    for label, name in enumerate(("bar_top", "bar_middle", "bar_bottom")):
        os.makedirs(f"{root}/{split}/{name}", exist_ok=True)
        for i in range(n):
            bar = 1 + 2 * label
            rows = [[(i * 7 + y * 13 + x * 5) % 32 + (200 if y in (bar, bar + 1) else 0)
                     for x in range(8)] for y in range(8)]
            png(f"{root}/{split}/{name}/{i}.png", rows)
EOF
}
