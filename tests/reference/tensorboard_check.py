#!/usr/bin/env python3
"""trainer's TensorBoard event file, read back by an implementation independent of trainer's.

Trains a small GPT 20 steps with log.tensorboard (a record every step, an evaluation and a text
sample after each of its 8-step epochs and at the end), then parses <out_dir>/tb/events.out.tfevents.*: each TFRecord's framing and both
masked CRC-32Cs, and each Event protobuf with a decoder written here from the wire format. Checks
the version event, the config text, the samples, and that every number of every metrics.jsonl
record is a scalar at that record's step under its key, equal to it in float32. Exit 0 when all
hold, 1 when not.

    /usr/bin/python3 tests/reference/tensorboard_check.py --trainer build/launcher/trainer
"""
import argparse
import glob
import json
import os
import random
import struct
import subprocess
import sys
import tempfile

CONFIG = """run: {{name: tb, seed: 3}}
data:
  train: {{type: tokens, path: {tokens}, sequence_length: 16, vocab_size: 128}}
  test: {{type: tokens, path: {tokens}, sequence_length: 16, vocab_size: 128}}
  batch_size: 4
model:
  layers:
    - {{type: embedding, vocab_size: 128, channels: 16}}
    - {{type: transformer_block, heads: 2, repeat: 1}}
    - {{type: layer_norm}}
    - {{type: lm_head, vocab_size: 128}}
optimizer: {{type: adamw, lr: 1.0e-3}}
train: {{max_steps: 20, eval_every_epochs: 1, clip_grad_norm: 1.0}}
log: {{every_steps: 1, tensorboard: true, sample_tokens: 8, sample_prompt: "a"}}
"""


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def records(blob):
    """TFRecord framing: u64 length, u32 masked CRC of it, data, u32 masked CRC of the data."""
    at = 0
    while at < len(blob):
        header = blob[at:at + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", blob[at + 8:at + 12])
        if length_crc != masked(header):
            raise ValueError(f"record at byte {at}: length CRC mismatch")
        data = blob[at + 12:at + 12 + length]
        (data_crc,) = struct.unpack("<I", blob[at + 12 + length:at + 16 + length])
        if len(data) != length or data_crc != masked(data):
            raise ValueError(f"record at byte {at}: data CRC mismatch or truncated")
        yield data
        at += 16 + length


def fields(message):
    """Protobuf wire format: (field number, wire type, value) of each field."""
    at = 0

    def varint():
        nonlocal at
        shift = value = 0
        while True:
            b = message[at]
            at += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return value
    while at < len(message):
        k = varint()
        number, wire = k >> 3, k & 7
        if wire == 0:
            yield number, wire, varint()
        elif wire == 1:
            yield number, wire, message[at:at + 8]
            at += 8
        elif wire == 5:
            yield number, wire, message[at:at + 4]
            at += 4
        elif wire == 2:
            n = varint()
            yield number, wire, message[at:at + n]
            at += n
        else:
            raise ValueError(f"wire type {wire}")


def decode(event):
    """An Event: its step, file version, and the summary's values as (tag, float or text)."""
    out = {"step": 0, "version": None, "values": []}
    for number, _, value in fields(event):
        if number == 2:
            out["step"] = value
        elif number == 3:
            out["version"] = value.decode()
        elif number == 5:
            for _, _, v in fields(value):  # Summary.value
                tag, scalar, text = None, None, None
                for n, _, x in fields(v):
                    if n == 1:
                        tag = x.decode()
                    elif n == 2:
                        (scalar,) = struct.unpack("<f", x)
                    elif n == 8:  # TensorProto: string_val = 8
                        text = [s.decode() for m, _, s in fields(x) if m == 8][0]
                out["values"].append((tag, scalar if text is None else text))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trainer", required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        rng = random.Random(5)
        tokens = [rng.randrange(128) for _ in range(8 * 4 * 17 + 1)]  # 8 steps of 4 windows
        with open(os.path.join(d, "tokens.bin"), "wb") as f:
            f.write(struct.pack("<256i", 20240520, 1, len(tokens), *([0] * 253)))
            f.write(struct.pack("<%dH" % len(tokens), *tokens))
        with open(os.path.join(d, "cfg.yaml"), "w") as f:
            f.write(CONFIG.format(tokens=os.path.join(d, "tokens.bin")))
        out = os.path.join(d, "run")
        done = subprocess.run([args.trainer, os.path.join(d, "cfg.yaml"), "--set",
                               f"run.out_dir={out}"], capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"trainer failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        files = glob.glob(os.path.join(out, "tb", "events.out.tfevents.*"))
        if len(files) != 1:
            sys.exit(f"expected one event file, found {files}")
        with open(files[0], "rb") as f:
            events = [decode(r) for r in records(f.read())]
        with open(os.path.join(out, "metrics.jsonl")) as f:
            metrics = [json.loads(line) for line in f]
    problems = []
    if events[0]["version"] != "brain.Event:2":
        problems.append(f"first event is not the version event: {events[0]}")
    scalars, texts = {}, {}
    for e in events[1:]:
        for tag, value in e["values"]:
            (texts if isinstance(value, str) else scalars)[(tag, e["step"])] = value
    if "layers:" not in texts.get(("config", 0), ""):
        problems.append("no config text at step 0")
    samples = sorted(step for tag, step in texts if tag == "sample")
    evaluated = [r["step"] for r in metrics if "test_loss" in r]
    if not evaluated or samples != evaluated:
        problems.append(f"samples at steps {samples}, evaluations at {evaluated}")
    checked = 0
    for record in metrics:
        for name, value in record.items():
            if name == "step" or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            got = scalars.get((name, record["step"]))
            want = struct.unpack("<f", struct.pack("<f", value))[0]
            if got != want:
                problems.append(f"{name} at step {record['step']}: event file {got}, metrics {want}")
            checked += 1
    if len(metrics) != 20 or checked < 20 * 4:
        problems.append(f"{len(metrics)} records, {checked} numbers checked")
    for p in problems:
        print(p)
    print(f"{len(events)} events, {checked} scalars equal to metrics.jsonl's, {len(samples)} samples"
          if not problems else "FAILED")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
