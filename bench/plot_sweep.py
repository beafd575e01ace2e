#!/usr/bin/env python3
"""Plots a sweep.csv (bench/sweep.py) as PNGs beside it: throughput.png (samples/s against
ranks, with the ideal line from one rank), efficiency.png (scaling efficiency), breakdown.png
(each point's step time in compute, communication, pipeline idle and the rest, averaged over
the ranks, with the cost model's prediction). Runs under Debian's python3 with python3-matplotlib."""
import argparse
import csv
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def label(r):
    return f"D{r['data']}xP{r['pipeline']} M{r['microbatches']} B{r['batch']}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--title", default="sweep")
    args = ap.parse_args()
    with open(args.csv) as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k, v in r.items():
            try:
                r[k] = float(v) if "." in v or "e" in v else int(v)
            except ValueError:
                pass
    out = os.path.dirname(os.path.abspath(args.csv))
    families = {}
    for r in rows:  # one line per (batch, kind of parallelism)
        kind = "data" if r["pipeline"] == 1 else f"pipeline M{r['microbatches']}"
        families.setdefault((r["batch"], kind), []).append(r)
    for (batch, kind), rs in list(families.items()):
        if kind != "data":  # a pipeline line starts from the same one-rank point
            rs += [r for r in rows if r["ranks"] == 1 and r["batch"] == batch]

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (batch, kind), rs in sorted(families.items(), key=lambda kv: str(kv[0])):
        rs = sorted(rs, key=lambda r: r["ranks"])
        ax.plot([r["ranks"] for r in rs], [r["samples_per_s"] for r in rs], "o-", label=f"batch {batch}, {kind}")
    for batch in sorted({r["batch"] for r in rows}):
        base = [r for r in rows if r["ranks"] == 1 and r["batch"] == batch]
        if base:
            ranks = sorted({r["ranks"] for r in rows})
            ax.plot(ranks, [base[0]["samples_per_s"] * n for n in ranks], "k:", alpha=0.5,
                    label=f"ideal (batch {batch})")
    ax.set_xlabel("ranks")
    ax.set_ylabel("samples/s")
    ax.set_xticks(sorted({r["ranks"] for r in rows}))
    ax.set_title(f"{args.title}: throughput")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "throughput.png"), dpi=110)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    multi = [r for r in rows if r["ranks"] > 1 and r["efficiency"] != ""]
    ax.bar([label(r) for r in multi], [100 * r["efficiency"] for r in multi], color="tab:blue")
    ax.axhline(100, color="k", linestyle=":", alpha=0.5)
    ax.set_ylabel("scaling efficiency (%)")
    ax.set_title(f"{args.title}: samples/s / (ranks x one rank's)")
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right", fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "efficiency.png"), dpi=110)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    names = [f"R{r['ranks']} " + label(r) for r in rows]
    bottom = [0.0] * len(rows)
    for key, color in (("compute_ms", "tab:green"), ("communication_ms", "tab:red"),
                       ("pipeline_idle_ms", "tab:orange"), ("other_ms", "tab:gray")):
        vals = [max(0.0, r[key]) for r in rows]
        ax.bar(names, vals, bottom=bottom, color=color, label=key.replace("_ms", "").replace("_", " "))
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.plot(names, [r["predicted_step_ms"] for r in rows], "kD", label="cost model")
    ax.set_ylabel("step time (ms)")
    ax.set_title(f"{args.title}: where the step goes (mean over ranks)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right", fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "breakdown.png"), dpi=110)


if __name__ == "__main__":
    main()
