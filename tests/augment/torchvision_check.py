#!/usr/bin/python3
"""The augment steps against torchvision's functional transforms on random
images: rotate (nearest, fill 0) at several angles, adjust_brightness,
adjust_contrast and adjust_saturation at several factors, and
RandomResizedCrop.get_params's fallback box. Exit 77 (skipped) without
torch/torchvision. Usage: torchvision_check.py PATH/TO/augment_ref"""
import subprocess
import sys

try:
    import numpy as np
    import torch
    import torchvision.transforms.functional as F
    from torchvision.transforms import InterpolationMode, RandomResizedCrop
except ImportError as missing:
    print(f"skipped: {missing} (Debian's python3-torch and python3-torchvision)")
    sys.exit(77)

ref = sys.argv[1]
failures = 0
checks = 0


def run(step, factor, image):
    c, h, w = image.shape
    out = subprocess.run([ref, step, repr(float(factor)), str(c), str(h), str(w)],
                         input=image.astype(np.float32).tobytes(), capture_output=True, check=True)
    return np.frombuffer(out.stdout, dtype=np.float32).reshape(c, h, w)


def expect(what, ours, theirs, tolerance, allowed=0):
    """At most `allowed` elements off by more than `tolerance`."""
    global failures, checks
    checks += 1
    off = int((np.abs(ours - theirs) > tolerance).sum())
    if off > allowed:
        failures += 1
        print(f"FAIL {what}: {off} of {ours.size} elements differ (largest {np.abs(ours - theirs).max():g})")


rng = np.random.default_rng(0)
for c, h, w in ((3, 9, 7), (1, 8, 8), (3, 16, 11)):
    image = rng.random((c, h, w), dtype=np.float32)
    tensor = torch.from_numpy(image.copy())
    for angle in (90, -90, 180, 30, -17.5, 45):
        # A quarter turn of an image whose sides differ in parity puts every
        # source position exactly between two pixels, which torch's float32
        # grid then breaks either way: not a difference of meaning.
        if angle % 180 == 90 and (h - w) % 2:
            continue
        theirs = F.rotate(tensor, angle, interpolation=InterpolationMode.NEAREST, fill=0).numpy()
        # Other angles: a position within rounding of a tie may go either way
        # (one pixel in fifty allowed); quarter turns are exact.
        allowed = 0 if angle % 90 == 0 else max(c, image.size // 50)
        expect(f"rotate {angle} on {c}x{h}x{w}", run("rotate", angle, image), theirs, 1e-6, allowed)
    for factor in (0.0, 0.4, 1.0, 1.7):
        expect(f"brightness {factor}", run("brightness", factor, image),
               F.adjust_brightness(tensor, factor).numpy(), 1e-6)
        expect(f"contrast {factor}", run("contrast", factor, image),
               F.adjust_contrast(tensor, factor).numpy(), 1e-5)
        if c == 3:
            expect(f"saturation {factor}", run("saturation", factor, image),
                   F.adjust_saturation(tensor, factor).numpy(), 1e-5)

# The fallback when no try fits: scale 1 with ratios the image cannot meet.
for scale, ratio, (h, w) in (((1, 1), (1, 1), (4, 6)), ((1, 1), (2, 3), (10, 4)),
                             ((1, 1), (0.2, 0.3), (5, 20)), ((1, 1), (1, 1), (7, 7))):
    torch.manual_seed(0)
    theirs = RandomResizedCrop.get_params(torch.zeros(1, h, w), list(scale), list(ratio))
    out = subprocess.run([ref, "box", *map(str, scale), *map(str, ratio), str(h), str(w)],
                         capture_output=True, text=True, check=True).stdout.split()
    ours = tuple(int(v) for v in out)
    checks += 1
    if ours != tuple(int(v) for v in theirs):
        failures += 1
        print(f"FAIL box scale {scale} ratio {ratio} on {h}x{w}: ours {ours}, torchvision {theirs}")

print(f"{checks - failures} passed, {failures} failed")
sys.exit(1 if failures else 0)
