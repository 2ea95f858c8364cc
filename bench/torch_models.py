"""PyTorch versions of cnnrun model files, built from the file itself.

    from torch_models import build
    net, spec = build("models/vgg_small.yaml", cnnrun="build/cnnrun", input_chw=(3, 64, 64))

`cnnrun check --json` gives the layers with every setting resolved (repeat
blocks expanded, 'same' padding turned into numbers, defaults filled in),
and tests/pytorch/compare.py's make_module() turns each into its
torch.nn module: the mapping that compare.py holds to a relative 1e-4
against cnnrun on the same weights. So both sides of a benchmark run the
same architecture: the same kernels, LRN constants, batchnorm eps and
momentum, dropout rates.

The result is an nn.Sequential, the way a PyTorch user writes such a net:
conv and dense layers with a fused activation become the layer followed by
nn.ReLU/nn.Tanh/..., a dense layer on a C×H×W input gets an nn.Flatten in
front, dropout is nn.Dropout (compare.py only handles rate 0, so dropout is
mapped here). The final softmax is left out of the module: training feeds
its logits to F.cross_entropy, as cnnrun fuses softmax and cross-entropy;
inference applies softmax to the output (`predict`).

Only chains are supported (each layer reads the one before it); the bench
models are chains. Run with Debian's /usr/bin/python3 (python3-torch).
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "pytorch"))
from compare import Net, make_module  # noqa: E402

ACTIVATION_MODULES = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    # cnnrun's fused leaky_relu uses PyTorch's default slope.
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
}


def check_json(model_path, cnnrun, input_chw=None):
    """`cnnrun check --json` of the model, at another input size if asked
    (the file's `input:` line rewritten in a temporary copy)."""
    if input_chw is None:
        return json.loads(subprocess.run([cnnrun, "check", "--json", model_path], check=True,
                                         capture_output=True, text=True).stdout)
    with open(model_path) as f:
        text = f.read()
    c, h, w = input_chw
    text, count = re.subn(r"(?m)^input:.*$", f"input: [{c}, {h}, {w}]", text)
    if count != 1:
        sys.exit(f"{model_path}: expected one top-level 'input:' line to rewrite")
    with tempfile.TemporaryDirectory() as folder:
        copy = os.path.join(folder, os.path.basename(model_path))
        with open(copy, "w") as f:
            f.write(text)
        return check_json(copy, cnnrun)


def modules_for(layer, in_shape):
    """The torch.nn modules computing one cnnrun layer of a chain."""
    kind, cfg = layer["type"], layer["config"]
    if kind == "dropout":
        return [nn.Dropout(cfg["rate"])]
    if kind == "flatten":
        return [nn.Flatten()]
    if kind == "relu":
        return [nn.ReLU()]
    if kind in ("tanh", "sigmoid"):
        return [ACTIVATION_MODULES[kind]()]
    if kind == "leaky_relu":
        return [nn.LeakyReLU(cfg["slope"])]
    if kind in ("add", "concat", "softmax"):
        sys.exit(f"layer '{layer['name']}': type '{kind}' is not supported inside a chain")
    module = make_module(layer, [in_shape])
    out = [module]
    if kind == "dense" and (in_shape[1], in_shape[2]) != (1, 1):
        out.insert(0, nn.Flatten())
    if kind in ("conv", "dense") and cfg["activation"] != "none":
        out.append(ACTIVATION_MODULES[cfg["activation"]]())
    return out


def openblas_core():
    """The kernel set the OpenBLAS loaded into this process chose
    (openblas_get_corename: "Haswell", "SkylakeX", ...), or None."""
    import ctypes

    with open("/proc/self/maps") as f:
        paths = set(re.findall(r"/\S*libopenblas\S*\.so\S*", f.read()))
    for path in sorted(paths):
        try:
            get = ctypes.CDLL(path).openblas_get_corename
        except (OSError, AttributeError):
            continue
        get.restype = ctypes.c_char_p
        return get().decode()
    return None


class Classifier(nn.Sequential):
    """The chain up to the logits; predict() adds the softmax."""

    def predict(self, x):
        return torch.softmax(self(x).flatten(1), dim=1)


class GraphClassifier(Net):
    """A net with branches (add, concat): tests/pytorch/compare.py's Net,
    which runs each layer's module on its named inputs (x + shortcut for
    add, torch.cat for concat), as a PyTorch user writes a ResNet's forward;
    its output here is the logits, and predict() adds the softmax. (Net
    treats dropout as rate 0: the bench's graph nets have none.)"""

    def forward(self, x):
        return self.run(x)[2].flatten(1)

    def predict(self, x):
        return torch.softmax(self(x), dim=1)


def build(model_path, cnnrun, input_chw=None):
    """(Classifier, spec): the model as a PyTorch module and its check JSON."""
    spec = check_json(model_path, cnnrun, input_chw)
    layers = spec["layers"]
    if layers[-1]["type"] != "softmax":
        sys.exit(f"{model_path}: the bench expects a classifier ending in softmax")
    previous = "input"
    for layer in layers:
        if layer["inputs"] != [previous]:
            return GraphClassifier(spec), spec
        previous = layer["name"]
    modules, previous, shape = [], "input", spec["input"]
    for layer in layers[:-1]:
        if layer["inputs"] != [previous]:
            sys.exit(f"{model_path}: layer '{layer['name']}' reads {layer['inputs']}, "
                     f"not the layer before it; only chains are supported")
        modules.extend(modules_for(layer, shape))
        previous, shape = layer["name"], layer["output"]
    if shape[1:] != [1, 1]:
        modules.append(nn.Flatten())
    return Classifier(*modules), spec


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Prints the PyTorch module for a model file.")
    parser.add_argument("model")
    parser.add_argument("--cnnrun", default=os.path.join(ROOT, "build", "cnnrun"))
    parser.add_argument("--input", help="C,H,W")
    args = parser.parse_args()
    chw = tuple(int(v) for v in args.input.split(",")) if args.input else None
    net, spec = build(args.model, args.cnnrun, chw)
    print(net)
    count = sum(p.numel() for p in net.parameters())
    expected = sum(layer["parameters"] for layer in spec["layers"])
    print(f"parameters: {count:,} (cnnrun check: {expected:,})")
