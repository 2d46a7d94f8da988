#!/bin/sh
# Differential test of sb-tokenize against Hugging Face tokenizers (Node binding) on
# random hard text (tests/tools/tokenize-random.py): uncased and cased models,
# single sentences and pairs, max lengths 512 and 16; prints the lines identical.
# usage, from a build tree:  sh SRC/tests/tools/tokenize-differential.sh [SEED] [LINES]
# Measured 2026-11-27: seeds 1 and 2, 20000 lines: 20000/20000 (single) and
# 10000/10000 (pairs) identical for every model and length.
set -eu
SEED=${1:-1}
LINES=${2:-20000}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${SB_SHARED:-$SRC/../shared}
REF=$SHARED/reference
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

/usr/bin/python3 "$REF/mkmodel.py" "$T/uncased" --arch distilbert > /dev/null
/usr/bin/python3 "$REF/mkmodel.py" "$T/cased" --arch distilbert --cased > /dev/null
/usr/bin/python3 "$SRC/tests/tools/tokenize-random.py" "$SEED" "$LINES" > "$T/single.txt"
/usr/bin/python3 "$SRC/tests/tools/tokenize-random.py" "$((SEED + 1000))" "$LINES" |
	tr '\t' ' ' | paste - - > "$T/pairs.txt"
fails=0
for m in uncased cased; do
	for L in 512 16; do
		for kind in single pairs; do
			p=; [ $kind = pairs ] && p=--pairs
			node "$REF/hf_tokenize.js" "$T/$m" "$T/$kind.txt" --max-length $L $p |
				/usr/bin/python3 -c '
import json, sys
for l in sys.stdin:
    d = json.loads(l)
    s = " ".join(map(str, d["ids"]))
    if sys.argv[1]:
        s += " | " + " ".join(map(str, d["type_ids"]))
    print(s)' "$p" > "$T/hf.txt"
			./cmd/sb-tokenize -m "$T/$m" -l $L --no-text $p < "$T/$kind.txt" |
				./tests/tokdump ${p:+-p} > "$T/sb.txt"
			same=$(paste -d '\n' "$T/hf.txt" "$T/sb.txt" | paste - - |
			       awk -F '\t' '$1 == $2' | wc -l)
			total=$(wc -l < "$T/hf.txt")
			echo "$m $kind max length $L: $same/$total identical"
			[ "$same" -eq "$total" ] || fails=1
		done
	done
done
exit $fails
