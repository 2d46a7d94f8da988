#!/usr/bin/python3
"""Checks a conversion of spm2json.py: SentencePiece on the .model against Hugging Face
tokenizers on the tokenizer.json, line by line.

usage: spm-check.py STYLE MODEL CORPUS.txt HF.jsonl
HF.jsonl: ../shared/reference/hf_tokenize.js DIR CORPUS.txt --max-length 1000000
Prints "STYLE: N/M lines identical" and the first lines that differ.
"""
import json
import sys

import sentencepiece as spm


def main():
    style, model, corpus, hfout = sys.argv[1:5]
    sp = spm.SentencePieceProcessor(model_file=model)
    same = total = 0
    shown = 0
    with open(corpus, encoding="utf-8", newline="\n") as c, open(hfout, encoding="utf-8") as h:
        for line, js in zip(c, h):
            line = line.rstrip("\n")
            ids = json.loads(js)["ids"]
            want = sp.encode(line)
            if style.startswith("xlmr"):
                # fairseq order: <unk> 0 -> 3, <s> 1 -> 0, </s> 2 -> 2, then +1.
                want = [{0: 3, 1: 0, 2: 2}.get(i, i + 1) for i in want]
                got = ids[1:-1]
            else:
                got = ids[1:]
            total += 1
            if got == want:
                same += 1
            elif shown < 5:
                shown += 1
                print(f"  line {total}: {line[:80]!r}\n    spm {want[:20]}\n    hf  {got[:20]}")
    print(f"{style}: {same}/{total} lines identical")


if __name__ == "__main__":
    main()
