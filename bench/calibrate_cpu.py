#!/usr/bin/env python3
"""Measures the rates of the cost model's `cpu` preset (parallel/cost_model.cpp) on this machine:
achieved FLOP/s of linear and convolution layers, memory bandwidth of the layers without a
GEMM, the time to load a sample, and MPI all-reduce latency and bandwidth.

    python3 bench/calibrate_cpu.py        (after scripts/setup.sh)

Layer rates come from the timelines of one-rank, one-thread runs of both Fashion-MNIST configs
(log.trace: true), divided by what the cost model counts for each layer (see
docs/cost_model.md); MPI figures from raw MPI_Allreduce with 2 ranks (bench/allreduce_bandwidth).
Writes bench/results/cpu_calibration.{md,json}; the preset's figures are these, rounded.
"""
import argparse
import collections
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ENV, ROOT, cpu_name, git_commit, write_results  # noqa: E402

BATCH = 128


def layer_times(trainer, config, steps=60, skip=10):
    """Mean seconds per step of each layer's forward and backward, the batch loading and the
    optimizer, from one rank's timeline; and the layers as the cost model sees them."""
    sets = ["--set", "run.threads=1", "--set", f"data.batch_size={BATCH}", "--set", "data.test=null"]
    plan = json.loads(subprocess.run([trainer, config, "--dry-run", "--json"] + sets, check=True,
                                     capture_output=True, text=True, env=ENV).stdout)
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([trainer, config, "--set", f"train.max_steps={steps}", "--set", "log.trace=true",
                        "--set", f"run.out_dir={out}"] + sets, check=True, capture_output=True, env=ENV)
        with open(os.path.join(out, "trace", "rank0.json")) as f:
            events = [e for e in json.load(f)["traceEvents"] if e["ph"] == "X"]
    first = [e for e in events if e["name"].startswith("step ")][skip]["ts"]
    totals = collections.defaultdict(float)
    for e in events:
        if e["ts"] >= first and e["tid"] == 0 and not e["name"].startswith("step "):
            totals[e["name"]] += e["dur"] * 1e-6
    return plan["layers"], {k: v / (steps - skip) for k, v in totals.items()}


def fit(runs):
    """Pools the layers of all runs by class and divides the work the cost model counts by the
    time measured."""
    work = collections.defaultdict(float)
    time = collections.defaultdict(float)
    for layers, t in runs:
        below_has_params = False
        for i, l in enumerate(layers):
            fwd, bwd = t.get(f"forward {i}.{l['type']}", 0.0), t.get(f"backward {i}.{l['type']}", 0.0)
            needs_dx = below_has_params
            below_has_params = below_has_params or l["params"] > 0
            if l["type"] in ("linear", "conv2d"):
                key = "gemm_flops" if l["type"] == "linear" else "conv_flops"
                work[key] += l["flops_per_sample"] * BATCH * (1 + (2 if needs_dx else 1))
            elif l["type"] != "flatten":
                key = "memory_bandwidth"
                out_elems = 1
                for d in l["output"]:
                    out_elems *= d
                # Forward reads the input and writes the output; backward moves 1.5x that.
                streamed = 4.0 * (l["flops_per_sample"] + out_elems)
                work[key] += streamed * BATCH * (1 + (1.5 if needs_dx else 0))
            else:
                continue  # a view
            time[key] += fwd + bwd
        work["load_per_sample"] += BATCH
        time["load_per_sample"] += t.get("load batch", 0.0)
    rates = {k: work[k] / time[k] for k in ("gemm_flops", "conv_flops", "memory_bandwidth")}
    rates["load_per_sample"] = time["load_per_sample"] / work["load_per_sample"]
    return rates


def mpi(build):
    out = subprocess.run(["mpirun", "--oversubscribe", "-np", "2", os.path.join(build, "bench", "allreduce_bandwidth")],
                         check=True, capture_output=True, text=True, env=ENV).stdout
    by_size = {int(j["bytes"]): j["seconds"] for j in map(json.loads, out.strip().splitlines())}
    # 2 ranks, ring: t = bytes / bw + 2 latency.
    latency = by_size[4096] / 2
    bandwidth = statistics.median(b / (by_size[b] - 2 * latency) for b in (1 << 16, 1 << 20, 1 << 22))
    return {"intra_latency": latency, "intra_bandwidth": bandwidth}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    args = ap.parse_args()
    trainer = os.path.join(args.build, "launcher", "trainer")
    runs = [layer_times(trainer, os.path.join(ROOT, "configs", f"fashion_mnist_{m}.yaml")) for m in ("cnn", "mlp")]
    rates = fit(runs)
    rates.update(mpi(args.build))
    commit = git_commit()
    result = {"date": datetime.date.today().isoformat(), "commit": commit, "machine": cpu_name(),
              "command": "python3 bench/calibrate_cpu.py", "rates": rates}
    units = {"gemm_flops": (1e9, "GFLOP/s"), "conv_flops": (1e9, "GFLOP/s"),
             "memory_bandwidth": (1e9, "GB/s"), "load_per_sample": (1e-6, "us"),
             "intra_latency": (1e-6, "us"), "intra_bandwidth": (1e9, "GB/s")}
    lines = ["# Calibration of the cost model's `cpu` preset", "",
             f"- date {result['date']}, commit {commit}; machine: {result['machine']}; one thread per rank",
             f"- command: `{result['command']}`", "",
             "| figure | measured |", "|---|---|"]
    for k, (scale, unit) in units.items():
        lines.append(f"| {k} | {rates[k] / scale:.3g} {unit} |")
    write_results("cpu_calibration", result, lines)


if __name__ == "__main__":
    main()
