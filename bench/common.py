"""What the benchmark scripts share: where things are, the environment ranks run in, and the
facts a results file records (machine, commit)."""
import json
import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Ranks run as root here, often more of them than cores, and each with one thread: several
# ranks on a 2-core machine would otherwise fight over the cores.
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")


def ensure_debian_module(module, package):
    """Installs Debian's `package` when /usr/bin/python3 cannot import `module`."""
    try:
        subprocess.run(["/usr/bin/python3", "-c", f"import {module}"], check=True, capture_output=True)
    except subprocess.CalledProcessError:
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
                       check=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def write_results(name, result, lines, folder=None):
    """<folder>/<name>.json (the figures) and <name>.md (the table a reader opens), which it also
    prints; the folder is bench/results unless given (the GPU machine writes under $OUT)."""
    folder = folder or os.path.join(ROOT, "bench", "results")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{name}.json"), "w") as f:
        json.dump(result, f, indent=2)
    with open(os.path.join(folder, f"{name}.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def trainer_outputs(cmd, out_dir, env=None):
    """Runs a trainer command line that writes into `out_dir`: its summary.json and the records
    of its metrics.jsonl. Exits naming the failure."""
    done = subprocess.run(cmd, capture_output=True, text=True, env=env or ENV, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"trainer failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    with open(os.path.join(out_dir, "summary.json")) as f:
        summary = json.load(f)
    with open(os.path.join(out_dir, "metrics.jsonl")) as f:
        windows = [json.loads(line) for line in f]
    return summary, windows


def git_commit():
    """The commit the measured code was built from: TRAINER_COMMIT where the binaries were built
    elsewhere (scripts/gpu.sh pack records it; the GPU machine's copy of .git may be older)."""
    if os.environ.get("TRAINER_COMMIT"):
        return os.environ["TRAINER_COMMIT"]
    return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()


def cpu_name():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()
