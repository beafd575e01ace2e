#!/usr/bin/env python3
"""Scaling sweeps: runs a base config at every point of a grid of layouts, collects each run's
summary and timeline, and writes one CSV and plots (throughput against ranks with the ideal
line, scaling efficiency, and the step time broken into compute, communication, pipeline idle
and the rest), with the cost model's prediction and its error for every point.

    python3 bench/sweep.py configs/fashion_mnist_cnn.yaml --ranks 1 2 --pipeline 1 2 \\
        --microbatches 4 8 --batch 128 256 --out bench/results/sweep_cnn

A point is (ranks, pipeline P, micro-batches M, batch, precision) with data = ranks / P; points
where P does not divide the ranks are left out, and without a pipeline M is 1. Each point runs
under mpirun (or srun with --launcher srun, or plainly for one rank), one thread per rank,
with log.trace: true. Step times are medians over the steps after --warmup.
"""
import argparse
import csv
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ENV, ROOT, ensure_debian_module  # noqa: E402


COMPUTE = ("forward ", "backward ", "loss", "load batch", "optimizer step")
COMMUNICATION = ("wait for gradient all-reduces", "issue all-reduce")
PIPELINE_IDLE = ("recv activation", "recv grad", "wait for sends")


def breakdown(trace_file, warmup):
    """Median over steps of one rank's timeline: step time and its parts, in seconds."""
    with open(trace_file) as f:
        events = [e for e in json.load(f)["traceEvents"] if e["ph"] == "X"]
    rows = []
    for step in [e for e in events if e["name"].startswith("step ")][warmup:]:
        inside = [e for e in events if step["ts"] <= e["ts"] <= step["ts"] + step["dur"]]

        def total(prefixes):
            return sum(e["dur"] for e in inside if e["name"].startswith(prefixes)) * 1e-6

        parts = {"step": step["dur"] * 1e-6, "compute": total(COMPUTE),
                 "communication": total(COMMUNICATION), "pipeline_idle": total(PIPELINE_IDLE)}
        parts["other"] = parts["step"] - parts["compute"] - parts["communication"] - parts["pipeline_idle"]
        rows.append(parts)
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def run_point(trainer, config, point, args):
    ranks, pipeline, micro, batch, precision = point
    sets = [f"parallel.pipeline={pipeline}", f"parallel.microbatches={micro}", f"data.batch_size={batch}",
            f"precision.compute={precision}", "run.threads=1", "data.test=null"]
    set_args = [a for kv in sets for a in ("--set", kv)]
    plan = json.loads(subprocess.run(
        [trainer, config, "--dry-run", "--json", "--cluster", args.cluster,
         "--set", f"parallel.data={ranks // pipeline}"] + set_args,
        check=True, capture_output=True, text=True, env=ENV).stdout)
    with tempfile.TemporaryDirectory() as out:
        cmd = [trainer, config, "--set", f"train.max_steps={args.steps}", "--set", "log.trace=true",
               "--set", f"log.every_steps={args.steps}", "--set", f"run.out_dir={out}"] + set_args
        if args.launcher == "srun":
            cmd = ["srun", "-n", str(ranks)] + cmd
        elif ranks > 1:
            cmd = ["mpirun", "--oversubscribe", "-np", str(ranks)] + cmd
        subprocess.run(cmd, check=True, capture_output=True, env=ENV)
        with open(os.path.join(out, "summary.json")) as f:
            summary = json.load(f)
        # The ranks step together: the step is the slowest rank's, its parts the ranks' mean (a
        # pipeline's first stage idles where its bottleneck stage computes).
        per_rank = [breakdown(os.path.join(out, "trace", f"rank{r}.json"), args.warmup) for r in range(ranks)]
        parts = {k: statistics.mean(p[k] for p in per_rank) for k in per_rank[0]}
        parts["step"] = max(p["step"] for p in per_rank)
        parts["other"] = parts["step"] - parts["compute"] - parts["communication"] - parts["pipeline_idle"]
    predicted = plan["prediction"]["step_s"]
    return {"ranks": ranks, "data": ranks // pipeline, "pipeline": pipeline, "microbatches": micro,
            "batch": batch, "precision": precision,
            "samples_per_s": batch / parts["step"], "step_ms": 1e3 * parts["step"],
            "compute_ms": 1e3 * parts["compute"], "communication_ms": 1e3 * parts["communication"],
            "pipeline_idle_ms": 1e3 * parts["pipeline_idle"], "other_ms": 1e3 * parts["other"],
            "predicted_step_ms": 1e3 * predicted, "prediction_error_pct": 100 * (predicted / parts["step"] - 1),
            "peak_activation_bytes_rank0": summary["peak_activation_bytes"][0]}


def points(args):
    for ranks, pipeline, micro, batch, precision in itertools.product(
            args.ranks, args.pipeline, args.microbatches, args.batch, args.precision):
        if ranks % pipeline:
            continue
        if pipeline == 1 and micro != args.microbatches[0]:
            continue
        yield ranks, pipeline, micro if pipeline > 1 else 1, batch, precision


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--pipeline", type=int, nargs="+", default=[1])
    ap.add_argument("--microbatches", type=int, nargs="+", default=[1])
    ap.add_argument("--batch", type=int, nargs="+", default=[128])
    ap.add_argument("--precision", nargs="+", default=["fp32"])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--cluster", default="cpu", help="the cost model's preset for the predictions")
    ap.add_argument("--launcher", choices=["mpirun", "srun"], default="mpirun")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", required=True, help="folder for sweep.csv and the plots")
    args = ap.parse_args()
    trainer = os.path.join(args.build, "launcher", "trainer")
    grid = list(points(args))
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for i, point in enumerate(grid):
        sys.stderr.write(f"\r[{i + 1}/{len(grid)}] ranks {point[0]}, pipeline {point[1]}, "
                         f"micro-batches {point[2]}, batch {point[3]}, {point[4]} ...        ")
        sys.stderr.flush()
        rows.append(run_point(trainer, os.path.abspath(args.config), point, args))
        r = rows[-1]
        sys.stderr.write(f"\r[{i + 1}/{len(grid)}] ranks {r['ranks']} (data {r['data']} x pipeline "
                         f"{r['pipeline']}, M {r['microbatches']}), batch {r['batch']}: "
                         f"{r['samples_per_s']:.0f} samples/s, step {r['step_ms']:.1f} ms, predicted "
                         f"{r['predicted_step_ms']:.1f} ms ({r['prediction_error_pct']:+.1f}%)\n")
    # Scaling efficiency: throughput over ranks x the one-rank throughput at the same batch.
    single = {r["batch"]: r["samples_per_s"] for r in rows if r["ranks"] == 1}
    for r in rows:
        base = single.get(r["batch"])
        r["efficiency"] = r["samples_per_s"] / (r["ranks"] * base) if base else ""
    csv_path = os.path.join(args.out, "sweep.csv")
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    ensure_debian_module("matplotlib", "python3-matplotlib")
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "plot_sweep.py"), csv_path,
                    "--title", os.path.basename(args.config)], check=True)
    print(f"{csv_path}: {len(rows)} points; plots beside it")


if __name__ == "__main__":
    main()
