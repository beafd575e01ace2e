#!/usr/bin/env python3
"""Plots runs from their metrics.jsonl: training and test loss, learning rate, throughput and,
where a run has it, the loss scale, against steps; one run, or several overlaid (one colour
each, named by their folder). Writes one PNG (default <first out_dir>/run.png).

    /usr/bin/python3 scripts/plot_run.py runs/tiny-gpt [runs/other ...] [-o plot.png]

Needs Debian's python3-matplotlib (apt-get install python3-matplotlib).
"""
import argparse
import json
import os
import sys

try:
    import matplotlib
except ImportError:
    sys.exit("plot_run: needs matplotlib: apt-get install python3-matplotlib, and run it with "
             "/usr/bin/python3")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(out_dir):
    path = os.path.join(out_dir, "metrics.jsonl")
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except OSError as e:
        sys.exit(f"plot_run: {path}: {e.strerror}")
    except json.JSONDecodeError as e:
        sys.exit(f"plot_run: {path}: not JSON lines ({e})")


def series(records, key):
    points = [(r["step"], r[key]) for r in records if key in r and "step" in r]
    return [p[0] for p in points], [p[1] for p in points]


def main():
    ap = argparse.ArgumentParser(description="plots runs' metrics.jsonl against steps")
    ap.add_argument("runs", nargs="+", help="run directories (run.out_dir)")
    ap.add_argument("-o", "--output", help="PNG to write (default: <first run>/run.png)")
    args = ap.parse_args()
    runs = [(os.path.basename(os.path.normpath(d)), read(d)) for d in args.runs]
    # Throughput in tokens for language models (tokens_per_s), in samples otherwise.
    rate = "tokens_per_s" if any("tokens_per_s" in r for _, rs in runs for r in rs) else "samples_per_s"
    panels = [("loss", "loss (train —, test - -)"), ("lr", "learning rate"),
              (rate, rate.replace("_per_s", "/s"))]
    if any("loss_scale" in r for _, rs in runs for r in rs):
        panels.append(("loss_scale", "loss scale"))
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.6 * len(panels)), sharex=True)
    for i, (name, records) in enumerate(runs):
        colour = f"C{i}"
        for ax, (key, title) in zip(axes, panels):
            steps, values = series(records, key)
            ax.plot(steps, values, color=colour, label=name)
            if key == "loss":
                test_steps, test = series(records, "test_loss")
                ax.plot(test_steps, test, color=colour, linestyle="--", marker="o", markersize=3)
            if key == "loss_scale":
                ax.set_yscale("log", base=2)
            ax.set_ylabel(title)
            ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right")
    axes[-1].set_xlabel("step")
    fig.tight_layout()
    output = args.output or os.path.join(args.runs[0], "run.png")
    fig.savefig(output, dpi=100)
    print(output)


if __name__ == "__main__":
    main()
