#!/bin/sh
# Tokenizes every Unicode code point (in the contexts "C aCb ACCx") with Hugging
# Face tokenizers and with sb-tokenize, and lists the code points where they differ
# with the class Hugging Face gives them (plain letter, punctuation, stripped mark).
# That list is the exception table xtab[] of lib/tokenizer.c: Hugging Face's
# category tables (the unicode_categories crate) are older than utf8proc's.
# usage, from a build tree (sb-tokenize and tests/tokdump built):
#   SB_SRCDIR=/path/to/src sh $SB_SRCDIR/tests/tools/tokenize-unicode-probe.sh
# Prints "0 differences" when lib/tokenizer.c agrees for every code point.
set -eu
SHARED=${SB_SHARED:-${SB_SRCDIR:-.}/../shared}
REF=$SHARED/reference
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

/usr/bin/python3 "$REF/mkmodel.py" "$T/m" --arch distilbert > /dev/null
/usr/bin/python3 -c '
import sys
out = open(sys.argv[1], "w", encoding="utf-8")
for c in range(0x110000):
    if 0xD800 <= c <= 0xDFFF or c in (10, 13):
        continue
    ch = chr(c)
    out.write(f"{ch} a{ch}b A{ch}{ch}x\n")' "$T/all.txt"
node "$REF/hf_tokenize.js" "$T/m" "$T/all.txt" --max-length 512 | /usr/bin/python3 -c '
import json, sys
for l in sys.stdin:
    print(" ".join(map(str, json.loads(l)["ids"])))' > "$T/hf.txt"
./cmd/sb-tokenize -m "$T/m" -l 512 --no-text -b 4096 < "$T/all.txt" | ./tests/tokdump > "$T/sb.txt"
paste "$T/hf.txt" "$T/sb.txt" "$T/all.txt" | /usr/bin/python3 -c '
import sys
classes = {"101 100 100 100 102": "plain", "101 11113 22260 102": "mark/dropped",
           "101 100 1037 100 1038 1037 100 100 1060 102": "punctuation"}
n = 0
for l in sys.stdin:
    hf, sb, text = l.rstrip("\n").split("\t", 2)
    if hf != sb:
        n += 1
        print("U+%04X %s" % (ord(text[0]), classes.get(hf, "other: " + hf)))
print(n, "differences")'
