#!/bin/sh
# mpnet-goldens.sh - makes the MPNet test models (tests/models/tiny-mpnet and
# tiny-mpnet-bin, the same weights, and tiny-mpnet-3, another shape) and their goldens (tests/golden/encode-mpnet) from
# the reference implementations: Hugging Face tokenizers through node
# (../shared/reference/hf_tokenize.js) for the ids, tests/tools/mpnet-ref.py (PyTorch)
# for the floats.  Run by hand from the top of the source tree; make check only reads
# the results.
#
#   tests/tools/mpnet-goldens.sh [SHARED]      (SHARED defaults to ../shared)
#
# The models have 320 positions, so rows hold 318 tokens, far past max_distance 128 of
# the relative position buckets.  Writes:
#   tiny-mpnet.pooled.gz   mean-pooled and normalized embeddings, "%.6f", one row a line,
#                          of the first 1000 STS sentences (column 6, then column 7 of
#                          sts-test.tsv)
#   tiny-mpnet.long.gz     the same for long.txt: 30 rows of 2 to 60 STS sentences,
#                          truncated to 318 tokens (lengths 20 to 318 in batches of 16
#                          padded to their longest)
#   tiny-mpnet.hidden.gz   last_hidden_state of the first 16 STS sentences, one real
#                          token a line, "ROW v v ..."
#   tiny-mpnet.pad-quirks.gz  the same for pad-quirks.txt (<pad> and <s> inside rows)
#   tiny-mpnet-3.pooled.gz  mean-pooled embeddings of tiny-mpnet-3 (no Normalize) of
#                          the first 500 STS sentences, then long.txt cut to 128 tokens
#   pairs.ids.gz, pairs.types.gz   input_ids and token_type_ids of the 1379 STS pairs
#                          (sentence1 TAB sentence2) as Hugging Face tokenizers makes them
#                          with <s> A </s> </s> B </s>, one row a line
set -eu
SHARED=${1:-../shared}
REF=$SHARED/reference
OUT=tests/golden/encode-mpnet
M=tests/models
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

for m in tiny-mpnet tiny-mpnet-bin; do
	rm -rf "${M:?}/$m"
done
$PY tests/tools/mkmpnet.py tests/models/vocab.txt "$M/tiny-mpnet" --hidden 32 --layers 2 \
	--heads 4 --ffn 64 --max-pos 320 --seed 21
$PY tests/tools/mkmpnet.py tests/models/vocab.txt "$M/tiny-mpnet-bin" --hidden 32 --layers 2 \
	--heads 4 --ffn 64 --max-pos 320 --seed 21 --format bin --prefix --extra

mkdir -p "$OUT"
cut -f6 "$SHARED/data/sts-b/sts-test.tsv" > "$T/s1"
cut -f7 "$SHARED/data/sts-b/sts-test.tsv" > "$T/s2"
cat "$T/s1" "$T/s2" > "$T/sts.txt"
head -n 1000 "$T/sts.txt" > "$T/sts1000.txt"
paste "$T/s1" "$T/s2" > "$T/pairs.txt"
awk 'BEGIN { k = 2 } { s = s " " $0; n++ }
     n == k { print substr(s, 2); s = ""; n = 0; k += 2; if (k > 60) exit }' \
	"$T/sts.txt" > "$OUT/long.txt"
printf 'hello <pad> world\n<pad>\nA man <pad><pad> is playing a flute.\n%s\n' \
	'<s> two starts </s> and ends' > "$OUT/pad-quirks.txt"

m=$M/tiny-mpnet
fmt='import sys
for l in sys.stdin: print(" ".join("%.6f" % float(v) for v in l.split()))'
fmt_hidden='import sys
for l in sys.stdin:
    f = l.split()
    print(f[0], " ".join("%.6f" % float(v) for v in f[1:]))'
node "$REF/hf_tokenize.js" "$m" "$T/sts1000.txt" --max-length 318 > "$T/sts.jsonl"
$PY tests/tools/mpnet-ref.py "$m" "$T/sts.jsonl" | $PY -c "$fmt" |
	gzip -9n > "$OUT/tiny-mpnet.pooled.gz"
$PY tests/tools/mpnet-ref.py "$m" "$T/sts.jsonl" --hidden 16 | $PY -c "$fmt_hidden" |
	gzip -9n > "$OUT/tiny-mpnet.hidden.gz"
node "$REF/hf_tokenize.js" "$m" "$OUT/long.txt" --max-length 318 > "$T/long.jsonl"
$PY tests/tools/mpnet-ref.py "$m" "$T/long.jsonl" | $PY -c "$fmt" |
	gzip -9n > "$OUT/tiny-mpnet.long.gz"
node "$REF/hf_tokenize.js" "$m" "$OUT/pad-quirks.txt" --max-length 318 > "$T/q.jsonl"
$PY tests/tools/mpnet-ref.py "$m" "$T/q.jsonl" --hidden 4 | $PY -c "$fmt_hidden" |
	gzip -9n > "$OUT/tiny-mpnet.pad-quirks.gz"
node "$REF/hf_tokenize.js" "$m" "$T/pairs.txt" --max-length 318 --pairs > "$T/pairs.jsonl"
for k in ids type_ids; do
	$PY -c 'import json, sys
for l in open(sys.argv[1]): print(" ".join(map(str, json.loads(l)[sys.argv[2]])))' \
		"$T/pairs.jsonl" $k | gzip -9n > "$OUT/pairs.$k.gz"
done
mv "$OUT/pairs.type_ids.gz" "$OUT/pairs.types.gz"

# A second shape: 24 wide (3 heads of 8), 3 layers, a table of 40 relative position
# buckets (transformers looks up the first 32 only), 130 positions (128
# tokens fit), no Normalize module: the first 500 STS sentences, then long.txt truncated
# to 128 tokens.
rm -rf "${M:?}/tiny-mpnet-3"
$PY tests/tools/mkmpnet.py tests/models/vocab.txt "$M/tiny-mpnet-3" --hidden 24 --layers 3 \
	--heads 3 --ffn 40 --max-pos 130 --buckets 40 --seed 22 --no-normalize
head -n 500 "$T/sts.txt" > "$T/sts500.txt"
for in in "$T/sts500.txt" "$OUT/long.txt"; do
	node "$REF/hf_tokenize.js" "$M/tiny-mpnet-3" "$in" --max-length 128
done > "$T/m3.jsonl"
$PY tests/tools/mpnet-ref.py "$M/tiny-mpnet-3" "$T/m3.jsonl" | $PY -c "$fmt" |
	gzip -9n > "$OUT/tiny-mpnet-3.pooled.gz"
ls -l "$OUT" "$M/tiny-mpnet" "$M/tiny-mpnet-bin" "$M/tiny-mpnet-3"
