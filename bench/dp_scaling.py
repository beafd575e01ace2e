#!/usr/bin/env python3
"""Data-parallel scaling on this machine, side by side with PyTorch DDP (gloo), one thread per
rank, 64 samples per rank, and the reducer's all-reduce bandwidth against raw MPI_Allreduce.

    python3 bench/dp_scaling.py      (after scripts/setup.sh; installs python3-torch if missing)

Scaling = global samples/s with 2 ranks / samples/s with 1 rank. Writes
bench/results/data_parallel.{md,json}. Runs are interleaved, medians of --repeats.
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
from common import ENV, ROOT, cpu_name, git_commit, write_results  # noqa: E402
from cpu_speed import ensure_torch  # noqa: E402

STEPS = {"mlp": 1500, "cnn": 150}


def trainer_sps(trainer, model, ranks):
    steps = STEPS[model]
    with tempfile.TemporaryDirectory() as out:
        cmd = [trainer, os.path.join(ROOT, "configs", f"fashion_mnist_{model}.yaml"),
               "--set", f"data.batch_size={64 * ranks}", "--set", "run.threads=1",
               "--set", f"train.max_steps={steps}", "--set", "data.test=null",
               "--set", f"log.every_steps={steps}", "--set", f"run.out_dir={out}"]
        if ranks > 1:
            cmd = ["mpirun", "--oversubscribe", "-np", str(ranks)] + cmd
        subprocess.run(cmd, check=True, capture_output=True, env=ENV)
        with open(os.path.join(out, "summary.json")) as f:
            return json.load(f)["train_samples_per_s"]


def torch_sps(model, ranks):
    out = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "torch_ddp.py"), model,
                          "--ranks", str(ranks), "--steps", str(STEPS[model])],
                         check=True, capture_output=True, text=True, env=ENV)
    return json.loads(out.stdout.strip().splitlines()[-1])["samples_per_s"]


def allreduce(binary, mode):
    cmd = ["mpirun", "--oversubscribe", "-np", "2", binary] + ([mode] if mode else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=ENV).stdout
    return {int(j["bytes"]): j["busbw_GBps"] for j in map(json.loads, out.strip().splitlines())}


def bucket_timeline(trace_file, skip_steps=5):
    """Per step (past the first ones) of one rank's timeline: each bucket's all-reduce in the order
    issued, with how long before the end of backward (its last layer span) it completed."""
    with open(trace_file) as f:
        events = [e for e in json.load(f)["traceEvents"] if e["ph"] == "X"]
    steps = []
    for step in [e for e in events if e["name"].startswith("step ")][skip_steps:]:
        inside = [e for e in events if step["ts"] <= e["ts"] <= step["ts"] + step["dur"]]
        backward_end = max(e["ts"] + e["dur"] for e in inside if e["name"].startswith("backward "))
        buckets = sorted((e for e in inside if e["name"].startswith("all-reduce bucket")),
                         key=lambda e: e["ts"])
        steps.append([{"bytes": e["args"]["bytes"],
                       "completed_before_end_us": backward_end - (e["ts"] + e["dur"])} for e in buckets])
    return steps


OVERLAP_RUNS = {
    "cnn": ("fashion_mnist_cnn.yaml", [], 0.25),
    "mlp-1024": ("fashion_mnist_mlp.yaml", ["model.layers[1].out_features=1024",
                                            "model.layers[3].out_features=1024"], 1),
}


def overlap(trainer, name, steps=40):
    """A 2-rank run with `log.trace: true`. From rank 0's timeline: the early buckets (all but the
    last issued in a step, which starts only when backward is over) and how many of them had
    completed before backward finished."""
    config, sets, bucket_mb = OVERLAP_RUNS[name]
    with tempfile.TemporaryDirectory() as out:
        cmd = ["mpirun", "--oversubscribe", "-np", "2", trainer, os.path.join(ROOT, "configs", config),
               "--set", "run.threads=1", "--set", "data.batch_size=128", "--set", "log.trace=true",
               "--set", f"parallel.bucket_mb={bucket_mb}", "--set", f"train.max_steps={steps}",
               "--set", "data.test=null", "--set", f"run.out_dir={out}"]
        for kv in sets:
            cmd += ["--set", kv]
        subprocess.run(cmd, check=True, capture_output=True, env=ENV)
        timeline = bucket_timeline(os.path.join(out, "trace", "rank0.json"))
    early = [b for buckets in timeline for b in buckets[:-1]]
    hidden = [b for b in early if b["completed_before_end_us"] > 0]
    return {"model": name, "bucket_mb": bucket_mb, "buckets_per_step": len(timeline[0]),
            "steps": len(timeline), "early": len(early), "hidden": len(hidden),
            "median_margin_ms": statistics.median(b["completed_before_end_us"] for b in early) / 1e3}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    ensure_torch()
    trainer = os.path.join(args.build, "launcher", "trainer")
    bw_binary = os.path.join(args.build, "bench", "allreduce_bandwidth")
    commit = git_commit()
    scaling = []
    for model in ("mlp", "cnn"):
        runs = {k: [] for k in ("t1", "t2", "p1", "p2")}
        for r in range(args.repeats):
            runs["t1"].append(trainer_sps(trainer, model, 1))
            runs["t2"].append(trainer_sps(trainer, model, 2))
            runs["p1"].append(torch_sps(model, 1))
            runs["p2"].append(torch_sps(model, 2))
            print(model, r + 1, {k: round(v[-1]) for k, v in runs.items()}, file=sys.stderr)
        m = {k: statistics.median(v) for k, v in runs.items()}
        scaling.append({"model": model, "steps": STEPS[model], "per_rank": 64,
                        "trainer_1": m["t1"], "trainer_2": m["t2"], "trainer_scaling": m["t2"] / m["t1"],
                        "ddp_1": m["p1"], "ddp_2": m["p2"], "ddp_scaling": m["p2"] / m["p1"], "runs": runs})
    raw, ours = {}, {}
    for r in range(2 * args.repeats - 1):  # short jobs, and the noisiest figure: more of them
        for size, bw in allreduce(bw_binary, None).items():
            raw.setdefault(size, []).append(bw)
        for size, bw in allreduce(bw_binary, "communicator").items():
            ours.setdefault(size, []).append(bw)
    bandwidth = [{"bytes": s, "mpi_busbw_GBps": statistics.median(raw[s]),
                  "trainer_busbw_GBps": statistics.median(ours[s]),
                  "ratio": statistics.median(ours[s]) / statistics.median(raw[s])} for s in sorted(raw)]
    ov = [overlap(trainer, name) for name in OVERLAP_RUNS]
    result = {"date": datetime.date.today().isoformat(), "commit": commit, "machine": cpu_name(),
              "cores": os.cpu_count(), "command": f"python3 bench/dp_scaling.py --repeats {args.repeats}",
              "scaling": scaling, "allreduce": bandwidth, "overlap": ov}
    lines = ["# Data-parallel scaling, 1 to 2 ranks, 64 samples per rank, one thread per rank", "",
             f"- date {result['date']}, commit {commit}; machine: {result['machine']}, "
             f"{result['cores']} cores (shared)",
             f"- command: `{result['command']}` (medians of {args.repeats} interleaved runs)",
             "- trainer: `mpirun -np 2 trainer configs/fashion_mnist_<model>.yaml` (MPI all-reduce); "
             "PyTorch 1.13 DistributedDataParallel, gloo, 1 rank = no DDP", "",
             "| model | trainer 1 rank | trainer 2 ranks | trainer scaling | DDP 1 rank | DDP 2 ranks | DDP scaling |",
             "|---|---|---|---|---|---|---|"]
    for s in scaling:
        lines.append(f"| {s['model']} | {s['trainer_1']:.0f} | {s['trainer_2']:.0f} | "
                     f"{s['trainer_scaling']:.2f}x | {s['ddp_1']:.0f} | {s['ddp_2']:.0f} | "
                     f"{s['ddp_scaling']:.2f}x |")
    lines += ["", "Samples/s are global (both ranks together).", "",
              "## All-reduce bandwidth, 2 ranks (bus bandwidth, GB/s)", "",
              "| bytes | MPI_Allreduce | trainer's communicator | ratio |", "|---|---|---|---|"]
    for b in bandwidth:
        lines.append(f"| {b['bytes']} | {b['mpi_busbw_GBps']:.3f} | {b['trainer_busbw_GBps']:.3f} | "
                     f"{b['ratio']:.2f} |")
    lines += ["", "## Overlap of communication with backward", "",
              "2 ranks, batch 128, `log.trace: true`; read from rank 0's timeline "
              "(`bucket_timeline()` here; open one with `scripts/merge_traces.py`). *Early* buckets: all but "
              "the last one issued in a step, which holds the first layers' gradients and so starts only "
              "when backward is over; *hidden*: early buckets whose all-reduce completed before backward "
              "finished. Margin: how long before the end of backward an early bucket completed (median).", "",
              "| model | bucket_mb | buckets/step | steps | early buckets | hidden | median margin |",
              "|---|---|---|---|---|---|---|"]
    for o in ov:
        margin = f"{o['median_margin_ms']:.2f} ms"
        lines.append(f"| {o['model']} | {o['bucket_mb']} | {o['buckets_per_step']} | {o['steps']} | "
                     f"{o['early']} | {o['hidden']} | {margin} |")
    write_results("data_parallel", result, lines)


if __name__ == "__main__":
    main()
