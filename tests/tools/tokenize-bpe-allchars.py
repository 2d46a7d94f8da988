#!/usr/bin/env python3
# Every code point of planes 0-3 and 14 (but the surrogates, LF and CR, which cannot be
# in a line), one a line, in contexts where the pre-tokenizer classes and the NFC
# normalizer of byte-level BPE files show: alone, between letters, after an
# apostrophe, between "e" and U+0327 (reordering and composition), between digits,
# doubled.  For tests/13-tokenize-bpe.sh and tests/tools/tokenize-bpe-goldens.sh.
# usage: tokenize-bpe-allchars.py > allchars.txt
import sys

out = sys.stdout.buffer
for lo, hi in ((0, 0x40000), (0xE0000, 0xE1000)):
    for c in range(lo, hi):
        if 0xD800 <= c <= 0xDFFF or c in (10, 13):
            continue
        ch = chr(c)
        out.write(f"{ch} a{ch}b '{ch} e{ch}\u0327 1{ch}{ch}2\n".encode("utf-8"))
