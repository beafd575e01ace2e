#!/usr/bin/env python3
"""CPU training speed of trainer against PyTorch, side by side in one run, one thread each.

For each Fashion-MNIST config (batch 128, Adam), runs trainer and bench/torch_cpu.py in turn,
`--repeats` times, and reports the median samples/s of each and their ratio. Writes
bench/results/cpu_speed.json and .md. Run from the repository root after scripts/setup.sh:

    python3 bench/cpu_speed.py            (installs Debian's python3-torch if it is missing)
    python3 bench/cpu_speed.py --baseline OLD/build/launcher/trainer
                                          (also an earlier build, interleaved: a regression check)
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ENV, ROOT, cpu_name, ensure_debian_module, git_commit, write_results  # noqa: E402

STEPS = {"mlp": 3000, "cnn": 300}


def ensure_torch():
    ensure_debian_module("torch", "python3-torch")


def trainer_samples_per_s(trainer, model, steps):
    with tempfile.TemporaryDirectory() as out:
        cmd = [trainer, os.path.join(ROOT, "configs", f"fashion_mnist_{model}.yaml"),
               "--set", f"train.max_steps={steps}", "--set", "run.threads=1",
               "--set", f"run.out_dir={out}", "--set", "data.test=null",
               "--set", f"log.every_steps={steps}"]
        subprocess.run(cmd, check=True, capture_output=True, env=ENV)
        with open(os.path.join(out, "summary.json")) as f:
            return json.load(f)["train_samples_per_s"]


def torch_samples_per_s(model, steps):
    cmd = ["/usr/bin/python3", os.path.join(ROOT, "bench", "torch_cpu.py"), model,
           "--steps", str(steps), "--threads", "1"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=ENV)
    return json.loads(out.stdout.strip().splitlines()[-1])["samples_per_s"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trainer", default=os.path.join(ROOT, "build", "launcher", "trainer"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline", help="another trainer binary (an earlier commit) to time too")
    args = ap.parse_args()
    ensure_torch()
    torch_version = subprocess.run(["/usr/bin/python3", "-c", "import torch; print(torch.__version__)"],
                                   check=True, capture_output=True, text=True).stdout.strip()
    commit = git_commit()
    rows = []
    for model in ("mlp", "cnn"):
        ours, theirs, base = [], [], []
        for r in range(args.repeats):  # interleaved, so drift on a shared machine hits both
            ours.append(trainer_samples_per_s(args.trainer, model, STEPS[model]))
            theirs.append(torch_samples_per_s(model, STEPS[model]))
            if args.baseline:
                base.append(trainer_samples_per_s(args.baseline, model, STEPS[model]))
            print(f"{model} run {r + 1}: trainer {ours[-1]:.0f}, pytorch {theirs[-1]:.0f}"
                  + (f", baseline {base[-1]:.0f}" if base else "") + " samples/s", file=sys.stderr)
        a, b = statistics.median(ours), statistics.median(theirs)
        rows.append({"model": model, "steps": STEPS[model], "batch": 128, "threads": 1,
                     "trainer_samples_per_s": a, "pytorch_samples_per_s": b, "ratio": a / b,
                     "trainer_runs": ours, "pytorch_runs": theirs})
        if base:
            rows[-1].update({"baseline_samples_per_s": statistics.median(base),
                             "baseline_runs": base,
                             "ratio_to_baseline": a / statistics.median(base)})
    result = {"date": datetime.date.today().isoformat(), "commit": commit, "machine": cpu_name(),
              "cores": os.cpu_count(), "pytorch": torch_version,
              "command": "python3 bench/cpu_speed.py --repeats %d%s" % (
                  args.repeats, " --baseline " + args.baseline if args.baseline else ""),
              "results": rows}
    lines = [f"# CPU training speed, one thread, batch 128, Adam (Fashion-MNIST)", "",
             f"- date {result['date']}, commit {commit}", f"- machine: {result['machine']}, {result['cores']} cores (shared)",
             f"- reference: PyTorch {torch_version} (Debian python3-torch), torch.set_num_threads(1)",
             f"- command: `{result['command']}` (medians of {args.repeats} interleaved runs)", "",
             "| model | steps | trainer samples/s | PyTorch samples/s | trainer / PyTorch |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['steps']} | {r['trainer_samples_per_s']:.0f} | "
                     f"{r['pytorch_samples_per_s']:.0f} | {r['ratio']:.2f}x |")
    if args.baseline:
        lines += ["", f"Against the baseline build `{args.baseline}` in the same runs:", "",
                  "| model | trainer samples/s | baseline samples/s | trainer / baseline |",
                  "|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['model']} | {r['trainer_samples_per_s']:.0f} | "
                         f"{r['baseline_samples_per_s']:.0f} | {r['ratio_to_baseline']:.3f}x |")
    write_results("cpu_speed", result, lines)


if __name__ == "__main__":
    main()
