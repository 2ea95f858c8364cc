#!/usr/bin/python3
"""Markdown tables from a bench/run.py results file.

    /usr/bin/python3 bench/summarize.py RESULTS.json            prints the tables
    /usr/bin/python3 bench/summarize.py --update bench/RESULTS.md RESULTS.json
        replaces the part of RESULTS.md between the two marker lines
        <!-- generated:begin --> and <!-- generated:end --> with them

Figures are medians over the repetitions; ratios are cnnrun's median over
the other side's (above 1: cnnrun is faster; for memory, below 1: cnnrun
uses less).
"""
import argparse
import json
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BEGIN, END = "<!-- generated:begin -->", "<!-- generated:end -->"
TRAIN_IMAGES = 60000
SIDES = ("cnnrun", "torch", "torch_tuned")
# The step comparisons' models (bench/run.py's STEP_MODELS) and their titles.
STEP_MODELS = (("vgg_small", "VGG-style 32×32"),
               ("vgg_small_plain", "VGG-style 32×32 without batchnorm/dropout"),
               ("alexnet_small", "AlexNet-style"), ("resnet_small", "ResNet-style 32×32"))
# Issue 11's targets: every job ≥ 1.5× PyTorch, the LeNet-5 epoch ≥ 2.5×.
TARGET_SPEED = {"lenet_epoch": 2.5, **{f"{model} {what}": 1.5 for model, _ in STEP_MODELS
                                        for what in ("train", "inference")}}
TARGET_NAMES = {"lenet_epoch": "LeNet-5 epoch",
                **{f"{model} {what}": f"{title}, {'training' if what == 'train' else what}"
                   for model, title in STEP_MODELS for what in ("train", "inference")}}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


class Results:
    def __init__(self, data):
        self.data = data
        self.runs = data["runs"]
        self.alias = data.get("mode_same_as", {})
        self.modes = [m for m in data["settings"]["modes"] if m not in self.alias]

    def mode_label(self, mode):
        same = sorted(m for m, target in self.alias.items() if target == mode)
        return f"{mode} (= {', '.join(same)})" if same else mode

    def select(self, group=None, model=None, mode=None, side=None, batch=None, pixels=None):
        """Runs matching; the step group's batch-64 32×32 runs also serve the sweeps."""
        out = []
        for run in self.runs:
            if model and run["model"] != model or mode and run["mode"] != mode \
                    or side and run["side"] != side or batch and run["batch"] != batch:
                continue
            run_pixels = run["input"][1] if run["input"] else None
            if pixels and (run_pixels or 32) != pixels:
                continue
            if group and run["group"] != group and not (
                    group in ("batch_sweep", "input_sweep") and run["group"] == "step"
                    and run["batch"] == 64 and run_pixels is None):
                continue
            out.append(run)
        return out

    def figure(self, runs, key):
        if key == "epoch":
            return median([TRAIN_IMAGES / r["wall_seconds"] for r in runs])
        if key in ("max_rss_bytes", "minor_page_faults", "wall_seconds"):
            return median([r[key] for r in runs])
        return median([(r["output"] or {}).get(key) for r in runs])

    def median_run(self, runs, key):
        """The run whose figure is the median (for its per-layer table)."""
        runs = [r for r in runs if (r["output"] or {}).get(key) is not None]
        if not runs:
            return None
        runs.sort(key=lambda r: r["output"][key])
        return runs[(len(runs) - 1) // 2]


def number(value, digits=0):
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def ratio(a, b):
    return f"{a / b:.2f}×" if a is not None and b else "—"


def mib(value):
    return "—" if value is None else f"{value / 2**20:,.0f} MiB"


def table(header, rows, numeric_from=1):
    """A markdown table; columns from `numeric_from` on are right-aligned."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(
        "---" if i < numeric_from else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_section(res):
    m, s = res.data["machine"], res.data["settings"]
    torch = m.get("torch") or {}
    env = m.get("environment", {})
    rows = [
        ("date", m["date"]), ("host", m["host"]), ("processor", m["cpu_model"]),
        ("cores", f"{m['cpus']} ({m['threads_per_core']} thread per core)"),
        ("AVX-512F / AVX2", f"{'yes' if m['avx512f'] else 'no'} / "
                            f"{'yes' if m['avx2'] else 'no'}"),
        ("kernel, C library", f"{m['kernel']}, {m['glibc']}"),
        ("OpenBLAS", (m["openblas"] or "?").replace("\n", "; ")),
        ("PyTorch", f"{m.get('torch_package') or torch.get('version')} "
                    f"(torch.__version__ {torch.get('version')}, "
                    f"CPU capability {torch.get('cpu_capability')}, "
                    f"oneDNN {'on' if torch.get('mkldnn') else 'off'}, "
                    f"{torch.get('default_threads')} thread(s) by default)"),
        ("cnnrun", f"{m['git_commit'][:12]} ({m['git_branch']}"
                   f"{', uncommitted changes' if m['git_dirty'] else ''}), {m['cnnrun']}"),
        ("OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE as found",
         f"{env.get('OPENBLAS_CORETYPE') or 'unset'} / {env.get('OPENBLAS_L2_SIZE') or 'unset'}"),
        ("threads", f"{s['threads']} (cnnrun --threads, torch.set_num_threads)"),
        ("repetitions", f"{s['reps']} per comparison, sides alternating; {s['steps']} timed "
                        f"steps per run after {s['warmup']} untimed ones (sweeps: see "
                        "the commands)"),
        ("load average", f"{m['loadavg_at_start']:.2f} at the start, "
                         f"{m.get('loadavg_at_end', 0):.2f} at the end"),
        ("duration", f"{s['seconds'] / 60:.1f} min"),
        ("started with", f"`{s.get('command_line') or 'bench/run.py'}`"),
    ]
    text = table(["", ""], rows, numeric_from=2)
    modes = []
    for mode, settings in res.data["mode_environment"].items():
        what = ", ".join(f"{k}={v}" if v else f"{k} unset" for k, v in settings.items())
        same = f" — same environment as {res.alias[mode]}, not run again" \
            if mode in res.alias else ""
        cores = sorted({c for r in res.select(mode=res.alias.get(mode, mode)) for c in (
            (r["output"] or {}).get("openblas_coretype"), (r["output"] or {}).get("openblas_core"))
            if c})
        used = f"; OpenBLAS reported {'/'.join(cores)}" if cores else ""
        peaks = [((r["output"] or {}).get("machine") or {}) for r in res.select(
            group="step", side="cnnrun", mode=res.alias.get(mode, mode))]
        single = median([p["peak_gflops_single"] for p in peaks if p.get("peak_gflops_single")])
        both = median([p["peak_gflops_all"] for p in peaks if p.get("peak_gflops_all")])
        if single and both:
            used += (f"; sgemm 1024² peak {single:.0f} GFLOP/s on 1 thread, {both:.0f} on "
                     f"{s['threads']} (`cnnrun bench`, median)")
        modes.append(f"- `{mode}`: {what}{used}{same}")
    return "### Machine\n\n" + text + "\n\nOpenBLAS environment modes (both sides of a " \
        "comparison run in the same one):\n\n" + "\n".join(modes)


def speed_rows(res):
    """(job, mode, {side: figure}) for the main comparison."""
    rows = []
    for mode in res.modes:
        runs = res.select(group="lenet_epoch", mode=mode)
        if runs:
            rows.append(("LeNet-5, Fashion-MNIST epoch (end to end)", "lenet_epoch", mode, {
                side: res.figure([r for r in runs if r["side"] == side], "epoch")
                for side in SIDES}))
    for model, title in STEP_MODELS:
        for what, key in (("train", "train_images_per_second"),
                          ("inference", "inference_images_per_second")):
            for mode in res.modes:
                runs = res.select(group="step", model=model, mode=mode)
                if runs:
                    rows.append((f"{title}, {what}", f"{model} {what}", mode, {
                        side: res.figure([r for r in runs if r["side"] == side], key)
                        for side in SIDES}))
    return rows


def speed_section(res):
    rows = []
    for title, _, mode, f in speed_rows(res):
        rows.append((title, res.mode_label(mode), number(f["cnnrun"]), number(f["torch"]),
                     number(f["torch_tuned"]), ratio(f["cnnrun"], f["torch"]),
                     ratio(f["cnnrun"], f["torch_tuned"])))
    text = ("### Side by side: images per second, batch 64\n\n" + table(
        ["job", "OpenBLAS mode", "cnnrun", "PyTorch", "PyTorch, malloc tuned",
         "cnnrun / PyTorch", "cnnrun / tuned"], rows, numeric_from=2))
    accuracy = {side: res.figure(res.select(group="lenet_epoch", side=side), "test_accuracy")
                for side in SIDES}
    if any(accuracy.values()):
        text += ("\n\nLeNet-5 test accuracy after the epoch (a check that both sides did "
                 "the same training; medians): " + ", ".join(
                     f"{side} {100 * value:.2f}%" for side, value in accuracy.items()
                     if value is not None) + ".")
    return text


def memory_rows(res):
    rows = []
    for title, group, model in (("LeNet-5 epoch", "lenet_epoch", None),
                                *((f"{title}, batch 64", "step", model)
                                  for model, title in STEP_MODELS)):
        for mode in res.modes:
            runs = res.select(group=group, model=model, mode=mode)
            if not runs:
                continue
            by = {side: [r for r in runs if r["side"] == side] for side in SIDES}
            rows.append((title, mode, {side: res.figure(by[side], "max_rss_bytes")
                                       for side in SIDES},
                         {side: res.figure(by[side], "minor_page_faults") for side in SIDES},
                         res.figure(by["cnnrun"], "planned_bytes")))
    return rows


def memory_section(res):
    rows = []
    for title, mode, rss, faults, planned in memory_rows(res):
        rows.append((title, res.mode_label(mode), mib(rss["cnnrun"]), mib(planned),
                     mib(rss["torch"]), mib(rss["torch_tuned"]),
                     ratio(rss["cnnrun"], rss["torch"]).replace("×", ""),
                     " / ".join(number(faults[s]) for s in SIDES)))
    return ("### Peak memory while training (whole process, /usr/bin/time)\n\n" + table(
        ["job", "OpenBLAS mode", "cnnrun RSS", "cnnrun planned", "PyTorch RSS",
         "PyTorch tuned RSS", "cnnrun / PyTorch", "minor page faults: cnnrun / PyTorch / tuned"],
        rows, numeric_from=2) + "\n\nThe step runs time training and then inference in one "
        "process; the peak is training's. PyTorch's RSS includes the interpreter and the libraries "
        "(about 240 MiB before the model exists).")


def sweep_row(res, runs, label, mode, digits=0):
    """One sweep table row: cnnrun and PyTorch training and inference
    images/s and their ratios."""
    c = [r for r in runs if r["side"] == "cnnrun"]
    t = [r for r in runs if r["side"] == "torch"]
    ct, tt = res.figure(c, "train_images_per_second"), res.figure(t, "train_images_per_second")
    ci, ti = (res.figure(c, "inference_images_per_second"),
              res.figure(t, "inference_images_per_second"))
    return (label, res.mode_label(mode), number(ct, digits), number(tt, digits), ratio(ct, tt),
            number(ci, digits), number(ti, digits), ratio(ci, ti))


def sweep_section(res):
    rows = []
    for batch in (1, 8, 64, 256):
        for mode in res.modes:
            runs = res.select(group="batch_sweep", model="vgg_small", mode=mode, batch=batch,
                              pixels=32)
            if not runs:
                continue
            rows.append(sweep_row(res, runs, batch, mode))
    text = "### VGG-style: batch size (32×32, images per second)\n\n" + table(
        ["batch", "OpenBLAS mode", "cnnrun train", "PyTorch train", "ratio",
         "cnnrun inference", "PyTorch inference", "ratio"], rows, numeric_from=2)
    rows = []
    for pixels in (32, 64, 128):
        for mode in res.modes:
            runs = res.select(group="input_sweep", model="vgg_small", mode=mode, batch=64,
                              pixels=pixels)
            if not runs:
                continue
            rows.append(sweep_row(res, runs, f"{pixels}×{pixels}", mode, digits=1))
    text += "\n\n### VGG-style: input size (batch 64, images per second)\n\n" + table(
        ["input", "OpenBLAS mode", "cnnrun train", "PyTorch train", "ratio",
         "cnnrun inference", "PyTorch inference", "ratio"], rows, numeric_from=2)
    text += ("\n\nThe sweeps compare cnnrun with PyTorch as users run it (no malloc "
             "tuning), in the modes " + ", ".join(f"`{m}`" for m in res.data["settings"][
                 "sweep_modes"]) + "; batch 64 at 32×32 is the side-by-side comparison's run.")
    return text


def conv_efficiency(res, model, mode):
    run = res.median_run(res.select(group="step", model=model, mode=mode, side="cnnrun"),
                         "step_ms")
    if not run:
        return None, []
    return run, [layer for layer in run["output"].get("layers", [])
                 if layer.get("kind") == "conv"]


def layers_section(res):
    parts = []
    for model in ("vgg_small", "alexnet_small", "resnet_small"):
        for mode in res.modes:
            run, convs = conv_efficiency(res, model, mode)
            if not run:
                continue
            rows = [(layer["name"], number(layer.get("forward_ms"), 2),
                     number(layer.get("backward_ms"), 2),
                     f"{100 * layer['share']:.0f}%" if layer.get("share") is not None else "—",
                     number(layer.get("gflops"), 1), number(layer.get("gemm_gflops"), 1),
                     f"{100 * layer['efficiency']:.0f}%" if layer.get("efficiency") is not None
                     else "—") for layer in convs]
            parts.append(f"**{model}, batch 64, `{res.mode_label(mode)}`** (the median run; "
                         f"step {run['output']['step_ms']:.1f} ms)\n\n" + table(
                             ["conv layer", "forward ms", "backward ms", "share of step",
                              "GFLOP/s", "sgemm GFLOP/s on its shapes", "efficiency"], rows))
    return ("### Convolution layers (`cnnrun bench`): rate against sgemm on the same "
            "shapes\n\n" + "\n\n".join(parts))


def check(value, target, higher=True):
    if value is None:
        return "not measured"
    met = value >= target if higher else value <= target
    return f"{'met' if met else 'not met'} ({value:.2f})"


def targets_section(res):
    speeds = {(key, mode): f for _, key, mode, f in speed_rows(res)}
    memory = {(title, mode): rss for title, mode, rss, _, _ in memory_rows(res)}
    rows = []
    for mode in res.modes:
        label = res.mode_label(mode)
        for key, target in TARGET_SPEED.items():
            f = speeds.get((key, mode))
            value = f["cnnrun"] / f["torch"] if f and f["cnnrun"] and f["torch"] else None
            name = TARGET_NAMES[key]
            rows.append((f"{name} ≥ {target}× PyTorch", label, check(value, target)))
        worst = None
        for title in ["LeNet-5 epoch"] + [f"{title}, batch 64" for _, title in STEP_MODELS]:
            rss = memory.get((title, mode))
            if rss and rss["cnnrun"] and rss["torch"]:
                share = rss["cnnrun"] / rss["torch"]
                worst = share if worst is None else max(worst, share)
        rows.append(("training peak RSS ≤ 0.5 × PyTorch's (worst job)", label,
                     check(worst, 0.5, higher=False)))
        efficiencies = [layer["efficiency"] for model in ("vgg_small", "alexnet_small")
                        for layer in conv_efficiency(res, model, mode)[1]
                        if layer.get("efficiency") is not None]
        rows.append(("every conv layer ≥ 70% of sgemm (worst layer)", label,
                     check(min(efficiencies) if efficiencies else None, 0.7)))
        f = speeds.get(("vgg_small train", mode))
        value = f["cnnrun"] / f["torch_tuned"] if f and f["cnnrun"] and f["torch_tuned"] else None
        rows.append(("stretch: VGG-style training ≥ malloc-tuned PyTorch", label,
                     check(value, 1.0)))
        run = res.median_run(res.select(group="step", model="vgg_small_plain", mode=mode,
                                        side="cnnrun"), "train_images_per_second")
        fraction = ((run or {}).get("output") or {}).get("step_peak_fraction")
        rows.append(("VGG-style training (no batchnorm) ≥ 60% of the 2-thread sgemm peak",
                     label, check(fraction, 0.6)))
        shares = [r["system_seconds"] / r["user_seconds"] for r in res.select(mode=mode)
                  if r.get("user_seconds") and r["side"] == "cnnrun"]
        rows.append(("cnnrun's system time ≤ 5% of user time (worst run)", label,
                     check(max(shares) if shares else None, 0.05, higher=False)))
    return "### Targets (ratios against PyTorch as users run it)\n\n" + table(
        ["target", "OpenBLAS mode", "result"], rows, numeric_from=3)


def commands_section(res):
    lines = []
    for entry in res.data["commands"]:
        lines.append(f"{entry['group']}, {entry['side']}, {entry['mode']}:\n    "
                     f"{entry['command']}")
    return ("### The commands (one of each kind; the sweeps differ in --batch-size, "
            "--input and --steps)\n\n```\n" + "\n".join(lines) + "\n```")


def render(data, source):
    res = Results(data)
    source = os.path.relpath(source, ROOT)
    sections = [f"_Generated by `bench/summarize.py {source}`._", machine_section(res),
                speed_section(res), memory_section(res), sweep_section(res),
                layers_section(res), targets_section(res), commands_section(res)]
    return "\n\n".join(sections) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results")
    parser.add_argument("--update", metavar="MARKDOWN",
                        help="replace the generated part of this file")
    args = parser.parse_args()
    with open(args.results) as f:
        data = json.load(f)
    text = render(data, args.results)
    if not args.update:
        sys.stdout.write(text)
        return
    with open(args.update) as f:
        page = f.read()
    if BEGIN not in page or END not in page:
        sys.exit(f"{args.update}: no {BEGIN} … {END} markers")
    head, rest = page.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(args.update, "w") as f:
        f.write(head + BEGIN + "\n" + text + END + tail)


if __name__ == "__main__":
    main()
