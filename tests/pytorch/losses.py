#!/usr/bin/python3
"""cnnrun's losses and gradient clipping against PyTorch, live.

Recomputes the numbers written into tests/test_loss.c with PyTorch
(F.cross_entropy with weight= and label_smoothing=, F.binary_cross_entropy_with_logits,
F.mse_loss, torch.nn.utils.clip_grad_norm_) and compares them with what
`test_loss --print` computes. Exit 77 (skipped) without Debian's python3-torch.

    /usr/bin/python3 tests/pytorch/losses.py build/test_loss
"""
import subprocess
import sys

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("skipped: PyTorch (python3-torch) is not installed for this python3")
    sys.exit(77)


def pytorch_values():
    f64 = torch.float64
    logits = torch.tensor([[1.0, -2.0, 0.5, 3.0], [0.2, 0.1, -0.3, 0.0],
                           [-1.5, 2.5, 0.7, -0.4]], dtype=f64, requires_grad=True)
    labels = torch.tensor([2, 0, 3])
    w = torch.tensor([0.5, 1.0, 2.0, 1.5], dtype=f64)
    out = {}
    for name, kw in [("plain", {}), ("label_smoothing", dict(label_smoothing=0.1)),
                     ("class_weights", dict(weight=w)),
                     ("both", dict(weight=w, label_smoothing=0.1))]:
        logits.grad = None
        loss = F.cross_entropy(logits, labels, **kw)
        loss.backward()
        out[name] = (loss.item(), logits.grad.flatten().tolist())
    x = torch.tensor([[0.5, -1.0, 30.0], [-40.0, 2.0, 0.0]], dtype=f64, requires_grad=True)
    t = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.3]], dtype=f64)
    loss = F.binary_cross_entropy_with_logits(x, t)
    loss.backward()
    out["bce"] = (loss.item(), x.grad.flatten().tolist())
    y = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], dtype=f64, requires_grad=True)
    t2 = torch.tensor([[0.0, -1.5, 2.5], [1.0, 1.0, 0.0]], dtype=f64)
    loss = F.mse_loss(y, t2)
    loss.backward()
    out["mse"] = (loss.item(), y.grad.flatten().tolist())
    p = [torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2))]
    p[0].grad = torch.tensor([3.0, -4.0, 1.0])
    p[1].grad = torch.tensor([2.0, -0.5])
    norm = torch.nn.utils.clip_grad_norm_(p, 1.0)
    out["clip"] = (norm.item(), torch.cat([q.grad for q in p]).tolist())
    return out


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    printed = subprocess.run([sys.argv[1], "--print"], check=True, capture_output=True,
                             text=True).stdout
    ours = {}
    for line in printed.splitlines():
        name, loss, *grad = line.split()
        ours[name] = (float(loss), [float(g) for g in grad])
    theirs = pytorch_values()
    failures = 0
    for name, (loss, grad) in theirs.items():
        if name not in ours:
            print(f"FAIL {name}: test_loss --print has no such line")
            failures += 1
            continue
        mine_loss, mine_grad = ours[name]
        worst = max(abs(a - b) for a, b in zip(mine_grad, grad))
        ok = (abs(mine_loss - loss) <= 1e-6 * abs(loss) and len(mine_grad) == len(grad)
              and worst <= 1e-7)
        print(f"{'ok  ' if ok else 'FAIL'} {name}: loss {mine_loss:.10g} (PyTorch {loss:.10g}), "
              f"largest gradient difference {worst:.2g}")
        failures += not ok
    print(f"{len(theirs) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
