#!/usr/bin/env python3
"""PyTorch reference of the MPNet encoder (all-mpnet-base-v2's architecture), for sb's
golden files and benchmarks.

A port of transformers' src/transformers/models/mpnet/modeling_mpnet.py
(huggingface/transformers at commit 00099b9f15ad8bea330364709453fc49cbba90e5, the 5.x
development series; the model code is the same as in the 4.x releases), run on Debian's
python3-torch 1.13 (transformers itself cannot be installed here):

  MPNetEmbeddings   word + position embeddings (no token types), LayerNorm (eps from
                    config.json); padding_idx is 1 whatever pad_token_id says, and the
                    position ids come from create_position_ids_from_input_ids:
                    mask = ids != 1, cumsum(mask) * mask + 1
  MPNetEncoder      compute_position_bias once per forward: relative_position =
                    arange(klen)[None, :] - arange(qlen)[:, None] (positions in the
                    padded row), relative_position_bucket with its defaults
                    (num_buckets 32, max_distance 128, whatever
                    relative_attention_num_buckets says), looked up in
                    encoder.relative_attention_bias.weight and permuted to [1, H, q, k]
  MPNetSelfAttention  q k^T / sqrt(d) + position_bias + the extended mask
                    (1 - mask) * finfo(float32).min, softmax, times v, then o
  MPNetAttention    LayerNorm(o + x); MPNetIntermediate dense + GELU (erf);
                    MPNetOutput dense, LayerNorm(. + attention output)
  sentence-transformers  Pooling (mean over the mask), then Normalize when the folder's
                    modules.json has it

usage: mpnet-ref.py MODEL_DIR TOKENS.jsonl [--batch B] [--hidden N] [--buckets]
       mpnet-ref.py MODEL_DIR TOKENS.jsonl --bench [--threads N]
       mpnet-ref.py MODEL_DIR --onnx OUT.onnx

TOKENS.jsonl: hf_tokenize.js output ({"ids": [...]} a line).  Rows run in batches of B
(default 16) consecutive lines padded on the right with <pad> (id 1) and mask 0, so
every batch has padding.  Prints one line per row, "%.8g" floats: the pooled (and, with
2_Normalize, normalized) embedding; with --hidden N, the last hidden state of every real
token of the first N rows, "ROW v v ...".  --buckets prints relative_position_bucket for
relative positions -600 .. 600 instead (one line).  --bench: sentences/s of the port
batched as sentence-transformers' encode() (sorted by length, 32 a batch padded to the
longest), after loading, as ../shared/reference/torch_bench.py prints it.  --onnx: the
encoder with mean pooling exported for ONNX Runtime (inputs input_ids and
attention_mask, output sentence_embedding, as ../shared/reference/ort_bench.js expects).
"""
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch

torch.set_grad_enabled(False)
PADDING_IDX = 1


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        dt = {"F32": np.float32, "I64": np.int64}[v["dtype"]]
        b, e = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(data[b:e], dtype=dt).reshape(v["shape"]).copy())
    return out


def load(dirname):
    p = os.path.join(dirname, "model.safetensors")
    if os.path.exists(p):
        return load_safetensors(p)
    return torch.load(os.path.join(dirname, "pytorch_model.bin"), map_location="cpu")


def relative_position_bucket(relative_position, num_buckets=32, max_distance=128):
    """transformers' MPNetEncoder.relative_position_bucket, operation for operation."""
    ret = 0
    n = -relative_position
    num_buckets //= 2
    ret += (n < 0).to(torch.long) * num_buckets
    n = torch.abs(n)
    max_exact = num_buckets // 2
    is_small = n < max_exact
    val_if_large = max_exact + (
        torch.log(n.float() / max_exact) / math.log(max_distance / max_exact)
        * (num_buckets - max_exact)).to(torch.long)
    val_if_large = torch.min(val_if_large, torch.full_like(val_if_large, num_buckets - 1))
    ret += torch.where(is_small, n, val_if_large)
    return ret


class Model(torch.nn.Module):
    def __init__(self, dirname):
        super().__init__()
        with open(os.path.join(dirname, "config.json")) as f:
            self.cfg = json.load(f)
        c = self.cfg
        w = load(dirname)
        # Encoder keys: under mpnet. (MPNetModel, MPNetForMaskedLM) or bare
        # (sentence-transformers' 0_Transformer).
        pre = "mpnet." if "mpnet.embeddings.word_embeddings.weight" in w else ""
        self.w = {k[len(pre):]: v for k, v in w.items() if k.startswith(pre)}
        self.eps = c.get("layer_norm_eps", 1e-12)
        self.heads = c["num_attention_heads"]
        self.layers = c["num_hidden_layers"]
        self.normalize = False
        mp = os.path.join(dirname, "modules.json")
        if os.path.exists(mp):
            with open(mp) as f:
                self.normalize = any(m["type"].endswith("Normalize") for m in json.load(f))

    def t(self, name):
        return self.w[name]

    def ln(self, x, name):
        g = self.t(name + ".weight")
        return torch.nn.functional.layer_norm(x, (g.shape[0],), g, self.t(name + ".bias"),
                                              self.eps)

    def lin(self, x, name):
        return torch.nn.functional.linear(x, self.t(name + ".weight"), self.t(name + ".bias"))

    def position_bias(self, x):
        qlen = klen = x.size(1)
        context = torch.arange(qlen, dtype=torch.long)[:, None]
        memory = torch.arange(klen, dtype=torch.long)[None, :]
        bucket = relative_position_bucket(memory - context)
        values = torch.nn.functional.embedding(bucket, self.t("encoder.relative_attention_bias.weight"))
        return values.permute([2, 0, 1]).unsqueeze(0)

    def encode(self, ids, mask):
        e = torch.nn.functional.embedding
        nonpad = ids.ne(PADDING_IDX).int()
        pos = (torch.cumsum(nonpad, dim=1).type_as(nonpad) * nonpad).long() + PADDING_IDX
        x = (e(ids, self.t("embeddings.word_embeddings.weight")) +
             e(pos, self.t("embeddings.position_embeddings.weight")))
        x = self.ln(x, "embeddings.LayerNorm")
        B, L, D = x.shape
        H = self.heads
        d = D // H
        ext = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        bias = self.position_bias(x)
        for i in range(self.layers):
            p = "encoder.layer.%d." % i

            def split(y):
                return y.view(B, -1, H, d).transpose(1, 2)
            q = split(self.lin(x, p + "attention.attn.q"))
            k = split(self.lin(x, p + "attention.attn.k"))
            v = split(self.lin(x, p + "attention.attn.v"))
            s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d)
            s = s + bias
            s = s + ext
            c = torch.matmul(torch.softmax(s, dim=-1), v).permute(0, 2, 1, 3).reshape(B, L, D)
            x = self.ln(self.lin(c, p + "attention.attn.o") + x, p + "attention.LayerNorm")
            f = torch.nn.functional.gelu(self.lin(x, p + "intermediate.dense"))
            x = self.ln(self.lin(f, p + "output.dense") + x, p + "output.LayerNorm")
        return x

    def pool(self, h, mask):
        m = mask.unsqueeze(-1).to(h.dtype)
        v = (h * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)
        if self.normalize:
            v = torch.nn.functional.normalize(v, p=2, dim=1)
        return v

    def forward(self, ids, mask):
        return self.pool(self.encode(ids, mask), mask)


def batch(rows):
    L = max(len(r) for r in rows)
    ids = torch.full((len(rows), L), PADDING_IDX, dtype=torch.long)
    mask = torch.zeros((len(rows), L), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r)
        mask[i, :len(r)] = 1
    return ids, mask


def bench(model, rows, threads):
    torch.set_num_threads(threads)
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i]))
    t0 = time.time()
    for s in range(0, len(order), 32):
        ids, mask = batch([rows[i] for i in order[s:s + 32]])
        model(ids, mask)
    dt = time.time() - t0
    print("%.1f sentences/s  %.2f s  %d tokens  mode=st threads=%d" %
          (len(rows) / dt, dt, sum(map(len, rows)), threads))


def main():
    argv = sys.argv[1:]

    def opt(k, d):
        return argv[argv.index(k) + 1] if k in argv else d
    model = Model(argv[0]).eval()
    if "--onnx" in argv:
        ids = torch.full((2, 8), 5, dtype=torch.long)
        mask = torch.ones(2, 8, dtype=torch.long)
        torch.onnx.export(model, (ids, mask), opt("--onnx", None),
                          input_names=["input_ids", "attention_mask"],
                          output_names=["sentence_embedding"], opset_version=14,
                          dynamic_axes={"input_ids": {0: "b", 1: "s"},
                                        "attention_mask": {0: "b", 1: "s"},
                                        "sentence_embedding": {0: "b"}})
        return
    if "--buckets" in argv:
        b = relative_position_bucket(torch.arange(-600, 601))
        print(" ".join(map(str, b.tolist())))
        return
    rows = [json.loads(l)["ids"] for l in open(argv[1]) if l.strip()]
    if "--bench" in argv:
        bench(model, rows, int(opt("--threads", "2")))
        return
    size, n_hidden = int(opt("--batch", "16")), int(opt("--hidden", "0"))
    out = []
    for b0 in range(0, len(rows), size):
        ids, mask = batch(rows[b0:b0 + size])
        h = model.encode(ids, mask)
        if n_hidden:
            for i in range(ids.shape[0]):
                if b0 + i < n_hidden:
                    for t in range(int(mask[i].sum())):
                        out.append("%d %s" % (b0 + i, " ".join("%.8g" % v for v in h[i, t].tolist())))
            continue
        for v in model.pool(h, mask):
            out.append(" ".join("%.8g" % x for x in v.tolist()))
    sys.stdout.write("\n".join(out) + ("\n" if out else ""))


if __name__ == "__main__":
    main()
