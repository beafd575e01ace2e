#!/usr/bin/env python3
"""scripts/plot_run.py on two runs' metrics.jsonl (one with a loss scale and evaluations): it
writes a PNG with one panel more for the loss scale than without it, and a run directory without
metrics is refused in one line naming the file. Exit 0 when all hold, 1 when not."""
import json
import os
import struct
import subprocess
import sys
import tempfile

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "plot_run.py")


def write_run(folder, scaled):
    os.makedirs(folder)
    with open(os.path.join(folder, "metrics.jsonl"), "w") as f:
        for step in range(10, 110, 10):
            r = {"step": step, "loss": 3.0 / step ** 0.3, "lr": 1e-3, "tokens_per_s": 2e4 + step}
            if scaled:
                r["loss_scale"] = 2.0 ** (16 - step // 50)
            if step % 50 == 0:
                r["test_loss"] = r["loss"] + 0.1
            f.write(json.dumps(r) + "\n")


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    return struct.unpack(">II", head[16:24])  # IHDR width, height


def main():
    problems = []
    with tempfile.TemporaryDirectory() as d:
        a, b = os.path.join(d, "a"), os.path.join(d, "b")
        write_run(a, scaled=True)
        write_run(b, scaled=False)
        both = os.path.join(d, "both.png")
        subprocess.run([sys.executable, SCRIPT, a, b, "-o", both], check=True, capture_output=True)
        subprocess.run([sys.executable, SCRIPT, b], check=True, capture_output=True)
        (w1, h1), (w2, h2) = png_size(both), png_size(os.path.join(b, "run.png"))
        if not (w1 == w2 and h1 > h2):
            problems.append(f"loss-scale panel missing: {w1}x{h1} vs {w2}x{h2}")
        missing = subprocess.run([sys.executable, SCRIPT, os.path.join(d, "none")],
                                 capture_output=True, text=True)
        error = missing.stderr.strip()
        if missing.returncode == 0 or "none/metrics.jsonl" not in error or "\n" in error:
            problems.append(f"a missing run gave rc {missing.returncode}: {error!r}")
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
