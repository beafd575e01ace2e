#!/usr/bin/env python3
"""GPU training speed of trainer against PyTorch eager and torch.compile, side by side in one run.

For each model at batch 128 and each precision (fp32 with TF32 off on both sides; fp16 and bf16
against PyTorch's autocast), runs trainer and bench/torch_gpu.py eagerly (and under torch.compile
for --compile-models) in turn, `--repeats` times, and reports the median steady-state samples/s
of each (after the warm-up steps, on both sides) and the ratios, writing the results after every
point. Models: the two
Fashion-MNIST configs and bench/configs/wide_mlp.yaml (4096 wide, where tensor cores matter). Needs a GPU, the Python with PyTorch that has it, and the data; run by
scripts/gpu.sh on the GPU machine:

    python3 bench/gpu_speed.py --trainer BIN --data DIR --results DIR
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

MODES = ("eager", "compile")


CONFIGS = {"cnn": "configs/fashion_mnist_cnn.yaml", "mlp": "configs/fashion_mnist_mlp.yaml",
           "wide": "bench/configs/wide_mlp.yaml"}


# Steps a run takes before its figures count: handle creation, cuDNN's algorithm search and
# lazy kernel loading happen in the first ones (PyTorch's side skips its warm-up steps too).
WARMUP_STEPS = 50


def trainer_env():
    """The trainer's environment: the GPU bundle's libraries for it alone (scripts/gpu.sh sets
    BUNDLE_LD_LIBRARY_PATH; Python and PyTorch keep their own)."""
    env = dict(os.environ)
    if os.environ.get("BUNDLE_LD_LIBRARY_PATH"):
        env["LD_LIBRARY_PATH"] = os.environ["BUNDLE_LD_LIBRARY_PATH"]
        env["PMIX_PREFIX"] = os.environ.get("BUNDLE_PMIX", "")
    return env


def trainer_run(trainer, model, precision, steps, data, graph=False):
    """Steady-state samples/s (the steps after WARMUP_STEPS, from metrics.jsonl) and the whole
    run's (summary.json, first step included), and the GPU's name; `graph`: each step replayed as
    a CUDA graph (train.cuda_graph)."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [trainer, os.path.join(ROOT, CONFIGS[model]), "--set", f"precision.compute={precision}",
               "--set", "device=cuda", "--set", f"train.max_steps={steps}",
               "--set", f"run.out_dir={out}", "--set", "data.test=null",
               "--set", f"log.every_steps={WARMUP_STEPS}",
               "--set", f"data.train.images={data}/train-images-idx3-ubyte.gz",
               "--set", f"data.train.labels={data}/train-labels-idx1-ubyte.gz",
               "--set", f"train.cuda_graph={'true' if graph else 'false'}"]
        s, windows = trainer_outputs(cmd, out, trainer_env())
        steady = [w["samples_per_s"] for w in windows if w["step"] > WARMUP_STEPS]
        return {"steady": statistics.median(steady), "whole": s["train_samples_per_s"],
                "gpu": s.get("gpu", "?")}


def torch_samples_per_s(python, model, precision, mode, steps, data):
    cmd = [python, os.path.join(ROOT, "bench", "torch_gpu.py"), model, "--mode", mode,
           "--precision", precision, "--warmup", str(WARMUP_STEPS),
           "--steps", str(steps), "--data", data]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(args, rows, gpu, torch_version):
    """Writes the results so far (after every point: a run cut short keeps what it measured)."""
    command = (f"python3 bench/gpu_speed.py --steps {args.steps} --repeats {args.repeats} "
               f"--models {args.models} --precisions {args.precisions} "
               f"--compile-models {args.compile_models} --graph-models {args.graph_models}")
    result = {"date": datetime.date.today().isoformat(), "commit": git_commit(), "gpu": gpu,
              "pytorch": torch_version, "tf32": "off on both sides", "warmup_steps": WARMUP_STEPS,
              "command": command, "results": rows}
    lines = ["# GPU training speed, batch 128, Adam (Fashion-MNIST)", "",
             f"- date {result['date']}, commit {result['commit']}, GPU: {gpu}",
             f"- reference: PyTorch {torch_version}, eager and torch.compile, data on the GPU; "
             "fp32 with TF32 off on both sides, bf16/fp16 against torch.autocast",
             f"- steady state: samples/s after the first {WARMUP_STEPS} steps on both sides "
             "(trainer's whole run, first step included, beside it)",
             f"- command: `{command}` (medians of {args.repeats} interleaved runs)", "",
             "| model | precision | trainer steady | trainer whole run | trainer, CUDA graph | "
             "PyTorch eager | torch.compile | vs eager | vs compile |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        compiled = "pytorch_compile_samples_per_s" in r
        graph = r.get("trainer_graph_samples_per_s")
        lines.append(f"| {r['model']} | {r['precision']} | {r['trainer_samples_per_s']:.0f} | "
                     f"{r['trainer_whole_run_samples_per_s']:.0f} | "
                     + (f"{graph:.0f}" if graph else "not run") + " | "
                     f"{r['pytorch_eager_samples_per_s']:.0f} | "
                     + (f"{r['pytorch_compile_samples_per_s']:.0f}" if compiled else "not run")
                     + f" | {r['ratio_vs_eager']:.2f}x | "
                     + (f"{r['ratio_vs_compile']:.2f}x" if compiled else "-") + " |")
    write_results("gpu_speed", result, lines, folder=args.results)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trainer", default=os.path.join(ROOT, "build", "launcher", "trainer"))
    ap.add_argument("--python", default=sys.executable, help="the Python that has PyTorch")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--results", default=None, help="folder for the results (bench/results)")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", default="cnn,mlp,wide")
    ap.add_argument("--precisions", default="fp32,fp16,bf16")
    ap.add_argument("--compile-models", default="cnn,mlp,wide",
                    help="the models also run under torch.compile (its compilation is slow)")
    ap.add_argument("--graph-models", default="cnn,mlp",
                    help="the models trainer also runs with train.cuda_graph (no dropout)")
    args = ap.parse_args()
    rows, gpu, torch_version = [], "?", "?"
    points = [(m, p) for m in args.models.split(",") for p in args.precisions.split(",")]
    for model, precision in points:
        modes = MODES if model in args.compile_models.split(",") else ("eager",)
        graphed = model in args.graph_models.split(",")
        ours, whole, ours_graph, theirs = [], [], [], {m: [] for m in modes}
        for r in range(args.repeats):  # interleaved, so drift hits every side alike
            t = trainer_run(args.trainer, model, precision, args.steps, args.data)
            ours.append(t["steady"])
            whole.append(t["whole"])
            gpu = t["gpu"]
            if graphed:
                ours_graph.append(trainer_run(args.trainer, model, precision, args.steps,
                                              args.data, graph=True)["steady"])
            for mode in modes:
                p = torch_samples_per_s(args.python, model, precision, mode, args.steps, args.data)
                theirs[mode].append(p["samples_per_s"])
                torch_version = p["framework"].split()[1]
            print(f"{model} {precision} run {r + 1}: trainer {ours[-1]:.0f} (whole run "
                  f"{whole[-1]:.0f}), " + ", ".join(f"{m} {theirs[m][-1]:.0f}" for m in modes) +
                  " samples/s", file=sys.stderr)
        a = statistics.median(ours)
        row = {"model": model, "precision": precision, "batch": 128, "steps": args.steps,
               "trainer_samples_per_s": a, "trainer_runs": ours,
               "trainer_whole_run_samples_per_s": statistics.median(whole)}
        if graphed:
            row["trainer_graph_samples_per_s"] = statistics.median(ours_graph)
            row["trainer_graph_runs"] = ours_graph
        for mode in modes:
            row[f"pytorch_{mode}_samples_per_s"] = statistics.median(theirs[mode])
            row[f"pytorch_{mode}_runs"] = theirs[mode]
            row[f"ratio_vs_{mode}"] = a / row[f"pytorch_{mode}_samples_per_s"]
        rows.append(row)
        report(args, rows, gpu, torch_version)


if __name__ == "__main__":
    main()
