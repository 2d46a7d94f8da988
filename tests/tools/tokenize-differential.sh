#!/bin/sh
# Differential test of sb-tokenize against Hugging Face tokenizers (Node binding) on
# random hard text (tests/tools/tokenize-random.py): uncased and cased models,
# single sentences and pairs, max lengths 512 and 16; prints the lines identical.
# usage, from a build tree:  sh SRC/tests/tools/tokenize-differential.sh [SEED] [LINES]
# MODELS="DIR..." compares those model folders instead (tokenizer.json of any family,
# e.g. tests/golden/tokenize/spm/xlmr-uni).  Measured 2026-12-06, seed 1, 20000 lines:
# llama-bpe, llama-meta, xlmr-uni, xlmr-uni-fb all identical, single and pairs, 512 and 16.
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

names=
if [ -n "${MODELS:-}" ]; then
	for d in $MODELS; do
		ln -s "$(cd "$d" && pwd)" "$T/$(basename "$d")"
		names="$names $(basename "$d")"
	done
else
	/usr/bin/python3 "$REF/mkmodel.py" "$T/uncased" --arch distilbert > /dev/null
	/usr/bin/python3 "$REF/mkmodel.py" "$T/cased" --arch distilbert --cased > /dev/null
	names="uncased cased"
fi
/usr/bin/python3 "$SRC/tests/tools/tokenize-random.py" "$SEED" "$LINES" > "$T/single.txt"
/usr/bin/python3 "$SRC/tests/tools/tokenize-random.py" "$((SEED + 1000))" "$LINES" |
	tr '\t' ' ' | paste - - > "$T/pairs.txt"
# The id of a folder's pad token (special_tokens_map.json, the added tokens of
# tokenizer.json), 0 when it names none.
pad_id() {
	/usr/bin/python3 - "$1" <<'PY'
import json, os, sys
d = sys.argv[1]
def load(name):
    try:
        return json.load(open(os.path.join(d, name), encoding="utf-8"))
    except (OSError, ValueError):
        return {}
pad = load("special_tokens_map.json").get("pad_token")
if isinstance(pad, dict):
    pad = pad.get("content")
ids = {a["content"]: a["id"] for a in load("tokenizer.json").get("added_tokens", [])}
print(ids.get(pad, 0))
PY
}
fails=0
for m in $names; do
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
				./tests/tokdump -P "$(pad_id "$T/$m")" ${p:+-p} > "$T/sb.txt"
			same=$(paste -d '\n' "$T/hf.txt" "$T/sb.txt" | paste - - |
			       awk -F '\t' '$1 == $2' | wc -l)
			total=$(wc -l < "$T/hf.txt")
			echo "$m $kind max length $L: $same/$total identical"
			# A reference that died (out of memory...) prints fewer lines: a failure.
			[ "$same" -eq "$total" ] && [ "$total" -eq "$(wc -l < "$T/$kind.txt")" ] ||
				fails=1
		done
	done
done
exit $fails
