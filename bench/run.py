#!/usr/bin/python3
"""Runs the cnnrun-against-PyTorch comparison and writes the results as JSON.
Start it through bench/run.sh, which builds cnnrun first (see its --help).

Every comparison is one model, batch and input size in one OpenBLAS
environment mode, measured R times; each repetition runs every side once,
one after the other (the order rotating from one repetition to the next),
so that the sides share the machine's conditions. Sides:

  cnnrun       `cnnrun bench` (per-step figures) or `cnnrun train` (LeNet epoch)
  torch        bench/torch_bench.py or bench/torch_lenet_epoch.py, as users run it
  torch_tuned  the same with glibc malloc tuned (MALLOC_* below)

OpenBLAS environment modes, applied to both sides alike:

  asis     the environment as this script finds it
  haswell  OPENBLAS_CORETYPE=Haswell (AVX2 kernels; OPENBLAS_L2_SIZE as found)
  unset    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE (the kernels OpenBLAS
           picks for the processor: AVX-512 ones here)

A mode whose environment is identical to an earlier mode's is not run again:
its figures are the earlier mode's (the JSON says which).

Each run goes through /usr/bin/time, which gives its peak RSS and page
faults; the wall time is measured around it.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = "/usr/bin/python3"
OPENBLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
MALLOC_TUNING = {
    "MALLOC_MMAP_THRESHOLD_": "33554432",
    "MALLOC_TRIM_THRESHOLD_": "17179869184",
    "MALLOC_TOP_PAD_": "268435456",
}
MODES = ("asis", "haswell", "unset")
ALL_SIDES = ("cnnrun", "torch", "torch_tuned")
TRAIN_IMAGES = 60000
# The side-by-side step comparisons: VGG-style with and without batchnorm
# and dropout, AlexNet-style, and a ResNet-style graph (add, 1×1 and
# stride-2 convs).
STEP_MODELS = ("models/vgg_small.yaml", "bench/models/vgg_small_plain.yaml",
               "models/alexnet_small.yaml", "bench/models/resnet_small.yaml")


def mode_environment(mode, base):
    env = dict(base)
    if mode == "haswell":
        env["OPENBLAS_CORETYPE"] = "Haswell"
    elif mode == "unset":
        for name in OPENBLAS_VARIABLES:
            env.pop(name, None)
    return env


def openblas_settings(env):
    return {name: env.get(name) for name in OPENBLAS_VARIABLES}


def env_prefix(mode, side, base):
    """The command-line prefix that gives a run its environment, as printed
    in the results (`env -u ... VAR=value`)."""
    words = ["env"]
    if mode == "unset":
        for name in OPENBLAS_VARIABLES:
            words += ["-u", name]
    elif mode == "haswell":
        words.append("OPENBLAS_CORETYPE=Haswell")
    if side == "torch_tuned":
        words += [f"{k}={v}" for k, v in MALLOC_TUNING.items()]
    return words if len(words) > 1 else []


def last_json(text):
    """The JSON document a program printed (the whole output, or its last
    line that starts one), or None."""
    starts = [0] + [m.start() + 1 for m in re.finditer(r"\n\{", text)]
    for start in reversed(starts):
        try:
            return json.loads(text[start:])
        except json.JSONDecodeError:
            continue
    return None


def relative(path):
    """Paths inside the repository as the commands would be typed in it."""
    if path.startswith(ROOT + os.sep):
        return os.path.relpath(path, ROOT)
    return path


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def run_one(command, env, label):
    """Runs one command under /usr/bin/time; its figures and parsed output."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as timing:
        load = loadavg()
        start = time.perf_counter()
        done = subprocess.run(["/usr/bin/time", "-f", "%M %R %F %U %S", "-o", timing.name] + command,
                              env=env, capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - start
        fields = timing.read().split()
    if done.returncode != 0:
        sys.stderr.write(f"\n{label}: exit {done.returncode}\n{done.stdout[-2000:]}"
                         f"{done.stderr[-2000:]}\n")
        raise SystemExit(f"failed: {shlex.join(command)}")
    max_rss_kb, minor_faults, major_faults = (int(v) for v in fields[-5:-2])
    user_seconds, system_seconds = (float(v) for v in fields[-2:])
    return {
        "wall_seconds": wall,
        "max_rss_bytes": max_rss_kb * 1024,
        "minor_page_faults": minor_faults,
        "major_page_faults": major_faults,
        "user_seconds": user_seconds,
        "system_seconds": system_seconds,
        "loadavg_before": load,
        "output": last_json(done.stdout) or parse_train_output(done.stdout),
    }


def parse_train_output(text):
    """`cnnrun train --quiet`'s result line: its validation accuracy."""
    m = re.search(r"validation accuracy ([0-9.]+)%", text)
    return {"test_accuracy": float(m.group(1)) / 100} if m else None


class Runner:
    def __init__(self, args):
        self.args = args
        self.base_env = dict(os.environ)
        self.runs = []
        self.commands = {}
        self.mode_alias = {}  # mode -> earlier mode with the same environment
        seen = {}
        for mode in args.modes:
            key = json.dumps(openblas_settings(mode_environment(mode, self.base_env)))
            if key in seen:
                self.mode_alias[mode] = seen[key]
            else:
                seen[key] = mode
        self.started = time.perf_counter()

    def measured_modes(self, modes):
        return [m for m in modes if m not in self.mode_alias]

    def command(self, group, side, model, batch, chw, steps, mode):
        a = self.args
        if group == "lenet_epoch":
            if side == "cnnrun":
                out = tempfile.mkdtemp(prefix="cnnrun-bench-")
                return [a.cnnrun, "train", "models/lenet5.yaml", "--epochs", "1", "--quiet",
                        "--out", os.path.join(out, "run"), "--threads", str(a.threads)], out
            out = tempfile.mkdtemp(prefix="torch-bench-")
            return [PYTHON, "bench/torch_lenet_epoch.py", "--threads", str(a.threads),
                    "--out", out, "--cnnrun", a.cnnrun], out
        size = ["--input", ",".join(map(str, chw))] if chw else []
        # Both sides: K timed steps after W untimed ones, no more untimed
        # steps than half the timed ones (the 128-pixel sweep).
        timing = ["--steps", str(steps), "--warmup", str(min(a.warmup, max(1, steps // 2)))]
        if side == "cnnrun":
            return [a.cnnrun, "bench", model, "--batch-size", str(batch), "--threads",
                    str(a.threads)] + timing + ["--json"] + size, None
        return [PYTHON, "bench/torch_bench.py", model, "--batch-size", str(batch), "--threads",
                str(a.threads)] + timing + ["--cnnrun", a.cnnrun] + size, None

    def compare(self, group, model, sides, mode, batch=64, chw=None, steps=None):
        """R repetitions of every side; appends the runs."""
        a = self.args
        for rep in range(a.reps):
            order = sides[rep % len(sides):] + sides[:rep % len(sides)]
            for side in order:
                env = mode_environment(mode, self.base_env)
                if side == "torch_tuned":
                    env.update(MALLOC_TUNING)
                command, scratch = self.command(group, side, model, batch, chw, steps, mode)
                shown = shlex.join(env_prefix(mode, side, self.base_env) + [
                    relative(word) for word in command])
                if scratch:
                    shown = shown.replace(scratch, "TMPDIR")
                self.commands.setdefault((group, side, mode), shown)
                label = f"{group} {os.path.basename(model or 'lenet5')} b{batch} " \
                        f"{'x'.join(map(str, chw)) if chw else ''} {mode} {side} #{rep + 1}"
                result = run_one(command, env, label)
                if scratch:
                    subprocess.run(["rm", "-rf", scratch])
                run = {"group": group, "model": os.path.splitext(os.path.basename(
                    model or "lenet5.yaml"))[0], "mode": mode, "side": side, "batch": batch,
                    "input": list(chw) if chw else None, "rep": rep, "steps": steps,
                    "command": shown,
                    **result}
                self.runs.append(run)
                sys.stderr.write(f"[{time.perf_counter() - self.started:6.0f} s] "
                                 f"{label:55} {describe(run)}\n")

    def execute(self):
        a = self.args
        groups = a.only or ["lenet_epoch", "step", "batch_sweep", "input_sweep"]
        sweep_modes = self.measured_modes([m for m in a.modes if m in a.sweep_modes])
        modes = self.measured_modes(a.modes)
        steps = a.steps
        sides = [s for s in ALL_SIDES if s in a.sides]
        if "lenet_epoch" in groups:
            for mode in modes:
                self.compare("lenet_epoch", None, sides, mode)
        if "step" in groups:
            for model in STEP_MODELS:
                for mode in modes:
                    self.compare("step", model, sides, mode, 64, None, steps)
        # Sweeps: cnnrun against PyTorch as users run it. Batch 64 at 32×32
        # is the step group's comparison.
        sweep_sides = ["cnnrun", "torch"]
        if "batch_sweep" in groups:
            for batch in (1, 8, 256):
                k = max(3, min(4 * steps, a.sweep_images // batch))
                for mode in sweep_modes:
                    self.compare("batch_sweep", "models/vgg_small.yaml", sweep_sides, mode,
                                 batch, None, k)
        if "input_sweep" in groups:
            for pixels in (64, 128):
                k = max(3, min(steps, a.sweep_images // (64 * (pixels // 32) ** 2)))
                for mode in sweep_modes:
                    self.compare("input_sweep", "models/vgg_small.yaml", sweep_sides, mode,
                                 64, (3, pixels, pixels), k)


def describe(run):
    out = run["output"] or {}
    if run["group"] == "lenet_epoch":
        text = f"{TRAIN_IMAGES / run['wall_seconds']:8.0f} img/s epoch"
    else:
        text = (f"train {out.get('train_images_per_second', 0):7.1f} img/s  "
                f"infer {out.get('inference_images_per_second', 0):7.1f} img/s")
    return f"{text}  rss {run['max_rss_bytes'] / 2**20:6.0f} MiB  load {run['loadavg_before']:.1f}"


def capture(command):
    try:
        return subprocess.run(command, capture_output=True, text=True, cwd=ROOT).stdout.strip()
    except OSError:
        return None


def machine_facts(args):
    lscpu = capture(["lscpu"]) or ""

    def lscpu_field(name):
        m = re.search(rf"^{re.escape(name)}:\s*(.+)$", lscpu, re.M)
        return m.group(1).strip() if m else None

    with open("/proc/cpuinfo") as f:
        flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    torch_facts = capture([PYTHON, "-c", (
        "import json, torch, re; c = torch.__config__.show(); "
        "m = re.search(r'CPU capability usage: (\\S+)', c); "
        "print(json.dumps({'version': torch.__version__, "
        "'default_threads': torch.get_num_threads(), "
        "'cpu_capability': m.group(1) if m else None, "
        "'mkldnn': torch.backends.mkldnn.is_available()}))")])
    git_dirty = capture(["git", "status", "--porcelain", "--untracked-files=no"])
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "cpu_model": lscpu_field("Model name"),
        "cpus": os.cpu_count(),
        "threads_per_core": lscpu_field("Thread(s) per core"),
        "avx512f": "avx512f" in flags,
        "avx2": "avx2" in flags,
        "kernel": platform.release(),
        "glibc": capture(["ldd", "--version"]).splitlines()[0] if capture(["ldd", "--version"])
        else None,
        "openblas": capture(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n",
                             "libopenblas0-pthread", "libopenblas0"]),
        "torch": json.loads(torch_facts) if torch_facts else None,
        "torch_package": capture(["dpkg-query", "-W", "-f", "${Package} ${Version}",
                                  "python3-torch"]),
        "git_commit": capture(["git", "rev-parse", "HEAD"]),
        "git_branch": capture(["git", "rev-parse", "--abbrev-ref", "HEAD"]),
        "git_dirty": bool(git_dirty),
        "cnnrun": relative(args.cnnrun),
        "environment": {**openblas_settings(os.environ),
                        **{k: os.environ.get(k) for k in MALLOC_TUNING},
                        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")},
        "loadavg_at_start": loadavg(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cnnrun", default=os.path.join(ROOT, "build-bench", "cnnrun"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--sweep-images", type=int, default=640,
                        help="about this many images per timed sweep run")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--sweep-modes", nargs="+", choices=MODES, default=["asis", "unset"])
    parser.add_argument("--sides", nargs="+", choices=ALL_SIDES, default=list(ALL_SIDES),
                        help="the sides of the LeNet and step comparisons (the sweeps: "
                             "cnnrun and torch)")
    parser.add_argument("--only", nargs="+",
                        choices=["lenet_epoch", "step", "batch_sweep", "input_sweep"])
    parser.add_argument("--out", help="results JSON (default bench/results/DATE-HOST.json)")
    parser.add_argument("--command-line", default="", help="how the run was started")
    args = parser.parse_args()
    args.cnnrun = os.path.abspath(args.cnnrun)

    facts = machine_facts(args)
    if facts["loadavg_at_start"] > 0.5:
        sys.stderr.write(f"warning: load average {facts['loadavg_at_start']:.1f} before "
                         "starting: other work shares the cores, the figures will be noisy\n")
    runner = Runner(args)
    runner.execute()
    facts["loadavg_at_end"] = loadavg()
    result = {
        "machine": facts,
        "settings": {"threads": args.threads, "reps": args.reps, "steps": args.steps,
                     "warmup": args.warmup, "sweep_images": args.sweep_images,
                     "modes": args.modes, "sweep_modes": args.sweep_modes,
                     "groups": args.only, "malloc_tuning": MALLOC_TUNING,
                     "command_line": args.command_line,
                     "seconds": time.perf_counter() - runner.started},
        "mode_environment": {m: openblas_settings(mode_environment(m, runner.base_env))
                             for m in args.modes},
        "mode_same_as": runner.mode_alias,
        "commands": [{"group": g, "side": s, "mode": m, "command": c}
                     for (g, s, m), c in runner.commands.items()],
        "runs": runner.runs,
    }
    out = args.out or os.path.join(
        ROOT, "bench", "results",
        f"{datetime.datetime.now():%Y-%m-%d-%H%M}-{socket.gethostname()}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(out)


if __name__ == "__main__":
    main()
