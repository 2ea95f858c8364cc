#!/usr/bin/python3
"""One Fashion-MNIST training epoch of models/lenet5.yaml in PyTorch, end to
end, doing what `cnnrun train models/lenet5.yaml --epochs 1 --quiet --out DIR`
does:

  read the four gzip IDX files (/usr/share/datasets/fashion-mnist/) into
  memory as bytes; each batch turned into floats normalised with the train
  section's mean 0.286 and std 0.353 as it is used;
  a seeded shuffle; batches of 64 (the last one partial, 32 images); per
  batch forward, cross-entropy, backward, SGD lr 0.05 momentum 0.9 on a
  cosine schedule stepped per batch over the epoch; then the 10,000 test
  images in evaluation mode; then the weights saved to DIR.

    /usr/bin/python3 bench/torch_lenet_epoch.py [--threads N] [--out DIR]

Prints one JSON line. The benchmark figure is 60,000 / wall time of the
whole process (run.sh measures it from outside, so the interpreter's start
and `import torch` count, as cnnrun's start and data loading do); the
in-process times are printed as well.
"""
import argparse
import gzip
import json
import os
import sys
import time

START = time.perf_counter()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import ROOT, build  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    """An IDX file's array (unsigned bytes), shape from its header."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(split):
    """Images as bytes [count, 1, 28, 28] and labels, as cnnrun holds them."""
    images = read_idx(os.path.join(DATA, f"{split}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(DATA, f"{split}-labels-idx1-ubyte.gz"))
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def to_floats(images, mean, std):
    """A batch of bytes as normalised floats."""
    return images.float().div_(255.0).sub_(mean).div_(std)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", help="folder for the weights (default: none saved)")
    parser.add_argument("--cnnrun", default=os.path.join(ROOT, "build", "cnnrun"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    net, _ = build(os.path.join(ROOT, "models", "lenet5.yaml"), args.cnnrun)
    # models/lenet5.yaml's train section.
    mean, std, lr, momentum = 0.286, 0.353, 0.05, 0.9
    train_x, train_y = load("train")
    test_x, test_y = load("t10k")
    loaded = time.perf_counter()

    steps = (len(train_x) + args.batch_size - 1) // args.batch_size
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    net.train()
    order = torch.randperm(len(train_x))
    total_loss, correct = 0.0, 0
    for step in range(steps):
        index = order[step * args.batch_size:(step + 1) * args.batch_size]
        x, y = to_floats(train_x[index], mean, std), train_y[index]
        optimizer.zero_grad(set_to_none=True)
        logits = net(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        optimizer.step()
        schedule.step()
        total_loss += loss.item() * len(index)
        correct += (logits.argmax(1) == y).sum().item()
    trained = time.perf_counter()

    net.eval()
    test_correct = 0
    with torch.no_grad():
        for start in range(0, len(test_x), args.batch_size):
            out = net.predict(to_floats(test_x[start:start + args.batch_size], mean, std))
            test_correct += (out.argmax(1) == test_y[start:start + args.batch_size]).sum().item()
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        torch.save(net.state_dict(), os.path.join(args.out, "last.pt"))
    end = time.perf_counter()
    print(json.dumps({
        "side": "torch",
        "threads": torch.get_num_threads(),
        "train_loss": total_loss / len(train_x),
        "train_accuracy": correct / len(train_x),
        "test_accuracy": test_correct / len(test_x),
        "seconds_in_process": end - START,
        "seconds_training_loop": trained - loaded,
        "loop_images_per_second": len(train_x) / (trained - loaded),
    }))


if __name__ == "__main__":
    main()
