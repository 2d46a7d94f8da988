#!/usr/bin/python3
"""Trains the small SentencePiece models of tests/14-tokenize-spm.sh.

usage: spm-train.py TRAIN.txt OUTDIR

Writes OUTDIR/unigram.model (XLM-RoBERTa's kind: unigram, nmt_nfkc), OUTDIR/unigram-fb.model
(the same with byte_fallback) and OUTDIR/bpe-fb.model (Llama's kind: BPE with byte_fallback,
digits split, no normalization, white space kept), each of 4000 pieces, with Debian's
python3-sentencepiece.  One thread and a fixed sample keep the output reproducible.
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


def main():
    train, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    for name, opts in MODELS.items():
        spm.SentencePieceTrainer.train(input=train, model_prefix=os.path.join(out, name),
                                       **COMMON, **opts)
        print(f"{name}.model", file=sys.stderr)


if __name__ == "__main__":
    main()
