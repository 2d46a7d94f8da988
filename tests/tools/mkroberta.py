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
import subprocess
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hublayout import checkpoint_write, json_write, st_modules  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CLASSES = {"roberta": "Roberta", "xlm-roberta": "XLMRoberta", "camembert": "Camembert",
           "bert": "Bert"}


def weights(a, vocab, g):
    D, F = a.hidden, a.ffn

    def mat(*shape):
        return torch.randn(*shape, generator=g) * 0.1

    def ln(name, w):
        w[name + ".weight"] = 1 + mat(D)
        w[name + ".bias"] = mat(D)

    w = {}
    w["embeddings.word_embeddings.weight"] = mat(vocab, D)
    w["embeddings.position_embeddings.weight"] = mat(a.max_pos, D)
    w["embeddings.token_type_embeddings.weight"] = mat(a.types, D)
    ln("embeddings.LayerNorm", w)
    for i in range(a.layers):
        p = "encoder.layer.%d." % i
        for k in ("query", "key", "value"):
            w[p + "attention.self.%s.weight" % k] = mat(D, D)
            w[p + "attention.self.%s.bias" % k] = mat(D)
        w[p + "attention.output.dense.weight"] = mat(D, D)
        w[p + "attention.output.dense.bias"] = mat(D)
        ln(p + "attention.output.LayerNorm", w)
        w[p + "intermediate.dense.weight"] = mat(F, D)
        w[p + "intermediate.dense.bias"] = mat(F)
        w[p + "output.dense.weight"] = mat(D, F)
        w[p + "output.dense.bias"] = mat(D)
        ln(p + "output.LayerNorm", w)
    return w


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gpt2")
    ap.add_argument("out")
    ap.add_argument("--type", default="xlm-roberta", choices=["roberta", "xlm-roberta", "camembert"])
    ap.add_argument("--merges", type=int, default=600)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=64)
    ap.add_argument("--max-pos", type=int, default=66)
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

    if a.tokenizer:
        os.makedirs(a.out, exist_ok=True)
        for n in ("tokenizer.json", "vocab.txt", "tokenizer_config.json",
                  "special_tokens_map.json"):
            if os.path.exists(os.path.join(a.tokenizer, n)):
                shutil.copy(os.path.join(a.tokenizer, n), os.path.join(a.out, n))
    else:
        subprocess.run([sys.executable, os.path.join(HERE, "tokenize-mkbpe.py"), a.gpt2, a.out,
                        "--style", "roberta", "--merges", str(a.merges)], check=True)
    with open(os.path.join(a.out, "tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    mv = tj["model"]["vocab"]
    # BPE/WordPiece vocabularies map pieces to ids; Unigram's is a list of [piece, score].
    ids = list(mv.values()) if isinstance(mv, dict) else list(range(len(mv)))
    vocab = max(ids + [t["id"] for t in tj["added_tokens"]]) + 1
    tcfg_path = os.path.join(a.out, "tokenizer_config.json")
    with open(tcfg_path, encoding="utf-8") as f:
        tcfg = json.load(f)
    tcfg["model_max_length"] = a.max_pos - 2
    with open(tcfg_path, "w", encoding="utf-8") as f:
        json.dump(tcfg, f, indent=2)

    g = torch.Generator().manual_seed(a.seed)
    bert = a.head == "bert"
    mtype = "bert" if bert else a.type
    w = weights(a, vocab, g)
    pre = "bert." if bert else "roberta."
    if a.prefix or a.head != "none":
        w = {pre + k: v for k, v in w.items()}
    if a.extra:
        w[pre + "embeddings.position_ids"] = torch.arange(a.max_pos).unsqueeze(0)
        w["lm_head.dense.weight"] = torch.randn(a.hidden, a.hidden, generator=g)
        w["lm_head.bias"] = torch.randn(vocab, generator=g)
    if a.extra or bert:
        w[pre + "pooler.dense.weight"] = torch.randn(a.hidden, a.hidden, generator=g) * 0.1
        w[pre + "pooler.dense.bias"] = torch.randn(a.hidden, generator=g) * 0.1
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
    cfg = {"architectures": [cls], "model_type": mtype, "vocab_size": vocab,
           "hidden_size": a.hidden, "num_hidden_layers": a.layers,
           "num_attention_heads": a.heads, "intermediate_size": a.ffn, "hidden_act": "gelu",
           "max_position_embeddings": a.max_pos, "type_vocab_size": a.types,
           "layer_norm_eps": a.eps, "pad_token_id": 0 if bert else 1,
           "position_embedding_type": "absolute", "hidden_dropout_prob": 0.1,
           "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02,
           "torch_dtype": "float32"}
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
