#!/usr/bin/env bash
# Issue 13 through the binary: hostile and careless use never hangs, never
# loses a file, never gives a silent wrong result. Hangs are guarded with
# `timeout`; the full-disk cases use a small tmpfs when run as root (skipped
# with the reason otherwise).
# Usage: cli_reliability.sh PATH/TO/cnnrun SOURCE_DIR
set -u
cnnrun=${1:?usage: cli_reliability.sh CNNRUN SOURCE_DIR}
case $cnnrun in /*) ;; *) cnnrun=$PWD/$cnnrun ;; esac
# shellcheck source=cli-helpers.bash
source "$(dirname "${BASH_SOURCE[0]}")/cli-helpers.bash"
cd "$scratch" || exit 1
python=$(command -v python3)

# run_limited SECONDS ARGS...: like run, but a hang ends as exit 124.
run_limited() {
    local seconds=$1
    shift
    timeout -k 2 "$seconds" "$cnnrun" "$@" >"$scratch/out" 2>"$scratch/err"
    status=$?
}

# expect_exit_within SECONDS CODE ARGS...
expect_exit_within() {
    local seconds=$1 want=$2
    shift 2
    run_limited "$seconds" "$@"
    if [ "$status" -eq "$want" ]; then pass; else fail "cnnrun $* exited $status, expected $want (124: hung): $(head -c 400 "$scratch/err")"; fi
}

expect_no_file() {
    if [ ! -e "$1" ]; then pass; else fail "$2: $1 exists"; fi
}

write_split data train 60 3
write_split data t10k 30 3

write_tiny_model tiny.yaml "$scratch/data"

expect_exit 0 train tiny.yaml --threads 1 --out base --quiet
expect_file base/checkpoint.safetensors "a first run"

# ---- 1. thread limits ------------------------------------------------------------------------
expect_exit_within 20 2 eval tiny.yaml --weights base/last.safetensors --threads 100000
expect_in err "100000 threads asked for" "--threads 100000"
OMP_NUM_THREADS=100000 run_limited 20 eval tiny.yaml --weights base/last.safetensors
expect_equal "$status" 2 "OMP_NUM_THREADS=100000 exit"
expect_in err "OMP_NUM_THREADS=100000" "OMP_NUM_THREADS named"

# ---- 2. FIFOs where files belong: refused at once --------------------------------------------
mkfifo pipe.safetensors pipe.png
mkdir -p fiforun && cp base/checkpoint.safetensors fiforun/ && rm fiforun/checkpoint.safetensors && mkfifo fiforun/checkpoint.safetensors
expect_exit_within 10 2 eval tiny.yaml --weights pipe.safetensors
expect_in err "pipe.safetensors: is a FIFO (named pipe), not a file" "--weights FIFO"
expect_exit_within 10 2 train tiny.yaml --resume fiforun
expect_in err "is a FIFO (named pipe), not a file" "--resume onto a FIFO checkpoint"
mkdir -p fifoplot && mkfifo fifoplot/metrics.csv
expect_exit_within 10 2 plot fifoplot -o curves.png
expect_in err "is a FIFO (named pipe), not a file" "plot on a FIFO metrics.csv"
expect_exit_within 10 2 apply tiny.yaml pipe.png -o edges.png
expect_in err "is a FIFO (named pipe), not a file" "apply on a FIFO image"
expect_exit_within 10 2 check pipe.png
expect_in err "is a FIFO" "a FIFO model file"

# ---- 3. a batch larger than the data set -----------------------------------------------------
expect_exit_within 60 0 train tiny.yaml --threads 1 --out huge --batch-size 1000000 --epochs 1
expect_in out "batch size 1000000 is more than the 60 training images: batches of 60" "clamped batch noted"
cat >wide.yaml <<'EOF2'
input: [3, 2000, 2000]
layers:
  - {type: conv, filters: 64, kernel: 3, padding: 1}
EOF2
# About 1 GiB per image: 1,000 of them are refused before anything is allocated.
expect_exit_within 30 1 bench wide.yaml --batch-size 1000 --steps 1 --warmup 0
expect_in err "training at batch 1000 needs " "a batch beyond the machine's memory"
expect_in err "more than" "both figures named"

# ---- 4. locking --------------------------------------------------------------------------------
# A long run holds runs folder "locked"; a second one fails at once naming it.
"$cnnrun" train tiny.yaml --threads 1 --out locked --epochs 100000 --quiet >long.out 2>long.err &
long=$!
for _ in $(seq 100); do [ -s locked/.cnnrun.lock ] && break; sleep 0.1; done
expect_exit_within 10 2 train tiny.yaml --threads 1 --out locked --quiet
expect_in err "in use by another cnnrun run (PID $long)" "second run into a locked folder"
expect_exit_within 10 2 train tiny.yaml --threads 1 --resume locked --quiet
expect_in err "(PID $long)" "resume of a folder in use"

# ---- 8. SIGTERM and SIGHUP save like Ctrl-C ----------------------------------------------------
sleep 0.5
kill -TERM "$long"
wait "$long"
expect_equal "$?" 1 "SIGTERM: exit status of an interrupted run"
expect_in_file() { if grep -qF -- "$2" "$1"; then pass; else fail "$3: $1 lacks '$2': $(head -c 300 "$1")"; fi; }
expect_in_file long.err "terminated (SIGTERM) at epoch" "SIGTERM message"
expect_in_file long.err "resume with: cnnrun train tiny.yaml --resume locked" "SIGTERM resume hint"
expect_file locked/checkpoint.safetensors "SIGTERM saved the checkpoint"
"$cnnrun" train tiny.yaml --threads 1 --out hup --epochs 100000 --quiet >hup.out 2>hup.err &
hup=$!
for _ in $(seq 100); do [ -s hup/.cnnrun.lock ] && break; sleep 0.1; done
sleep 0.5
kill -HUP "$hup"
wait "$hup"
expect_equal "$?" 1 "SIGHUP: exit status of an interrupted run"
expect_file hup/checkpoint.safetensors "SIGHUP saved the checkpoint"
expect_exit_within 60 0 train tiny.yaml --threads 1 --resume hup --epochs 1 --quiet

# Two runs without --out at once take two folders.
mkdir twice && cd twice || exit 1
"$cnnrun" train ../tiny.yaml --threads 1 --epochs 100000 --quiet >one.out 2>&1 &
one=$!
for _ in $(seq 100); do [ -s runs/tiny/.cnnrun.lock ] && break; sleep 0.1; done
timeout 60 "$cnnrun" train ../tiny.yaml --threads 1 --epochs 1 >two.out 2>&1
expect_equal "$?" 0 "a second run without --out"
if grep -qF "files in runs/tiny-2/" two.out; then pass; else fail "second run without --out: $(cat two.out)"; fi
kill -INT "$one"
wait "$one"
cd "$scratch" || exit 1

# ---- 6. --out on a folder holding others' files ------------------------------------------------
mkdir mine && echo "epoch,mine" >mine/metrics.csv
expect_exit 2 train tiny.yaml --threads 1 --out mine --quiet
expect_in err "holds files cnnrun did not write ('metrics.csv')" "--out on a folder with a metrics.csv"
expect_equal "$(cat mine/metrics.csv)" "epoch,mine" "the user's file untouched"

# ---- 7, 13, 16, 17, 22: what check refuses -----------------------------------------------------
model_named() {
    sed "s/^name: tiny/name: $1/" tiny.yaml >named.yaml
}
model_named '"..\/..\/escaped"'
expect_exit 1 check named.yaml
expect_in err "named.yaml:1:7: 'name' cannot be '../../escaped'" "name with a path"
model_named '".."'
expect_exit 1 check named.yaml
expect_in err "'name' cannot be '..'" "name .."
model_named '"\\e[2J"'
expect_exit 1 check named.yaml
expect_in err "'name' cannot be '\\x1b[2J'" "name with an escape sequence"
if grep -q $'\x1b' err; then fail "raw escape character printed"; else pass; fi
model_named "$(head -c 10000 /dev/zero | tr '\0' n)"
expect_exit 1 check named.yaml
expect_in err "it is longer than the 200 bytes" "a 10,000-character name"
sed 's/name: c1,/name: __checkpoint__,/' tiny.yaml >reserved.yaml
expect_exit 1 check reserved.yaml
expect_in err "layer names cannot start with '__checkpoint__'" "reserved layer name"
cat >inline.yaml <<'EOF2'
input: [1, 1, 2]
layers:
  - {type: flatten}
  - {type: dense, units: 1, weights: [[1, 1e300]], bias: [0]}
EOF2
expect_exit 1 check inline.yaml
expect_in err "inline.yaml:4:43: layer 'dense1': 'weights' holds 1e+300, beyond float32's range" "inline 1e300"
# A long --out path: the reason survives the truncation.
long_name=$(head -c 3000 /dev/zero | tr '\0' d)
expect_exit 2 train tiny.yaml --threads 1 --out "$long_name" --quiet
expect_in err "File name too long" "reason after a long path"

# ---- 5, 19. pictures are written atomically, with the OS's reason ------------------------------
expect_exit 2 apply tiny.yaml nothing.png -o x.png
expect_in err "nothing.png: cannot open: No such file or directory" "apply on a missing image"
expect_exit 2 plot base -o no-such-folder/curves.png
expect_in err "No such file or directory" "PNG into a missing folder"
if [ "$(id -u)" -eq 0 ] && mkdir full && mount -t tmpfs -o size=64k tmpfs full 2>/dev/null; then
    expect_exit 0 plot base -o full/curves.png
    cp full/curves.png curves.before
    head -c 60000 /dev/zero >full/filler 2>/dev/null
    expect_exit 2 plot base -o full/curves.png
    expect_in err "No space left on device" "PNG on a full disk"
    if cmp -s full/curves.png curves.before; then pass; else fail "the old picture was damaged"; fi
    expect_equal "$(ls full | grep -c tmp)" "0" "no temporary file left on the full disk"
    umount full
else
    echo "skipped: full-disk PNG test needs root and a tmpfs mount"
fi

# ---- 9. stale temporary files go when the run folder is opened ----------------------------------
cp -r base stale
head -c 1000 /dev/zero >stale/checkpoint.safetensors.tmp-AbC123
expect_exit 0 train tiny.yaml --threads 1 --resume stale --epochs 3 --quiet
expect_no_file stale/checkpoint.safetensors.tmp-AbC123 "stale temporary file"

# ---- 10. NaN weights -------------------------------------------------------------------------
"$python" - base/last.safetensors nan.safetensors <<'EOF2'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
begin = 8 + n + header["c1.weight"]["data_offsets"][0]
raw = raw[:begin] + struct.pack("<f", float("nan")) + raw[begin + 4:]
open(sys.argv[2], "wb").write(raw)
EOF2
expect_exit 1 eval tiny.yaml --weights nan.safetensors
expect_in err "tensor 'c1.weight': element 0 is NaN" "NaN weights"

# ---- 11, 21. a changed model file is named on resume -------------------------------------------
cp -r base changed
sed 's/activation: relu/activation: tanh/' tiny.yaml >tanh.yaml
expect_exit 1 train tanh.yaml --threads 1 --resume changed --epochs 3
expect_in err "layer 'c1' activation tanh (was relu)" "changed activation"
sed 's/units: 3}/units: 3, trainable: false}/' tiny.yaml >frozen.yaml
expect_exit 1 train frozen.yaml --threads 1 --resume changed --epochs 3
expect_in err "layer 'out' trainable false (was true)" "trainable added"
sed 's/  seed: 3/  seed: 3\n  augment: {hflip: true}/' tiny.yaml >augment.yaml
expect_exit 1 train augment.yaml --threads 1 --resume changed --epochs 3
expect_in err "train augment hflip true (was false)" "augment added"

# ---- 12. checkpoints are verified ----------------------------------------------------------
# edit_checkpoint IN OUT [flip] [drop-checksums] [step N]
edit_checkpoint() {
    "$python" - "$@" <<'EOF2'
import json, struct, sys
src, dst, actions = sys.argv[1], sys.argv[2], sys.argv[3:]
raw = open(src, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
data = bytearray(raw[8 + n:])
if "flip" in actions:
    begin = header["c1.weight"]["data_offsets"][0]
    data[begin] ^= 1
if "step" in actions:
    value = int(actions[actions.index("step") + 1])
    begin = header["__checkpoint__.step_in_epoch"]["data_offsets"][0]
    data[begin:begin + 8] = struct.pack("<q", value)
if "drop-checksums" in actions:
    del header["__checkpoint__.checksums"]
    # The data section must stay tiled: the checksums move to a harmless name.
    pass
text = json.dumps(header).encode()
if "drop-checksums" in actions:
    begin, end = json.loads(raw[8:8 + n])["__checkpoint__.checksums"]["data_offsets"]
    header["__checkpoint__.old_padding"] = {"dtype": "U8", "shape": [end - begin], "data_offsets": [begin, end]}
    text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
open(dst, "wb").write(struct.pack("<Q", len(text)) + text + bytes(data))
EOF2
}
cp -r base flipped && edit_checkpoint base/checkpoint.safetensors flipped/checkpoint.safetensors flip
expect_exit 1 train tiny.yaml --threads 1 --resume flipped --epochs 3
expect_in err "tensor 'c1.weight' does not match the checksum saved with it" "a flipped byte"
cp -r base stepped && edit_checkpoint base/checkpoint.safetensors stepped/checkpoint.safetensors step 4611686018427387904
expect_exit 1 train tiny.yaml --threads 1 --resume stepped --epochs 3
expect_in err "does not match the checksum" "step_in_epoch edited"
cp -r base unsummed && edit_checkpoint base/checkpoint.safetensors unsummed/checkpoint.safetensors drop-checksums step 4611686018427387904
expect_exit 1 train tiny.yaml --threads 1 --resume unsummed --epochs 3
expect_in err "'__checkpoint__.step_in_epoch' is 4.61169e+18, outside" "step_in_epoch 2^62 without checksums"
cp -r base unsummed2 && edit_checkpoint base/checkpoint.safetensors unsummed2/checkpoint.safetensors drop-checksums step 5
expect_exit 1 train tiny.yaml --threads 1 --resume unsummed2 --epochs 3
expect_in err "is inconsistent: epoch 3, step 5 of 8" "step_in_epoch out of step with global_step"
cp -r base old && edit_checkpoint base/checkpoint.safetensors old/checkpoint.safetensors drop-checksums
expect_exit 0 train tiny.yaml --threads 1 --resume old --epochs 3
expect_in out "has no checksums" "an older checkpoint resumes, with a note"

# ---- 14. special files in class folders -----------------------------------------------------
mkdir -p pets/train/cat pets/train/dog pets/test/cat pets/test/dog
mkfifo pets/train/cat/x.png
cat >pets.yaml <<'EOF2'
input: [1, 4, 4]
layers:
  - {type: flatten}
  - {type: dense, units: 2}
EOF2
expect_exit_within 10 1 train pets.yaml --data folder:pets/train,pets/test --out petrun --quiet
expect_in err "pets/train/cat/x.png: is a FIFO (named pipe) inside a class folder" "FIFO in a class folder"

# ---- 15, 23. plot's CSV and folders --------------------------------------------------------
mkdir -p nanplot && printf 'epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr\nnan,1,0.5,1,0.5,0.1\n' >nanplot/metrics.csv
expect_exit 1 plot nanplot -o nan.png
expect_in err "line 2: epoch nan is not a whole number" "NaN epoch"
mkdir -p dirplot/metrics.csv
expect_exit 2 plot dirplot -o dir.png
expect_in err "metrics.csv: is a folder, not a file" "metrics.csv is a folder"
# A folder is searched for images (tests/cli_runs.sh); this one holds IDX files only.
expect_exit 1 predict tiny.yaml --weights base/last.safetensors data
expect_in err "note: skipped data/train-images-idx3-ubyte: not an image" "predict DIR: its files named"
expect_in err "no images in data" "predict DIR without images"

# ---- 16. names from files are escaped on the terminal --------------------------------------
mkdir -p esc/train/$'\e[2J' esc/train/b esc/test/$'\e[2J' esc/test/b
"$python" - <<'EOF2'
import zlib, struct
def png(path):
    raw = b"".join(b"\x00" + bytes([128] * 4) for _ in range(4))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
for split in ("train", "test"):
    for cls in ("\x1b[2J", "b"):
        png(f"esc/{split}/{cls}/1.png")
EOF2
expect_exit 0 train pets.yaml --data folder:esc/train,esc/test --out escrun --epochs 1 --threads 1 --quiet
expect_exit 0 eval pets.yaml --data folder:esc/train,esc/test --weights escrun/last.safetensors
if grep -q $'\x1b' out err; then fail "a class folder's escape sequence reached the terminal"; else pass; fi
expect_in out '\x1b[2J' "the class name shown escaped"

# ---- 18. libyaml out of memory (not a syntax error) ----------------------------------------
if ldd "$cnnrun" 2>/dev/null | grep -q libasan; then
    echo "skipped: out-of-memory YAML test (the sanitizers need unlimited address space)"
else
    { echo "input: [1, 4, 4]"; echo "layers:"; echo "  - {type: flatten}"; printf 'x: ['; head -c 12000000 /dev/zero | tr '\0' '\n' | sed 's/.*/1,/' | tr -d '\n'; echo '1]'; } >big.yaml
    (ulimit -v 400000; "$cnnrun" check big.yaml >out 2>err)
    expect_in err "out of memory while parsing the YAML" "libyaml's memory error"
fi

# ---- 20. a CIFAR meta file with a 100,000-character line ------------------------------------
mkdir -p cifar
{ for i in 1 2 3 4 5 6 7 8 9; do echo "class$i"; done; head -c 100000 /dev/zero | tr '\0' x; echo; } >cifar/batches.meta.txt
cat >rgb.yaml <<'EOF2'
input: [3, 32, 32]
layers:
  - {type: flatten}
  - {type: dense, units: 10}
EOF2
expect_exit 1 train rgb.yaml --data cifar10:cifar --out cifarrun --quiet
expect_in err "batches.meta.txt: line 10 is 100000 characters long; a class name has at most 255" "CIFAR meta line"

report
