#!/bin/sh
# Tokenizes every Unicode code point (U+0000-U+10FFFF but the surrogates, LF and CR)
# in contexts where the pre-tokenizer classes and NFC show ("C aCb ACCx 1C2 'C C<U+0301>
# eC<U+0300> eC<U+0327> CC"), and every canonical composition of Python's tables in
# decomposed form, with Hugging Face tokenizers and with sb-tokenize, and lists the
# lines where they differ.  The exception tables of lib/tok_norm.c (hf_new[]) and
# lib/tok_pretok.c come from its output: Hugging Face's Unicode tables are older than
# utf8proc's.
# usage, from a build tree (sb-tokenize and tests/tokdump built):
#   SB_SRCDIR=/path/to/src sh $SB_SRCDIR/tests/tools/tokenize-bpe-probe.sh [qwen3|roberta]...
# Prints "MODEL: N differences"; each difference as "U+XXXX hf: IDS / sb: IDS".
# About 20 minutes for both models on a quiet machine (Hugging Face: 1 MB/s).
set -eu
SRC=${SB_SRCDIR:-.}
SHARED=${SB_SHARED:-$SRC/../shared}
REF=$SHARED/reference
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
MODELS=${*:-qwen3 roberta}

mkdir "$T/qwen3"
ln -s "$(cd "$SHARED/data/tokenizers/qwen3" && pwd)/tokenizer.json" "$T/qwen3/tokenizer.json"
cp "$SHARED/data/tokenizers/qwen3/tokenizer_config.json" "$T/qwen3/"
python3 "$SRC/tests/tools/tokenize-mkbpe.py" "$SHARED/data/tokenizers/gpt2" "$T/roberta"
python3 - "$T/all.txt" <<'PY'
import sys, unicodedata
out = open(sys.argv[1], "w", encoding="utf-8")
for c in range(0x110000):
    if 0xD800 <= c <= 0xDFFF or c in (10, 13):
        continue
    ch = chr(c)
    out.write(f"{ch} a{ch}b A{ch}{ch}x 1{ch}2 '{ch} {ch}\u0301 e{ch}\u0300 e{ch}\u0327 {ch}{ch}\n")
for c in range(0x110000):
    if 0xD800 <= c <= 0xDFFF:
        continue
    d = unicodedata.decomposition(chr(c))
    if d and not d.startswith("<"):
        parts = "".join(chr(int(x, 16)) for x in d.split())
        out.write(f"{parts} {chr(c)} x{parts}y\n")
PY
split -l 50000 -a 3 -d "$T/all.txt" "$T/blk."
for m in $MODELS; do
	case $m in qwen3) pad=151643 ;; *) pad=1 ;; esac
	: > "$T/$m.diff"
	for f in "$T"/blk.[0-9][0-9][0-9]; do
		node "$REF/hf_tokenize.js" "$T/$m" "$f" --max-length 512 | python3 -c '
import json, sys
for l in sys.stdin:
    print(" ".join(map(str, json.loads(l)["ids"])))' > "$T/hf"
		./cmd/sb-tokenize -m "$T/$m" -l 512 --no-text -b 4096 < "$f" |
			./tests/tokdump -P $pad > "$T/sb"
		paste -d '\t' "$T/hf" "$T/sb" "$f" | awk -F '\t' '$1 != $2' >> "$T/$m.diff"
	done
	echo "$m: $(wc -l < "$T/$m.diff") differences"
	python3 -c '
import sys
for l in open(sys.argv[1], encoding="utf-8"):
    hf, sb, text = l.rstrip("\n").split("\t", 2)
    print("U+%04X hf: %s / sb: %s" % (ord(text[0]), hf, sb))' "$T/$m.diff"
done
