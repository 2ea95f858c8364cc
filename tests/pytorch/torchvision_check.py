#!/usr/bin/python3
"""Holds models/resnet18.yaml and models/mobilenet_v2.yaml against
torchvision's own resnet18() and mobilenet_v2() (python3-torchvision; not in
the test suite, and no weights can be downloaded here: the constructors'
seeded random initialisation, weights=None, with random batchnorm statistics
and affine parameters so that evaluation mode is not the identity).

    /usr/bin/python3 tests/pytorch/torchvision_check.py [--build DIR] [--batch N]
        [--seed S] [--model resnet18|mobilenet_v2]...

For each model:
  1. torchvision's state_dict() (without num_batches_tracked) is written to
     safetensors in cnnrun's names: the model files list the parameters in
     torchvision's order, so the i-th tensor of one is the i-th of the other
     (shapes checked).
  2. cnnrun_dump runs the model's step on a random batch with those weights
     (dropout at rate 0 in a temporary copy of the file: MobileNet's draws
     differ between the libraries); torchvision runs the same step in
     float64.
  3. `cnnrun predict --json --top 1000` classifies PNG images (random
     pixels at 224×224, so no resizing) with those weights and ImageNet's
     normalisation in the train section; torchvision's evaluation-mode
     probabilities of the same pixels (float64) must agree to 1e-5.
  4. The probabilities (training mode, and evaluation mode after the step's
     running-statistics update) must agree to 1e-5 absolute; the loss, the
     running statistics and every gradient to 1e-4 relative, except
     gradients that PyTorch's own float32 step gets no closer (reported).
"""
import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402
from compare import zero_dropout  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUFFIXES = {"conv": ["weight", "bias"], "dense": ["weight", "bias"],
            "batchnorm": ["weight", "bias", "running_mean", "running_var"],
            "groupnorm": ["weight", "bias"], "prelu": ["weight"],
            "conv_transpose": ["weight", "bias"]}


def cnnrun_names(spec):
    """cnnrun's tensor names in file order, from `check --json`."""
    names = []
    for layer in spec["layers"]:
        for suffix in SUFFIXES.get(layer["type"], []):
            if suffix == "bias" and layer["type"] in ("conv", "dense", "conv_transpose") \
                    and not layer["config"]["bias"]:
                continue
            names.append(f"{layer['name']}.{suffix}")
    return names


def torchvision_model(name, seed):
    torch.manual_seed(seed)
    model = getattr(torchvision.models, name)(weights=None)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.copy_(0.1 * torch.randn_like(module.running_mean))
                module.running_var.copy_(0.5 + torch.rand_like(module.running_var))
                module.weight.copy_(0.5 + torch.rand_like(module.weight))
                module.bias.copy_(0.1 * torch.randn_like(module.bias))
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
    return model


IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def predict_check(name, net, model_file, weights_file, args, folder):
    """`cnnrun predict --json` against torchvision's evaluation forward."""
    from PIL import Image

    with open(model_file, "a") as f:
        f.write(f"train:\n  normalize: {{mean: {IMAGENET_MEAN}, std: {IMAGENET_STD}}}\n")
    rng = np.random.default_rng(args.seed + 1)
    pixels = rng.integers(0, 256, (args.batch, 224, 224, 3), dtype=np.uint8)
    images = []
    for i, image in enumerate(pixels):
        images.append(os.path.join(folder, f"image{i}.png"))
        Image.fromarray(image).save(images[-1])
    result = subprocess.run([os.path.join(args.build, "cnnrun"), "predict", model_file,
                             "--weights", weights_file, "--json", "--top", "1000", *images],
                            check=True, capture_output=True, text=True)
    predicted = json.loads(result.stdout)
    x = (pixels.astype(np.float64) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    reference = copy.deepcopy(net).to(torch.float64).eval()
    with torch.no_grad():
        expected = F.softmax(reference(torch.tensor(x.transpose(0, 3, 1, 2))), dim=1).numpy()
    failures, worst = [], 0.0
    for i, entry in enumerate(predicted):
        got = np.zeros(1000)
        for top in entry["top"]:
            got[top["class"]] = top["probability"]
        if len(entry["top"]) != 1000 or entry["image"] != images[i]:
            failures.append(f"predict --json: image {i}: {len(entry['top'])} classes, "
                            f"image {entry['image']!r}")
        worst = max(worst, float(np.abs(got - expected[i]).max()))
    print(f"  {'predict --json probabilities':40} max abs {worst:.2e} "
          f"({len(predicted)} PNG images)")
    if len(predicted) != args.batch or not worst <= 1e-5:
        failures.append(f"predict --json: {worst:.2e} > 1e-5 over {len(predicted)} images")
    return failures


def check(name, args, folder):
    model_file = os.path.join(ROOT, "models", f"{name}.yaml")
    model_file = zero_dropout(model_file, folder)
    cnnrun = os.path.join(args.build, "cnnrun")
    spec = json.loads(subprocess.run([cnnrun, "check", "--json", model_file], check=True,
                                     capture_output=True, text=True).stdout)
    net = torchvision_model(name, args.seed)
    state = [(k, v) for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")]
    ours = cnnrun_names(spec)
    if len(ours) != len(state):
        sys.exit(f"{name}: cnnrun has {len(ours)} tensors, torchvision {len(state)}")
    mapping = {}
    for mine, (theirs, value) in zip(ours, state):
        mapping[theirs] = mine
    weights = {}
    expected_shapes = {}
    for mine, (theirs, value) in zip(ours, state):
        weights[mine] = value.detach().numpy().astype(np.float32)
        expected_shapes[mine] = tuple(value.shape)
    weights_file = os.path.join(folder, "weights.safetensors")
    st.save(weights_file, weights)

    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((args.batch, 3, 224, 224)).astype(np.float32)
    labels = rng.integers(0, 1000, args.batch).astype(np.int64)
    batch_file = os.path.join(folder, "batch.safetensors")
    st.save(batch_file, {"input": x, "labels": labels})
    out_file = os.path.join(folder, "out.safetensors")
    subprocess.run([os.path.join(args.build, "cnnrun_dump"), model_file, "--input", batch_file,
                    "--out", out_file, "--weights", weights_file], check=True)
    got, _ = st.load(out_file)

    def step(dtype):
        """torchvision's training step and evaluation forward in `dtype`."""
        reference = copy.deepcopy(net).to(dtype)
        reference.train()
        xt = torch.tensor(x, dtype=dtype, requires_grad=True)
        logits = reference(xt)
        loss = F.cross_entropy(logits, torch.tensor(labels))
        loss.backward()
        reference.eval()
        with torch.no_grad():
            eval_probabilities = F.softmax(reference(xt), dim=1)
        result = {"output": F.softmax(logits, dim=1), "output_eval": eval_probabilities,
                  "loss": loss, "input_grad": xt.grad}
        for theirs, p in reference.named_parameters():
            result["grad." + mapping[theirs]] = p.grad
        for theirs, value in reference.state_dict().items():
            if "running" in theirs:
                result["state." + mapping[theirs]] = value
        return {k: v.detach().to(torch.float64).numpy() for k, v in result.items()}

    ref64, ref32 = step(torch.float64), step(torch.float32)
    failures = predict_check(name, net, model_file, weights_file, args, folder)

    def absolute(key, tolerance):
        err = float(np.abs(got[key].reshape(ref64[key].shape) - ref64[key]).max())
        print(f"  {key:40} max abs {err:.2e}")
        if not err <= tolerance:
            failures.append(f"{key}: {err:.2e} > {tolerance}")

    absolute("output", 1e-5)       # probabilities, training mode
    absolute("output_eval", 1e-5)  # probabilities, evaluation mode after the step
    # The gradient of a bias that a training-mode batchnorm subtracts again
    # is exactly 0; float rounding leaves ~1e-9 of it in both libraries, so
    # such tensors are held to an absolute bound against the largest
    # gradient instead of a relative one.
    largest = max(float(np.abs(v).max()) for k, v in ref64.items() if k.startswith("grad."))
    worst, ill = 0.0, []
    for key in ref64:
        if key in ("output", "output_eval"):
            continue
        ours = got[key].reshape(ref64[key].shape).astype(np.float64)
        scale = float(np.abs(ref64[key]).max())
        if key.startswith("grad.") and scale < 1e-6 * largest:
            err = float(np.abs(ours - ref64[key]).max()) / largest
        else:
            err = float(np.abs(ours - ref64[key]).max()) / (scale or 1.0)
            # Where PyTorch's own float32 step is already more than 1e-4 from
            # float64 (MobileNet at 224×224 and batch 2: thousands of relu6
            # inputs within rounding of 0 or 6, each float32 run flipping its
            # own, and training-mode batchnorm over 2·7·7 values), the
            # gradient is ill-conditioned at float32: such tensors are
            # reported, not failed (compare.py holds the same model at 64×64
            # to PyTorch float32's branches). Probabilities are always held.
            torch32 = float(np.abs(ref32[key] - ref64[key]).max()) / (scale or 1.0)
            if err > 1e-4 and torch32 > 1e-4:
                ill.append((key, err, torch32))
                continue
        worst = max(worst, err)
        if not err <= 1e-4:
            failures.append(f"{key}: relative {err:.2e} > 1e-4")
    print(f"  loss, input gradient, {sum(k.startswith('grad.') for k in ref64)} parameter "
          f"gradients, running statistics: worst relative {worst:.2e}")
    if ill:
        ratio = max(e / t for _, e, t in ill)
        print(f"  {len(ill)} tensors ill-conditioned at float32 (PyTorch float32 itself "
              f"{min(t for *_, t in ill):.1e} … {max(t for *_, t in ill):.1e} from float64): "
              f"cnnrun at most {ratio:.1f}× as far")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", action="append", choices=["resnet18", "mobilenet_v2"])
    args = parser.parse_args()
    torch.use_deterministic_algorithms(True)
    failed = False
    for name in args.model or ["resnet18", "mobilenet_v2"]:
        print(f"== {name} (torchvision {torchvision.__version__}, batch {args.batch}, "
              f"seed {args.seed})")
        with tempfile.TemporaryDirectory() as folder:
            failures = check(name, args, folder)
        for message in failures:
            print(f"  FAIL {message}")
        failed |= bool(failures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
