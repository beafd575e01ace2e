#!/usr/bin/env python3
"""PyTorch's CPU training speed on the Fashion-MNIST models, the reference for bench/cpu_speed.sh.

Same models, batch, optimizer and data as configs/fashion_mnist_{mlp,cnn}.yaml; the batch is
gathered from the in-memory training set each step, as trainer does. Prints one JSON line.
"""
import argparse
import gzip
import json
import time

import numpy as np
import torch
from torch import nn

DATA = "/usr/share/datasets/fashion-mnist/"


def load_idx(path, header):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)


def model_for(name):
    if name == "wide":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 4096), nn.ReLU(), nn.Linear(4096, 4096),
                             nn.ReLU(), nn.Linear(4096, 10))
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64),
                             nn.ReLU(), nn.Linear(64, 10))
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", choices=["mlp", "cnn"])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    images = torch.from_numpy(load_idx(DATA + "train-images-idx3-ubyte.gz", 16).copy())
    images = images.view(-1, 1, 28, 28).float().div_(255.0)
    labels = torch.from_numpy(load_idx(DATA + "train-labels-idx1-ubyte.gz", 8).copy()).long()
    model = model_for(args.model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    order = torch.randperm(images.shape[0])
    params = sum(p.numel() for p in model.parameters())

    def step(i):
        idx = order[(i * args.batch) % (images.shape[0] - args.batch):][: args.batch]
        x, y = images[idx], labels[idx]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for i in range(args.warmup):
        step(i)
    t0 = time.perf_counter()
    for i in range(args.steps):
        loss = step(args.warmup + i)
    float(loss)
    dt = time.perf_counter() - t0
    print(json.dumps({"framework": f"pytorch {torch.__version__}", "model": args.model,
                      "parameters": params, "threads": args.threads, "batch": args.batch,
                      "steps": args.steps, "samples_per_s": args.steps * args.batch / dt}))


if __name__ == "__main__":
    main()
