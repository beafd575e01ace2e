#!/usr/bin/env python3
"""Pipeline schedules on this machine: the bubble read from per-rank timelines against each
schedule's formula, tokens (or samples) per second, and peak activation memory.

    python3 bench/pipeline.py          (after scripts/setup.sh)

Two stages, one thread each (this machine has 2 cores: more ranks than cores would time-share
them and the timeline would show the scheduler, not the schedule). Two parts:
- look-ahead: bench/configs/pipeline_balanced.yaml (equal stages) under 1F1B at M = 2, 4, 8, with
  receives posted ahead (parallel.lookahead, the default) and without, --repeats runs each
  alternating; GPipe once per M for its activation memory.
- schedules: 1F1B, interleaved (2 chunks per stage) and zb-h1 at M = 8 on the same config and on
  the small GPT (configs/tiny_gpt.yaml), --repeats runs each alternating.
Writes bench/results/pipeline.{md,json}.
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

BALANCED = os.path.join(ROOT, "bench", "configs", "pipeline_balanced.yaml")
GPT = os.path.join(ROOT, "configs", "tiny_gpt.yaml")
SCHEDULES = {"1f1b": [], "interleaved": ["parallel.virtual_stages=2"], "zb-h1": []}


def formula(schedule, stages, m, chunks=1):
    """Each schedule's idle fraction with equal stages, F = B = W and free transfers
    (parallel/schedule.h, checked by ScheduleTest's simulator)."""
    if schedule == "interleaved":
        return (stages - 1) / (chunks * m + stages - 1)
    if schedule == "zb-h1":
        extra = max(0, stages - m)
        return (stages - 1 + extra) / (3 * m + stages - 1 + extra)
    return (stages - 1) / (m + stages - 1)


def actions_per_step(trace_file, skip_steps):
    """One rank's timeline: per step (past the first ones), its schedule's compute actions (the
    executor's "F 3" / "B 3" / "W 3" spans, loading the data and the loss inside them) as
    (kind, micro-batch, chunk, begin, duration) in the order they ran."""
    with open(trace_file) as f:
        events = [e for e in json.load(f)["traceEvents"] if e["ph"] == "X"]
    steps = [e for e in events if e["name"].startswith("step ")][skip_steps:]
    actions = [e for e in events if e.get("cat") == "schedule"]
    return [[(e["name"][0], int(e["name"][2:]), e["args"]["chunk"], e["ts"], e["dur"])
             for e in actions if step["ts"] <= e["ts"] <= step["ts"] + step["dur"]]
            for step in steps]


def replay(stages, chunks, per_stage):
    """The step's makespan had every action taken its measured time and every transfer none:
    each stage runs its actions in order, a forward after the previous virtual stage's forward of
    its micro-batch, a backward (B) after the next one's backward."""
    end = {}  # (kind, micro-batch, virtual stage) -> when it ended
    clock, pc = [0.0] * stages, [0] * stages
    last_virtual = stages * chunks - 1
    progress = True
    while progress:
        progress = False
        for s in range(stages):
            while pc[s] < len(per_stage[s]):
                kind, mb, chunk, _, dur = per_stage[s][pc[s]]
                v = chunk * stages + s
                dep = (("F", mb, v - 1) if kind == "F" and v > 0 else
                       ("B", mb, v + 1) if kind == "B" and v < last_virtual else None)
                if dep and dep not in end:
                    break
                clock[s] = max(clock[s], end[dep] if dep else 0.0) + dur
                end[(kind, mb, v)] = clock[s]
                pc[s] += 1
                progress = True
    if any(pc[s] < len(per_stage[s]) for s in range(stages)):
        sys.exit("replay: the recorded actions deadlock")
    return max(clock)


def zero_bubble_formula(trace_files, stages, m, skip_steps):
    """zb-h1's idle fraction with the measured mean F, B and W (Qi et al.): the bubble is
    (P - 1)(F + B - W) against the step's M (F + B + W) of work."""
    kinds = {"F": [], "B": [], "W": []}
    for f in trace_files:
        for step in actions_per_step(f, skip_steps):
            for kind, _, _, _, dur in step:
                kinds[kind].append(dur)
    f, b, w = (statistics.mean(kinds[k]) for k in "FBW")
    bubble = (stages - 1) * (f + b - w)
    return bubble / (m * (f + b + w) + bubble), {"F_ms": f / 1e3, "B_ms": b / 1e3, "W_ms": w / 1e3}


def bubbles(trace_files, chunks, skip_steps):
    """Per stage, the median over steps of 1 - work / window, measured and replayed. Work is the
    time in the stage's compute actions; the window runs from the first action on any stage to
    the last on any stage (the ranks' timelines share their origin: a barrier before the first
    step), the same for all stages. The optimizer and the step's collectives fall outside it;
    receives and waits inside it are the bubble. The replayed window is replay()'s."""
    ranks = [actions_per_step(f, skip_steps) for f in trace_files]
    stages = len(ranks)
    measured, replayed, equalised = ([[] for _ in ranks] for _ in range(3))
    for step in range(min(len(r) for r in ranks)):
        per_stage = [r[step] for r in ranks]
        begin = min(a[3] for s in per_stage for a in s)
        end = max(a[3] + a[4] for s in per_stage for a in s)
        makespan = replay(stages, chunks, per_stage)
        # Each action at its stage's mean for its kind: what the stages' imbalance alone makes.
        means = [{k: statistics.mean(a[4] for a in s if a[0] == k) for k in {a[0] for a in s}}
                 for s in per_stage]
        even = [[a[:4] + (means[i][a[0]],) for a in s] for i, s in enumerate(per_stage)]
        even_makespan = replay(stages, chunks, even)
        for stage, s in enumerate(per_stage):
            work = sum(a[4] for a in s)
            measured[stage].append(1.0 - work / (end - begin))
            replayed[stage].append(1.0 - work / makespan)
            equalised[stage].append(1.0 - work / even_makespan)
    return tuple([statistics.median(b) for b in x] for x in (measured, replayed, equalised))


def run(trainer, config, m, schedule, lookahead=True, steps=30, skip=5):
    stages = 2
    sets = [f"parallel.pipeline={stages}", f"parallel.microbatches={m}", f"parallel.schedule={schedule}",
            f"parallel.lookahead={'true' if lookahead else 'false'}", "log.trace=true", "run.threads=1",
            f"train.max_steps={steps}", "checkpoint.every_steps=0", "parallel.data=1",
            *SCHEDULES.get(schedule, [])]
    if config == BALANCED and schedule == "interleaved":
        sets.append("parallel.partition=[5, 9, 13]")  # 4 pieces of 2 linears (the head on the last)
    if config == GPT:
        sets += ["log.sample_tokens=0", "train.eval_every_epochs=0"]
    with tempfile.TemporaryDirectory() as out:
        cmd = ["mpirun", "--oversubscribe", "-np", str(stages), trainer, config,
               *[a for s in sets + [f"run.out_dir={out}"] for a in ("--set", s)]]
        done = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=ROOT)
        if done.returncode != 0:
            sys.exit(f"trainer failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        with open(os.path.join(out, "summary.json")) as f:
            summary = json.load(f)
        chunks = 2 if schedule == "interleaved" else 1
        traces = [os.path.join(out, "trace", f"rank{r}.json") for r in range(stages)]
        stage_bubbles, replayed, equalised = bubbles(traces, chunks, skip)
        ideal = formula(schedule, stages, m, chunks)
        at_costs, costs = ideal, None
        if schedule == "zb-h1":
            at_costs, costs = zero_bubble_formula(traces, stages, m, skip)
    bubble = statistics.mean(stage_bubbles)
    return {"config": os.path.relpath(config, ROOT), "stages": stages, "microbatches": m,
            "schedule": schedule, "lookahead": lookahead, "bubble_per_stage": stage_bubbles,
            "bubble": bubble, "replayed": statistics.mean(replayed),
            "equalised": statistics.mean(equalised), "formula": ideal,
            "formula_at_measured_costs": at_costs, "measured_costs": costs,
            "relative_error": bubble / ideal - 1.0,
            "peak_activation_bytes": summary["peak_activation_bytes"],
            "samples_per_s": summary["train_samples_per_s"],
            # The small GPT's samples are sequences of 128 tokens.
            "tokens_per_s": summary["train_samples_per_s"] * 128 if config == GPT else None}


def median_of(runs, key):
    return statistics.median(r[key] for r in runs)


def lookahead_part(trainer, repeats):
    rows = []
    for m in (2, 4, 8):
        gpipe = run(trainer, BALANCED, m, "gpipe")
        runs = {True: [], False: []}
        for _ in range(repeats):
            for on in (True, False):
                runs[on].append(run(trainer, BALANCED, m, "1f1b", lookahead=on))
                print(json.dumps(runs[on][-1]), file=sys.stderr)
        rows.append({"microbatches": m, "gpipe": gpipe, "on": runs[True], "off": runs[False]})
    return rows


def schedules_part(trainer, repeats):
    out = {}
    for config in (BALANCED, GPT):
        runs = {s: [] for s in SCHEDULES}
        for _ in range(repeats):
            for s in SCHEDULES:
                runs[s].append(run(trainer, config, 8, s, steps=30 if config == BALANCED else 20))
                print(json.dumps(runs[s][-1]), file=sys.stderr)
        out[os.path.relpath(config, ROOT)] = runs
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    trainer = os.path.join(args.build, "launcher", "trainer")
    commit = git_commit()
    look = lookahead_part(trainer, args.repeats)
    scheds = schedules_part(trainer, args.repeats)
    result = {"date": datetime.date.today().isoformat(), "commit": commit, "machine": cpu_name(),
              "cores": os.cpu_count(), "command": "python3 bench/pipeline.py",
              "lookahead": look, "schedules": scheds}
    lines = ["# Pipeline schedules: bubble, throughput and activation memory", "",
             f"- date {result['date']}, commit {commit}; machine: {result['machine']}, "
             f"{result['cores']} cores (shared)",
             f"- command: `{result['command']}` (`mpirun -np 2 trainer CONFIG --set parallel.pipeline=2 "
             "--set parallel.microbatches=M --set parallel.schedule=S --set log.trace=true ...`), one "
             "thread per rank",
             "- bubble: from the ranks' timelines, per step and stage, 1 - (time in the stage's compute "
             "actions: the executor's F, B and W spans) / (the first action on any stage to the last on any "
             "stage); median over the steps after the 5th, mean over the 2 stages (`bubbles()` in the "
             f"script); each figure below is the median of {args.repeats} runs, the runs alternating",
             "- formula: the schedule's idle fraction with equal stages, equal F, B and W and free "
             "transfers: (P-1)/(M+P-1) for GPipe and 1F1B, (P-1)/(VM+P-1) interleaved, (P-1)/(3M+P-1) "
             "zb-h1; for zb-h1 also at the measured mean F, B, W: (P-1)(F+B-W) / (M(F+B+W) + (P-1)(F+B-W))",
             "- replayed: the same steps had every action taken its measured time and every transfer none "
             "(`replay()`): the bubble that unequal and varying compute alone makes. Measured minus "
             "replayed is what transfers and waiting cost. Equalised: replayed with each action at its "
             "stage's mean time for its kind: what the stages' imbalance alone makes (replayed minus "
             "equalised: the actions' variation, the first micro-batch's after the optimizer above all).",
             "", "## Look-ahead: 1F1B on bench/configs/pipeline_balanced.yaml (30 steps of batch 512)", "",
             "| M | formula | look-ahead on: bubble | error | replayed | equalised | off: bubble | error | "
             "replayed | on: samples/s | off: samples/s | stage 0 peak activations, 1F1B / GPipe | P/M |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in look:
        on, off, m = row["on"], row["off"], row["microbatches"]
        ideal = on[0]["formula"]
        b_on, b_off = median_of(on, "bubble"), median_of(off, "bubble")
        ratio = on[0]["peak_activation_bytes"][0] / row["gpipe"]["peak_activation_bytes"][0]
        lines.append(f"| {m} | {ideal:.3f} | {b_on:.3f} | {100 * (b_on / ideal - 1):+.1f}% | "
                     f"{median_of(on, 'replayed'):.3f} | {median_of(on, 'equalised'):.3f} | {b_off:.3f} | "
                     f"{100 * (b_off / ideal - 1):+.1f}% | "
                     f"{median_of(off, 'replayed'):.3f} | {median_of(on, 'samples_per_s'):.0f} | "
                     f"{median_of(off, 'samples_per_s'):.0f} | {ratio:.3f} | {2 / m:.3f} |")
    lines += ["", "Every run, bubble (look-ahead on / off): " + "; ".join(
        f"M={row['microbatches']}: " + ", ".join(f"{r['bubble']:.3f}" for r in row["on"]) + " / " +
        ", ".join(f"{r['bubble']:.3f}" for r in row["off"]) for row in look)]
    for config, runs in scheds.items():
        rate = "tokens/s" if "gpt" in config else "samples/s"
        key = "tokens_per_s" if "gpt" in config else "samples_per_s"
        lines += ["", f"## Schedules at M = 8: {config}", "",
                  f"| schedule | formula | at measured F, B, W | bubble | error | replayed | equalised | "
                  f"vs 1F1B's bubble | {rate} | vs 1F1B | peak activations stage 0 / 1 |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        base_b, base_r = median_of(runs["1f1b"], "bubble"), median_of(runs["1f1b"], key)
        for s, rs in runs.items():
            b, r = median_of(rs, "bubble"), median_of(rs, key)
            at_costs = median_of(rs, "formula_at_measured_costs")
            peaks = " / ".join(f"{p / 2**20:.2f} MiB" for p in rs[0]["peak_activation_bytes"])
            lines.append(f"| {s} | {rs[0]['formula']:.3f} | {at_costs:.3f} | {b:.3f} | "
                         f"{100 * (b / at_costs - 1):+.1f}% | {median_of(rs, 'replayed'):.3f} | "
                         f"{median_of(rs, 'equalised'):.3f} | "
                         f"{b / base_b:.2f} | {r:.0f} | {r / base_r:.3f} | {peaks} |")
        costs = runs["zb-h1"][0]["measured_costs"]
        lines += ["", "zb-h1's measured mean action times (first run): " +
                  ", ".join(f"{k[0]} {v:.2f} ms" for k, v in costs.items()) + ". Every run, bubble: " +
                  "; ".join(f"{s}: " + ", ".join(f"{r['bubble']:.3f}" for r in rs) for s, rs in runs.items())]
    write_results("pipeline", result, lines)


if __name__ == "__main__":
    main()
