#!/usr/bin/python3
"""Converts a SentencePiece .model to a Hugging Face model folder (tokenizer.json,
tokenizer_config.json, special_tokens_map.json) the way transformers'
convert_slow_tokenizer.py does.

usage: spm2json.py STYLE MODEL OUTDIR

STYLE:
  xlmr         XLMRobertaConverter (SpmConverter's normalizer: Precompiled, Strip right,
               Replace " {2,}" by U+2581; Metaspace prepend_scheme always; ids in fairseq
               order <s> <pad> </s> <unk>, the pieces after the first three, <mask>)
  xlmr-legacy  the same as the files on the hub for XLM-R models were written by older
               transformers: Precompiled alone, Metaspace with add_prefix_space, and the
               Unigram's byte_fallback taken from the model (SpmConverter.
               build_tokenizer_from_spm_proto)
  llama        LlamaConverter, legacy: BPE with byte_fallback and fuse_unk, merges from the
               pieces (SentencePieceExtractor), normalizer Prepend U+2581 then Replace " "
  llama-meta   LlamaConverter with legacy=False: no normalizer, Metaspace prepend_scheme
               first and split false
Needs Debian's python3-sentencepiece (for sentencepiece_model_pb2) only.
"""
import base64
import json
import os
import sys

from sentencepiece import sentencepiece_model_pb2 as pb

SP = "\u2581"


def added(i, content, special=True, lstrip=False):
    return {"id": i, "content": content, "single_word": False, "lstrip": lstrip,
            "rstrip": False, "normalized": not special, "special": special}


def template(single, pair, specials):
    def items(spec):
        out = []
        for s in spec.split():
            name, _, tid = s.partition(":")
            tid = int(tid or 0)
            if name.startswith("$"):
                out.append({"Sequence": {"id": name[1:], "type_id": tid}})
            else:
                out.append({"SpecialToken": {"id": name, "type_id": tid}})
        return out
    return {"type": "TemplateProcessing", "single": items(single), "pair": items(pair),
            "special_tokens": {k: {"id": k, "ids": [v], "tokens": [k]} for k, v in specials}}


def spm_merges(proto, vocab_scores):
    """SentencePieceExtractor.extract(vocab_scores): every split of a piece into two
    pieces, ordered by the piece's score (then the ids of the two halves)."""
    vocab = {p.piece: i for i, p in enumerate(proto.pieces)}
    scores = dict(vocab_scores)
    merges = []
    for merge, score in scores.items():
        local = []
        for k in range(1, len(merge)):
            left, right = merge[:k], merge[k:]
            if left in vocab and right in vocab:
                local.append((left, right, score))
        local.sort(key=lambda x: (vocab[x[0]], vocab[x[1]]))
        merges.extend(local)
    merges.sort(key=lambda x: x[2], reverse=True)
    return [[a, b] for a, b, _ in merges]


def xlmr(proto, legacy):
    pieces = [(p.piece, p.score) for p in proto.pieces]
    vocab = [["<s>", 0.0], ["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0]]
    vocab += [[p, s] for p, s in pieces[3:]]
    vocab += [["<mask>", 0.0]]
    mask = len(vocab) - 1
    charsmap = base64.b64encode(proto.normalizer_spec.precompiled_charsmap).decode()
    pre = {"type": "Precompiled", "precompiled_charsmap": charsmap}
    if legacy:
        norm = pre
        meta = {"type": "Metaspace", "replacement": SP, "add_prefix_space": True}
    else:
        norm = {"type": "Sequence", "normalizers": [
            pre, {"type": "Strip", "strip_left": False, "strip_right": True},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": SP}]}
        meta = {"type": "Metaspace", "replacement": SP, "prepend_scheme": "always",
                "split": True}
    tok = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(0, "<s>"), added(1, "<pad>"), added(2, "</s>"),
                         added(3, "<unk>"), added(mask, "<mask>", lstrip=True)],
        "normalizer": norm, "pre_tokenizer": meta,
        "post_processor": template("<s> $A </s>", "<s> $A </s> </s> $B </s>",
                                   [("<s>", 0), ("</s>", 2)]),
        "decoder": dict(meta),
        "model": {"type": "Unigram", "unk_id": 3, "vocab": vocab,
                  "byte_fallback": bool(legacy and proto.trainer_spec.byte_fallback)},
    }
    cfg = {"tokenizer_class": "XLMRobertaTokenizer", "model_max_length": 512,
           "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
           "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"}
    return tok, cfg


def llama(proto, meta):
    pieces = [(p.piece, p.score) for p in proto.pieces]
    vocab_scores = [("<unk>", 0.0), ("<s>", 0.0), ("</s>", 0.0)] + pieces[3:]
    vocab = {p: i for i, (p, _) in enumerate(vocab_scores)}
    model = {"type": "BPE", "dropout": None, "unk_token": "<unk>",
             "continuing_subword_prefix": None, "end_of_word_suffix": None,
             "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
             "vocab": vocab, "merges": spm_merges(proto, vocab_scores)}
    if meta:
        norm = None
        pre = {"type": "Metaspace", "replacement": SP, "prepend_scheme": "first",
               "split": False}
    else:
        norm = {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": SP},
            {"type": "Replace", "pattern": {"String": " "}, "content": SP}]}
        pre = None
    tok = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")],
        "normalizer": norm, "pre_tokenizer": pre,
        "post_processor": template("<s>:0 $A:0", "<s>:0 $A:0 <s>:1 $B:1", [("<s>", 1)]),
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": SP}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": model,
    }
    cfg = {"tokenizer_class": "LlamaTokenizer", "model_max_length": 2048,
           "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": None,
           "add_bos_token": True, "add_eos_token": False, "legacy": not meta}
    return tok, cfg


def main():
    style, path, out = sys.argv[1:4]
    proto = pb.ModelProto()
    with open(path, "rb") as f:
        proto.ParseFromString(f.read())
    if style in ("xlmr", "xlmr-legacy"):
        tok, cfg = xlmr(proto, style == "xlmr-legacy")
    elif style in ("llama", "llama-meta"):
        tok, cfg = llama(proto, style == "llama-meta")
    else:
        sys.exit(f"spm2json.py: unknown style '{style}'")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    with open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=1)
        f.write("\n")
    smap = {k: v for k, v in cfg.items() if k.endswith("_token") and v is not None}
    with open(os.path.join(out, "special_tokens_map.json"), "w", encoding="utf-8") as f:
        json.dump(smap, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
