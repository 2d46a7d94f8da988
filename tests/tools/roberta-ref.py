#!/usr/bin/env python3
"""PyTorch reference of the RoBERTa / XLM-RoBERTa / CamemBERT encoder and of the
sequence-classification heads of cross-encoders, for sb's golden files.

A port of transformers' src/transformers/models/roberta/modeling_roberta.py
(huggingface/transformers at commit 000824f17f924a8b520edf04c597c461fc83356a, the 4.x
series; XLMRobertaModel and CamembertModel in modeling_xlm_roberta.py and
modeling_camembert.py are RobertaModel under other names) and of BertModel /
BertForSequenceClassification (modeling_bert.py, same series), run on Debian's
python3-torch 1.13 (transformers itself cannot be installed here):

  RobertaEmbeddings      word + token_type + position embeddings, LayerNorm(eps from
                         config.json); position ids from create_position_ids_from_input_ids:
                         mask = ids != pad_token_id, cumsum(mask) * mask + pad_token_id
                         (BERT: 0, 1, 2, ...)
  RobertaLayer           BERT's: self-attention with the extended mask
                         (1 - mask) * finfo(float32).min added to the scores, softmax,
                         output dense + residual + LayerNorm, intermediate dense + GELU
                         (erf), output dense + residual + LayerNorm
  RobertaClassificationHead   first token -> dense -> tanh -> out_proj
  BertForSequenceClassification   pooler (first token -> dense -> tanh) -> classifier
  sentence-transformers' CrossEncoder   sigmoid on the logits when num_labels is 1,
                         else the logits (its default activation); --raw: the logits

usage: roberta-ref.py MODEL_DIR TOKENS.jsonl [--batch B] [--hidden N] [--scores [--raw]]

TOKENS.jsonl: hf_tokenize.js output ({"ids": [...], "type_ids": [...]} a line).  Rows run
in batches of B (default 16) consecutive lines padded on the right to the longest with
pad_token_id and mask 0, so every batch has padding.  Prints one line per row, "%.8g"
floats: the mean-pooled embedding (default), or with --scores the head's scores; with
--hidden N, the last hidden state of every real token of the first N rows, "ROW v v ...".
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

torch.set_grad_enabled(False)


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


class Model:
    def __init__(self, dirname):
        with open(os.path.join(dirname, "config.json")) as f:
            self.cfg = json.load(f)
        self.w = load(dirname)
        c = self.cfg
        self.roberta = c["model_type"] in ("roberta", "xlm-roberta", "camembert")
        self.pad = c.get("pad_token_id", 1 if self.roberta else 0)
        self.eps = c.get("layer_norm_eps", 1e-12)
        self.heads = c["num_attention_heads"]
        self.layers = c["num_hidden_layers"]
        # Encoder keys: under roberta./bert. or bare (sentence-transformers' 0_Transformer).
        self.pre = ""
        for p in ("roberta.", "bert."):
            if p + "embeddings.word_embeddings.weight" in self.w:
                self.pre = p

    def t(self, name):
        return self.w[self.pre + name]

    def ln(self, x, name):
        return torch.nn.functional.layer_norm(x, x.shape[-1:], self.t(name + ".weight"),
                                              self.t(name + ".bias"), self.eps)

    def lin(self, x, name):
        return torch.nn.functional.linear(x, self.t(name + ".weight"), self.t(name + ".bias"))

    def positions(self, ids):
        if not self.roberta:
            return torch.arange(ids.shape[1]).unsqueeze(0).expand(ids.shape)
        mask = ids.ne(self.pad).int()
        return (torch.cumsum(mask, dim=1).type_as(mask) * mask).long() + self.pad

    def encode(self, ids, types, mask):
        e = torch.nn.functional.embedding
        x = (e(ids, self.t("embeddings.word_embeddings.weight")) +
             e(types, self.t("embeddings.token_type_embeddings.weight")) +
             e(self.positions(ids), self.t("embeddings.position_embeddings.weight")))
        x = self.ln(x, "embeddings.LayerNorm")
        B, L, D = x.shape
        H = self.heads
        d = D // H
        ext = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for i in range(self.layers):
            p = "encoder.layer.%d." % i

            def split(y):
                return y.view(B, L, H, d).permute(0, 2, 1, 3)
            q = split(self.lin(x, p + "attention.self.query"))
            k = split(self.lin(x, p + "attention.self.key"))
            v = split(self.lin(x, p + "attention.self.value"))
            s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d) + ext
            ctx = torch.matmul(torch.softmax(s, dim=-1), v).permute(0, 2, 1, 3).reshape(B, L, D)
            x = self.ln(self.lin(ctx, p + "attention.output.dense") + x,
                        p + "attention.output.LayerNorm")
            f = torch.nn.functional.gelu(self.lin(x, p + "intermediate.dense"))
            x = self.ln(self.lin(f, p + "output.dense") + x, p + "output.LayerNorm")
        return x

    def logits(self, h):
        w = self.w
        first = h[:, 0, :]
        if "classifier.out_proj.weight" in w:
            y = torch.tanh(torch.nn.functional.linear(first, w["classifier.dense.weight"],
                                                      w["classifier.dense.bias"]))
            return torch.nn.functional.linear(y, w["classifier.out_proj.weight"],
                                              w["classifier.out_proj.bias"])
        y = torch.tanh(torch.nn.functional.linear(first, w["bert.pooler.dense.weight"],
                                                  w["bert.pooler.dense.bias"]))
        return torch.nn.functional.linear(y, w["classifier.weight"], w["classifier.bias"])


def main():
    argv = sys.argv[1:]

    def opt(k, d):
        return int(argv[argv.index(k) + 1]) if k in argv else d
    model = Model(argv[0])
    rows = [json.loads(l) for l in open(argv[1])]
    batch, n_hidden = opt("--batch", 16), opt("--hidden", 0)
    scores, raw = "--scores" in argv, "--raw" in argv
    out = []
    for b0 in range(0, len(rows), batch):
        chunk = rows[b0:b0 + batch]
        L = max(len(r["ids"]) for r in chunk)
        ids = torch.full((len(chunk), L), model.pad, dtype=torch.long)
        types = torch.zeros((len(chunk), L), dtype=torch.long)
        mask = torch.zeros((len(chunk), L), dtype=torch.long)
        for i, r in enumerate(chunk):
            n = len(r["ids"])
            ids[i, :n] = torch.tensor(r["ids"])
            types[i, :n] = torch.tensor(r.get("type_ids", [0] * n))
            mask[i, :n] = 1
        h = model.encode(ids, types, mask)
        for i, r in enumerate(chunk):
            row = b0 + i
            n = len(r["ids"])
            if n_hidden:
                if row < n_hidden:
                    for t in range(n):
                        out.append("%d %s" % (row, " ".join("%.8g" % v for v in h[i, t].tolist())))
            elif scores:
                y = model.logits(h[i:i + 1])[0]
                if y.shape[0] == 1 and not raw:
                    y = torch.sigmoid(y)
                out.append(" ".join("%.8g" % v for v in y.tolist()))
            else:
                m = mask[i].unsqueeze(-1).float()
                v = (h[i] * m).sum(0) / torch.clamp(m.sum(0), min=1e-9)
                out.append(" ".join("%.8g" % x for x in v.tolist()))
    sys.stdout.write("\n".join(out) + ("\n" if out else ""))


if __name__ == "__main__":
    main()
