#!/usr/bin/env python3
"""PyTorch DistributedDataParallel (gloo) training speed on the Fashion-MNIST models: the
reference for bench/dp_scaling.py. One thread per process; `--ranks 1` trains without DDP.
Prints one JSON line with global samples/s."""
import argparse
import json
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_cpu import DATA, load_idx, model_for  # noqa: E402


def worker(rank, args, queue):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    if args.ranks > 1:
        dist.init_process_group("gloo", rank=rank, world_size=args.ranks)
    images = torch.from_numpy(load_idx(DATA + "train-images-idx3-ubyte.gz", 16).copy())
    images = images.view(-1, 1, 28, 28).float().div_(255.0)
    labels = torch.from_numpy(load_idx(DATA + "train-labels-idx1-ubyte.gz", 8).copy()).long()
    model = model_for(args.model)
    if args.ranks > 1:
        model = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    order = torch.randperm(images.shape[0])
    per = args.per_rank

    def step(i):
        start = ((i * args.ranks + rank) * per) % (images.shape[0] - per)
        idx = order[start:start + per]
        opt.zero_grad(set_to_none=True)
        loss_fn(model(images[idx]), labels[idx]).backward()
        opt.step()

    for i in range(args.warmup):
        step(i)
    if args.ranks > 1:
        dist.barrier()
    t0 = time.perf_counter()
    for i in range(args.steps):
        step(args.warmup + i)
    if args.ranks > 1:
        dist.barrier()
    dt = time.perf_counter() - t0
    if rank == 0:
        queue.put(args.steps * per * args.ranks / dt)
    if args.ranks > 1:
        dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", choices=["mlp", "cnn"])
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--per-rank", type=int, default=64)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    args = ap.parse_args()
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29533")
    queue = mp.get_context("spawn").SimpleQueue()
    mp.spawn(worker, args=(args, queue), nprocs=args.ranks, join=True)
    print(json.dumps({"framework": f"pytorch {torch.__version__}", "model": args.model,
                      "ranks": args.ranks, "per_rank": args.per_rank,
                      "samples_per_s": queue.get()}))


if __name__ == "__main__":
    main()
