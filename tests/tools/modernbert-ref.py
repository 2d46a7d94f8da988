#!/usr/bin/env python3
"""PyTorch reference of the ModernBERT encoder, for sb's golden files.

A port of transformers' src/transformers/models/modernbert/modeling_modernbert.py and
configuration_modernbert.py (huggingface/transformers at commits 000c33fdfde12e1ffafbfcdb3c926df5727a00b6
and 001f85b38fb432858ace93f18622f07cec46d874, the 5.x development series; the arithmetic
of the eager path is that of 4.48, where ModernBERT appeared), eager attention, run on
Debian's python3-torch 1.13 (transformers itself cannot be installed here):

  ModernBertEmbeddings   LayerNorm(tok_embeddings[ids]) (eps norm_eps, a bias only with
                         norm_bias); no position table
  ModernBertRotaryEmbedding   inv_freq = 1 / theta ** (arange(0, d, 2).float() / d) with
                         theta global_rope_theta on global layers (layer_id %
                         global_attn_every_n_layers == 0) and local_rope_theta on the
                         others (rope_parameters full_attention / sliding_attention in
                         newer configs), position ids 0 .. seq - 1 of the padded row,
                         cos / sin of cat(freqs, freqs) in float32
  ModernBertEncoderLayer x + attn(attn_norm(x)), then x + mlp(mlp_norm(x)); attn_norm is
                         the identity on layer 0
  ModernBertAttention    fused Wqkv (bias only with attention_bias), [B, L, 3, H, d];
                         q, k rotated (q cos + rotate_half(q) sin); scores q k^T * d^-0.5
                         plus the mask; softmax; V; Wo.  The mask: (1 - mask) *
                         finfo(float32).min on padded keys (_prepare_4d_attention_mask);
                         on local layers every key farther than local_attention // 2
                         positions is set to finfo.min too (_update_attention_mask's
                         sliding_window_mask)
  ModernBertMLP          Wi to 2 * intermediate_size, chunk(2) -> input, gate;
                         Wo(act(input) * gate), act = hidden_activation (gelu: erf)
  final_norm             LayerNorm at the end
  sentence-transformers  mean pooling over the mask (or CLS with --cls)

Tensors under "model." (ModernBertForMaskedLM) or bare (ModernBertModel, as
sentence-transformers saves it).

usage: modernbert-ref.py MODEL_DIR TOKENS.jsonl [--batch B] [--hidden N] [--cls]
       modernbert-ref.py MODEL_DIR TOKENS.jsonl --bench [--threads N] [--batch B]
       modernbert-ref.py MODEL_DIR --onnx OUT.onnx

TOKENS.jsonl: hf_tokenize.js output ({"ids": [...]} a line).  Rows run in batches of B
(default 16) consecutive lines padded on the right to the longest with pad_token_id and
mask 0, so every batch has padding.  Prints one line per row, "%.8g" floats: the pooled
embedding (default), or with --hidden N the last hidden state of every real token of the
first N rows, "ROW v v ...".  --bench times the forward passes and the pooling alone
(after loading) with N threads (default 2), rows sorted by length and batched by B
(default 32) as sentence-transformers' encode() does, and prints "ROWS/s SECONDS
TOKENS" (bench/encode-modernbert.sh).  --onnx exports the same arithmetic with mean
pooling to ONNX (torch.onnx, opset 14, dynamic batch and length; inputs input_ids and
attention_mask, output sentence_embedding) for ../shared/reference/ort_bench.js.
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from importlib import import_module  # noqa: E402

load = import_module("roberta-ref").load
torch.set_grad_enabled(False)

ACT = {"gelu": torch.nn.functional.gelu,
       "gelu_new": lambda x: torch.nn.functional.gelu(x, approximate="tanh"),
       "gelu_pytorch_tanh": lambda x: torch.nn.functional.gelu(x, approximate="tanh"),
       "relu": torch.relu}


class Model:
    def __init__(self, dirname):
        with open(os.path.join(dirname, "config.json")) as f:
            c = json.load(f)
        self.w = load(dirname)
        self.pre = "model." if "model.embeddings.tok_embeddings.weight" in self.w else ""
        self.pad = c.get("pad_token_id", 50283)
        self.eps = c.get("norm_eps", 1e-5)
        self.heads = c["num_attention_heads"]
        self.layers = c["num_hidden_layers"]
        self.window = c.get("local_attention", 128)
        self.every = c.get("global_attn_every_n_layers", 3)
        rp = c.get("rope_parameters") or {}
        self.theta = {
            "global": (rp.get("full_attention") or {}).get(
                "rope_theta", c.get("global_rope_theta", 160000.0)),
            "local": (rp.get("sliding_attention") or {}).get(
                "rope_theta", c.get("local_rope_theta", 10000.0))}
        self.act = ACT[c.get("hidden_activation", "gelu")]

    def t(self, name):
        return self.w.get(self.pre + name)

    def ln(self, x, name):
        g = self.t(name + ".weight")
        return torch.nn.functional.layer_norm(x, (g.shape[0],), g, self.t(name + ".bias"),
                                              self.eps)

    def lin(self, x, name):
        return torch.nn.functional.linear(x, self.t(name + ".weight"), self.t(name + ".bias"))

    def rope(self, theta, d, L):
        inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
        pos = torch.arange(L).unsqueeze(0)
        f = (inv[None, :, None].float() @ pos[:, None, :].float()).transpose(1, 2)
        emb = torch.cat((f, f), dim=-1)
        return emb.cos()[:, None], emb.sin()[:, None]      # [1, 1, L, d]

    @staticmethod
    def rot(x, cos, sin):
        h = x.shape[-1] // 2
        return x * cos + torch.cat((-x[..., h:], x[..., :h]), dim=-1) * sin

    def encode(self, ids, mask):
        x = self.ln(torch.nn.functional.embedding(ids, self.t("embeddings.tok_embeddings.weight")),
                    "embeddings.norm")
        B, L, D = x.shape
        H = self.heads
        d = D // H
        fmin = torch.finfo(torch.float32).min
        glob = (1.0 - mask[:, None, None, :].float()).expand(B, 1, L, L) * fmin
        r = torch.arange(L).unsqueeze(0)
        far = (torch.abs(r - r.T) > self.window // 2)[None, None]
        local = glob.masked_fill(far, fmin)
        ropes = {k: self.rope(v, d, L) for k, v in self.theta.items()}
        for i in range(self.layers):
            p = "layers.%d." % i
            kind = "local" if i % self.every else "global"
            h = x if i == 0 else self.ln(x, p + "attn_norm")
            qkv = self.lin(h, p + "attn.Wqkv").view(B, L, 3, H, d)
            q, k, v = qkv.transpose(3, 1).unbind(dim=2)
            cos, sin = ropes[kind]
            q, k = self.rot(q, cos, sin), self.rot(k, cos, sin)
            s = torch.matmul(q, k.transpose(2, 3)) * d ** -0.5
            s = s + (local if kind == "local" else glob)
            a = torch.matmul(torch.softmax(s, dim=-1, dtype=torch.float32), v)
            a = a.transpose(1, 2).contiguous().view(B, L, D)
            x = x + self.lin(a, p + "attn.Wo")
            inp, gate = self.lin(self.ln(x, p + "mlp_norm"), p + "mlp.Wi").chunk(2, dim=-1)
            x = x + self.lin(self.act(inp) * gate, p + "mlp.Wo")
        return self.ln(x, "final_norm")


def batch_of(model, chunk):
    """ids and mask [len(chunk), longest], padded on the right with pad_token_id."""
    L = max(len(r["ids"]) for r in chunk)
    ids = torch.full((len(chunk), L), model.pad, dtype=torch.long)
    mask = torch.zeros((len(chunk), L), dtype=torch.long)
    for i, r in enumerate(chunk):
        n = len(r["ids"])
        ids[i, :n] = torch.tensor(r["ids"])
        mask[i, :n] = 1
    return ids, mask


def bench(model, rows, threads, batch):
    torch.set_num_threads(threads)
    rows = sorted(rows, key=lambda r: -len(r["ids"]))
    t0 = time.time()
    for b0 in range(0, len(rows), batch):
        ids, mask = batch_of(model, rows[b0:b0 + batch])
        h = model.encode(ids, mask)
        m = mask.unsqueeze(-1).float()
        (h * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)
    dt = time.time() - t0
    print("%.2f %.3f %d" % (len(rows) / dt, dt, sum(len(r["ids"]) for r in rows)))


class Pooled(torch.nn.Module):
    """The encoder and mean pooling as one module, for torch.onnx.export."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids, mask):
        h = self.model.encode(ids, mask)
        m = mask.unsqueeze(-1).float()
        return (h * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)


def export_onnx(model, path):
    ids = torch.full((2, 8), 5, dtype=torch.long)
    mask = torch.ones(2, 8, dtype=torch.long)
    torch.onnx.export(Pooled(model), (ids, mask), path,
                      input_names=["input_ids", "attention_mask"],
                      output_names=["sentence_embedding"], opset_version=14,
                      dynamic_axes={"input_ids": {0: "b", 1: "s"},
                                    "attention_mask": {0: "b", 1: "s"},
                                    "sentence_embedding": {0: "b"}})


def main():
    argv = sys.argv[1:]

    def opt(k, d):
        return int(argv[argv.index(k) + 1]) if k in argv else d
    model = Model(argv[0])
    if argv[1] == "--onnx":
        return export_onnx(model, argv[2])
    rows = [json.loads(l) for l in open(argv[1])]
    if "--bench" in argv:
        return bench(model, rows, opt("--threads", 2), opt("--batch", 32))
    batch, n_hidden, cls = opt("--batch", 16), opt("--hidden", 0), "--cls" in argv
    out = []
    for b0 in range(0, len(rows), batch):
        chunk = rows[b0:b0 + batch]
        ids, mask = batch_of(model, chunk)
        h = model.encode(ids, mask)
        for i, r in enumerate(chunk):
            row = b0 + i
            n = len(r["ids"])
            if n_hidden:
                if row < n_hidden:
                    for t in range(n):
                        out.append("%d %s" % (row, " ".join("%.8g" % v for v in h[i, t].tolist())))
            elif cls:
                out.append(" ".join("%.8g" % x for x in h[i, 0].tolist()))
            else:
                m = mask[i].unsqueeze(-1).float()
                v = (h[i] * m).sum(0) / torch.clamp(m.sum(0), min=1e-9)
                out.append(" ".join("%.8g" % x for x in v.tolist()))
    sys.stdout.write("\n".join(out) + ("\n" if out else ""))


if __name__ == "__main__":
    main()
