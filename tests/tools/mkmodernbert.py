#!/usr/bin/env python3
"""Writes a ModernBERT model folder with random weights, in the Hub's layout, for sb's tests.

usage: mkmodernbert.py GPT2_DIR OUT [--merges N] [--hidden D] [--layers N] [--heads H]
                       [--ffn F] [--max-pos P] [--window W] [--every N]
                       [--theta-global T] [--theta-local T] [--eps E] [--act A]
                       [--norm-bias] [--attn-bias] [--mlp-bias] [--prefix]
                       [--format safetensors|bin] [--pooling mean|cls] [--seed S]
                       [--init hf|visible]

GPT2_DIR holds GPT-2's encoder.json and vocab.bpe (../shared/data/tokenizers/gpt2).
OUT receives:
  tokenizer files     tokenize-mkbpe.py --style modernbert --merges N (byte-level BPE,
                      NFC, [CLS] A [SEP] by a TemplateProcessing, [PAD] the pad token),
                      model_max_length P
  config.json         the field names of the Hub's ModernBERT configs (gte-modernbert-base,
                      modernbert-embed-base): hidden_size, intermediate_size,
                      num_hidden_layers, num_attention_heads, hidden_activation,
                      max_position_embeddings P, local_attention W,
                      global_attn_every_n_layers N, global_rope_theta, local_rope_theta,
                      norm_eps, norm_bias, attention_bias, mlp_bias, pad_token_id...
  model.safetensors   (F32) or pytorch_model.bin: ModernBertModel's keys
                      (embeddings.tok_embeddings, embeddings.norm, layers.I.attn_norm for
                      I > 0, layers.I.attn.Wqkv, layers.I.attn.Wo, layers.I.mlp_norm,
                      layers.I.mlp.Wi [2F, D], layers.I.mlp.Wo, final_norm), bare as
                      sentence-transformers saves them, or under "model." with --prefix
                      (ModernBertForMaskedLM, whose head.* and decoder.* tensors are then
                      added: a loader must skip them)
  modules.json, sentence_bert_config.json (max_seq_length P),
  1_Pooling/config.json (--pooling, mean by default)

Weights (--init):
  hf        (default) as transformers initialises a ModernBertModel: its
            ModernBertPreTrainedModel._init_weights in
            src/transformers/models/modernbert/modeling_modernbert.py (huggingface/transformers
            at commit 000c33fdfde12e1ffafbfcdb3c926df5727a00b6, the version
            modernbert-ref.py ports): tok_embeddings, attn.Wqkv and mlp.Wi normal with std
            initializer_range (0.02), attn.Wo and mlp.Wo std 0.02 / sqrt(2 num_hidden_layers),
            each truncated at initializer_cutoff_factor (2) std; every bias 0; LayerNorm
            weights 1 and biases 0.  The residual stream keeps the size of a trained model's
            (max |x| of a few units at 22 layers x 768 rather than hundreds), so rounding is
            not amplified beyond what a real checkpoint shows: the full-size model of
            bench/encode-modernbert.sh.
  visible   N(0, 0.1) matrices and biases, LayerNorm weights 1 + N(0, 0.1), so that every
            tensor changes the output visibly: the test models of modernbert-goldens.sh
            (with unit LayerNorm weights and zero biases a loader that dropped them would
            pass).
"""
import argparse
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hublayout import (Draw, bpe_tokenizer, checkpoint_write, json_write,  # noqa: E402
                       shape_args, st_modules)


def weights(a, vocab, g):
    d = Draw(g, a.hidden)
    D, F = a.hidden, a.ffn
    d.w["embeddings.tok_embeddings.weight"] = d.mat(vocab, D)
    d.ln("embeddings.norm", a.norm_bias)
    for i in range(a.layers):
        p = "layers.%d." % i
        if i > 0:
            d.ln(p + "attn_norm", a.norm_bias)
        d.lin(p + "attn.Wqkv", 3 * D, D, a.attn_bias)
        d.lin(p + "attn.Wo", D, D, a.attn_bias)
        d.ln(p + "mlp_norm", a.norm_bias)
        d.lin(p + "mlp.Wi", 2 * F, D, a.mlp_bias)
        d.lin(p + "mlp.Wo", D, F, a.mlp_bias)
    d.ln("final_norm", a.norm_bias)
    return d.w


CUTOFF = 2.0      # the initializer_cutoff_factor written to config.json
RANGE = 0.02      # initializer_range


def trunc_normal(g, std, *shape):
    """N(0, std) cut at CUTOFF std: values outside drawn again, as torch's trunc_normal_
    (rejection keeps the exact truncated law; this draws from generator g)."""
    t = torch.randn(*shape, generator=g)
    while True:
        out = t.abs() > CUTOFF
        n = int(out.sum())
        if not n:
            return t * std
        t[out] = torch.randn(n, generator=g)


def weights_hf(a, vocab, g):
    """transformers' ModernBertPreTrainedModel._init_weights (see the header)."""
    D, F = a.hidden, a.ffn
    out = RANGE / math.sqrt(2.0 * a.layers)
    w = {}

    def lin(name, rows, cols, std, bias):
        w[name + ".weight"] = trunc_normal(g, std, rows, cols)
        if bias:
            w[name + ".bias"] = torch.zeros(rows)

    def ln(name):
        w[name + ".weight"] = torch.ones(D)
        if a.norm_bias:
            w[name + ".bias"] = torch.zeros(D)
    w["embeddings.tok_embeddings.weight"] = trunc_normal(g, RANGE, vocab, D)
    ln("embeddings.norm")
    for i in range(a.layers):
        p = "layers.%d." % i
        if i > 0:
            ln(p + "attn_norm")
        lin(p + "attn.Wqkv", 3 * D, D, RANGE, a.attn_bias)
        lin(p + "attn.Wo", D, D, out, a.attn_bias)
        ln(p + "mlp_norm")
        lin(p + "mlp.Wi", 2 * F, D, RANGE, a.mlp_bias)
        lin(p + "mlp.Wo", D, F, out, a.mlp_bias)
    ln("final_norm")
    return w


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gpt2")
    ap.add_argument("out")
    ap.add_argument("--merges", type=int, default=600)
    shape_args(ap, layers=4, ffn=48, max_pos=8192)
    ap.add_argument("--window", type=int, default=16)
    ap.add_argument("--every", type=int, default=3)
    ap.add_argument("--theta-global", type=float, default=160000.0)
    ap.add_argument("--theta-local", type=float, default=10000.0)
    ap.add_argument("--eps", type=float, default=1e-5)
    ap.add_argument("--act", default="gelu")
    ap.add_argument("--norm-bias", action="store_true")
    ap.add_argument("--attn-bias", action="store_true")
    ap.add_argument("--mlp-bias", action="store_true")
    ap.add_argument("--prefix", action="store_true")
    ap.add_argument("--format", default="safetensors", choices=["safetensors", "bin"])
    ap.add_argument("--pooling", default="mean", choices=["mean", "cls"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--init", default="hf", choices=["hf", "visible"])
    a = ap.parse_args()

    bpe_tokenizer(a.gpt2, a.out, "modernbert", a.merges, a.max_pos)
    with open(os.path.join(a.out, "config.json"), encoding="utf-8") as f:
        tok_cfg = json.load(f)
    vocab = tok_cfg["vocab_size"]

    g = torch.Generator().manual_seed(a.seed)
    w = (weights_hf if a.init == "hf" else weights)(a, vocab, g)
    if a.prefix:
        w = {"model." + k: v for k, v in w.items()}
        D = a.hidden
        w["head.dense.weight"] = torch.randn(D, D, generator=g) * 0.1
        w["head.norm.weight"] = torch.ones(D)
        w["decoder.weight"] = w["model.embeddings.tok_embeddings.weight"].clone()
        w["decoder.bias"] = torch.zeros(vocab)
    checkpoint_write(a.out, w, a.format)

    cfg = {"architectures": ["ModernBertForMaskedLM" if a.prefix else "ModernBertModel"],
           "attention_bias": a.attn_bias, "attention_dropout": 0.0,
           "bos_token_id": tok_cfg["cls_token_id"], "classifier_activation": "gelu",
           "classifier_bias": False, "classifier_dropout": 0.0, "classifier_pooling": "mean",
           "cls_token_id": tok_cfg["cls_token_id"], "decoder_bias": True,
           "deterministic_flash_attn": False, "embedding_dropout": 0.0,
           "eos_token_id": tok_cfg["sep_token_id"], "global_attn_every_n_layers": a.every,
           "global_rope_theta": a.theta_global, "gradient_checkpointing": False,
           "hidden_activation": a.act, "hidden_size": a.hidden,
           "initializer_cutoff_factor": CUTOFF, "initializer_range": RANGE,
           "intermediate_size": a.ffn, "layer_norm_eps": 1e-05, "local_attention": a.window,
           "local_rope_theta": a.theta_local, "max_position_embeddings": a.max_pos,
           "mlp_bias": a.mlp_bias, "mlp_dropout": 0.0, "model_type": "modernbert",
           "norm_bias": a.norm_bias, "norm_eps": a.eps, "num_attention_heads": a.heads,
           "num_hidden_layers": a.layers, "pad_token_id": tok_cfg["pad_token_id"],
           "position_embedding_type": "absolute", "sep_token_id": tok_cfg["sep_token_id"],
           "torch_dtype": "float32", "vocab_size": vocab}
    json_write(os.path.join(a.out, "config.json"), cfg)
    st_modules(a.out, a.hidden, a.max_pos, pooling=a.pooling)

if __name__ == "__main__":
    main()
