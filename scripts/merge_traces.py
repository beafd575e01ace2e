#!/usr/bin/env python3
"""Merges the per-rank timelines of a run (`log.trace: true` writes <out_dir>/trace/rank<R>.json)
into one Chrome trace JSON file that Perfetto (ui.perfetto.dev) and chrome://tracing open, one
process row per rank.

    python3 scripts/merge_traces.py runs/fmnist-cnn            # writes runs/fmnist-cnn/trace.json
    python3 scripts/merge_traces.py runs/fmnist-cnn -o all.json
"""
import argparse
import glob
import json
import os
import re
import sys


def merge(run_dir):
    files = glob.glob(os.path.join(run_dir, "trace", "rank*.json"))
    if not files:
        sys.exit(f"error: {run_dir}/trace/ holds no rank*.json; was the run made with log.trace: true?")
    events = []
    for path in sorted(files, key=lambda p: int(re.search(r"rank(\d+)\.json$", p).group(1))):
        with open(path) as f:
            events += json.load(f)["traceEvents"]
    return {"traceEvents": events, "displayTimeUnit": "ms"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("-o", "--output")
    args = ap.parse_args()
    out = args.output or os.path.join(args.run_dir, "trace.json")
    merged = merge(args.run_dir)
    with open(out, "w") as f:
        json.dump(merged, f)
    print(f"{out}: {len(merged['traceEvents'])} events")


if __name__ == "__main__":
    main()
