#!/usr/bin/env python3
"""Where one thread's training step of the small GPT (bench/gpt_cpu_speed.py's model and batch)
spends its time, and the machine rates that decide it. `perf record` samples trainer's
training steps (its start and anything outside `train_step` left out); each sample is charged
to its op (the outermost trainer::ops:: or trainer::cpu:: frame), and samples inside OpenBLAS
also to their part of a GEMM: the kernel proper, packing the operands, or clearing the output
for beta = 0. Beside them: the SGEMM rate (bench/sgemm_peak) and one core's memory rates
(bench/memory_rate), since an op that touches each byte once runs at those, however written.
--repeats profiled runs, each with the SGEMM rate measured beside it (a shared machine's rates
move from minute to minute); the op shares pool their samples.
Writes bench/results/gpt_cpu_profile.json and .md.

    python3 bench/gpt_cpu_profile.py        (after scripts/setup.sh; installs linux-perf)
"""
import argparse
import collections
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "reference"))
from common import ENV, ROOT, cpu_name, git_commit, write_results  # noqa: E402
from gpt_cpu_speed import B, bench_gflops, flops_per_token, prepare, write_config  # noqa: E402

OP = re.compile(r"trainer::(?:ops|cpu)::(\w+)")


def blas_part(leaf, caller):
    """Which part of an OpenBLAS GEMM a sample's innermost frames are in, or None."""
    if "sgemm_beta" in leaf or ("memset" in leaf and "sgemm_beta" in caller):
        return "clearing the output (beta = 0)"
    if re.search(r"sgemm_\w*copy", leaf):
        return "packing operands"
    if re.search(r"sgemm_(small_)?kernel", leaf):
        return "kernel"
    return None


def samples(perf_script_text):
    """Each sample's frames, innermost first, function names only."""
    for block in perf_script_text.split("\n\n"):
        lines = block.strip().split("\n")[1:]
        frames = [re.sub(r"^[0-9a-f]+ ", "", l.strip()).split(" (")[0].split("+0x")[0] for l in lines]
        if frames:
            yield frames


def charge(frames_list):
    """Shares of step samples per op and per GEMM part."""
    ops, parts, total = collections.Counter(), collections.Counter(), 0
    for frames in frames_list:
        if not any(f.startswith("trainer::train_step") for f in frames):
            continue
        total += 1
        named = [m.group(1) for f in frames if (m := OP.match(f))]
        ops[named[-1] if named else "other"] += 1
        part = blas_part(frames[0], frames[1] if len(frames) > 1 else "")
        if part:
            parts[part] += 1
    share = lambda c: {k: v / total for k, v in c.most_common()}  # noqa: E731
    return total, share(ops), share(parts)


def profiled_run(trainer, work):
    """One profiled training run: its step samples, and its tokens/s."""
    subprocess.run(["perf", "record", "-q", "-F", "250", "--call-graph", "dwarf,16384", "-o",
                    f"{work}/perf.data", trainer, f"{work}/cfg.yaml"],
                   check=True, capture_output=True, env=ENV)
    text = subprocess.run(["perf", "script", "-i", f"{work}/perf.data"], check=True,
                          capture_output=True, text=True).stdout
    with open(f"{work}/run/summary.json") as f:
        return list(samples(text)), json.load(f)["train_tokens_per_s"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trainer", default=os.path.join(ROOT, "build", "launcher", "trainer"))
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if not shutil.which("perf"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "linux-perf"],
                       check=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    # Each profiled run beside an SGEMM measurement of its own: the machine is shared, and what
    # its neighbours take moves both from minute to minute.
    runs, pooled = [], []
    with tempfile.TemporaryDirectory() as work:
        prepare(work, args.steps)
        write_config(work, args.steps, 1)
        fpt = flops_per_token(args.trainer, work)
        for _ in range(args.repeats):
            frames, tokens_per_s = profiled_run(args.trainer, work)
            sgemm = bench_gflops("sgemm_peak", 1)
            total, _, parts = charge(frames)
            share, blas = fpt * tokens_per_s / 1e9 / sgemm, sum(parts.values())
            runs.append({"tokens_per_s": tokens_per_s, "sgemm_gflops": sgemm, "step_samples": total,
                         "share_of_sgemm": share, "blas_share": blas,
                         "share_with_other_ops_free": share / blas})
            pooled += frames
    total, ops, parts = charge(pooled)
    memory = json.loads(subprocess.run([os.path.join(ROOT, "build", "bench", "memory_rate")],
                                       check=True, capture_output=True, text=True).stdout)
    result = {"date": datetime.date.today().isoformat(), "commit": git_commit(),
              "machine": cpu_name(), "cores": os.cpu_count(),
              "command": f"python3 bench/gpt_cpu_profile.py --steps {args.steps} "
                         f"--repeats {args.repeats}",
              "flops_per_token": fpt, "runs": runs, "step_samples": total, "op_shares": ops,
              "blas_part_shares": parts, "memory_gb_per_s": memory}
    lines = ["# Where the small GPT's one-thread training step spends its time", "",
             f"- date {result['date']}, commit {result['commit']}",
             f"- machine: {result['machine']}, {result['cores']} cores (shared)",
             f"- model and batch: bench/gpt_cpu_speed.py's (C 128, 4 blocks, batch {B} x 128 "
             f"tokens), AdamW, fp32, one thread; FLOPs per token {fpt:,}",
             f"- command: `{result['command']}`: perf at 250 Hz; {total} samples inside training "
             "steps over all runs",
             f"- one core's memory (bench/memory_rate): write {memory['write_memory']:.1f} GB/s "
             f"and read {memory['read_memory']:.1f} GB/s beyond the caches, "
             f"{memory['write_cached']:.0f} and {memory['read_cached']:.0f} GB/s in them", "",
             "Each run: the step's share of the SGEMM rate measured beside it, the share of its "
             "samples inside OpenBLAS (where nearly all its FLOPs are), and so the share the step "
             "would reach if every other op took no time.", "",
             "| run | tokens/s (profiled) | SGEMM GFLOP/s | share of SGEMM | inside OpenBLAS "
             "| with every other op free |", "|---|---|---|---|---|---|"]
    lines += [f"| {i + 1} | {r['tokens_per_s']:.0f} | {r['sgemm_gflops']:.0f} | "
              f"{100 * r['share_of_sgemm']:.1f}% | {100 * r['blas_share']:.1f}% | "
              f"{100 * r['share_with_other_ops_free']:.0f}% |" for i, r in enumerate(runs)]
    lines += ["", "| op (all runs) | share of the step |", "|---|---|"]
    lines += [f"| {op} | {100 * s:.1f}% |" for op, s in ops.items() if s >= 0.005]
    lines += ["", "| inside OpenBLAS (all ops) | share of the step |", "|---|---|"]
    lines += [f"| {part} | {100 * s:.1f}% |" for part, s in parts.items()]
    write_results("gpt_cpu_profile", result, lines)


if __name__ == "__main__":
    main()
