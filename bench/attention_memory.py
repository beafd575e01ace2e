#!/usr/bin/env python3
"""What attention's backward costs and saves when it computes its probabilities again instead of
keeping them: this build's trainer against a baseline trainer binary (built from an earlier
commit, --baseline), on the small GPT (configs/tiny_gpt.yaml's shape) at contexts 128 and 512 and
the same tokens per step. For each: the activation bytes a rank kept at its peak
(summary.json's peak_activation_bytes) and the median step time after the first two, from
interleaved runs (--repeats of each) on the same weights and tokens. Writes
bench/results/attention_memory.json and .md.

    python3 bench/attention_memory.py --baseline /tmp/base/build/launcher/trainer
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "reference"))
from common import ENV, ROOT, cpu_name, git_commit, write_results  # noqa: E402

TOKENS_PER_STEP = 2048
OPTIMIZER = "{type: adamw, lr: 1.0e-3, beta1: 0.9, beta2: 0.95, eps: 1.0e-8, weight_decay: 0.1}"


def prepare(work, T, steps, threads):
    """<work>/init.bin, train.bin and cfg.yaml: the small GPT at context T."""
    import torch
    import gpt2_torch as g
    s = g.Shape(T=T, V=256, VP=256, L=4, H=4, C=128)
    B = TOKENS_PER_STEP // T
    g.write_weights(f"{work}/init.bin", s, g.random_weights(s))
    gen = torch.Generator().manual_seed(1)
    g.write_tokens(f"{work}/train.bin",
                   torch.randint(0, s.V, (steps * B * T + 1,), generator=gen).tolist())
    with open(f"{work}/cfg.yaml", "w") as f:
        f.write(g.trainer_config(work, s, B, steps, OPTIMIZER, 0.0, threads))
    return B


def run(trainer, work, threads):
    """(median step seconds after the first two, peak activation bytes) of one run."""
    env = dict(ENV, OMP_NUM_THREADS=str(threads))
    subprocess.run([trainer, f"{work}/cfg.yaml"], check=True, capture_output=True, env=env)
    with open(f"{work}/run/metrics.jsonl") as f:
        ms = [json.loads(line)["step_ms"] for line in f]
    with open(f"{work}/run/summary.json") as f:
        peak = json.load(f)["peak_activation_bytes"][0]
    return statistics.median(ms[2:]) / 1e3, peak


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", required=True, help="a trainer binary of an earlier commit")
    ap.add_argument("--baseline-commit", default="", help="the commit it was built from")
    ap.add_argument("--trainer", default=os.path.join(ROOT, "build", "launcher", "trainer"))
    ap.add_argument("--contexts", default="128,512")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    rows = []
    for T in (int(t) for t in args.contexts.split(",")):
        with tempfile.TemporaryDirectory() as work:
            B = prepare(work, T, args.steps, args.threads)
            ours, theirs, peaks = [], [], {}
            for _ in range(args.repeats):
                for name, binary, times in (("this", args.trainer, ours),
                                            ("baseline", args.baseline, theirs)):
                    step_s, peaks[name] = run(binary, work, args.threads)
                    times.append(step_s)
            rows.append({"T": T, "batch": B, "step_s": statistics.median(ours),
                         "baseline_step_s": statistics.median(theirs), "steps_s": ours,
                         "baseline_steps_s": theirs, "peak_activation_bytes": peaks["this"],
                         "baseline_peak_activation_bytes": peaks["baseline"]})
    command = "python3 bench/attention_memory.py " + " ".join(sys.argv[1:])
    result = {"commit": git_commit(), "baseline_commit": args.baseline_commit,
              "machine": cpu_name(), "threads": args.threads, "command": command, "rows": rows}
    lines = ["# Attention that keeps two floats per row of its probabilities, against keeping them",
             "",
             f"- commit {result['commit']} against baseline {args.baseline_commit or args.baseline}"
             f"; {cpu_name()}, {args.threads} thread(s)",
             f"- command: `{command}` (the small GPT, 4 blocks of 4 heads, 128 channels, "
             f"{TOKENS_PER_STEP} tokens a step; step = median after the first two of "
             f"{args.steps}, median of {args.repeats} interleaved runs)",
             "",
             "| context | batch | activations kept (this) | (baseline) | step (this) | "
             "(baseline) | step ratio baseline / this |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['T']} | {r['batch']} | {r['peak_activation_bytes'] / 2**20:.1f} MiB | "
                     f"{r['baseline_peak_activation_bytes'] / 2**20:.1f} MiB | "
                     f"{r['step_s'] * 1e3:.1f} ms | {r['baseline_step_s'] * 1e3:.1f} ms | "
                     f"{r['baseline_step_s'] / r['step_s']:.2f} |")
    write_results("attention_memory", result, lines)


if __name__ == "__main__":
    main()
