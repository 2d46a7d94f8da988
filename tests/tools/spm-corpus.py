#!/usr/bin/python3
"""Multilingual text from Debian's man-page translations, for training small
SentencePiece models and for testing them.

usage: spm-corpus.py TRAIN.txt TEST.txt [MANDIR]

Reads MANDIR/LANG/man*/*.gz (MANDIR: /usr/share/man) for a fixed list of languages
(Latin with accents, Cyrillic, CJK, Korean), keeps the running text of each page (troff
requests and comments dropped, font and spacing escapes removed), and writes every
line to TRAIN.txt but every 53rd, which goes to TEST.txt (about 2000 lines, so that
the test corpus stays small enough to commit).  The same files give the same output.
"""
import glob
import gzip
import os
import re
import sys

LANGS = ["de", "fr", "ru", "uk", "pl", "cs", "es", "it", "tr", "ja", "zh_CN", "zh_TW", "ko"]
ESC = re.compile(r"\\f(\[[^]]*\]|\(..|.)|\\s[-+]?\d|\\[|&^%/,~ 0]|\\\*\(..|\\\*.|\\\(..|\\\[[^]]*\]")


def text_lines(path):
    with gzip.open(path, "rb") as f:
        raw = f.read().decode("utf-8", "replace")
    for line in raw.split("\n"):
        if line.startswith((".", "'")):
            continue
        line = ESC.sub("", line).replace("\\-", "-").replace("\\e", "\\")
        line = " ".join(line.split())
        if len(line) >= 8:
            yield line


def main():
    train, test = sys.argv[1], sys.argv[2]
    mandir = sys.argv[3] if len(sys.argv) > 3 else "/usr/share/man"
    n = 0
    kept = 0
    with open(train, "w", encoding="utf-8") as tr, open(test, "w", encoding="utf-8") as te:
        for lang in LANGS:
            for path in sorted(glob.glob(os.path.join(mandir, lang, "man*", "*.gz"))):
                for line in text_lines(path):
                    n += 1
                    if n % 53 == 0:
                        te.write(line + "\n")
                        kept += 1
                    else:
                        tr.write(line + "\n")
    print(f"{n} lines, {kept} kept for testing", file=sys.stderr)


if __name__ == "__main__":
    main()
