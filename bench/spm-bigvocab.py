#!/usr/bin/python3
"""A Unigram tokenizer.json of XLM-RoBERTa's size for load-time figures: the pieces of
tests/golden/tokenize/spm/xlmr-uni (its charsmap, Metaspace, post-processor) and
random pieces made of one or two pieces cut from the words of man.txt, to 250,002 in
all, scores between -8 and -14.  Only the size and shape matter: its ids mean nothing.

usage: spm-bigvocab.py SRCDIR OUTDIR
"""
import json
import os
import random
import shutil
import sys


def main():
    src, out = sys.argv[1], sys.argv[2]
    g = os.path.join(src, "tests/golden/tokenize/spm")
    random.seed(1)
    with open(os.path.join(g, "xlmr-uni/tokenizer.json"), encoding="utf-8") as f:
        tok = json.load(f)
    with open(os.path.join(g, "man.txt"), encoding="utf-8") as f:
        words = f.read().split()
    vocab = tok["model"]["vocab"]
    mask = vocab.pop()
    have = set(p for p, _ in vocab)
    while len(vocab) < 250001:
        p = "\u2581" if random.random() < 0.4 else ""
        for _ in range(random.randint(1, 2)):
            w = random.choice(words)
            i = random.randrange(len(w))
            p += w[i:i + random.randint(1, 6)]
        if p not in have:
            have.add(p)
            vocab.append([p, -8.0 - 6 * random.random()])
    vocab.append(mask)
    tok["added_tokens"][-1]["id"] = len(vocab) - 1
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)
    shutil.copy(os.path.join(g, "xlmr-uni/tokenizer_config.json"), out)


if __name__ == "__main__":
    main()
