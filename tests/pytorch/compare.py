#!/usr/bin/python3
"""Holds cnnrun against PyTorch on the same weights and batch: the output,
the loss, every gradient, the running statistics and the evaluation-mode
output after the step must agree to within a relative 1e-4.

    /usr/bin/python3 tests/pytorch/compare.py [--build DIR] [--batch N]
        [--seed S] [--zero-dropout] [--tolerance T] [--verbose] MODEL.yaml...

Run it with Debian's /usr/bin/python3 (python3-torch); the test suite never
needs PyTorch. For each model:

  1. `cnnrun check --json` gives the layers with their settings; an
     equivalent torch.nn module is built from them, with the same
     state_dict names (`block1.conv1.weight`).
  2. cnnrun -> PyTorch: cnnrun_dump initialises the network (seed S), saves
     the weights as safetensors and runs one step (training-mode forward,
     cross-entropy, backward, then an evaluation-mode forward). PyTorch
     loads those weights with load_state_dict(strict=True) and runs the
     same step.
  3. PyTorch -> cnnrun: PyTorch's own initialisation (with random running
     statistics), saved by st.py, loaded by cnnrun_dump --weights, same step.

The reference is PyTorch in float64, so "rel" measures cnnrun's float32
error alone: max |cnnrun − reference| / max |reference| over the tensor
(the loss: relative to itself). "rel f32" compares cnnrun with PyTorch in
float32, and "torch f32" PyTorch float32 with float64, for scale. Where
float32 rounding flips a max-pool near-tie or a relu input near 0, both
float32 runs take the other branch; such a tensor is marked "kink" and
measured against PyTorch float32. Dropout must have rate 0
(--zero-dropout rewrites a temporary copy of the model).
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
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# cnnrun's fused activations; leaky_relu's fused slope is PyTorch's default.
ACTIVATIONS = {
    "none": lambda x: x,
    "relu": F.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.01),
    "relu6": F.relu6,
    "silu": F.silu,
    "gelu": F.gelu,
    "elu": F.elu,
    "hardswish": F.hardswish,
    "hardsigmoid": F.hardsigmoid,
}

# Every cnnrun layer kind (lib/layers/table.c) is either computed by PyTorch
# here (make_module and Net.run) or listed with the reason it has no PyTorch
# equivalent; tests/test_kinds.c fails when a kind is in neither.
TORCH_KINDS = ("conv", "maxpool", "avgpool", "dense", "relu", "tanh", "sigmoid", "leaky_relu",
               "lrn", "dropout", "batchnorm", "flatten", "softmax", "add", "concat", "magnitude",
               "globalavgpool", "globalmaxpool", "relu6", "silu", "gelu", "elu", "hardswish",
               "hardsigmoid", "prelu", "conv_transpose", "upsample", "groupnorm")
NO_TORCH_EQUIVALENT = {
    # "kind": "why PyTorch cannot compute it",
}


def attach(root, dotted, module):
    """Registers `module` under a dotted name ("block1.conv1"), creating
    empty containers on the way, so state_dict names match cnnrun's."""
    parts = dotted.split(".")
    if any(part in dir(nn.Module) for part in parts):
        sys.exit(f"layer '{dotted}': the name clashes with a torch.nn.Module attribute")
    node = root
    for part in parts[:-1]:
        if not hasattr(node, part):
            node.add_module(part, nn.Module())
        node = getattr(node, part)
    node.add_module(parts[-1], module)


def make_module(layer, in_shapes):
    kind, cfg = layer["type"], layer["config"]
    if kind not in TORCH_KINDS:
        reason = NO_TORCH_EQUIVALENT.get(kind, "not in TORCH_KINDS")
        sys.exit(f"layer '{layer['name']}': no PyTorch equivalent for type '{kind}': {reason}")
    channels = in_shapes[0][0] if in_shapes else 0
    if kind == "conv":
        module = nn.Conv2d(channels, cfg["filters"], tuple(cfg["kernel"]), tuple(cfg["stride"]),
                           tuple(cfg["padding"]), groups=cfg["groups"], bias=cfg["bias"],
                           dilation=tuple(cfg.get("dilation", [1, 1])))
    elif kind == "conv_transpose":
        module = nn.ConvTranspose2d(channels, cfg["filters"], tuple(cfg["kernel"]),
                                    tuple(cfg["stride"]), tuple(cfg["padding"]),
                                    tuple(cfg["output_padding"]), groups=cfg["groups"],
                                    bias=cfg["bias"], dilation=tuple(cfg["dilation"]))
    elif kind == "groupnorm":
        return nn.GroupNorm(cfg["groups"], channels, eps=cfg["eps"])
    elif kind == "prelu":
        return nn.PReLU(channels)
    elif kind == "upsample":
        return nn.Upsample(scale_factor=tuple(float(s) for s in cfg["scale"]), mode=cfg["mode"],
                           align_corners=False if cfg["mode"] == "bilinear" else None)
    elif kind == "globalavgpool":
        return nn.AdaptiveAvgPool2d(1)
    elif kind == "globalmaxpool":
        return nn.AdaptiveMaxPool2d(1)
    elif kind == "dense":
        c, h, w = in_shapes[0]
        module = nn.Linear(c * h * w, cfg["units"], bias=cfg["bias"])
    elif kind == "batchnorm":
        return nn.BatchNorm2d(channels, eps=cfg["eps"], momentum=cfg["momentum"])
    elif kind == "maxpool":
        return nn.MaxPool2d(tuple(cfg["size"]), tuple(cfg["stride"]), tuple(cfg["padding"]))
    elif kind == "avgpool":
        return nn.AvgPool2d(tuple(cfg["size"]), tuple(cfg["stride"]), tuple(cfg["padding"]),
                            count_include_pad=True)
    elif kind == "lrn":
        return nn.LocalResponseNorm(cfg["size"], cfg["alpha"], cfg["beta"], cfg["k"])
    elif kind == "dropout":
        if cfg["rate"] != 0:
            sys.exit(f"layer '{layer['name']}': dropout rate {cfg['rate']}; the comparison "
                     "needs rate 0 (use --zero-dropout)")
        return None
    elif kind in ("relu", "tanh", "sigmoid", "leaky_relu", "flatten", "softmax", "add",
                  "concat", "magnitude", "elu") or kind in ACTIVATIONS:
        return None
    else:
        sys.exit(f"layer '{layer['name']}': no PyTorch equivalent for type '{kind}'")
    if not cfg.get("trainable", True):
        for p in module.parameters():
            p.requires_grad_(False)
    return module


class Net(nn.Module):
    """The model's layer graph in execution order, from `check --json`."""

    def __init__(self, spec):
        super().__init__()
        self.spec = spec
        self.steps = []
        shapes = {"input": spec["input"]}
        for layer in spec["layers"]:
            module = make_module(layer, [shapes[name] for name in layer["inputs"]])
            if module is not None:
                attach(self, layer["name"], module)
            self.steps.append((layer, module))
            shapes[layer["name"]] = layer["output"]
        # The network's output is the file's last layer (graph.c).
        last_line = max(layer["line"] for layer in spec["layers"])
        self.output_name = [layer["name"] for layer in spec["layers"]
                            if layer["line"] == last_line][-1]

    def forward(self, x):
        return self.run(x)[0]

    def run(self, x):
        """(output, every layer's output by name, the loss's logits)."""
        values = {"input": x}
        for layer, module in self.steps:
            xs = [values[name] for name in layer["inputs"]]
            kind, cfg = layer["type"], layer["config"]
            if kind in ("conv", "conv_transpose"):
                y = ACTIVATIONS[cfg["activation"]](module(xs[0]))
            elif kind == "dense":
                y = ACTIVATIONS[cfg["activation"]](module(xs[0].flatten(1)))
                y = y.reshape(y.shape[0], -1, 1, 1)
            elif kind in ("batchnorm", "maxpool", "avgpool", "lrn", "groupnorm", "prelu",
                          "upsample", "globalavgpool", "globalmaxpool"):
                y = module(xs[0])
            elif kind == "leaky_relu":
                y = F.leaky_relu(xs[0], cfg["slope"])
            elif kind == "elu":
                y = F.elu(xs[0], cfg["alpha"])
            elif kind in ACTIVATIONS:
                y = ACTIVATIONS[kind](xs[0])
            elif kind == "dropout":
                y = xs[0]  # rate 0
            elif kind == "flatten":
                y = xs[0].reshape(xs[0].shape[0], -1, 1, 1)
            elif kind == "softmax":
                y = F.softmax(xs[0], dim=1)
            elif kind == "add":
                y = xs[0]
                for other in xs[1:]:
                    y = y + other
            elif kind == "concat":
                y = torch.cat(xs, dim=1)
            elif kind == "magnitude":
                # the norm over each group of `size` consecutive channels
                y = torch.linalg.vector_norm(xs[0].unflatten(1, (-1, cfg["size"])), dim=2)
            values[layer["name"]] = y
        out_layer = next(l for l, _ in self.steps if l["name"] == self.output_name)
        # cnnrun's loss takes the input of a final softmax as the logits.
        logits = values[out_layer["inputs"][0]] if out_layer["type"] == "softmax" \
            else values[self.output_name]
        return values[self.output_name], values, logits


def torch_step(net, x, labels, dtype):
    """What cnnrun_dump records, computed by PyTorch in `dtype`."""
    net = copy.deepcopy(net).to(dtype)
    net.train()
    xt = torch.tensor(x, dtype=dtype, requires_grad=True)
    out, values, logits = net.run(xt)
    loss = F.cross_entropy(logits.flatten(1), torch.tensor(labels, dtype=torch.int64))
    loss.backward()
    result = {"output": out, "loss": loss, "input_grad": xt.grad}
    for name, value in values.items():
        if name != "input":
            result["act." + name] = value
    for name, p in net.named_parameters():
        if p.requires_grad:
            result["grad." + name] = p.grad
    for name, value in net.state_dict().items():
        if not name.endswith("num_batches_tracked"):
            result["state." + name] = value
    net.eval()
    with torch.no_grad():
        result["output_eval"] = net(xt)
    return {k: v.detach().to(torch.float64).numpy() for k, v in result.items()}


def relative(ours, ref):
    diff = np.abs(ours.astype(np.float64) - ref)
    scale = np.abs(ref).max() if ref.size else 0.0
    worst = diff.max() if diff.size else 0.0
    return worst, worst / scale if scale > 0 else worst


def compare(title, ours, ref64, ref32, tolerance, verbose):
    """Prints one row per tensor; returns (worst rel by group, failures).

    A tensor passes when cnnrun is within `tolerance` of float64 PyTorch.
    Where PyTorch's own float32 run is as far from float64 (a max-pool
    near-tie or a relu input near 0 that float32 rounding resolves the other
    way: a different branch, not an error), it passes when cnnrun is within
    `tolerance` of PyTorch's float32 run instead, and is marked "kink"."""
    failures = []
    worst = {}
    missing = sorted(set(ref64) ^ set(ours))
    if missing:
        failures.append(f"tensors in only one of cnnrun/PyTorch: {missing[:6]}")
    print(f"\n  {title}")
    print(f"  {'tensor':40} {'elements':>9} {'max abs':>9} {'rel':>9} {'rel f32':>9} "
          f"{'torch f32':>9}")
    for key in sorted(set(ref64) & set(ours), key=order):
        a, b = ours[key], ref64[key]
        if a.shape != b.shape and a.size == b.size:
            a = a.reshape(b.shape)
        if a.shape != b.shape:
            failures.append(f"{key}: shape {a.shape} vs PyTorch {b.shape}")
            continue
        abs_err, rel = relative(a, b)
        _, rel_f32 = relative(a, ref32[key])
        _, torch_f32 = relative(ref32[key], b)
        kink = not rel <= tolerance and rel_f32 <= tolerance and not torch_f32 <= tolerance
        measured = rel_f32 if kink else rel
        group = key.split(".")[0] if "." in key else key
        worst[group] = max(worst.get(group, 0.0), measured)
        worst["kinks"] = worst.get("kinks", 0) + kink
        bad = not measured <= tolerance
        if bad:
            failures.append(f"{key}: rel {rel:.2e} (to PyTorch float32: {rel_f32:.2e})")
        # Parameters are unchanged by the step (their rows only show the
        # weights crossed over exactly); running statistics are shown.
        quiet = key.startswith("act.") or (key.startswith("state.") and "running" not in key)
        if verbose or bad or kink or not quiet:
            note = "  FAIL" if bad else "  kink: cnnrun agrees with PyTorch float32" if kink else ""
            print(f"  {key:40} {b.size:9d} {abs_err:9.2e} {rel:9.2e} {rel_f32:9.2e} "
                  f"{torch_f32:9.2e}{note}")
    return worst, failures


def order(key):
    rank = {"output": 0, "loss": 1, "input_grad": 2, "output_eval": 9}
    return (rank.get(key, 3 if key.startswith("grad.") else 4 if key.startswith("state.")
                     else 5), key)


def zero_dropout(path, folder):
    import yaml

    with open(path) as f:
        doc = yaml.safe_load(f)

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "dropout":
                node["rate"] = 0
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    out = os.path.join(folder, os.path.basename(path))
    with open(out, "w") as f:
        yaml.safe_dump(doc, f, sort_keys=False)
    return out


def run_model(path, args, folder):
    model = zero_dropout(path, folder) if args.zero_dropout else path
    cnnrun = os.path.join(args.build, "cnnrun")
    dump = os.path.join(args.build, "cnnrun_dump")
    spec = json.loads(subprocess.run([cnnrun, "check", "--json", model], check=True,
                                     capture_output=True, text=True).stdout)
    net = Net(spec)
    rng = np.random.default_rng(args.seed)
    c, h, w = spec["input"]
    x = rng.standard_normal((args.batch, c, h, w)).astype(np.float32)
    out_shape = next(l for l in spec["layers"] if l["name"] == net.output_name)["output"]
    classes = int(np.prod(out_shape))
    labels = rng.integers(0, classes, args.batch).astype(np.int64)
    batch_file = os.path.join(folder, "batch.safetensors")
    st.save(batch_file, {"input": x, "labels": labels})

    worst, failures = {}, []

    def check(title, weights_file, dump_args):
        out_file = os.path.join(folder, "out.safetensors")
        subprocess.run([dump, model, "--input", batch_file, "--out", out_file,
                        "--seed", str(args.seed)] + dump_args, check=True)
        ours, _ = st.load(out_file)
        start = copy.deepcopy(net)
        start.load_state_dict(st.load_state_dict(weights_file), strict=True)
        ref64 = torch_step(start, x, labels, torch.float64)
        ref32 = torch_step(start, x, labels, torch.float32)
        w, f = compare(title, ours, ref64, ref32, args.tolerance, args.verbose)
        for k, v in w.items():
            worst[k] = worst.get(k, 0) + v if k == "kinks" else max(worst.get(k, 0.0), v)
        failures.extend(f"{title}: {m}" for m in f)

    # cnnrun's initialisation, loaded into PyTorch.
    cnnrun_weights = os.path.join(folder, "cnnrun_init.safetensors")
    check("cnnrun's weights loaded into PyTorch", cnnrun_weights,
          ["--save-weights", cnnrun_weights])

    # PyTorch's initialisation, with running statistics and a batch counter
    # that are not the defaults, loaded into cnnrun.
    torch.manual_seed(args.seed)
    torch_net = Net(spec)
    with torch.no_grad():
        for name, buffer in torch_net.named_buffers():
            if name.endswith("running_mean"):
                buffer.copy_(0.1 * torch.randn_like(buffer))
            elif name.endswith("running_var"):
                buffer.copy_(0.5 + torch.rand_like(buffer))
            elif name.endswith("num_batches_tracked"):
                buffer.fill_(7)
    torch_weights = os.path.join(folder, "torch_init.safetensors")
    st.save_state_dict(torch_weights, torch_net.state_dict())
    net = torch_net
    check("PyTorch's weights loaded into cnnrun", torch_weights, ["--weights", torch_weights])
    return worst, failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--build", default=os.path.join(ROOT, "build"),
                        help="CMake build folder with cnnrun and cnnrun_dump")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--zero-dropout", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="also every layer's output")
    args = parser.parse_args()
    torch.use_deterministic_algorithms(True)
    summary, failed = [], False
    for path in args.models:
        print(f"== {path} (batch {args.batch}, seed {args.seed})")
        with tempfile.TemporaryDirectory() as folder:
            worst, failures = run_model(path, args, folder)
        groups = ["output", "loss", "grad", "input_grad", "state", "output_eval", "act"]
        row = "  ".join(f"{g} {worst[g]:.1e}" for g in groups if g in worst)
        if worst.get("kinks"):
            row += f"  ({worst['kinks']} kink rows, measured against PyTorch float32)"
        top = max(worst[g] for g in groups if g in worst)
        summary.append((path, top, row, failures))
        failed |= bool(failures)
        for message in failures:
            print(f"  FAIL {message}")
    print("\nworst relative error per model (cnnrun against PyTorch in float64):")
    for path, top, row, failures in summary:
        print(f"  {'FAIL' if failures else 'ok  '} {top:.1e}  {path}: {row}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
