#!/usr/bin/env python3
"""Training speed of the small GPT (configs/tiny_gpt.yaml's shape) on the CPU: trainer against
PyTorch on the same weights and batches, at 1 and 2 threads, side by side in one run; and the
share of the machine's SGEMM rate (measured here by bench/sgemm_peak with trainer's BLAS) that
each reaches: FLOPs per token (trainer's dry run) x tokens/s / SGEMM GFLOP/s; and the share that
the step's linear layers (86% of its FLOPs) reach alone through trainer's kernels
(bench/linear_rate), which bounds what fusing the other ops can gain.

Each side trains --steps steps from the same llm.c weights on the same token file in file order
(AdamW); its rate is the median step after the first two. Runs alternate, --repeats times, so
drift on a shared machine hits both. Writes bench/results/gpt_cpu_speed.json and .md.

    python3 bench/gpt_cpu_speed.py        (after scripts/setup.sh; installs python3-torch)
"""
import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "reference"))
from common import ENV, ROOT, cpu_name, ensure_debian_module, git_commit, write_results  # noqa: E402

B = 16
OPTIMIZER = "{type: adamw, lr: 1.0e-3, beta1: 0.9, beta2: 0.95, eps: 1.0e-8, weight_decay: 0.1}"


def shape():
    import gpt2_torch as g
    return g.Shape(T=128, V=256, VP=256, L=4, H=4, C=128)


def torch_worker(work, steps, threads):
    """In its own process (the thread settings must precede torch's start): median step time."""
    import torch
    import gpt2_torch as g
    torch.set_num_threads(threads)
    s = shape()
    p = {k: v.clone().requires_grad_(True) for k, v in g.read_weights(f"{work}/init.bin", s).items()}
    opt = torch.optim.AdamW(p.values(), lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    with open(f"{work}/train.bin", "rb") as f:
        raw = f.read()
    data = torch.frombuffer(bytearray(raw[1024:]), dtype=torch.int16).to(torch.long)
    times = []
    for step in range(steps):
        x, y = g.batch(data, s, step, B)
        t0 = time.perf_counter()
        opt.zero_grad()
        g.loss(s, p, x, y).backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"step_s": statistics.median(times[2:])}))


def prepare(work, steps):
    """Random llm.c weights (init.bin) and random tokens for `steps` batches (train.bin)."""
    import torch
    import gpt2_torch as g
    s = shape()
    g.write_weights(f"{work}/init.bin", s, g.random_weights(s))
    gen = torch.Generator().manual_seed(1)
    g.write_tokens(f"{work}/train.bin",
                   torch.randint(0, s.V, (steps * B * s.T + 1,), generator=gen).tolist())


def write_config(work, steps, threads):
    """<work>/cfg.yaml: trainer on this model from init.bin, `steps` steps, no evaluation."""
    import gpt2_torch as g
    with open(f"{work}/cfg.yaml", "w") as f:
        f.write(g.trainer_config(work, shape(), B, steps, OPTIMIZER, 0.0, threads))


def trainer_step_s(trainer, work, steps, threads):
    write_config(work, steps, threads)
    env = dict(ENV, OMP_NUM_THREADS=str(threads))
    subprocess.run([trainer, f"{work}/cfg.yaml"], check=True, capture_output=True, env=env)
    with open(f"{work}/run/metrics.jsonl") as f:
        ms = [json.loads(line)["step_ms"] for line in f]
    return statistics.median(ms[2:]) / 1e3


def torch_step_s(work, steps, threads):
    env = dict(ENV, OMP_NUM_THREADS=str(threads), OMP_WAIT_POLICY="PASSIVE")
    out = subprocess.run(["/usr/bin/python3", os.path.abspath(__file__), "--torch-worker", work,
                          "--steps", str(steps), "--threads", str(threads)],
                         check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])["step_s"]


def flops_per_token(trainer, work):
    out = subprocess.run([trainer, f"{work}/cfg.yaml", "--dry-run"], check=True,
                         capture_output=True, text=True, env=ENV).stdout
    return int(re.search(r"training FLOPs per token: ([\d,]+)", out).group(1).replace(",", ""))


def bench_gflops(program, threads, *args):
    """bench/sgemm_peak (the machine's rate) or bench/linear_rate (the model's linear layers)."""
    out = subprocess.run([os.path.join(ROOT, "build", "bench", program), str(threads), *args],
                         check=True, capture_output=True, text=True,
                         env=dict(ENV, OMP_NUM_THREADS=str(threads))).stdout
    return json.loads(out)["gflops"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trainer", default=os.path.join(ROOT, "build", "launcher", "trainer"))
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--torch-worker", metavar="DIR")
    args = ap.parse_args()
    if args.torch_worker:
        return torch_worker(args.torch_worker, args.steps, args.threads)
    ensure_debian_module("torch", "python3-torch")
    import torch
    s = shape()
    rows = []
    with tempfile.TemporaryDirectory() as work:
        prepare(work, args.steps)
        trainer_step_s(args.trainer, work, 3, 1)  # writes the config the dry run reads
        fpt = flops_per_token(args.trainer, work)
        for threads in (1, 2):
            ours, theirs, peaks, linear = [], [], [], []
            for r in range(args.repeats):
                peaks.append(bench_gflops("sgemm_peak", threads))
                linear.append(bench_gflops("linear_rate", threads, str(B * s.T), str(s.C),
                                           str(s.VP), str(s.L)))
                ours.append(trainer_step_s(args.trainer, work, args.steps, threads))
                theirs.append(torch_step_s(work, args.steps, threads))
                print(f"{threads} thread(s), run {r + 1}: trainer {ours[-1] * 1e3:.1f} ms, "
                      f"pytorch {theirs[-1] * 1e3:.1f} ms, sgemm {peaks[-1]:.0f} GFLOP/s",
                      file=sys.stderr)
            tokens = B * s.T
            a, b, peak = statistics.median(ours), statistics.median(theirs), statistics.median(peaks)
            ceiling = statistics.median(linear) / peak
            rows.append({"threads": threads, "trainer_tokens_per_s": tokens / a,
                         "pytorch_tokens_per_s": tokens / b, "ratio": b / a,
                         "sgemm_gflops": peak,
                         "trainer_share_of_sgemm": fpt * tokens / a / 1e9 / peak,
                         "pytorch_share_of_sgemm": fpt * tokens / b / 1e9 / peak,
                         "linear_layers_share_of_sgemm": ceiling,
                         "trainer_step_s": ours, "pytorch_step_s": theirs, "sgemm_runs": peaks,
                         "linear_rate_runs": linear})
    result = {"date": datetime.date.today().isoformat(), "commit": git_commit(),
              "machine": cpu_name(), "cores": os.cpu_count(), "pytorch": torch.__version__,
              "model": "GPT-2 architecture, T 128, V 256, 4 blocks x 4 heads, C 128 (0.84M)",
              "batch": B, "flops_per_token": fpt,
              "command": f"python3 bench/gpt_cpu_speed.py --steps {args.steps} --repeats {args.repeats}",
              "results": rows}
    lines = ["# Small GPT training speed on the CPU: trainer against PyTorch", "",
             f"- date {result['date']}, commit {result['commit']}",
             f"- machine: {result['machine']}, {result['cores']} cores (shared)",
             f"- model: {result['model']}, batch {B} x 128 tokens, AdamW, fp32",
             f"- reference: PyTorch {torch.__version__} (Debian), tests/reference/gpt2_torch.py, "
             "OMP_WAIT_POLICY=PASSIVE, torch.set_num_threads(threads)",
             f"- FLOPs per token (trainer's dry run: 3 x forward, attention's full T x T square): {fpt:,}",
             f"- command: `{result['command']}` (medians of interleaved runs; step = median "
             "after two warm-up steps)",
             "- linear layers alone: bench/linear_rate, the step's linear forwards and backwards "
             "(86% of its FLOPs) through trainer's kernels with nothing else, their rate as a share "
             "of SGEMM", "",
             "| threads | trainer tokens/s | PyTorch tokens/s | trainer / PyTorch | SGEMM GFLOP/s "
             "| trainer share of SGEMM | PyTorch share | linear layers alone |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['threads']} | {r['trainer_tokens_per_s']:.0f} | "
                     f"{r['pytorch_tokens_per_s']:.0f} | {r['ratio']:.2f}x | {r['sgemm_gflops']:.0f} | "
                     f"{100 * r['trainer_share_of_sgemm']:.0f}% | {100 * r['pytorch_share_of_sgemm']:.0f}% | "
                     f"{100 * r['linear_layers_share_of_sgemm']:.0f}% |")
    write_results("gpt_cpu_speed", result, lines)


if __name__ == "__main__":
    main()
