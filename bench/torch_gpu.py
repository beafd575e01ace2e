#!/usr/bin/env python3
"""PyTorch's GPU training speed on the Fashion-MNIST models: the reference for bench/gpu_speed.py.

The models of bench/torch_cpu.py on one GPU, FP32 with TF32 off (as trainer), cuDNN's algorithm
search on (as trainer's, once per shape), Adam, the training set kept on the GPU and each batch
gathered there (as trainer does when the data fits). `--mode compile` runs the model and the
optimizer step under torch.compile. `--precision fp16|bf16` runs the forward under torch.autocast
(fp16 with a GradScaler, as its documentation prescribes). Prints one JSON line.
"""
import argparse
import json
import os
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_cpu import load_idx, model_for  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", choices=["mlp", "cnn", "wide"])
    ap.add_argument("--precision", choices=["fp32", "fp16", "bf16"], default="fp32")
    ap.add_argument("--mode", choices=["eager", "compile"], default="eager")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist/")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    torch.manual_seed(0)
    images = torch.from_numpy(load_idx(os.path.join(args.data, "train-images-idx3-ubyte.gz"), 16).copy())
    images = images.view(-1, 1, 28, 28).float().div_(255.0).to(dev)
    labels = torch.from_numpy(load_idx(os.path.join(args.data, "train-labels-idx1-ubyte.gz"), 8).copy())
    labels = labels.long().to(dev)
    model = model_for(args.model).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    order = torch.randperm(images.shape[0], device=dev)
    batches = (images.shape[0] - args.batch) // args.batch

    half = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(args.precision)
    scaler = torch.amp.GradScaler("cuda", enabled=args.precision == "fp16")

    def train_step(x, y):
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=half or torch.float32, enabled=half is not None):
            loss = loss_fn(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return loss

    step = torch.compile(train_step) if args.mode == "compile" else train_step

    def run(i):
        idx = order[(i % batches) * args.batch:][: args.batch]
        return step(images[idx], labels[idx])

    for i in range(args.warmup):  # compiles, and cuDNN's algorithm search, happen here
        run(i)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(args.steps):
        loss = run(args.warmup + i)
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    print(json.dumps({"framework": f"pytorch {torch.__version__} {args.mode}", "model": args.model,
                      "precision": args.precision,
                      "gpu": torch.cuda.get_device_name(), "batch": args.batch, "steps": args.steps,
                      "final_loss": float(loss), "samples_per_s": args.steps * args.batch / dt}))


if __name__ == "__main__":
    main()
