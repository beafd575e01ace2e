#!/usr/bin/env python3
"""trainer against PyTorch on the same GPT-2, weights and batches: per-step losses agree.

Writes a small GPT-2's random weights in llm.c's format (an implementation of the format
independent of trainer's) and an llm.c token file, trains 10 steps with trainer (model.init_from,
file order, AdamW, clipping) and 10 steps with the GPT-2 of gpt2_torch.py from those weights, and
checks each step's loss within --rel (1e-4) of PyTorch's. Exit 0 when they agree, 1 when not.

    /usr/bin/python3 tests/reference/gpt2_parity.py --trainer build/launcher/trainer
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch

import gpt2_torch as g

# A small GPT-2 with a padded vocabulary, so the padding and the tied head are exercised.
S = g.Shape(T=32, V=251, VP=256, L=2, H=4, C=64)
B, STEPS = 4, 10
LR, BETAS, EPS, WD, CLIP = 1e-3, (0.9, 0.95), 1e-8, 0.1, 1.0
OPTIMIZER = (f"{{type: adamw, lr: {LR}, beta1: {BETAS[0]}, beta2: {BETAS[1]}, eps: {EPS}, "
             f"weight_decay: {WD}}}")


def torch_losses(params, tokens):
    p = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    opt = torch.optim.AdamW(p.values(), lr=LR, betas=BETAS, eps=EPS, weight_decay=WD)
    data = torch.tensor(tokens, dtype=torch.long)
    losses = []
    for step in range(STEPS):
        x, y = g.batch(data, S, step, B)
        opt.zero_grad()
        loss = g.loss(S, p, x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(p.values(), CLIP)
        opt.step()
        losses.append(loss.item())
    return losses, p


def run(cmd):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit("%s failed (%d):\n%s" % (" ".join(cmd), r.returncode, r.stderr))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trainer", required=True)
    ap.add_argument("--rel", type=float, default=1e-4)
    args = ap.parse_args()
    torch.set_num_threads(1)
    params = g.random_weights(S)
    # Tokens with structure to learn: a random walk over the vocabulary with frequent repeats.
    gen = torch.Generator().manual_seed(1)
    tokens = (torch.cumsum(torch.randint(-3, 4, (STEPS * B * S.T + 1,), generator=gen), 0) % S.V).tolist()

    with tempfile.TemporaryDirectory() as work:
        g.write_weights(f"{work}/init.bin", S, params)
        g.write_tokens(f"{work}/train.bin", tokens)
        with open(f"{work}/cfg.yaml", "w") as f:
            f.write(g.trainer_config(work, S, B, STEPS, OPTIMIZER, CLIP))
        run([args.trainer, f"{work}/cfg.yaml"])
        with open(f"{work}/run/metrics.jsonl") as f:
            ours = [json.loads(line)["loss"] for line in f]
        run([args.trainer, f"{work}/cfg.yaml", "--resume", "auto", "--export-llmc", f"{work}/final.bin"])
        final = g.read_weights(f"{work}/final.bin", S)

    reference, trained = torch_losses(params, tokens)
    worst = 0.0
    print("step  trainer      pytorch      relative difference")
    for i, (a, b) in enumerate(zip(ours, reference)):
        rel = abs(a - b) / abs(b)
        worst = max(worst, rel)
        print("%4d  %.8f  %.8f  %.2e" % (i + 1, a, b, rel))
    weight_diff = max((final[k] - trained[k].detach()).abs().max().item() for k, _ in S.tensors())
    print("largest relative loss difference %.2e (bound %.0e); largest weight difference after "
          "%d steps %.2e" % (worst, args.rel, STEPS, weight_diff))
    ok = len(ours) == STEPS and worst <= args.rel
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
