#!/usr/bin/env python3
"""trainer's safetensors export and import, checked by a reader and a GPT-2 independent of it.

Trains a small GPT-2 (random llm.c weights, a padded vocabulary) three steps, then exports the
weights three ways (transformers' names in fp32 and bf16, trainer's names) beside llm.c's format.
Reads each file with a reader written here from the format (8-byte header length, JSON header,
contiguous byte ranges covering the data exactly) and checks:
  - the transformers-named file holds exactly GPT2LMHeadModel's tensors, each equal to llm.c's
    export of the same weights (Conv1D weights transposed, the embedding without its padding);
    config.json holds the sizes; the bf16 file is the fp32 one rounded to nearest even;
  - GPT-2's forward written here in PyTorch (float64, transformers' Conv1D convention, sizes from
    config.json) on the exported tensors gives trainer's logits (--sample ... --logits) within 1e-5;
  - model.init_from each file or its directory (sizes from the file's shapes and config.json)
    and exporting to llm.c's format gives back the same weights (bit for bit from fp32, the rounded ones from
    bf16), and so does a file named as the Hub's GPT-2 files are (no "transformer." prefix, fp16,
    the causal-mask buffers, a tied lm_head.weight);
  - a file whose head is untied, with a tensor the model has no place for, with a wrong shape,
    or cut short is refused with exit 2 and a one-line error naming the file and the tensor;
  - the directory of a model sharded over two files (model.safetensors.index.json) loads bit for
    bit, and an index that puts a tensor in the wrong file or names a file outside its folder is
    refused the same way.
Exit 0 when all hold, 1 when not.

    /usr/bin/python3 tests/reference/safetensors_check.py --trainer build/launcher/trainer
"""
import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

import gpt2_torch as g

S = g.Shape(T=16, V=251, VP=256, L=2, H=4, C=32)
PROMPT = "The quick fox"
FAILURES = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        FAILURES.append(what)


def read_safetensors(path):
    """name -> numpy array, and the metadata, from the format's definition."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    metadata = header.pop("__metadata__", {})
    kinds = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16}
    out, ranges = {}, []
    for name, e in header.items():
        begin, end = e["data_offsets"]
        ranges.append((begin, end))
        arr = np.frombuffer(data[begin:end], dtype=np.dtype(kinds[e["dtype"]]).newbyteorder("<"))
        if e["dtype"] == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name] = arr.astype(np.float32).reshape(e["shape"])
    ranges.sort()
    contiguous = all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data) and contiguous, "holes in " + path
    assert (8 + n) % 8 == 0, "data not 8-byte aligned in " + path
    return out, metadata


def write_safetensors(path, tensors, dtype="F32"):
    """The writer of the format, for files trainer did not make."""
    header, chunks, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, arr in tensors.items():
        raw = arr.astype(np.float16 if dtype == "F16" else np.float32).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def bf16_round(a):
    """float32 -> nearest bfloat16 (ties to even), as float32."""
    u = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16 << 16
    return u.astype(np.uint32).view(np.float32)


def hf_names(s):
    """GPT2LMHeadModel's tensors: name -> (llm.c tensor, block or None, Conv1D)."""
    out = {"wte.weight": ("wte", None, False), "wpe.weight": ("wpe", None, False),
           "ln_f.weight": ("lnfw", None, False), "ln_f.bias": ("lnfb", None, False)}
    block = [("ln_1.weight", "ln1w"), ("ln_1.bias", "ln1b"), ("attn.c_attn.weight", "qkvw"),
             ("attn.c_attn.bias", "qkvb"), ("attn.c_proj.weight", "attprojw"),
             ("attn.c_proj.bias", "attprojb"), ("ln_2.weight", "ln2w"), ("ln_2.bias", "ln2b"),
             ("mlp.c_fc.weight", "fcw"), ("mlp.c_fc.bias", "fcb"),
             ("mlp.c_proj.weight", "fcprojw"), ("mlp.c_proj.bias", "fcprojb")]
    for l in range(s.L):
        for hf, ours in block:
            out["h.%d.%s" % (l, hf)] = (ours, l, hf.endswith("weight") and not hf.startswith("ln"))
    return out


def as_hf(s, llmc):
    """The llm.c tensors in transformers' names and layout."""
    out = {}
    for name, (ours, l, conv1d) in hf_names(s).items():
        t = llmc[ours].numpy()
        t = t[l] if l is not None else t
        out[name] = t.T.copy() if conv1d else (t[:s.V] if ours == "wte" else t)
    return out


def hf_logits(t, cfg, ids):
    """GPT-2's forward as transformers computes it (Conv1D: x W + b), in float64."""
    t = {k: torch.from_numpy(v).double() for k, v in t.items()}
    C, H, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    T = len(ids)
    x = t["transformer.wte.weight"][ids] + t["transformer.wpe.weight"][:T]
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    for l in range(cfg["n_layer"]):
        p = lambda name: t["transformer.h.%d.%s" % (l, name)]
        a = F.layer_norm(x, (C,), p("ln_1.weight"), p("ln_1.bias"), eps)
        q, k, v = (a @ p("attn.c_attn.weight") + p("attn.c_attn.bias")).split(C, dim=-1)
        q, k, v = (u.view(T, H, C // H).transpose(0, 1) for u in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // H)
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        o = (att @ v).transpose(0, 1).reshape(T, C)
        x = x + o @ p("attn.c_proj.weight") + p("attn.c_proj.bias")
        m = F.layer_norm(x, (C,), p("ln_2.weight"), p("ln_2.bias"), eps)
        assert cfg["activation_function"] == "gelu_new"  # the tanh approximation
        m = F.gelu(m @ p("mlp.c_fc.weight") + p("mlp.c_fc.bias"), approximate="tanh")
        x = x + m @ p("mlp.c_proj.weight") + p("mlp.c_proj.bias")
    x = F.layer_norm(x, (C,), t["transformer.ln_f.weight"], t["transformer.ln_f.bias"], eps)
    return (x @ t["transformer.wte.weight"].T).numpy()


class Trainer:
    def __init__(self, binary, work):
        self.binary, self.work = binary, work
        self.env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")

    def config(self, name, init, sized=True):
        """A config starting from `init`; without sizes (they come from the file) unless sized."""
        text = g.trainer_config(self.work, S, 4, 3, "{type: adamw, lr: 1.0e-3}", 1.0, init=init)
        if not sized:
            text = text.replace("{type: embedding, vocab_size: %d, padded_vocab_size: %d, "
                                "channels: %d}" % (S.V, S.VP, S.C),
                                "{type: embedding, padded_vocab_size: %d}" % S.VP)
            text = text.replace("{type: transformer_block, heads: %d, repeat: %d}" % (S.H, S.L),
                                "{type: transformer_block}")
            text = text.replace("{type: lm_head, vocab_size: %d}" % S.V, "{type: lm_head}")
        text = text.replace("out_dir: %s/run" % self.work, "out_dir: %s/run-%s" % (self.work, name))
        path = "%s/%s.yaml" % (self.work, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run(self, *args, expect=0):
        r = subprocess.run([self.binary, *args], capture_output=True, text=True, env=self.env)
        if r.returncode != expect:
            sys.exit("%s exited %d, expected %d:\n%s" % (" ".join(args), r.returncode, expect,
                                                         r.stderr))
        return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trainer", required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        tr = Trainer(args.trainer, work)
        g.write_weights(work + "/init.bin", S, g.random_weights(S))
        gen = torch.Generator().manual_seed(2)
        g.write_tokens(work + "/train.bin", torch.randint(0, S.V, (12 * 4 * S.T + 1,),
                                                           generator=gen).tolist())
        cfg = tr.config("train", "init.bin")
        tr.run(cfg)
        tr.run(cfg, "--resume", "auto", "--export-llmc", work + "/final.bin")
        llmc = g.read_weights(work + "/final.bin", S)
        for name, extra in (("hf32", []), ("hf16", ["--export-dtype", "bf16"]),
                            ("names", ["--export-names", "trainer"])):
            tr.run(cfg, "--resume", "auto", "--export-safetensors", work + "/" + name, *extra)

        # The transformers-named export against llm.c's of the same weights.
        hf, meta = read_safetensors(work + "/hf32/model.safetensors")
        want = {"transformer." + k: v for k, v in as_hf(S, llmc).items()}
        check(sorted(hf) == sorted(want), "the fp32 export holds exactly GPT2LMHeadModel's %d "
              "tensors" % len(want))
        check(all(hf[k].shape == want[k].shape and np.array_equal(hf[k], want[k]) for k in want),
              "each equals llm.c's export of the same weights (Conv1D transposed, no padding)")
        check(meta.get("format") == "pt", "metadata format 'pt', which transformers requires")
        with open(work + "/hf32/config.json") as f:
            conf = json.load(f)
        check((conf["vocab_size"], conf["n_positions"], conf["n_embd"], conf["n_layer"],
               conf["n_head"], conf["model_type"], conf["tie_word_embeddings"]) ==
              (S.V, S.T, S.C, S.L, S.H, "gpt2", True), "config.json: %s" % conf)
        bf, _ = read_safetensors(work + "/hf16/model.safetensors")
        check(sorted(bf) == sorted(hf) and
              all(np.array_equal(bf[k], bf16_round(hf[k])) for k in hf),
              "the bf16 export is the fp32 one rounded to nearest even")
        names, _ = read_safetensors(work + "/names/model.safetensors")
        check(len(names) == 2 + 12 * S.L + 2 and not any(k.startswith("transformer.")
                                                          for k in names),
              "the trainer-named export holds the %d parameters under trainer's names"
              % len(names))

        # Logits: trainer against GPT-2's forward from the exported tensors.
        tr.run(cfg, "--resume", "auto", "--sample", PROMPT, "--sample-tokens", "1",
               "--logits", work + "/logits.safetensors")
        ours = read_safetensors(work + "/logits.safetensors")[0]["logits"]
        ref = hf_logits(hf, conf, list(PROMPT.encode()))
        diff = float(np.abs(ours - ref).max())
        check(ours.shape == ref.shape and diff <= 1e-5,
              "logits (%d positions x %d) within 1e-5 of PyTorch's: largest difference %.2e"
              % (ours.shape[0], ours.shape[1], diff))

        # Round trips through model.init_from.
        def reexport(name, init, sized):
            c = tr.config(name, init, sized)
            tr.run(c, "--export-llmc", "%s/%s.bin" % (work, name))
            return g.read_weights("%s/%s.bin" % (work, name), S)

        def same(a, b):
            return all(np.array_equal(a[k].numpy(), b[k]) for k, _ in S.tensors())

        expected = {k: v.numpy() for k, v in llmc.items()}
        check(same(reexport("from-hf32", "hf32", False), expected),
              "init_from the fp32 export's directory (sizes from its shapes and config.json) "
              "gives the weights back bit for bit")
        check(same(reexport("from-names", "names/model.safetensors", True), expected),
              "init_from the trainer-named export gives the weights back bit for bit")
        rounded = {k: bf16_round(v) for k, v in expected.items()}
        rounded["wte"][S.V:] = 0.0
        check(same(reexport("from-hf16", "hf16/model.safetensors", False), rounded),
              "init_from the bf16 export gives the rounded weights")
        hub = {k: v.astype(np.float16) for k, v in as_hf(S, llmc).items()}
        for l in range(S.L):
            hub["h.%d.attn.bias" % l] = np.tril(np.ones((1, 1, S.T, S.T), np.float16))
        hub["lm_head.weight"] = hub["wte.weight"]
        os.mkdir(work + "/hub")
        write_safetensors(work + "/hub/model.safetensors", hub, "F16")
        with open(work + "/hub/config.json", "w") as f:
            json.dump(conf, f)
        halves = {k: v.astype(np.float16).astype(np.float32) for k, v in expected.items()}
        halves["wte"][S.V:] = 0.0
        check(same(reexport("from-hub", "hub/model.safetensors", False), halves),
              "init_from a Hub-style file (no prefix, fp16, mask buffers, tied lm_head) loads")

        # Hostile files: exit 2, one line naming the file and the tensor.
        def refused(name, tensors, message, cut=0):
            os.mkdir("%s/%s" % (work, name))
            path = "%s/%s/model.safetensors" % (work, name)
            write_safetensors(path, tensors)
            if cut:
                with open(path, "r+b") as f:
                    f.truncate(os.path.getsize(path) - cut)
            r = tr.run(tr.config(name, name + "/model.safetensors"), "--dry-run", expect=2)
            err = r.stderr.strip()
            check(message in err and path in err and "\n" not in err,
                  "%s: refused with '%s'" % (name, err))

        base = {"transformer." + k: v for k, v in as_hf(S, llmc).items()}
        untied = dict(base, **{"lm_head.weight": base["transformer.wte.weight"] + 1})
        refused("untied", untied, "lm_head.weight differs from transformer.wte.weight")
        extra = dict(base, **{"transformer.h.0.attn.rotary": np.zeros(4, np.float32)})
        refused("extra", extra, "tensor 'transformer.h.0.attn.rotary' has no place")
        wrong = dict(base, **{"transformer.h.1.mlp.c_fc.weight": np.zeros((S.C, S.C), np.float32)})
        refused("shape", wrong, "tensor 'transformer.h.1.mlp.c_fc.weight' has shape [32, 32], "
                "the config's model needs [32, 128]")
        refused("cut", base, "outside the file's", cut=100)
        # A model sharded over two files, as save_pretrained writes one past max_shard_size:
        # init_from its directory reads the index and both files.
        os.mkdir(work + "/sharded")
        keys = sorted(base)
        shards = {"model-00001-of-00002.safetensors": keys[:len(keys) // 2],
                  "model-00002-of-00002.safetensors": keys[len(keys) // 2:]}
        weight_map = {}
        for file, part in shards.items():
            write_safetensors("%s/sharded/%s" % (work, file), {k: base[k] for k in part})
            weight_map.update({k: file for k in part})

        def write_index(folder, mapping):
            with open("%s/%s/model.safetensors.index.json" % (work, folder), "w") as f:
                json.dump({"metadata": {"total_size": 0}, "weight_map": mapping}, f)

        write_index("sharded", weight_map)
        with open(work + "/sharded/config.json", "w") as f:
            json.dump(conf, f)
        check(same(reexport("from-sharded", "sharded", False), expected),
              "init_from a model sharded over two files (its directory) gives the weights back "
              "bit for bit")

        # Hostile indexes: a tensor in another file than the map says, a file outside the folder.
        def refused_index(name, mapping, message):
            os.mkdir("%s/%s" % (work, name))
            for file in shards:
                os.symlink("%s/sharded/%s" % (work, file), "%s/%s/%s" % (work, name, file))
            write_index(name, mapping)
            index = "%s/%s/model.safetensors.index.json" % (work, name)
            err = tr.run(tr.config(name, name), "--dry-run", expect=2).stderr.strip()
            check(message in err and index in err and "\n" not in err,
                  "%s: refused with '%s'" % (name, err))

        moved = dict(weight_map, **{keys[0]: "model-00002-of-00002.safetensors"})
        refused_index("misplaced", moved, "tensor '%s' is not where" % keys[0])
        outside = dict(weight_map, **{keys[0]: "../sharded/model-00001-of-00002.safetensors"})
        refused_index("outside", outside, "expected a file name beside the index")

    print("PASS" if not FAILURES else "FAIL: %d checks" % len(FAILURES))
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
