"""GPT-2 written directly in PyTorch from llm.c's weight layout: the independent implementation
that trainer's GPT is checked against (tests/reference/gpt2_parity.py) and timed against
(bench/gpt_cpu_speed.py). Also reads and writes llm.c's weight and token files."""
import math
import struct

import torch
import torch.nn.functional as F


class Shape:
    """GPT-2's sizes: context T, vocabulary V padded to VP, L blocks of H heads, C channels."""

    def __init__(self, T, V, VP, L, H, C):
        self.T, self.V, self.VP, self.L, self.H, self.C = T, V, VP, L, H, C

    def tensors(self):
        """llm.c's tensor order: name, shape."""
        T, VP, L, C = self.T, self.VP, self.L, self.C
        return [("wte", (VP, C)), ("wpe", (T, C)), ("ln1w", (L, C)), ("ln1b", (L, C)),
                ("qkvw", (L, 3 * C, C)), ("qkvb", (L, 3 * C)), ("attprojw", (L, C, C)),
                ("attprojb", (L, C)), ("ln2w", (L, C)), ("ln2b", (L, C)),
                ("fcw", (L, 4 * C, C)), ("fcb", (L, 4 * C)), ("fcprojw", (L, C, 4 * C)),
                ("fcprojb", (L, C)), ("lnfw", (C,)), ("lnfb", (C,))]


def random_weights(s, seed=0):
    """Weights in GPT-2's ranges; layer norms away from 1 and 0 so that they matter."""
    g = torch.Generator().manual_seed(seed)
    p = {name: torch.randn(shape, generator=g) * 0.05 for name, shape in s.tensors()}
    for name in ("ln1w", "ln2w", "lnfw"):
        p[name] = 1.0 + 0.1 * torch.randn(p[name].shape, generator=g)
    p["wte"][s.V:] = 0.0
    return p


def write_weights(path, s, params):
    header = struct.pack("<256i", 20240326, 3, s.T, s.V, s.L, s.H, s.C, s.VP, *([0] * 248))
    with open(path, "wb") as f:
        f.write(header)
        for name, _ in s.tensors():
            f.write(params[name].detach().contiguous().numpy().astype("<f4").tobytes())


def read_weights(path, s):
    with open(path, "rb") as f:
        data = f.read()
    header = struct.unpack("<8i", data[:32])
    assert header == (20240326, 3, s.T, s.V, s.L, s.H, s.C, s.VP), header
    out, offset = {}, 1024
    for name, shape in s.tensors():
        n = math.prod(shape)
        out[name] = torch.frombuffer(bytearray(data[offset:offset + 4 * n]),
                                     dtype=torch.float32).reshape(shape)
        offset += 4 * n
    return out


def write_tokens(path, tokens):
    with open(path, "wb") as f:
        f.write(struct.pack("<256i", 20240520, 1, len(tokens), *([0] * 253)))
        f.write(struct.pack("<%dH" % len(tokens), *tokens))


def loss(s, p, x, y):
    """Mean cross-entropy per token of the GPT-2 `p` on inputs x (B, T) against targets y."""
    B, T, C, H = x.shape[0], x.shape[1], s.C, s.H
    h = p["wte"][x] + p["wpe"][:T]
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    for l in range(s.L):
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
    logits = h @ p["wte"][:s.V].T  # the tied head over the real vocabulary
    return F.cross_entropy(logits.reshape(-1, s.V), y.reshape(-1))


def batch(tokens, s, step, B):
    """Global batch `step` in file order: sample i is the window of T + 1 tokens at i x T."""
    rows = [tokens[i * s.T:i * s.T + s.T + 1] for i in range(step * B, (step + 1) * B)]
    b = torch.stack(rows)
    return b[:, :-1], b[:, 1:]


def trainer_config(work, s, B, steps, optimizer, clip, threads=1, init="init.bin"):
    """A trainer config for this GPT-2 on <work>/train.bin from <work>/<init>, file order."""
    return f"""run: {{name: gpt2, seed: 1, out_dir: {work}/run, threads: {threads}}}
device: cpu
data:
  train: {{type: tokens, path: {work}/train.bin, sequence_length: {s.T}, vocab_size: {s.V}}}
  test: null
  batch_size: {B}
  shuffle: false
model:
  init_from: {work}/{init}
  layers:
    - {{type: embedding, vocab_size: {s.V}, padded_vocab_size: {s.VP}, channels: {s.C}}}
    - {{type: transformer_block, heads: {s.H}, repeat: {s.L}}}
    - {{type: layer_norm}}
    - {{type: lm_head, vocab_size: {s.V}}}
loss: cross_entropy
optimizer: {optimizer}
train: {{epochs: 1, max_steps: {steps}, clip_grad_norm: {clip}}}
checkpoint: {{every_steps: 0}}
log: {{every_steps: 1}}
"""
