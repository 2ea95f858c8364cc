#!/usr/bin/python3
"""Writes the two data sets the documented resnet20_cifar and unet_small runs
train on (docs/training.md), from Debian's Fashion-MNIST
(/usr/share/datasets/fashion-mnist). No CIFAR-10 can be downloaded on the
project's machine, so the CIFAR-format set is Fashion-MNIST in CIFAR-10's
binary layout, not CIFAR-10:

    bench/make_training_data.py cifar DIR [--train N] [--test N]
        32×32 RGB: each 28×28 image padded by 2 pixels of 0 on every side and
        repeated in the three colour planes; data_batch_1..5.bin (the first
        N training images in five files) and test_batch.bin (the first
        --test images of the test set),
        batches.meta.txt with the ten class names.
    bench/make_training_data.py mnist64 DIR [--train N] [--test N]
        64×64 grey in the MNIST IDX layout: each image resized bilinearly
        (align-corners false, as PyTorch's interpolate) to 64×64.
Needs only numpy (python3-numpy)."""
import argparse
import gzip
import os
import struct

import numpy as np

SOURCE = "/usr/share/datasets/fashion-mnist"
NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
         "Sneaker", "Bag", "Ankle boot"]


def read_idx(stem):
    for name in (stem, stem + ".gz"):
        path = os.path.join(SOURCE, name)
        if os.path.exists(path):
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rb") as f:
                data = f.read()
            magic, count = struct.unpack(">II", data[:8])
            if magic == 0x803:
                rows, cols = struct.unpack(">II", data[8:16])
                return np.frombuffer(data, np.uint8, offset=16).reshape(count, rows, cols)
            return np.frombuffer(data, np.uint8, offset=8)
    raise SystemExit(f"{stem} not found in {SOURCE} (apt-get install dataset-fashion-mnist)")


def split(test):
    prefix = "t10k" if test else "train"
    return read_idx(f"{prefix}-images-idx3-ubyte"), read_idx(f"{prefix}-labels-idx1-ubyte")


def write_cifar(folder, limit, test_limit):
    os.makedirs(folder, exist_ok=True)

    def records(images, labels):
        padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))
        rgb = np.repeat(padded[:, None], 3, axis=1).reshape(len(images), -1)
        return np.concatenate([labels[:, None].astype(np.uint8), rgb], axis=1).tobytes()

    images, labels = split(False)
    images, labels = images[:limit], labels[:limit]
    per_file = (len(images) + 4) // 5
    for i in range(5):
        part = slice(i * per_file, (i + 1) * per_file)
        with open(os.path.join(folder, f"data_batch_{i + 1}.bin"), "wb") as f:
            f.write(records(images[part], labels[part]))
    images, labels = split(True)
    images, labels = images[:test_limit], labels[:test_limit]
    with open(os.path.join(folder, "test_batch.bin"), "wb") as f:
        f.write(records(images, labels))
    with open(os.path.join(folder, "batches.meta.txt"), "w") as f:
        f.write("\n".join(NAMES) + "\n")


def resize(images, size):
    """Bilinear, align_corners=False (pixel centres), like PyTorch."""
    n, h, w = images.shape

    def taps(out, inp):
        src = np.maximum((np.arange(out) + 0.5) * inp / out - 0.5, 0)
        i0 = np.floor(src).astype(int)
        i1 = np.minimum(i0 + 1, inp - 1)
        return i0, i1, src - i0

    r0, r1, lr = taps(size, h)
    c0, c1, lc = taps(size, w)
    x = images.astype(np.float32)
    rows = x[:, r0] * (1 - lr)[None, :, None] + x[:, r1] * lr[None, :, None]
    out = rows[:, :, c0] * (1 - lc) + rows[:, :, c1] * lc
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def write_idx(path, array):
    with open(path, "wb") as f:
        if array.ndim == 3:
            f.write(struct.pack(">IIII", 0x803, *array.shape))
        else:
            f.write(struct.pack(">II", 0x801, len(array)))
        f.write(array.tobytes())


def write_mnist64(folder, limit, test_limit):
    os.makedirs(folder, exist_ok=True)
    for test, prefix in ((False, "train"), (True, "t10k")):
        images, labels = split(test)
        keep = test_limit if test else limit
        images, labels = images[:keep], labels[:keep]
        write_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte"), resize(images, 64))
        write_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte"), labels)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=["cifar", "mnist64"])
    parser.add_argument("folder")
    parser.add_argument("--train", type=int, default=60000, help="training images to keep")
    parser.add_argument("--test", type=int, default=10000, help="test images to keep")
    args = parser.parse_args()
    (write_cifar if args.kind == "cifar" else write_mnist64)(args.folder, args.train, args.test)


if __name__ == "__main__":
    main()
