#!/usr/bin/python3
"""Times PyTorch on a cnnrun model file: training steps and inference, one
JSON document on stdout, the same keys as `cnnrun bench --json` where they
mean the same thing.

    /usr/bin/python3 bench/torch_bench.py MODEL.yaml [--batch-size B] [--threads N]
        [--steps K] [--warmup W] [--input C,H,W] [--mode train|infer|both]

A training step: forward in training mode, cross-entropy on the logits,
backward, SGD with momentum 0.9 (zero_grad(set_to_none=True), PyTorch's
default from 2.0 and what a tuned loop does). Inference: eval mode,
torch.no_grad(), softmax on the output. The batch is random data made once;
each of the K timed steps is timed on its own after W untimed warm-up steps,
and the median is reported (milliseconds per batch, images per second =
batch / median).

torch.set_num_threads(N) is called with the same N as cnnrun's --threads:
torch 1.13 on this machine otherwise starts with one thread.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import ROOT, build, openblas_core  # noqa: E402


def max_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def time_steps(step, warmup, steps):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--input", help="C,H,W (default: the model's)")
    parser.add_argument("--mode", choices=["train", "infer", "both"], default="both")
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--cnnrun", default=os.path.join(ROOT, "build", "cnnrun"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    chw = tuple(int(v) for v in args.input.split(",")) if args.input else None
    net, spec = build(args.model, args.cnnrun, chw)
    c, h, w = spec["input"]
    classes = spec["layers"][-1]["output"][0]
    x = torch.randn(args.batch_size, c, h, w)
    labels = torch.randint(0, classes, (args.batch_size,))
    rss_before = max_rss_bytes()
    result = {
        "side": "torch",
        "model": spec["name"],
        "input": [c, h, w],
        "batch_size": args.batch_size,
        "threads": torch.get_num_threads(),
        "steps": args.steps,
        "warmup": args.warmup,
        "torch_version": torch.__version__,
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "openblas_core": openblas_core(),
        "parameters": sum(p.numel() for p in net.parameters()),
    }

    if args.mode in ("train", "both"):
        optimizer = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0.9)
        net.train()

        def train_step():
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(x), labels)
            loss.backward()
            optimizer.step()

        times = time_steps(train_step, args.warmup, args.steps)
        median = statistics.median(times)
        result["step_ms"] = median * 1e3
        result["train_images_per_second"] = args.batch_size / median
        result["step_ms_all"] = [t * 1e3 for t in times]
        result["train_peak_rss_bytes"] = max_rss_bytes()

    if args.mode in ("infer", "both"):
        net.eval()

        def infer_step():
            with torch.no_grad():
                net.predict(x)

        times = time_steps(infer_step, args.warmup, args.steps)
        median = statistics.median(times)
        result["inference_ms"] = median * 1e3
        result["inference_images_per_second"] = args.batch_size / median
        result["inference_ms_all"] = [t * 1e3 for t in times]

    # The whole process, interpreter and libraries included (what
    # /usr/bin/time -v reports), and what the model and its batches added.
    result["peak_rss_bytes"] = max_rss_bytes()
    result["rss_before_model_bytes"] = rss_before
    json.dump(result, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
