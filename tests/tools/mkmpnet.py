#!/usr/bin/env python3
"""Writes an MPNet model folder with random weights, in the Hub's layout of
sentence-transformers' all-mpnet-base-v2, for sb's tests and benchmarks.

usage: mkmpnet.py VOCAB_TXT OUT [--hidden D] [--layers N] [--heads H] [--ffn F]
                  [--max-pos P] [--buckets K] [--eps E] [--seed S]
                  [--format safetensors|bin] [--prefix] [--extra] [--no-normalize]

VOCAB_TXT is a BERT WordPiece vocabulary (tests/models/vocab.txt, or the real
bert-base-uncased one); the MPNet vocabulary is, as all-mpnet-base-v2's, <s>=0 <pad>=1
</s>=2 <unk>=3, then VOCAB_TXT's entries, then <mask>.  OUT receives:
  vocab.txt, tokenizer.json   the fast tokenizer transformers' MPNetConverter writes:
                      BertNormalizer (lowercase, no accent stripping), BertPreTokenizer,
                      WordPiece (unk [UNK], ##), TemplateProcessing "<s> $A </s>" and
                      "<s> $A </s> </s> $B </s>" (type ids 0, then 1 for B), special
                      added tokens <s> <pad> </s> <unk> [UNK] and <mask> (lstrip)
  tokenizer_config.json, special_tokens_map.json   MPNetTokenizer, model_max_length P - 2
  config.json         model_type mpnet, MPNetForMaskedLM, max_position_embeddings P
                      (P - 2 tokens fit), relative_attention_num_buckets K (32),
                      layer_norm_eps E (1e-5 as all-mpnet-base-v2), pad_token_id 1
  model.safetensors   (F32) or pytorch_model.bin (torch.save): transformers' key names,
                      under "mpnet." with --prefix (as MPNetForMaskedLM checkpoints) or bare
                      (as sentence-transformers saves its 0_Transformer module); --extra
                      adds tensors a loader must skip (the pooler, an MLM head, the
                      position_ids buffer)
  modules.json (Transformer, Pooling, Normalize unless --no-normalize),
  sentence_bert_config.json (max_seq_length P - 2), 1_Pooling/config.json (mean)
  (2_Normalize has no files, so the Hub has no such folder, and neither has OUT)

Weights are N(0, 0.1) matrices, biases N(0, 0.1), LayerNorm weights 1 + N(0, 0.1) and the
relative position bias N(0, 1), so that every tensor, every bucket included, changes the
output visibly.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hublayout import (Draw, checkpoint_write, encoder_config, json_write,  # noqa: E402
                       lm_head, pooler, shape_args, st_modules)


def weights(a, vocab, g):
    d = Draw(g, a.hidden)
    d.w["embeddings.word_embeddings.weight"] = d.mat(vocab, a.hidden)
    d.w["embeddings.position_embeddings.weight"] = d.mat(a.max_pos, a.hidden)
    d.ln("embeddings.LayerNorm")
    for i in range(a.layers):
        p = "encoder.layer.%d." % i
        for k in "qkvo":
            d.lin(p + "attention.attn." + k, a.hidden, a.hidden)
        d.ln(p + "attention.LayerNorm")
        d.bert_ffn(p, a.ffn)
    d.w["encoder.relative_attention_bias.weight"] = torch.randn(a.buckets, a.heads, generator=g)
    return d.w


def added(i, content, lstrip=False):
    return {"id": i, "content": content, "single_word": False, "lstrip": lstrip,
            "rstrip": False, "normalized": False, "special": True}


def tokenizer(a, words):
    vocab = ["<s>", "<pad>", "</s>", "<unk>"] + words + ["<mask>"]
    ids = {t: i for i, t in enumerate(vocab)}
    unk = ids["[UNK]"]

    def special(t, type_id):
        return {"SpecialToken": {"id": t, "type_id": type_id}}

    def seq(s, type_id):
        return {"Sequence": {"id": s, "type_id": type_id}}
    tj = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(0, "<s>"), added(1, "<pad>"), added(2, "</s>"), added(3, "<unk>"),
                         added(unk, "[UNK]"), added(len(vocab) - 1, "<mask>", lstrip=True)],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [special("<s>", 0), seq("A", 0), special("</s>", 0)],
            "pair": [special("<s>", 0), seq("A", 0), special("</s>", 0), special("</s>", 0),
                     seq("B", 1), special("</s>", 1)],
            "special_tokens": {
                "<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]},
                "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": ids}}
    with open(os.path.join(a.out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, indent=2, ensure_ascii=False)
    with open(os.path.join(a.out, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in vocab))
    specials = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "[UNK]", "sep_token": "</s>",
                "pad_token": "<pad>", "cls_token": "<s>", "mask_token": "<mask>"}
    tcfg = dict(specials, do_lower_case=True, tokenize_chinese_chars=True, strip_accents=None,
                model_max_length=a.max_pos - 2, tokenizer_class="MPNetTokenizer")
    with open(os.path.join(a.out, "tokenizer_config.json"), "w") as f:
        json.dump(tcfg, f, indent=2)
    with open(os.path.join(a.out, "special_tokens_map.json"), "w") as f:
        json.dump(specials, f, indent=2)
    return len(vocab)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vocab")
    ap.add_argument("out")
    shape_args(ap, layers=2, ffn=64, max_pos=514)
    ap.add_argument("--buckets", type=int, default=32)
    ap.add_argument("--eps", type=float, default=1e-5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--format", default="safetensors", choices=["safetensors", "bin"])
    ap.add_argument("--prefix", action="store_true")
    ap.add_argument("--extra", action="store_true")
    ap.add_argument("--no-normalize", dest="normalize", action="store_false")
    a = ap.parse_args()

    os.makedirs(a.out, exist_ok=True)
    with open(a.vocab, encoding="utf-8") as f:
        words = [l.rstrip("\n") for l in f if l.rstrip("\n")]
    vocab = tokenizer(a, words)
    g = torch.Generator().manual_seed(a.seed)
    w = weights(a, vocab, g)
    if a.prefix:
        w = {"mpnet." + k: v for k, v in w.items()}
    if a.extra:
        pre = "mpnet." if a.prefix else ""
        w[pre + "embeddings.position_ids"] = torch.arange(a.max_pos).unsqueeze(0)
        pooler(w, pre, a.hidden, g)
        lm_head(w, a.hidden, vocab, g)
    checkpoint_write(a.out, w, a.format)
    cfg = encoder_config("MPNetForMaskedLM", "mpnet", vocab, a, {
        "relative_attention_num_buckets": a.buckets, "layer_norm_eps": a.eps,
        "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2})
    json_write(os.path.join(a.out, "config.json"), cfg)
    st_modules(a.out, a.hidden, a.max_pos - 2, normalize=a.normalize)


if __name__ == "__main__":
    main()
