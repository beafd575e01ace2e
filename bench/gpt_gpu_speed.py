#!/usr/bin/env python3
"""GPT-2 124M training speed on one GPU: trainer against PyTorch eager and torch.compile, side by
side in one run (configs/gpt2_124m.yaml: batch 8 x 1024 tokens, AdamW, clipping at 1, bf16).

Trainer reads a token file (any llm.c token file; the figure is speed only), PyTorch trains on
random tokens kept on the GPU (bench/torch_gpt_gpu.py, nanoGPT's shape with flash attention).
Both report steady-state tokens/s after their warm-up steps. Then, where trainer's step goes: a
short run with log.layer_times (GPU time of each layer pass, by CUDA events; its own run, so that
the timing's events do not touch the speed figure). Run by scripts/gpu.sh:

    python3 bench/gpt_gpu_speed.py --trainer BIN --tokens FILE --results DIR
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
from common import ROOT, git_commit, trainer_outputs, write_results  # noqa: E402
from gpu_speed import trainer_env  # noqa: E402

SEQ, BATCH, LOG_EVERY = 1024, 8, 10


def trainer_run(trainer, precision, steps, tokens, *settings):
    """summary.json and metrics.jsonl's records of configs/gpt2_124m.yaml on the GPU for `steps`
    steps on `tokens`, with more --set `settings`."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [trainer, os.path.join(ROOT, "configs", "gpt2_124m.yaml"), "--set", "device=cuda",
               "--set", f"precision.compute={precision}", "--set", f"train.max_steps={steps}",
               "--set", f"run.out_dir={out}", "--set", f"data.train.path={tokens}",
               "--set", "data.test=null", "--set", "checkpoint.every_steps=0"]
        for setting in settings:
            cmd += ["--set", setting]
        return trainer_outputs(cmd, out, trainer_env())


def trainer_tokens_per_s(trainer, precision, warmup, steps, tokens, graph=False):
    """Median tokens/s of the logging windows after `warmup` steps, and the GPU's name; `graph`:
    each step replayed as a CUDA graph (train.cuda_graph)."""
    s, windows = trainer_run(trainer, precision, warmup + steps, tokens,
                             f"log.every_steps={LOG_EVERY}",
                             f"train.cuda_graph={'true' if graph else 'false'}")
    steady = [w["tokens_per_s"] for w in windows if w["step"] > warmup]
    return statistics.median(steady), s.get("gpu", "?")


def trainer_layer_times(trainer, precision, steps, tokens):
    """summary.json's layer_times of a run of `steps` steps (the first is not timed)."""
    return trainer_run(trainer, precision, steps, tokens, "log.layer_times=true")[0]["layer_times"]


def torch_run(python, mode, warmup, steps):
    cmd = [python, os.path.join(ROOT, "bench", "torch_gpt_gpu.py"), "--mode", mode,
           "--warmup", str(warmup), "--steps", str(steps), "--batch", str(BATCH), "--seq", str(SEQ)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"PyTorch {mode} failed ({out.returncode}): {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trainer", default=os.path.join(ROOT, "build", "launcher", "trainer"))
    ap.add_argument("--python", default=sys.executable, help="the Python that has PyTorch")
    ap.add_argument("--tokens", required=True, help="an llm.c token file for trainer")
    ap.add_argument("--results", default=None, help="folder for the results (bench/results)")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--modes", default="eager,compile")
    ap.add_argument("--graph", type=int, default=1,
                    help="1: trainer also runs with train.cuda_graph (the whole step replayed)")
    ap.add_argument("--layer-times-steps", type=int, default=6,
                    help="steps of the layer-times run (0: none)")
    args = ap.parse_args()
    ours, gpu = trainer_tokens_per_s(args.trainer, "bf16", args.warmup, args.steps, args.tokens)
    print(f"trainer bf16: {ours:.0f} tokens/s", file=sys.stderr)
    row = {"model": "gpt2_124m", "precision": "bf16", "batch": BATCH, "sequence": SEQ,
           "trainer_tokens_per_s": ours}
    if args.graph:
        row["trainer_graph_tokens_per_s"] = trainer_tokens_per_s(
            args.trainer, "bf16", args.warmup, args.steps, args.tokens, graph=True)[0]
        print(f"trainer bf16, CUDA graph: {row['trainer_graph_tokens_per_s']:.0f} tokens/s",
              file=sys.stderr)
    command = (f"python3 bench/gpt_gpu_speed.py --warmup {args.warmup} --steps {args.steps} "
               f"--modes {args.modes} --graph {args.graph} "
               f"--layer-times-steps {args.layer_times_steps}")
    torch_version = "?"
    for mode in args.modes.split(","):
        p = torch_run(args.python, mode, args.warmup, args.steps)
        torch_version = p["framework"].split()[1]
        row[f"pytorch_{mode}_tokens_per_s"] = p["tokens_per_s"]
        row[f"pytorch_{mode}_peak_memory_bytes"] = p["peak_memory_bytes"]
        row[f"ratio_vs_{mode}"] = ours / p["tokens_per_s"]
        if args.graph:
            row[f"graph_ratio_vs_{mode}"] = row["trainer_graph_tokens_per_s"] / p["tokens_per_s"]
        print(f"pytorch {mode}: {p['tokens_per_s']:.0f} tokens/s", file=sys.stderr)
    times = (trainer_layer_times(args.trainer, "bf16", args.layer_times_steps, args.tokens)
             if args.layer_times_steps > 0 else None)
    result = {"date": datetime.date.today().isoformat(), "commit": git_commit(), "gpu": gpu,
              "pytorch": torch_version, "warmup_steps": args.warmup, "command": command,
              "results": [row], "layer_times": times}
    lines = ["# GPT-2 124M training speed on one GPU, bf16, batch 8 x 1024 tokens", "",
             f"- date {result['date']}, commit {result['commit']}, GPU: {gpu}",
             f"- reference: PyTorch {torch_version} (bench/torch_gpt_gpu.py: flash attention, "
             "fused AdamW, bf16 autocast), eager and torch.compile",
             f"- steady state: tokens/s after the first {args.warmup} steps on both sides, "
             f"{args.steps} steps timed",
             f"- command: `{command}`", "",
             "| side | tokens/s | trainer vs it | trainer with a CUDA graph vs it |",
             "|---|---|---|---|",
             f"| trainer | {ours:.0f} | | |"]
    if args.graph:
        lines.append(f"| trainer, CUDA graph | {row['trainer_graph_tokens_per_s']:.0f} | | |")
    for mode in args.modes.split(","):
        graph = f"{row[f'graph_ratio_vs_{mode}']:.2f}x" if args.graph else "not run"
        lines.append(f"| PyTorch {mode} | {row[f'pytorch_{mode}_tokens_per_s']:.0f} | "
                     f"{row[f'ratio_vs_{mode}']:.2f}x | {graph} |")
    if times:
        lines += ["", f"Where trainer's step goes (log.layer_times, GPU time by CUDA events, mean of "
                  f"{times['steps']} steps of {times['step_ms']:.1f} ms; the blocks' copies of "
                  "a layer together; the loss, the update and the residual adds in rows of their "
                  "own; the rest of the step is the host's gaps):", "",
                  "| layer pass or work | calls | ms per step | share of the step |", "|---|---|---|---|"]
        for layer in times["layers"]:
            lines.append(f"| {layer['name']} | {layer['calls']} | {layer['ms']:.2f} | "
                         f"{100 * layer['share']:.1f}% |")
        covered = sum(layer["share"] for layer in times["layers"])
        lines.append(f"| (all rows) | | | {100 * covered:.1f}% |")
    write_results("gpt_gpu_speed", result, lines, folder=args.results)


if __name__ == "__main__":
    main()
