#!/usr/bin/env python3
"""trainer against PyTorch on the same GPT-2, weights and batches: per-step losses agree.

Writes a small GPT-2's random weights in llm.c's format (an implementation of the format
independent of trainer's) and an llm.c token file, trains 10 steps with trainer (model.init_from,
file order, AdamW, clipping) and 10 steps with a GPT-2 written here in PyTorch from those weights,
and checks each step's loss within --rel (1e-4) of PyTorch's. Exit 0 when they agree, 1 when not.

    /usr/bin/python3 tests/reference/gpt2_parity.py --trainer build/launcher/trainer
"""
import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F

# A small GPT-2 with a padded vocabulary, so the padding and the tied head are exercised.
V, VP, T, C, L, H, B, STEPS = 251, 256, 32, 64, 2, 4, 4, 10
LR, BETAS, EPS, WD, CLIP = 1e-3, (0.9, 0.95), 1e-8, 0.1, 1.0
# llm.c's tensor order: name, shape.
ORDER = [("wte", (VP, C)), ("wpe", (T, C)), ("ln1w", (L, C)), ("ln1b", (L, C)),
         ("qkvw", (L, 3 * C, C)), ("qkvb", (L, 3 * C)), ("attprojw", (L, C, C)),
         ("attprojb", (L, C)), ("ln2w", (L, C)), ("ln2b", (L, C)), ("fcw", (L, 4 * C, C)),
         ("fcb", (L, 4 * C)), ("fcprojw", (L, C, 4 * C)), ("fcprojb", (L, C)), ("lnfw", (C,)),
         ("lnfb", (C,))]


def write_weights(path, params):
    header = struct.pack("<256i", 20240326, 3, T, V, L, H, C, VP, *([0] * 248))
    with open(path, "wb") as f:
        f.write(header)
        for name, _ in ORDER:
            f.write(params[name].detach().contiguous().numpy().astype("<f4").tobytes())


def read_weights(path):
    with open(path, "rb") as f:
        data = f.read()
    header = struct.unpack("<8i", data[:32])
    assert header[:2] == (20240326, 3) and header[2:] == (T, V, L, H, C, VP), header
    out, offset = {}, 1024
    for name, shape in ORDER:
        n = math.prod(shape)
        out[name] = torch.frombuffer(bytearray(data[offset:offset + 4 * n]), dtype=torch.float32).reshape(shape)
        offset += 4 * n
    return out


def write_tokens(path, tokens):
    with open(path, "wb") as f:
        f.write(struct.pack("<256i", 20240520, 1, len(tokens), *([0] * 253)))
        f.write(struct.pack("<%dH" % len(tokens), *tokens))


def forward_loss(p, x, y):
    """GPT-2 forward in PyTorch: mean cross-entropy per token of x (B, T) against y (B, T)."""
    h = p["wte"][x] + p["wpe"][:T]
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    for l in range(L):
        a = F.layer_norm(h, (C,), p["ln1w"][l], p["ln1b"][l], 1e-5)
        q, k, v = (a @ p["qkvw"][l].T + p["qkvb"][l]).split(C, dim=-1)
        q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // H)
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        o = (att @ v).transpose(1, 2).reshape(B, T, C)
        h = h + o @ p["attprojw"][l].T + p["attprojb"][l]
        m = F.layer_norm(h, (C,), p["ln2w"][l], p["ln2b"][l], 1e-5)
        m = F.gelu(m @ p["fcw"][l].T + p["fcb"][l], approximate="tanh")
        h = h + m @ p["fcprojw"][l].T + p["fcprojb"][l]
    h = F.layer_norm(h, (C,), p["lnfw"], p["lnfb"], 1e-5)
    logits = h @ p["wte"][:V].T  # the tied head over the real vocabulary
    return F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))


def torch_losses(params, tokens):
    p = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    opt = torch.optim.AdamW(p.values(), lr=LR, betas=BETAS, eps=EPS, weight_decay=WD)
    data = torch.tensor(tokens, dtype=torch.long)
    losses = []
    for step in range(STEPS):
        # Sample i is the window of T + 1 tokens at i x T (llm.c's loader); file order.
        rows = [data[i * T:i * T + T + 1] for i in range(step * B, (step + 1) * B)]
        batch = torch.stack(rows)
        opt.zero_grad()
        loss = forward_loss(p, batch[:, :-1], batch[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(p.values(), CLIP)
        opt.step()
        losses.append(loss.item())
    return losses, p


def trainer_config(work):
    return f"""run: {{name: parity, seed: 1, out_dir: {work}/run, threads: 1}}
device: cpu
data:
  train: {{type: tokens, path: {work}/train.bin, sequence_length: {T}, vocab_size: {V}}}
  test: null
  batch_size: {B}
  shuffle: false
model:
  init_from: {work}/init.bin
  layers:
    - {{type: embedding, vocab_size: {V}, padded_vocab_size: {VP}, channels: {C}}}
    - {{type: transformer_block, heads: {H}, repeat: {L}}}
    - {{type: layer_norm}}
    - {{type: lm_head, vocab_size: {V}}}
loss: cross_entropy
optimizer: {{type: adamw, lr: {LR}, beta1: {BETAS[0]}, beta2: {BETAS[1]}, eps: {EPS}, weight_decay: {WD}}}
train: {{epochs: 1, max_steps: {STEPS}, clip_grad_norm: {CLIP}}}
checkpoint: {{every_steps: 0}}
log: {{every_steps: 1}}
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trainer", required=True)
    ap.add_argument("--rel", type=float, default=1e-4)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    # Random weights in GPT-2's ranges; layer norms away from 1 and 0 so that they matter.
    params = {name: torch.randn(shape) * 0.05 for name, shape in ORDER}
    for name in ("ln1w", "ln2w", "lnfw"):
        params[name] = 1.0 + 0.1 * torch.randn(params[name].shape)
    params["wte"][V:] = 0.0
    # Tokens with structure to learn: a random walk over the vocabulary with frequent repeats.
    g = torch.Generator().manual_seed(1)
    steps = torch.randint(-3, 4, (STEPS * B * T + 1,), generator=g)
    tokens = (torch.cumsum(steps, 0) % V).tolist()

    with tempfile.TemporaryDirectory() as work:
        write_weights(f"{work}/init.bin", params)
        write_tokens(f"{work}/train.bin", tokens)
        with open(f"{work}/cfg.yaml", "w") as f:
            f.write(trainer_config(work))
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        run = subprocess.run([args.trainer, f"{work}/cfg.yaml"], capture_output=True, text=True, env=env)
        if run.returncode != 0:
            sys.exit("trainer failed (%d):\n%s" % (run.returncode, run.stderr))
        with open(f"{work}/run/metrics.jsonl") as f:
            ours = [json.loads(line)["loss"] for line in f]
        exported = f"{work}/final.bin"
        run = subprocess.run([args.trainer, f"{work}/cfg.yaml", "--resume", "auto", "--export-llmc", exported],
                             capture_output=True, text=True, env=env)
        if run.returncode != 0:
            sys.exit("trainer --export-llmc failed (%d):\n%s" % (run.returncode, run.stderr))
        final = read_weights(exported)

    reference, trained = torch_losses(params, tokens)
    worst = 0.0
    print("step  trainer      pytorch      relative difference")
    for i, (a, b) in enumerate(zip(ours, reference)):
        rel = abs(a - b) / abs(b)
        worst = max(worst, rel)
        print("%4d  %.8f  %.8f  %.2e" % (i + 1, a, b, rel))
    weight_diff = max((final[k] - trained[k].detach()).abs().max().item() for k, _ in ORDER)
    print("largest relative loss difference %.2e (bound %.0e); largest weight difference after "
          "%d steps %.2e" % (worst, args.rel, STEPS, weight_diff))
    ok = len(ours) == STEPS and worst <= args.rel
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
