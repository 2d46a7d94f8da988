#!/usr/bin/python3
"""Trains the small SentencePiece models of tests/14-tokenize-spm.sh.

usage: spm-train.py TRAIN.txt OUTDIR

Writes OUTDIR/unigram.model (XLM-RoBERTa's kind: unigram, nmt_nfkc), OUTDIR/unigram-fb.model
(the same with byte_fallback) and OUTDIR/bpe-fb.model (Llama's kind: BPE with byte_fallback,
digits split, no normalization, white space kept), each of 4000 pieces, and
OUTDIR/tiny.model (unigram with byte_fallback, 450 pieces from the first 800 ASCII lines,
normalized by the few rules of TINY_RULES: a charsmap of 1 KB for the fuzz target), with
Debian's python3-sentencepiece.  One thread and a fixed sample keep the output
reproducible.
"""
import os
import sys

import sentencepiece as spm

COMMON = dict(vocab_size=4000, input_sentence_size=0, shuffle_input_sentence=False,
              num_threads=1, character_coverage=0.9995, minloglevel=2)
MODELS = {
    "unigram": dict(model_type="unigram", normalization_rule_name="nmt_nfkc"),
    "unigram-fb": dict(model_type="unigram", normalization_rule_name="nmt_nfkc",
                       byte_fallback=True),
    "bpe-fb": dict(model_type="bpe", normalization_rule_name="identity", byte_fallback=True,
                   split_digits=True, add_dummy_prefix=True, remove_extra_whitespaces=False,
                   allow_whitespace_only_pieces=True),
}

# Code points (hex) -> replacement: a ligature, a full-width letter, a circled digit,
# two compositions (one of three characters), an ideographic space, a deletion.
TINY_RULES = "FB01\t66 69\nFF21\t41\n2460\t31\n65 301\tE9\n3000\t20\n41 30A\tC5\n200B\t\n"


def tiny(train, out):
    with open(train, encoding="utf-8") as f:
        lines = [l for l in f if l.isascii()][:800]
    with open(os.path.join(out, "tiny.txt"), "w", encoding="utf-8") as f:
        f.writelines(lines)
    with open(os.path.join(out, "tiny-rules.tsv"), "w", encoding="utf-8") as f:
        f.write(TINY_RULES)
    spm.SentencePieceTrainer.train(input=os.path.join(out, "tiny.txt"),
                                   model_prefix=os.path.join(out, "tiny"), vocab_size=450,
                                   model_type="unigram", byte_fallback=True,
                                   normalization_rule_tsv=os.path.join(out, "tiny-rules.tsv"),
                                   character_coverage=1.0, hard_vocab_limit=False,
                                   num_threads=1, minloglevel=2)


def main():
    train, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    for name, opts in MODELS.items():
        spm.SentencePieceTrainer.train(input=train, model_prefix=os.path.join(out, name),
                                       **COMMON, **opts)
        print(f"{name}.model", file=sys.stderr)
    tiny(train, out)
    print("tiny.model", file=sys.stderr)


if __name__ == "__main__":
    main()
