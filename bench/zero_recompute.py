#!/usr/bin/env python3
"""What ZeRO stages 1 and 2 and activation recompute cost and save, measured side by side on this
machine.

- Weights per rank in bf16: the same GPT at data 2 and 4, ZeRO 0 and 1 (f32 masters sharded).

- Optimizer state and gradients per rank: a GPT of 25M parameters (512 channels, 8 blocks, byte
  vocabulary) under data 2 and 4 ranks, ZeRO 0, 1 and 2, a few AdamW steps each; every rank
  reports the bytes of optimizer state it holds, the most gradient bytes it held at once and its
  peak resident memory (summary.json).
- Recompute: configs/tiny_gpt.yaml in one process with train.recompute none and blocks: peak
  activation bytes and the steady tokens/s (log windows after the first), runs alternating.
- ZeRO's speed: configs/tiny_gpt.yaml at data 2 with ZeRO 0, 1 and 2, tokens/s, runs alternating.

Writes bench/results/zero_recompute.json and .md. Needs data/fortunes (scripts/setup.sh makes it).

    python3 bench/zero_recompute.py [--repeats 3]
"""
import argparse
import datetime
import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import ROOT, cpu_name, git_commit, trainer_outputs, write_results  # noqa: E402

TRAINER = os.path.join(ROOT, "build", "launcher", "trainer")
CONFIG = os.path.join(ROOT, "configs", "tiny_gpt.yaml")
STAGES = (0, 1, 2)
# (ZeRO stage, bucket MiB): ZeRO 2 holds two buckets beside its shard, so it is measured with
# the default 25 MiB buckets and with 5.
MEMORY_RUNS = ((0, 25), (1, 25), (2, 25), (2, 5))
WIDE = ["model.layers[0].channels=512", "model.layers[1].heads=8", "model.layers[1].repeat=8",
        "data.batch_size=8"]


def run(ranks, overrides):
    """summary.json and the log windows of one run."""
    with tempfile.TemporaryDirectory() as out:
        sets = []
        for o in overrides + [f"run.out_dir={out}", "checkpoint.every_steps=0", "data.test=null",
                              "log.sample_tokens=0"]:
            sets += ["--set", o]
        cmd = [TRAINER, CONFIG] + sets
        if ranks > 1:
            cmd = ["mpirun", "--oversubscribe", "-np", str(ranks)] + cmd
        return trainer_outputs(cmd, out)


def steady_tokens_per_s(windows):
    return statistics.median(w["tokens_per_s"] for w in windows[1:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    mib = 1 << 20

    memory = []
    for data in (2, 4):
        for zero, bucket_mb in MEMORY_RUNS:
            s, _ = run(data, WIDE + [f"parallel.zero={zero}", f"parallel.bucket_mb={bucket_mb}",
                                     "train.max_steps=3"])
            memory.append({"data": data, "zero": zero, "bucket_mb": bucket_mb,
                           "parameters": s["parameters"],
                           "optimizer_state_bytes": s["optimizer_state_bytes"],
                           "gradient_bytes": s["gradient_bytes"],
                           "peak_resident_bytes": s["peak_resident_bytes"]})
            print(memory[-1], file=sys.stderr)

    # Mixed precision: ZeRO shards the f32 master weights as well (16-bit copies stay whole).
    weights = []
    for data in (2, 4):
        for zero in (0, 1):
            s, _ = run(data, WIDE + ["precision.compute=bf16", f"parallel.zero={zero}",
                                     "train.max_steps=3"])
            weights.append({"data": data, "zero": zero, "weight_bytes": s["weight_bytes"],
                            "peak_resident_bytes": s["peak_resident_bytes"]})
            print(weights[-1], file=sys.stderr)

    recompute = {"none": [], "blocks": []}
    activations = {}
    zero_speed = {z: [] for z in STAGES}
    steps = ["train.max_steps=60", "log.every_steps=10"]
    for r in range(args.repeats):  # alternating, so drift on a shared machine hits both sides
        for mode in ("none", "blocks"):
            s, w = run(1, steps + [f"train.recompute={mode}", "run.threads=1"])
            recompute[mode].append(steady_tokens_per_s(w))
            activations[mode] = s["peak_activation_bytes"][0]
        for zero in STAGES:
            _, w = run(2, steps + [f"parallel.zero={zero}"])
            zero_speed[zero].append(steady_tokens_per_s(w))
        print(f"repeat {r + 1}: recompute {recompute}, zero {zero_speed}", file=sys.stderr)

    rc = {m: statistics.median(v) for m, v in recompute.items()}
    zs = {z: statistics.median(v) for z, v in zero_speed.items()}
    result = {"date": datetime.date.today().isoformat(), "commit": git_commit(),
              "machine": cpu_name(), "command": f"python3 bench/zero_recompute.py --repeats {args.repeats}",
              "optimizer_memory": memory, "bf16_weights": weights,
              "recompute": {"peak_activation_bytes": activations, "tokens_per_s": recompute,
                            "extra_time": rc["none"] / rc["blocks"] - 1.0},
              "zero_speed": {"tokens_per_s": {str(k): v for k, v in zero_speed.items()},
                             "zero1_vs_zero0": zs[1] / zs[0], "zero2_vs_zero0": zs[2] / zs[0]}}
    lines = ["# ZeRO stages 1 and 2 and activation recompute on the CPU", "",
             f"- date {result['date']}, commit {result['commit']}, {result['machine']} (2 cores)",
             f"- command: `{result['command']}`", "",
             "## Optimizer state and gradients per rank (a 25M-parameter GPT, AdamW)", "",
             "| data ranks | ZeRO | bucket MiB | optimizer state per rank | of ZeRO 0's | "
             "gradients held per rank | of ZeRO 0's | peak resident per rank |",
             "|---|---|---|---|---|---|---|---|"]
    for m in memory:
        base = next(x for x in memory if x["data"] == m["data"] and x["zero"] == 0)
        share = m["optimizer_state_bytes"][0] / base["optimizer_state_bytes"][0]
        grad_share = max(m["gradient_bytes"]) / max(base["gradient_bytes"])
        lines.append(f"| {m['data']} | {m['zero']} | {m['bucket_mb']} | "
                     + ", ".join(f"{b / mib:.1f}" for b in m["optimizer_state_bytes"]) + " MiB | "
                     f"{share:.3f} | "
                     + ", ".join(f"{b / mib:.1f}" for b in m["gradient_bytes"]) + " MiB | "
                     f"{grad_share:.3f} | "
                     + ", ".join(f"{b / mib:.0f}" for b in m["peak_resident_bytes"]) + " MiB |")
    lines += ["", "The state held is exactly 1/N. ZeRO 2's gradients are the rank's 1/N, two "
              "bucket buffers (one written by backward, one being reduced: each the size of the "
              "largest bucket) and the tied embedding's whole gradient (written at both ends of "
              "backward); with 25 MiB buckets on a 97 MiB model the buckets eat the saving at 2 "
              "ranks. Peak resident memory also counts what neither stage shards (the full f32 "
              "values, 97 MiB here), activations, OpenBLAS's buffer and Open MPI's temporaries, "
              "so it falls by less than the state and gradients.",
              "", "## Weights per rank in bf16 (the same GPT)", "",
              "| data ranks | ZeRO | weights per rank (f32 masters + bf16 copies) | of ZeRO 0's | "
              "peak resident per rank |", "|---|---|---|---|---|"]
    for m in weights:
        base = next(x for x in weights if x["data"] == m["data"] and x["zero"] == 0)
        lines.append(f"| {m['data']} | {m['zero']} | "
                     + ", ".join(f"{b / mib:.1f}" for b in m["weight_bytes"]) + " MiB | "
                     f"{max(m['weight_bytes']) / max(base['weight_bytes']):.3f} | "
                     + ", ".join(f"{b / mib:.0f}" for b in m["peak_resident_bytes"]) + " MiB |")
    lines += ["", "ZeRO keeps the f32 masters of the rank's range only (4/N bytes per parameter) "
              "beside the whole bf16 copies (2): (2 + 4/N) / 6 of ZeRO 0's.",
              "", "## Recompute (configs/tiny_gpt.yaml, one process, one thread)", "",
              "| train.recompute | peak activation bytes | tokens/s (median of "
              f"{args.repeats}) |", "|---|---|---|"]
    for mode in ("none", "blocks"):
        lines.append(f"| {mode} | {activations[mode]:,} | {rc[mode]:,.0f} |")
    lines += ["", f"Recompute costs {100 * result['recompute']['extra_time']:.1f}% more time per "
              f"step (target: under 40%) for {activations['blocks'] / activations['none']:.3f} of "
              "the activation memory.", "",
              "## ZeRO 1 and 2 against ZeRO 0 (configs/tiny_gpt.yaml, data 2)", "",
              "| ZeRO | tokens/s (median) |", "|---|---|"]
    for z in STAGES:
        lines.append(f"| {z} | {zs[z]:,.0f} |")
    lines += ["", f"ZeRO 1 runs at {zs[1] / zs[0]:.3f} of ZeRO 0's speed and ZeRO 2 at "
              f"{zs[2] / zs[0]:.3f} (target: within 5%)."]
    write_results("zero_recompute", result, lines)


if __name__ == "__main__":
    main()
