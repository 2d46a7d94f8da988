#!/usr/bin/env python3
"""Writes a RoBERTa-family model folder with random weights, in the Hub's layout, for sb's tests.

usage: mkroberta.py GPT2_DIR OUT [--type roberta|xlm-roberta|camembert] [--merges N]
                    [--hidden D] [--layers N] [--heads H] [--ffn F] [--max-pos P]
                    [--types K] [--eps E] [--seed S] [--format safetensors|bin]
                    [--prefix] [--extra] [--head none|roberta|bert] [--labels N]
                    [--tokenizer DIR]

GPT2_DIR holds GPT-2's encoder.json and vocab.bpe (../shared/data/tokenizers/gpt2).
OUT receives:
  tokenizer files     tokenize-mkbpe.py --style roberta --merges N (a byte-level BPE
                      RoBERTa tokenizer: <s>=0 <pad>=1 </s>=2 <unk>=3 ... <mask>),
                      model_max_length = max_pos - 2
  config.json         model_type --type, pad_token_id 1, max_position_embeddings P
                      (P - 2 tokens fit), type_vocab_size K (1 as the real models),
                      layer_norm_eps E (1e-5 as the real models)
  model.safetensors   (F32) or pytorch_model.bin (torch.save): transformers' key names,
                      under "roberta." with --prefix (as RobertaModel checkpoints and
                      every *ForSequenceClassification) or bare (as sentence-transformers
                      saves its 0_Transformer module); --extra adds tensors a loader must
                      skip (pooler, an MLM head, the position_ids buffer)
  modules.json, sentence_bert_config.json (max_seq_length P - 2),
  1_Pooling/config.json (mean)
--head roberta adds RobertaClassificationHead's tensors (classifier.dense,
classifier.out_proj) and architectures XLMRobertaForSequenceClassification (or
Roberta/Camembert...); --head bert writes BertForSequenceClassification over a BERT
encoder instead (model_type bert, bert.* keys, bert.pooler.dense, classifier); both
with --labels N outputs (num_labels, id2label).  --tokenizer DIR copies DIR's tokenizer
files (tokenizer.json, vocab.txt, tokenizer_config.json, special_tokens_map.json: a
WordPiece BERT tokenizer, whose pairs have token types 0 and 1, or a SentencePiece
Unigram one as XLM-RoBERTa has) instead of building the BPE one.

Weights are N(0, 0.1) matrices, biases N(0, 0.1) and LayerNorm weights 1 + N(0, 0.1),
so that every tensor, every position row included, changes the output visibly.
"""
import argparse
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hublayout import (Draw, bpe_tokenizer, checkpoint_write, encoder_config,  # noqa: E402
                       json_write, lm_head, model_max_length, pooler, shape_args, st_modules)

CLASSES = {"roberta": "Roberta", "xlm-roberta": "XLMRoberta", "camembert": "Camembert",
           "bert": "Bert"}


def weights(a, vocab, g):
    d = Draw(g, a.hidden)
    d.w["embeddings.word_embeddings.weight"] = d.mat(vocab, a.hidden)
    d.w["embeddings.position_embeddings.weight"] = d.mat(a.max_pos, a.hidden)
    d.w["embeddings.token_type_embeddings.weight"] = d.mat(a.types, a.hidden)
    d.ln("embeddings.LayerNorm")
    for i in range(a.layers):
        p = "encoder.layer.%d." % i
        for k in ("query", "key", "value"):
            d.lin(p + "attention.self." + k, a.hidden, a.hidden)
        d.lin(p + "attention.output.dense", a.hidden, a.hidden)
        d.ln(p + "attention.output.LayerNorm")
        d.bert_ffn(p, a.ffn)
    return d.w


def tokenizer(a):
    """The tokenizer files in a.out (copied from a.tokenizer, or the byte-level BPE one);
    returns the vocabulary size."""
    if a.tokenizer:
        os.makedirs(a.out, exist_ok=True)
        for n in ("tokenizer.json", "vocab.txt", "tokenizer_config.json",
                  "special_tokens_map.json"):
            if os.path.exists(os.path.join(a.tokenizer, n)):
                shutil.copy(os.path.join(a.tokenizer, n), os.path.join(a.out, n))
        model_max_length(a.out, a.max_pos - 2)
    else:
        bpe_tokenizer(a.gpt2, a.out, "roberta", a.merges, a.max_pos - 2)
    with open(os.path.join(a.out, "tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    mv = tj["model"]["vocab"]
    # BPE/WordPiece vocabularies map pieces to ids; Unigram's is a list of [piece, score].
    ids = list(mv.values()) if isinstance(mv, dict) else list(range(len(mv)))
    return max(ids + [t["id"] for t in tj["added_tokens"]]) + 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gpt2")
    ap.add_argument("out")
    ap.add_argument("--type", default="xlm-roberta", choices=["roberta", "xlm-roberta", "camembert"])
    ap.add_argument("--merges", type=int, default=600)
    shape_args(ap, layers=2, ffn=64, max_pos=66)
    ap.add_argument("--types", type=int, default=1)
    ap.add_argument("--eps", type=float, default=1e-5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--format", default="safetensors", choices=["safetensors", "bin"])
    ap.add_argument("--prefix", action="store_true")
    ap.add_argument("--extra", action="store_true")
    ap.add_argument("--head", default="none", choices=["none", "roberta", "bert"])
    ap.add_argument("--labels", type=int, default=1)
    ap.add_argument("--tokenizer")
    a = ap.parse_args()

    vocab = tokenizer(a)
    g = torch.Generator().manual_seed(a.seed)
    bert = a.head == "bert"
    mtype = "bert" if bert else a.type
    w = weights(a, vocab, g)
    pre = "bert." if bert else "roberta."
    if a.prefix or a.head != "none":
        w = {pre + k: v for k, v in w.items()}
    if a.extra:
        w[pre + "embeddings.position_ids"] = torch.arange(a.max_pos).unsqueeze(0)
        lm_head(w, a.hidden, vocab, g)
    if a.extra or bert:
        pooler(w, pre, a.hidden, g)
    if a.head == "roberta":
        w["classifier.dense.weight"] = torch.randn(a.hidden, a.hidden, generator=g) * 0.3
        w["classifier.dense.bias"] = torch.randn(a.hidden, generator=g) * 0.3
        w["classifier.out_proj.weight"] = torch.randn(a.labels, a.hidden, generator=g) * 0.3
        w["classifier.out_proj.bias"] = torch.randn(a.labels, generator=g) * 0.3
    elif bert:
        w["classifier.weight"] = torch.randn(a.labels, a.hidden, generator=g) * 0.3
        w["classifier.bias"] = torch.randn(a.labels, generator=g) * 0.3
    checkpoint_write(a.out, w, a.format)

    cls = CLASSES[mtype] + ("ForSequenceClassification" if a.head != "none" else "Model")
    cfg = encoder_config(cls, mtype, vocab, a, {
        "type_vocab_size": a.types, "layer_norm_eps": a.eps, "pad_token_id": 0 if bert else 1,
        "position_embedding_type": "absolute"})
    if not bert:
        cfg.update({"bos_token_id": 0, "eos_token_id": 2})
    if a.head != "none":
        cfg["id2label"] = {str(i): "LABEL_%d" % i for i in range(a.labels)}
        cfg["label2id"] = {"LABEL_%d" % i: i for i in range(a.labels)}
        if not bert:
            cfg["classifier_dropout"] = None
    json_write(os.path.join(a.out, "config.json"), cfg)
    if a.head == "none":
        st_modules(a.out, a.hidden, a.max_pos - 2)

if __name__ == "__main__":
    main()
