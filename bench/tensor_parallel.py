#!/usr/bin/env python3
"""The small GPT (configs/tiny_gpt.yaml) on this machine's 2 cores, one rank per core and one
thread per rank, under the layouts of 2 ranks: tensor 2 (each layer split, two all-reduces per
block each way), tensor 2 with sequence parallelism (all-gathers and reduce-scatters instead,
the activations between them split too), data 2 (each rank a half batch, one gradient
all-reduce per step) and pipeline 2 (two stages, 4 micro-batches); measured tokens/s and peak
activation bytes per rank beside the cost model's predictions for each (`trainer --dry-run
--cluster cpu` of the same config).

Runs alternate, --repeats times, so drift on a shared machine hits every layout; a layout's
figure is the median over its runs of the median step after the first --skip steps.

    python3 bench/tensor_parallel.py          (after scripts/setup.sh)

Writes bench/results/tensor_parallel.{md,json}.
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
from common import ENV, ROOT, cpu_name, git_commit, trainer_outputs, write_results  # noqa: E402

CONFIG = os.path.join(ROOT, "configs", "tiny_gpt.yaml")
LAYOUTS = {  # name: overrides
    "tensor 2": ["parallel.tensor=2", "parallel.data=1"],
    "tensor 2 + sequence": ["parallel.tensor=2", "parallel.data=1", "parallel.sequence_parallel=true"],
    "data 2": ["parallel.data=2"],
    "pipeline 2": ["parallel.pipeline=2", "parallel.data=1", "parallel.microbatches=4"],
}
COMMON = ["run.threads=1", "log.every_steps=1", "checkpoint.every_steps=0", "log.sample_tokens=0"]


def sets(overrides):
    return [a for o in overrides for a in ("--set", o)]


def measure(trainer, layout, steps, skip):
    with tempfile.TemporaryDirectory() as out:
        cmd = ["mpirun", "--oversubscribe", "-np", "2", trainer, CONFIG,
               *sets(LAYOUTS[layout] + COMMON + [f"train.max_steps={steps}", f"run.out_dir={out}"])]
        summary, windows = trainer_outputs(cmd, out)
    rate = statistics.median(w["tokens_per_s"] for w in windows if "tokens_per_s" in w and w["step"] > skip)
    return rate, max(summary["peak_activation_bytes"])


def predict(trainer, layout):
    plan = json.loads(subprocess.run([trainer, CONFIG, "--dry-run", "--json", "--cluster", "cpu",
                                      *sets(LAYOUTS[layout] + COMMON)],
                                     check=True, capture_output=True, text=True, env=ENV, cwd=ROOT).stdout)
    tokens_per_sample = 128  # the config's sequence length
    p = plan["prediction"]
    return p["samples_per_s"] * tokens_per_sample, p["activation_bytes"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--skip", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    trainer = os.path.join(args.build, "launcher", "trainer")
    if not os.path.exists(os.path.join(ROOT, "data", "fortunes", "train.bin")):
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "text_to_tokens.py"),
                        os.path.join(ROOT, "data", "fortunes"), "/usr/share/games/fortunes"], check=True)
    runs = {name: [] for name in LAYOUTS}
    activations = {}
    for _ in range(args.repeats):
        for name in LAYOUTS:
            rate, activations[name] = measure(trainer, name, args.steps, args.skip)
            runs[name].append(rate)
    rows = []
    for name in LAYOUTS:
        measured = statistics.median(runs[name])
        predicted, predicted_activations = predict(trainer, name)
        rows.append({"layout": name, "measured_tokens_per_s": measured, "runs": runs[name],
                     "predicted_tokens_per_s": predicted, "error": predicted / measured - 1,
                     "peak_activation_bytes": activations[name],
                     "predicted_activation_bytes": predicted_activations})
    base = next(r for r in rows if r["layout"] == "data 2")["measured_tokens_per_s"]
    commit = git_commit()
    result = {"date": datetime.date.today().isoformat(), "commit": commit, "machine": cpu_name(),
              "command": "python3 bench/tensor_parallel.py", "steps": args.steps, "skip": args.skip,
              "repeats": args.repeats, "rows": rows}
    lines = ["# Tensor against data against pipeline parallelism: the small GPT on 2 ranks", "",
             f"- date {result['date']}, commit {commit}, machine: {result['machine']} (2 cores, one rank per "
             f"core, one thread per rank); command: `{result['command']}`",
             f"- configs/tiny_gpt.yaml (4 blocks, 4 heads, 128 channels, context 128, batch 16), {args.steps} steps, "
             f"median step after the first {args.skip}, median of {args.repeats} alternating runs per layout",
             "- predicted: `trainer --dry-run --cluster cpu` of the same config and layout", "",
             "| layout | measured tokens/s | vs data 2 | predicted tokens/s | prediction error | runs | "
             "peak activations per rank (measured) | predicted |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['layout']} | {r['measured_tokens_per_s']:,.0f} | "
                     f"{r['measured_tokens_per_s'] / base:.2f}x | {r['predicted_tokens_per_s']:,.0f} | "
                     f"{100 * r['error']:+.0f}% | {', '.join(f'{x:,.0f}' for x in r['runs'])} | "
                     f"{r['peak_activation_bytes'] / 2**20:.1f} MiB | {r['predicted_activation_bytes'] / 2**20:.1f} MiB |")
    write_results("tensor_parallel", result, lines)


if __name__ == "__main__":
    main()
