#!/usr/bin/python3
"""Inference on the two ImageNet models, cnnrun against PyTorch in one run:
models/resnet18.yaml and models/mobilenet_v2.yaml (cnnrun bench) beside
torchvision's resnet18() and mobilenet_v2() (bench/torch_imagenet.py), at
batch 1 and 32, the sides alternating round by round; prints a Markdown
table of the medians over the rounds and their ratios, with the processor
and the OpenBLAS settings the figures depend on.

    /usr/bin/python3 bench/imagenet.py [--cnnrun build/cnnrun] [--rounds 3]
        [--steps 5] [--threads 2] [--json FILE]
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ("resnet18", "mobilenet_v2")
BATCHES = (1, 32)


def processor():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown processor"


def cnnrun_round(args):
    """images/s per model/batch from `cnnrun bench --json` (its inference
    figure: the median of --steps forwards in evaluation mode)."""
    figures = {}
    for name in MODELS:
        for batch in BATCHES:
            out = subprocess.run(
                [args.cnnrun, "bench", os.path.join(ROOT, "models", f"{name}.yaml"),
                 "--batch-size", str(batch), "--threads", str(args.threads),
                 "--steps", str(args.steps), "--warmup", "1", "--json"],
                check=True, capture_output=True, text=True).stdout
            figures[f"{name}/{batch}"] = json.loads(out)["inference_images_per_second"]
    return figures


def torch_round(args):
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "torch_imagenet.py"),
         "--threads", str(args.threads), "--steps", str(args.steps)],
        check=True, capture_output=True, text=True).stdout
    return {k: v["inference_images_per_second"] for k, v in json.loads(out)["results"].items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cnnrun", default=os.path.join(ROOT, "build", "cnnrun"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="also write every round's figures here")
    args = parser.parse_args()
    rounds = {"cnnrun": [], "torch": []}
    for r in range(args.rounds):
        for side, run in (("cnnrun", cnnrun_round), ("torch", torch_round)):
            print(f"round {r + 1}/{args.rounds}: {side}", file=sys.stderr, flush=True)
            rounds[side].append(run(args))
    openblas = ", ".join(f"{k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
                         if k in os.environ) or "OPENBLAS_* unset"
    print(f"{processor()}, {os.cpu_count()} cores, {args.threads} threads, {openblas}; "
          f"inference in evaluation mode, median of {args.rounds} alternating rounds "
          f"(each the median of {args.steps} forwards)\n")
    print("| model | batch | cnnrun images/s | PyTorch images/s | cnnrun / PyTorch |")
    print("|---|---|---|---|---|")
    for name in MODELS:
        for batch in BATCHES:
            key = f"{name}/{batch}"
            ours = statistics.median(r[key] for r in rounds["cnnrun"])
            theirs = statistics.median(r[key] for r in rounds["torch"])
            print(f"| {name} | {batch} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f}× |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"processor": processor(), "threads": args.threads, "openblas": openblas,
                       "rounds": rounds}, f, indent=1)


if __name__ == "__main__":
    main()
