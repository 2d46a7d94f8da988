"""What the random-model makers of sb's tests (mkroberta.py, mkmpnet.py, mkmodernbert.py)
do the same way: their shape options, random tensors drawn in a fixed order, the BERT-style
blocks they share, the byte-level BPE tokenizer and its model_max_length, config.json's
common fields, the checkpoint in either of the Hub's formats, and sentence-transformers'
files (modules.json, sentence_bert_config.json, 1_Pooling/config.json).  Imported, not run."""
import json
import os
import struct
import subprocess
import sys

import torch


def safetensors_write(path, tensors):
    """tensors (name -> float32 or int64 tensor) as a safetensors file, in order."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        raw = t.detach().contiguous().numpy().tobytes()
        dt = {torch.float32: "F32", torch.int64: "I64"}[t.dtype]
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def checkpoint_write(out, tensors, fmt):
    """model.safetensors (fmt "safetensors") or pytorch_model.bin (torch.save) in out."""
    if fmt == "safetensors":
        safetensors_write(os.path.join(out, "model.safetensors"), tensors)
    else:
        torch.save(tensors, os.path.join(out, "pytorch_model.bin"))


def json_write(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)


def st_modules(out, dim, max_seq, pooling="mean", normalize=False):
    """sentence-transformers' modules: Transformer, Pooling (pooling: mean or cls) and,
    with normalize, Normalize; max_seq_length max_seq."""
    mods = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling",
             "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        mods.append({"idx": 2, "name": "2", "path": "2_Normalize",
                     "type": "sentence_transformers.models.Normalize"})
    json_write(os.path.join(out, "modules.json"), mods)
    json_write(os.path.join(out, "sentence_bert_config.json"),
               {"max_seq_length": max_seq, "do_lower_case": False})
    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
    json_write(os.path.join(out, "1_Pooling", "config.json"),
               {"word_embedding_dimension": dim, "pooling_mode_cls_token": pooling == "cls",
                "pooling_mode_mean_tokens": pooling == "mean", "pooling_mode_max_tokens": False,
                "pooling_mode_mean_sqrt_len_tokens": False})


def shape_args(ap, layers, ffn, max_pos):
    """--hidden (32), --layers, --heads (4), --ffn and --max-pos, with these defaults."""
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--layers", type=int, default=layers)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=ffn)
    ap.add_argument("--max-pos", type=int, default=max_pos)


class Draw:
    """Random tensors from generator g into the dict w, in the order asked: matrices and
    biases N(0, 0.1), LayerNorm weights 1 + N(0, 0.1), so that every tensor changes the
    output visibly.  dim is the hidden width."""

    def __init__(self, g, dim):
        self.g, self.dim, self.w = g, dim, {}

    def mat(self, *shape):
        return torch.randn(*shape, generator=self.g) * 0.1

    def lin(self, name, rows, cols, bias=True):
        self.w[name + ".weight"] = self.mat(rows, cols)
        if bias:
            self.w[name + ".bias"] = self.mat(rows)

    def ln(self, name, bias=True):
        self.w[name + ".weight"] = 1 + self.mat(self.dim)
        if bias:
            self.w[name + ".bias"] = self.mat(self.dim)

    def bert_ffn(self, p, ffn):
        """BERT's feed-forward block of layer prefix p: intermediate.dense, output.dense,
        output.LayerNorm."""
        self.lin(p + "intermediate.dense", ffn, self.dim)
        self.lin(p + "output.dense", self.dim, ffn)
        self.ln(p + "output.LayerNorm")


def pooler(w, pre, dim, g):
    """BERT's pooler.dense under prefix pre (a loader of embeddings skips it)."""
    w[pre + "pooler.dense.weight"] = torch.randn(dim, dim, generator=g) * 0.1
    w[pre + "pooler.dense.bias"] = torch.randn(dim, generator=g) * 0.1


def lm_head(w, dim, vocab, g):
    """An MLM head's lm_head.dense.weight and lm_head.bias (skipped by loaders)."""
    w["lm_head.dense.weight"] = torch.randn(dim, dim, generator=g)
    w["lm_head.bias"] = torch.randn(vocab, generator=g)


def bpe_tokenizer(gpt2, out, style, merges, max_len):
    """tokenize-mkbpe.py's byte-level BPE tokenizer of that style in out, from GPT-2's
    files in gpt2, with tokenizer_config.json's model_max_length set to max_len."""
    here = os.path.dirname(os.path.abspath(__file__))
    subprocess.run([sys.executable, os.path.join(here, "tokenize-mkbpe.py"), gpt2, out,
                    "--style", style, "--merges", str(merges)], check=True)
    model_max_length(out, max_len)


def model_max_length(out, n):
    """tokenizer_config.json of out with model_max_length n."""
    path = os.path.join(out, "tokenizer_config.json")
    with open(path, encoding="utf-8") as f:
        tcfg = json.load(f)
    tcfg["model_max_length"] = n
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tcfg, f, indent=2)


def encoder_config(arch, mtype, vocab, a, middle):
    """config.json's fields of a BERT-style encoder (RoBERTa, MPNet...) of shape a, in
    transformers' order, with the family's own fields middle after the positions."""
    cfg = {"architectures": [arch], "model_type": mtype, "vocab_size": vocab,
           "hidden_size": a.hidden, "num_hidden_layers": a.layers,
           "num_attention_heads": a.heads, "intermediate_size": a.ffn, "hidden_act": "gelu",
           "max_position_embeddings": a.max_pos}
    cfg.update(middle)
    cfg.update({"hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
                "initializer_range": 0.02, "torch_dtype": "float32"})
    return cfg
