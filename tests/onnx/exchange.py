"""The Python side of tests/onnx/run.sh (Debian's python3-onnx, python3-torch
and numpy). Each subcommand prints what it compared and exits 1 on a
mismatch.

  check MODEL.onnx CHECK.json
      onnx.checker.check_model(full_check=True), then ONNX shape inference
      against `cnnrun check --json`: every layer's value has cnnrun's shape
      ([N, C, H, W], or [N, K] where cnnrun says K×1×1).
  roundtrip ORIGINAL.json IMPORTED.json ORIGINAL.safetensors IMPORTED.safetensors
      `cnnrun check --json` of a model and of its export → import: the same
      layers (names with '.' as '_': repeat blocks' names), types, keys,
      inputs, shapes, parameter and MAC counts; layers the export drops
      (dropout: output shape = input shape, no ONNX node) are skipped and
      their readers read what they read. Weights equal bit for bit.
  torch DIR
      LeNet-5, a VGG-style net with batchnorm and a ResNet-style net with
      add, in PyTorch (seeded random weights and running statistics), in
      eval mode: DIR/NAME.onnx by torch.onnx.export, DIR/NAME.input.bin and
      DIR/NAME.torch.bin (the output), DIR/NAME.pgm and DIR/NAME.pgm.txt
      (one image and PyTorch's probabilities for it, for `cnnrun predict`).
  close A.bin B.bin [TOLERANCE]
      float32 files equal to TOLERANCE (default 1e-5) relative, values
      below a thousandth of the largest held to that thousandth.
  predict PREDICT_OUTPUT EXPECTED.txt
      `cnnrun predict`'s printed percentages against PyTorch's.
  bad DIR
      Broken files for `cnnrun import`: DIR/NAME.onnx and DIR/NAME.expect
      (a phrase the error must contain).
"""
import json
import os
import sys

import numpy as np


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


# ---- check ------------------------------------------------------------------------


def layer_values(check):
    """The ONNX value name of each layer's output, as cnnrun export names them."""
    layers = check["layers"]
    names = {}
    for layer in layers:
        name = layer["name"]
        reserved = name in ("input", "probabilities", "logits", "output")
        names[name] = name + "/output" if reserved else name
    return names


def check(model_path, check_path):
    import onnx

    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    shapes = {}
    for info in list(inferred.graph.value_info) + list(inferred.graph.output):
        dims = info.type.tensor_type.shape.dim
        shapes[info.name] = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in dims]
    with open(check_path) as f:
        report = json.load(f)
    outputs = [o.name for o in model.graph.output]
    values = layer_values(report)
    last = report["layers"][-1]
    values[last["name"]] = outputs[0]
    if "logits" in outputs:
        values[last["inputs"][0]] = "logits"
    compared = 0
    previous_shape = {"input": report["input"]}
    for layer in report["layers"]:
        c, h, w = layer["output"]
        value = values[layer["name"]]
        previous_shape[layer["name"]] = layer["output"]
        if value not in shapes:
            # No node computes it: an identity in evaluation form (dropout).
            source = previous_shape[layer["inputs"][0]]
            if source != layer["output"]:
                fail(f"layer '{layer['name']}' has no ONNX value and changes the shape")
            continue
        got = shapes[value][1:]
        want = [c, h, w] if len(got) == 3 else [c * h * w] if h == 1 and w == 1 else None
        if got != want:
            fail(f"layer '{layer['name']}': ONNX shape inference says {shapes[value]}, "
                 f"cnnrun check {c}×{h}×{w}")
        compared += 1
    print(f"{os.path.basename(os.path.dirname(model_path))}: checker (full) passed; "
          f"{compared} layer shapes agree with cnnrun check")


# ---- roundtrip ----------------------------------------------------------------------


def roundtrip(original_path, imported_path, weights_a, weights_b):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "pytorch"))
    import st

    with open(original_path) as f:
        original = json.load(f)
    with open(imported_path) as f:
        imported = json.load(f)
    rename = lambda name: name.replace(".", "_")
    kept = {rename(l["name"]): l for l in imported["layers"]}
    # What a dropped layer passes on: its own input, followed to a kept one.
    source = {}
    for layer in original["layers"]:
        name = rename(layer["name"])
        if name not in kept:
            source[name] = source.get(rename(layer["inputs"][0]), rename(layer["inputs"][0]))
    resolve = lambda name: source.get(rename(name), rename(name))
    checked = 0
    ignored_keys = ("weights", "trainable")  # inline values become weights; ONNX has no freezing
    for layer in original["layers"]:
        name = rename(layer["name"])
        if name not in kept:
            if layer["parameters"] or layer["output"] != (
                    original["input"] if layer["inputs"][0] == "input" else
                    next(l["output"] for l in original["layers"] if l["name"] == layer["inputs"][0])):
                fail(f"layer '{name}' is missing after the round trip")
            continue
        other = kept[name]
        for key in ("type", "output", "parameters", "macs"):
            if layer[key] != other[key]:
                fail(f"layer '{name}': {key} {layer[key]} became {other[key]}")
        a = {k: v for k, v in layer["config"].items() if k not in ignored_keys}
        b = {k: v for k, v in other["config"].items() if k not in ignored_keys}
        if a != b:
            fail(f"layer '{name}': keys {a} became {b}")
        if [resolve(i) for i in layer["inputs"]] != other["inputs"]:
            fail(f"layer '{name}': inputs {layer['inputs']} became {other['inputs']}")
        checked += 1
    if len(kept) != checked:
        fail(f"the imported model has {len(kept)} layers, {checked} match the original")
    for key in ("parameters", "buffers", "macs_per_image"):
        if original["totals"][key] != imported["totals"][key]:
            fail(f"total {key} {original['totals'][key]} became {imported['totals'][key]}")
    a, _ = st.load(weights_a)
    b, _ = st.load(weights_b)
    a_names = {}
    for name in a:
        layer, _, suffix = name.rpartition(".")
        a_names[rename(layer) + "." + suffix] = name
    if sorted(a_names) != sorted(b):
        fail(f"weights {sorted(a_names)} became {sorted(b)}")
    for name, original_name in a_names.items():
        if a[original_name].shape != b[name].shape or not np.array_equal(a[original_name], b[name]):
            fail(f"weight '{name}' changed in the round trip")
    dropped = len(original["layers"]) - checked
    print(f"{original['name']}: round trip keeps {checked} layers (keys, inputs, shapes, "
          f"counts) and {len(b)} weights bit for bit" +
          (f"; {dropped} dropout layer(s) dropped as exported" if dropped else ""))


# ---- torch ---------------------------------------------------------------------------


def torch_nets(out_dir):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class LeNet5(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(1, 6, 5, padding=2)
            self.c3 = nn.Conv2d(6, 16, 5)
            self.f5 = nn.Linear(400, 120)
            self.f6 = nn.Linear(120, 84)
            self.out = nn.Linear(84, 10)

        def forward(self, x):
            x = F.avg_pool2d(torch.tanh(self.c1(x)), 2)
            x = F.avg_pool2d(torch.tanh(self.c3(x)), 2)
            x = x.view(x.size(0), -1)  # torch's Shape/Gather/Unsqueeze/Concat/Reshape
            x = torch.tanh(self.f5(x))
            x = torch.tanh(self.f6(x))
            return F.softmax(self.out(x), dim=1)

    class VGGStyle(nn.Module):
        def __init__(self):
            super().__init__()
            layers, channels = [], 3
            for width in (16, 16, "M", 32, 32, "M"):
                if width == "M":
                    layers.append(nn.MaxPool2d(2))
                else:
                    layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False),
                               nn.BatchNorm2d(width), nn.ReLU()]
                    channels = width
            self.features = nn.Sequential(*layers)
            self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(32 * 4 * 4, 64),
                                            nn.BatchNorm1d(64), nn.ReLU(), nn.Dropout(0.5),
                                            nn.Linear(64, 10))

        def forward(self, x):
            return F.softmax(self.classifier(self.features(x)), dim=1)

    class Block(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
            self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

        def forward(self, x):
            return F.relu(self.conv2(F.relu(self.conv1(x))) + x)

    class ResNetStyle(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 16, 3, padding=1)
            self.block1 = Block(16)
            self.block2 = Block(16)
            self.pool = nn.AvgPool2d(2)
            self.fc = nn.Linear(16 * 8 * 8, 10)

        def forward(self, x):
            x = self.pool(self.block2(self.block1(F.relu(self.stem(x)))))
            return F.softmax(self.fc(torch.flatten(x, 1)), dim=1)

    class Modern(nn.Module):
        """The later kinds as torch writes them: SiLU (Sigmoid, Mul), GELU (Div, Erf, Add,
        Mul, Mul), Hardswish (HardSigmoid, Mul), ReLU6 (Clip), ELU, PReLU, GroupNorm
        (Reshape, InstanceNormalization, Reshape, Mul, Add), dilation, ConvTranspose,
        Upsample (Resize) and AdaptiveAvgPool2d(1) (GlobalAveragePool)."""

        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.wide = nn.Conv2d(8, 8, 3, padding=2, dilation=2)
            self.norm = nn.GroupNorm(4, 8)
            self.prelu = nn.PReLU(8)
            self.up = nn.ConvTranspose2d(8, 6, 2, stride=2)
            self.near = nn.Upsample(scale_factor=2, mode="nearest")
            self.smooth = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
            self.fc = nn.Linear(6, 5)

        def forward(self, x):
            x = F.silu(self.stem(x))
            x = F.gelu(self.wide(x))
            x = self.prelu(self.norm(F.hardswish(x)))
            x = F.elu(F.relu6(self.up(x)))
            x = self.smooth(F.max_pool2d(self.near(x), 2))
            x = F.adaptive_avg_pool2d(x, 1)
            return F.softmax(self.fc(torch.flatten(x, 1)), dim=1)

    torch.manual_seed(0)
    nets = {"lenet5": (LeNet5(), (1, 28, 28)), "vgg_bn": (VGGStyle(), (3, 16, 16)),
            "resnet": (ResNetStyle(), (3, 16, 16)), "modern": (Modern(), (3, 8, 8))}
    for name, (net, shape) in nets.items():
        for module in net.modules():  # running statistics that matter
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm)):
                if not isinstance(module, nn.GroupNorm):
                    module.running_mean.uniform_(-0.5, 0.5)
                    module.running_var.uniform_(0.5, 1.5)
                module.weight.data.uniform_(0.5, 1.5)
                module.bias.data.uniform_(-0.5, 0.5)
        net.eval()
        x = torch.rand(3, *shape) * 2 - 1
        with torch.no_grad():
            y = net(x)
        torch.onnx.export(net, x, os.path.join(out_dir, name + ".onnx"), opset_version=13,
                          input_names=["input"], output_names=["probabilities"],
                          dynamic_axes={"input": {0: "N"}, "probabilities": {0: "N"}})
        x.numpy().astype("<f4").tofile(os.path.join(out_dir, name + ".input.bin"))
        y.numpy().astype("<f4").tofile(os.path.join(out_dir, name + ".torch.bin"))
        # One image for `cnnrun predict`: 8-bit grey (PGM) or colour (PPM),
        # read as value/255 by both sides.
        pixels = (torch.rand(shape[1], shape[2], shape[0]) * 255).round().to(torch.uint8)
        magic = b"P5" if shape[0] == 1 else b"P6"
        with open(os.path.join(out_dir, name + ".pnm"), "wb") as f:
            f.write(magic + b"\n%d %d\n255\n" % (shape[2], shape[1]) + pixels.numpy().tobytes())
        image = pixels.permute(2, 0, 1).float().unsqueeze(0) / 255.0
        with torch.no_grad():
            p = net(image)[0]
        with open(os.path.join(out_dir, name + ".pnm.txt"), "w") as f:
            f.write(" ".join(f"{v:.9g}" for v in p.tolist()) + "\n")
        print(f"{name}: torch.onnx.export opset 13, "
              f"ops {sorted({n.op_type for n in __import__('onnx').load(os.path.join(out_dir, name + '.onnx')).graph.node})}")


# ---- close, predict -----------------------------------------------------------------------


def close(a_path, b_path, tolerance=1e-5):
    """max|a − b| / max|b| (as tests/onnx/ort_run.js), and the worst element's own relative
    difference, which must also be within the tolerance unless the element is below a
    thousandth of the largest."""
    a = np.fromfile(a_path, dtype="<f4").astype(np.float64)
    b = np.fromfile(b_path, dtype="<f4").astype(np.float64)
    if a.shape != b.shape:
        fail(f"{a_path} has {a.size} values, {b_path} {b.size}")
    largest = np.abs(b).max()
    normwise = float(np.abs(a - b).max() / max(largest, 1e-30))
    elementwise = float((np.abs(a - b) / np.maximum(np.abs(b), 1e-3 * largest + 1e-30)).max())
    print(f"{os.path.basename(a_path)} vs {os.path.basename(b_path)}: {a.size} values, "
          f"max|difference|/max|value| {normwise:.2e}, worst element {elementwise:.2e} "
          f"relative (tolerance {tolerance:g})")
    if not (normwise <= tolerance and elementwise <= tolerance):
        fail("difference too large")


def predict(output_path, expected_path):
    expected = sorted((float(v) for v in open(expected_path).read().split()), reverse=True)
    printed = [float(l.split()[0].rstrip("%")) for l in open(output_path) if l.startswith("  ")]
    if not printed:
        fail("cnnrun predict printed no classes")
    for k, percent in enumerate(printed):  # printed best first, to 0.01 %
        if abs(percent - 100 * expected[k]) > 0.0051:
            fail(f"rank {k + 1}: cnnrun predict {percent}%, PyTorch {100 * expected[k]:.4f}%")
    print(f"cnnrun predict: the top {len(printed)} percentages match PyTorch's to the 0.01 % "
          f"printed")


# ---- bad files --------------------------------------------------------------------------


def bad(out_dir):
    import onnx
    from onnx import TensorProto, helper

    def tensor(name, dims):
        return helper.make_tensor(name, TensorProto.FLOAT, dims,
                                  np.ones(int(np.prod(dims)), dtype=np.float32).tolist())

    def unchecked_tensor(name, dims, values):  # make_tensor would refuse these
        t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims)
        t.float_data.extend(values)
        return t

    def graph(nodes, inits, input_dims=(1, 1, 8, 8), output="y"):
        return helper.make_graph(
            nodes, "bad", [helper.make_tensor_value_info("input", TensorProto.FLOAT, input_dims)],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)], inits)

    def model(g, ir=7, opset=13):
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = ir
        return m

    conv = helper.make_node("Conv", ["input", "w"], ["y"], name="conv1", kernel_shape=[3, 3])
    cases = {
        "wrong-ir": (model(graph([conv], [tensor("w", [2, 1, 3, 3])]), ir=99), "IR version 99"),
        "old-opset": (model(graph([conv], [tensor("w", [2, 1, 3, 3])]), opset=6), "operator set 6"),
        "missing-initializer": (model(graph([conv], [])), "reads 'w'"),
        "cycle": (model(graph([
            helper.make_node("Relu", ["b"], ["a"], name="first"),
            helper.make_node("Relu", ["a"], ["b"], name="second"),
            helper.make_node("Relu", ["b"], ["y"], name="third")], [])), "node 'first': reads 'b'"),
        "mul-of-activations": (model(graph([
            helper.make_node("Relu", ["input"], ["a"], name="/layer1/Relu"),
            helper.make_node("Mul", ["a", "a"], ["y"], name="/layer1/Mul")], [])),
            "node '/layer1/Mul': Mul of two activations has no cnnrun layer"),
        "unsupported-op": (model(graph([
            helper.make_node("Erf", ["input"], ["y"], name="erf1")], [])),
            "node 'erf1': Erf has no cnnrun layer"),
        "huge-dims": (model(graph([conv], [tensor("w", [2, 1, 3, 3])],
                                  input_dims=(1, 1, 1 << 30, 1 << 30))), "dimension 2"),
        "huge-initializer-dims": (model(graph([conv], [unchecked_tensor(
            "w", [1 << 40, 1 << 40, 3, 3], [1.0])])), "invalid dimensions"),
        "short-initializer": (model(graph([conv], [unchecked_tensor(
            "w", [2, 1, 3, 3], [1.0] * 5)])), "holds 5 values"),
        "external-data": (None, "external file"),
        "two-outputs-of-one-node": (model(graph([
            helper.make_node("Relu", ["input"], ["y"], name="r1"),
            helper.make_node("Relu", ["input"], ["y"], name="r2")], [])), "assigned a second time"),
        "asymmetric-pads": (model(graph([helper.make_node(
            "Conv", ["input", "w"], ["y"], name="conv1", kernel_shape=[3, 3], pads=[0, 0, 1, 1])],
            [tensor("w", [2, 1, 3, 3])])), "not symmetric"),
        "wrong-weight-shape": (model(graph([conv], [tensor("w", [2, 3, 3, 3])])),
                               "conv1.weight"),
    }
    external = tensor("w", [2, 1, 3, 3])
    external.ClearField("float_data")
    external.data_location = TensorProto.EXTERNAL
    entry = external.external_data.add()
    entry.key, entry.value = "location", "weights.bin"
    cases["external-data"] = (model(graph([conv], [external])), "external file")
    for name, (m, expect) in cases.items():
        with open(os.path.join(out_dir, name + ".onnx"), "wb") as f:
            f.write(m.SerializeToString())
        with open(os.path.join(out_dir, name + ".expect"), "w") as f:
            f.write(expect + "\n")
    print(f"{len(cases)} broken files written")


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "check":
        check(*args)
    elif command == "roundtrip":
        roundtrip(*args)
    elif command == "torch":
        torch_nets(*args)
    elif command == "close":
        close(args[0], args[1], float(args[2]) if len(args) > 2 else 1e-5)
    elif command == "predict":
        predict(*args)
    elif command == "bad":
        bad(*args)
    else:
        fail("unknown command " + command)
