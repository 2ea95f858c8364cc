"""PyTorch reads the weights `cnnrun train` writes, metadata and all
(issue 17): a tiny run on a generated image folder, then last.safetensors
and best.safetensors loaded as a state_dict (strict) into the same network
built in torch, which must give `cnnrun predict --json`'s probabilities for
an image, normalised as the weights' metadata says. Needs Debian's
python3-torch at /usr/bin/python3; without it prints "skipped: ..." and
exits 77 (ctest: skipped, not passed).

    /usr/bin/python3 tests/pytorch/run_weights.py CNNRUN SOURCE_DIR
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

try:
    import numpy as np
    import torch
except ImportError as error:
    print(f"skipped: PyTorch is missing ({error}); install python3-torch")
    sys.exit(77)

cnnrun, source = os.path.abspath(sys.argv[1]), sys.argv[2]
sys.path.insert(0, os.path.join(source, "tests", "pytorch"))
import st  # noqa: E402  (the project's safetensors reader, numpy only)

MODEL = """name: pets
input: [3, 8, 8]
layers:
  - {type: conv, name: c1, filters: 4, kernel: 3, padding: 1, activation: relu}
  - {type: maxpool, size: 2}
  - {type: flatten}
  - {type: dense, name: out, units: 3}
  - {type: softmax}
train:
  epochs: 2
  batch_size: 4
  optimizer: {type: sgd, lr: 0.05, momentum: 0.9}
  normalize: {mean: [0.5, 0.4, 0.3], std: [0.25, 0.2, 0.3]}
"""


def png(path, pixels):
    """pixels: [H][W][3] bytes, written as an RGB PNG."""
    height, width = len(pixels), len(pixels[0])
    raw = b"".join(b"\x00" + bytes(v for px in row for v in px) for row in pixels)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def image(label, i):
    return [[[(i * 7 + y * 13 + x * 5 + 40 * c) % 64 + (180 if c == label else 0) for c in range(3)]
             for x in range(8)] for y in range(8)]


def torch_net(state):
    net = torch.nn.Sequential()
    net.add_module("c1", torch.nn.Conv2d(3, 4, 3, padding=1))
    net.add_module("relu", torch.nn.ReLU())
    net.add_module("pool", torch.nn.MaxPool2d(2))
    net.add_module("flatten", torch.nn.Flatten())
    net.add_module("out", torch.nn.Linear(64, 3))
    net.load_state_dict(state, strict=True)
    return net.eval()


def main():
    failures = 0
    with tempfile.TemporaryDirectory() as scratch:
        for split, count in (("train", 8), ("test", 3)):
            for label, name in enumerate(("red", "green", "blue")):
                os.makedirs(f"{scratch}/{split}/{name}")
                for i in range(count):
                    png(f"{scratch}/{split}/{name}/{i}.png", image(label, i))
        with open(f"{scratch}/pets.yaml", "w") as f:
            f.write(MODEL)
        subprocess.run([cnnrun, "train", "pets.yaml", "--data", "folder:train,test", "--out", "run",
                        "--threads", "1", "--quiet"], cwd=scratch, check=True, stdout=subprocess.DEVNULL)
        probe = f"{scratch}/test/green/1.png"
        predicted = json.loads(subprocess.run(
            [cnnrun, "predict", "pets.yaml", "--weights", "run/last.safetensors", probe, "--json", "--top", "3"],
            cwd=scratch, check=True, capture_output=True, text=True).stdout)
        cnnrun_probabilities = {t["class"]: t["probability"] for t in predicted[0]["top"]}
        names = [t["name"] for t in sorted(predicted[0]["top"], key=lambda t: t["class"])]
        for weights in ("last", "best"):
            tensors, metadata = st.load(f"{scratch}/run/{weights}.safetensors")
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
                failures += 1
                print(f"FAIL: {weights}: metadata values must all be strings: {metadata}")
            classes = json.loads(metadata["cnnrun.classes"])
            normalize = json.loads(metadata["cnnrun.normalize"])
            if classes != ["blue", "green", "red"] or names != classes:
                failures += 1
                print(f"FAIL: {weights}: classes {classes}, predict named {names}")
            if json.loads(metadata["cnnrun.input"]) != [3, 8, 8] or metadata["cnnrun.model"] != MODEL:
                failures += 1
                print(f"FAIL: {weights}: input or model text not recorded as trained")
            net = torch_net({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()})
            if weights != "last":
                continue
            pixels = np.array(image(1, 1), dtype=np.float32).transpose(2, 0, 1) / 255.0
            mean = np.array(normalize["mean"], dtype=np.float32)[:, None, None]
            std = np.array(normalize["std"], dtype=np.float32)[:, None, None]
            x = torch.from_numpy((pixels - mean) / std)[None]
            with torch.no_grad():
                torch_probabilities = torch.softmax(net(x), dim=1)[0].numpy()
            for k in range(3):
                if abs(torch_probabilities[k] - cnnrun_probabilities[k]) > 1e-5:
                    failures += 1
                    print(f"FAIL: class {k}: PyTorch {torch_probabilities[k]}, cnnrun {cnnrun_probabilities[k]}")
    print(f"{'FAILED' if failures else 'passed'}: PyTorch loads last/best.safetensors with their metadata"
          f" and gives cnnrun's probabilities ({failures} failures)")
    return 1 if failures else 0


sys.exit(main())
