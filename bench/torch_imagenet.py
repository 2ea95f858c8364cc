#!/usr/bin/python3
"""PyTorch inference on torchvision's ResNet-18 and MobileNet-v2 (the
architectures of models/resnet18.yaml and models/mobilenet_v2.yaml; random
weights: speed does not depend on them), for bench/RESULTS.md's side-by-side
with `cnnrun bench`. bench/torch_bench.py builds chains only; these two are
graphs, so torchvision's own modules are timed.
    /usr/bin/python3 bench/torch_imagenet.py [--threads N] [--steps K]
Eval mode, torch.no_grad(), softmax on the output, one untimed forward,
then the median of K timed forwards at batch 1 and 32; one JSON document."""
import argparse
import json
import statistics
import time

import torch
import torchvision


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {}
    for name in ("mobilenet_v2", "resnet18"):
        torch.manual_seed(0)
        model = getattr(torchvision.models, name)(weights=None).eval()
        for batch in (1, 32):
            x = torch.randn(batch, 3, 224, 224)
            with torch.no_grad():
                torch.softmax(model(x), 1)
                times = []
                for _ in range(args.steps):
                    start = time.perf_counter()
                    torch.softmax(model(x), 1)
                    times.append(time.perf_counter() - start)
            ms = statistics.median(times) * 1000
            results[f"{name}/{batch}"] = {"inference_ms": ms,
                                          "inference_images_per_second": batch * 1000 / ms}
    print(json.dumps({"torch": torch.__version__, "threads": args.threads, "results": results},
                     indent=1))


if __name__ == "__main__":
    main()
