#!/usr/bin/env python3
"""Turns text files into llm.c token files with byte-level tokens (vocabulary 256).

    python3 scripts/text_to_tokens.py OUT_DIR FILE_OR_DIR... [--val-fraction 0.1]

Every byte is one token, so any text (any language, any encoding) round-trips exactly and the
vocabulary is 256. Writes OUT_DIR/train.bin and OUT_DIR/val.bin in llm.c's format (a header of
256 little-endian int32: magic 20240520, version 1, token count; then uint16 tokens): the last
`--val-fraction` of the text is validation, cut at a line break. Directories are read in sorted
order, skipping symbolic links (fortune's .u8 names for the same files) and files whose name
ends in .dat (fortune's index files).
"""
import argparse
import os
import struct
import sys

MAGIC, VERSION = 20240520, 1


def read_texts(paths):
    data = bytearray()
    for path in paths:
        if os.path.isdir(path):
            names = sorted(n for n in os.listdir(path) if not n.endswith(".dat") and not n.startswith("."))
            files = [os.path.join(path, n) for n in names]
            data += read_texts([f for f in files if os.path.isfile(f) and not os.path.islink(f)])
        else:
            with open(path, "rb") as f:
                data += f.read()
    return data


def write_tokens(path, data):
    header = struct.pack("<256i", MAGIC, VERSION, len(data), *([0] * 253))
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(header)
        f.write(struct.pack("<%dH" % len(data), *data))  # one uint16 per byte
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("inputs", nargs="+", help="text files or directories of them")
    ap.add_argument("--val-fraction", type=float, default=0.1)
    args = ap.parse_args()
    if not 0.0 < args.val_fraction < 1.0:
        sys.exit("error: --val-fraction: expected a number between 0 and 1, got %g" % args.val_fraction)
    for p in args.inputs:
        if not os.path.exists(p):
            sys.exit("error: %s: no such file or directory" % p)
    data = read_texts(args.inputs)
    if len(data) < 1000:
        sys.exit("error: %d bytes of text is too little to train on" % len(data))
    cut = int(len(data) * (1.0 - args.val_fraction))
    newline = data.rfind(b"\n", 0, cut)
    if newline > 0:
        cut = newline + 1
    os.makedirs(args.out_dir, exist_ok=True)
    write_tokens(os.path.join(args.out_dir, "train.bin"), data[:cut])
    write_tokens(os.path.join(args.out_dir, "val.bin"), data[cut:])
    print("%s: %d training and %d validation tokens (bytes)" % (args.out_dir, cut, len(data) - cut))


if __name__ == "__main__":
    main()
