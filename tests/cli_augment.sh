#!/usr/bin/env bash
# `cnnrun augment` through the binary, on the tiny IDX data set: the grid's
# size follows --rows and --columns, the same seed writes the same bytes and
# another seed other ones, a model without augment steps repeats the stored
# image in every column, and usage errors exit 2.
# Usage: cli_augment.sh PATH/TO/cnnrun SOURCE_DIR
set -u
cnnrun=${1:?usage: cli_augment.sh CNNRUN SOURCE_DIR}
case $cnnrun in /*) ;; *) cnnrun=$PWD/$cnnrun ;; esac
# shellcheck source=cli-helpers.bash
source "$(dirname "${BASH_SOURCE[0]}")/cli-helpers.bash"
cd "$scratch" || exit 1

write_split data train 60 3
write_split data t10k 30 3
write_tiny_model plain.yaml "$scratch/data"
{
    cat plain.yaml
    cat <<'STEPS'
  augment:
    - random_resized_crop: {scale: [0.4, 1]}
    - rotate: {degrees: 30}
    - hflip
    - cutout: {size: 3}
    - mixup: {alpha: 0.5}
STEPS
} >steps.yaml

# The PNG's width and height from its IHDR chunk.
png_size() {
    python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(24); print(*struct.unpack(">II", d[16:24]))' "$1"
}

expect_exit 0 help augment
expect_in out "usage: cnnrun augment MODEL.yaml -o GRID.png" "help augment"
expect_exit 2 augment steps.yaml
expect_in err "missing -o GRID.png" "augment without -o"
expect_exit 2 augment steps.yaml -o grid.svg
expect_in err "-o must name a .png file" "augment to SVG"
expect_exit 2 augment steps.yaml -o grid.png --columns 1

# 8×8 images are enlarged 12× (96 px); 3 px between tiles and around them.
expect_exit 0 augment steps.yaml -o grid.png --rows 4 --columns 5
expect_in out "wrote grid.png: 4 images, each as stored and in epochs 1 to 4" "augment"
expect_equal "$(png_size grid.png)" "$((3 + 5 * 99)) $((3 + 4 * 99))" "grid size"
expect_exit 0 augment steps.yaml -o again.png --rows 4 --columns 5
if cmp -s grid.png again.png; then pass; else fail "same seed, different grid"; fi
expect_exit 0 augment steps.yaml -o other.png --rows 4 --columns 5 --seed 9
if cmp -s grid.png other.png; then fail "another seed, same grid"; else pass; fi

# Without steps every column is the stored image: all tiles of a row equal.
expect_exit 0 augment plain.yaml -o plain.png --rows 2 --columns 3
same=$(python3 - plain.png <<'PY'
import sys, zlib, struct
data = open(sys.argv[1], "rb").read()
pos, idat, width, height = 8, b"", 0, 0
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    if kind == b"IHDR":
        width, height = struct.unpack(">II", body[:8])
    if kind == b"IDAT":
        idat += body
    pos += 12 + length
raw = zlib.decompress(idat)
# grey, 8 bits: filter byte + width bytes a row; undo the filters (stb writes any of 0-4)
rows, prev = [], bytearray(width)
for y in range(height):
    f, line = raw[y * (width + 1)], bytearray(raw[y * (width + 1) + 1:(y + 1) * (width + 1)])
    for x in range(width):
        a = line[x - 1] if x else 0
        b, c = prev[x], prev[x - 1] if x else 0
        p = a + b - c
        pred = [0, a, b, (a + b) // 2, a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else (b if abs(p - b) <= abs(p - c) else c)][f]
        line[x] = (line[x] + pred) & 255
    rows.append(bytes(line))
    prev = line
tile = 96
tiles = [[row[3 + k * 99:3 + k * 99 + tile] for row in rows[3:3 + tile]] for k in range(3)]
print("yes" if tiles[0] == tiles[1] == tiles[2] else "no")
PY
)
expect_equal "$same" "yes" "no steps: every column the stored image"

report
