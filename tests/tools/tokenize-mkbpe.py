#!/usr/bin/env python3
"""Builds byte-level BPE tokenizer folders from GPT-2's files, for sb's tests.

usage: tokenize-mkbpe.py GPT2_DIR OUT_DIR [--style roberta|gpt2|qwen|modernbert] [--merges N]
                         [--prefix-space] [--no-json] [--merges-form strings|pairs]

GPT2_DIR holds encoder.json (token -> id) and vocab.bpe (merges), as in
../shared/data/tokenizers/gpt2.  OUT_DIR receives a model folder:

  --style roberta (default): RoBERTa's layout, what transformers' RobertaConverter
      writes: vocab.json in RoBERTa's id order (<s> <pad> </s> <unk> first, GPT-2's
      tokens after them in GPT-2's order, <mask> last), merges.txt (vocab.bpe as is),
      tokenizer.json (BPE with the merges as "a b" strings, ByteLevel pre-tokenizer,
      RobertaProcessing, <mask> an lstrip added token), tokenizer_config.json,
      special_tokens_map.json, config.json (model_type roberta).
  --style gpt2: GPT-2's own ids, <|endoftext|> the only added token, a ByteLevel
      post-processor (no special tokens), tokenizer_class GPT2Tokenizer.
  --style qwen: Qwen2/Qwen3's pipeline on GPT-2's merges: NFC, Split with Qwen's
      regex then ByteLevel without one, merges as ["a", "b"] pairs, Qwen's added
      tokens after the vocabulary plus test tokens for every flag (<w> single_word,
      <l> lstrip, <r> rstrip, "café" normalized), and a TemplateProcessing that ends
      every text with <|endoftext|> as Qwen3-Embedding's does.
  --style modernbert: ModernBERT's pipeline: NFC, ByteLevel without a prefix space,
      GPT-2's ids with <|endoftext|>, then [UNK] [CLS] [SEP] [PAD] [MASK] as added
      special tokens ([MASK] lstrip), and a TemplateProcessing that makes
      "[CLS] A [SEP]" and "[CLS] A [SEP] B [SEP]"; no vocab.json / merges.txt.

--merges N keeps the first N merges and the tokens they reach (with the 256 bytes),
numbered in GPT-2's order: a small file for unit tests and fuzzing.  --prefix-space
sets add_prefix_space, --no-json leaves tokenizer.json out (to test the vocab.json +
merges.txt path), --merges-form overrides the JSON form of the merges.
"""
import json
import os
import sys


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


QWEN_RE = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}"
           "\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")


def added(i, content, special=True, normalized=False, lstrip=False, rstrip=False,
          single_word=False):
    return {"id": i, "content": content, "single_word": single_word, "lstrip": lstrip,
            "rstrip": rstrip, "normalized": normalized, "special": special}


def main():
    args, opts, argv = [], {}, sys.argv[1:]
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--style", "--merges", "--merges-form"):
            if i + 1 == len(argv):
                sys.exit(__doc__)
            opts[a] = argv[i + 1]
            i += 2
        elif a in ("--prefix-space", "--no-json"):
            opts[a] = True
            i += 1
        elif a.startswith("--"):
            sys.exit(__doc__)
        else:
            args.append(a)
            i += 1
    if len(args) != 2:
        sys.exit(__doc__)
    src, out = args
    style = opts.get("--style", "roberta")
    if style not in ("roberta", "gpt2", "qwen", "modernbert"):
        sys.exit(__doc__)
    prefix = bool(opts.get("--prefix-space"))
    enc = json.load(open(os.path.join(src, "encoder.json"), encoding="utf-8"))
    merges_txt = open(os.path.join(src, "vocab.bpe"), encoding="utf-8").read()
    merges = [l for l in merges_txt.split("\n") if l and not l.startswith("#version")]
    if "--merges" in opts:
        merges = merges[:int(opts["--merges"])]
        keep = set(bytes_to_unicode().values())
        for m in merges:
            a, b = m.split(" ")
            keep.add(a + b)
        keep.add("<|endoftext|>")
        merges_txt = "#version: 0.2\n" + "".join(m + "\n" for m in merges)
        enc = {t: i for i, (t, _) in enumerate(sorted(((t, v) for t, v in enc.items()
                                                        if t in keep), key=lambda kv: kv[1]))}
    os.makedirs(out, exist_ok=True)

    normalizer = None
    pre = {"type": "ByteLevel", "add_prefix_space": prefix, "trim_offsets": True,
           "use_regex": True}
    form = "strings"
    if style == "gpt2":
        vocab = dict(enc)
        eot = vocab["<|endoftext|>"]
        added_tokens = [added(eot, "<|endoftext|>")]
        post = {"type": "ByteLevel", "add_prefix_space": prefix, "trim_offsets": False,
                "use_regex": True}
        tcfg = {"tokenizer_class": "GPT2Tokenizer", "add_prefix_space": prefix,
                "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                "unk_token": "<|endoftext|>", "model_max_length": 1024}
        smap = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                "unk_token": "<|endoftext|>"}
        cfg = {"model_type": "gpt2", "n_positions": 1024, "vocab_size": len(vocab)}
    elif style == "qwen":
        vocab = {t: i for t, i in enc.items() if t != "<|endoftext|>"}
        vocab = {t: i for i, t in enumerate(sorted(vocab, key=lambda t: vocab[t]))}
        v = len(vocab)
        names = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        added_tokens = [added(v + k, s) for k, s in enumerate(names)]
        added_tokens += [added(v + 3, "<w>", special=False, single_word=True),
                         added(v + 4, "<l>", special=False, lstrip=True),
                         added(v + 5, "<r>", special=False, rstrip=True),
                         added(v + 6, "caf\u00e9", special=False, normalized=True)]
        normalizer = {"type": "NFC"}
        pre = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN_RE}, "behavior": "Isolated",
             "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
             "use_regex": False}]}
        post = {"type": "TemplateProcessing",
                "single": [{"Sequence": {"id": "A", "type_id": 0}},
                           {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}],
                "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}},
                         {"Sequence": {"id": "B", "type_id": 1}},
                         {"SpecialToken": {"id": "<|endoftext|>", "type_id": 1}}],
                "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [v],
                                                     "tokens": ["<|endoftext|>"]}}}
        tcfg = {"tokenizer_class": "Qwen2Tokenizer", "model_max_length": 32768,
                "pad_token": "<|endoftext|>", "eos_token": "<|im_end|>"}
        smap = {"pad_token": "<|endoftext|>", "eos_token": "<|im_end|>"}
        cfg = {"model_type": "qwen3", "max_position_embeddings": 32768,
               "vocab_size": v + len(added_tokens)}
        form = "pairs"
    elif style == "modernbert":
        vocab = dict(enc)
        v = len(vocab)
        names = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
        added_tokens = [added(vocab["<|endoftext|>"], "<|endoftext|>")]
        added_tokens += [added(v + k, n, lstrip=n == "[MASK]") for k, n in enumerate(names)]
        normalizer = {"type": "NFC"}

        def tok(n, t):
            return {"SpecialToken": {"id": n, "type_id": t}}

        def seq(n, t):
            return {"Sequence": {"id": n, "type_id": t}}
        post = {"type": "TemplateProcessing",
                "single": [tok("[CLS]", 0), seq("A", 0), tok("[SEP]", 0)],
                "pair": [tok("[CLS]", 0), seq("A", 0), tok("[SEP]", 0), seq("B", 0),
                         tok("[SEP]", 0)],
                "special_tokens": {n: {"id": n, "ids": [v + names.index(n)], "tokens": [n]}
                                   for n in ("[CLS]", "[SEP]")}}
        tcfg = {"tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": True,
                "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                "mask_token": "[MASK]", "unk_token": "[UNK]",
                "model_input_names": ["input_ids", "attention_mask"],
                "model_max_length": 8192}
        smap = {n: {"content": "[%s]" % n.split("_")[0].upper(), "lstrip": n == "mask_token",
                    "normalized": False, "rstrip": False, "single_word": False}
                for n in ("cls_token", "sep_token", "pad_token", "mask_token", "unk_token")}
        cfg = {"model_type": "modernbert", "max_position_embeddings": 8192,
               "pad_token_id": v + 3, "cls_token_id": v + 1, "sep_token_id": v + 2,
               "vocab_size": v + len(names)}
    else:
        vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
        for tok, i in sorted(enc.items(), key=lambda kv: kv[1]):
            vocab[tok] = i + 4
        vocab["<mask>"] = len(vocab)
        added_tokens = [added(vocab[n], n, normalized=True)
                        for n in ("<s>", "<pad>", "</s>", "<unk>")]
        added_tokens.append(added(vocab["<mask>"], "<mask>", lstrip=True))
        post = {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0],
                "trim_offsets": True, "add_prefix_space": prefix}
        tcfg = {"tokenizer_class": "RobertaTokenizer", "add_prefix_space": prefix,
                "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                "sep_token": "</s>", "cls_token": "<s>", "pad_token": "<pad>",
                "mask_token": {"content": "<mask>", "lstrip": True, "rstrip": False,
                               "normalized": False, "single_word": False,
                               "__type": "AddedToken"},
                "errors": "replace", "trim_offsets": True, "model_max_length": 512}
        smap = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                "sep_token": "</s>", "pad_token": "<pad>", "cls_token": "<s>",
                "mask_token": {"content": "<mask>", "lstrip": True, "rstrip": False,
                               "normalized": False, "single_word": False}}
        cfg = {"model_type": "roberta", "architectures": ["RobertaModel"],
               "max_position_embeddings": 514, "type_vocab_size": 1, "pad_token_id": 1,
               "bos_token_id": 0, "eos_token_id": 2, "vocab_size": len(vocab)}

    form = opts.get("--merges-form", form)
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added_tokens,
        "normalizer": normalizer,
        "pre_tokenizer": pre,
        "post_processor": post,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": "", "end_of_word_suffix": "",
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab,
                  "merges": merges if form == "strings" else [m.split(" ") for m in merges]},
    }

    def dump(name, obj):
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, indent=None if name in (
                "tokenizer.json", "vocab.json") else 2)
            f.write("\n")

    if style not in ("qwen", "modernbert"):
        dump("vocab.json", vocab)
        with open(os.path.join(out, "merges.txt"), "w", encoding="utf-8") as f:
            f.write(merges_txt if merges_txt.endswith("\n") else merges_txt + "\n")
    if not opts.get("--no-json"):
        dump("tokenizer.json", tok)
    dump("tokenizer_config.json", tcfg)
    dump("special_tokens_map.json", smap)
    dump("config.json", cfg)


if __name__ == "__main__":
    main()
