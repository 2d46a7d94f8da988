#!/bin/sh
# modernbert-goldens.sh - makes the ModernBERT test models (tests/models/tiny-modernbert,
# tiny-modernbert-bias) and their goldens (tests/golden/encode-modernbert) from the
# reference implementations: Hugging Face tokenizers through node
# (../shared/reference/hf_tokenize.js) for the ids, tests/tools/modernbert-ref.py
# (PyTorch) for the floats.  Run by hand from the top of the source tree; make check
# only reads the results.
#
#   tests/tools/modernbert-goldens.sh [SHARED]      (SHARED defaults to ../shared)
#
# Models: tiny-modernbert (bare keys, safetensors, 4 layers of which 0 and 3 global,
# window 16, max_position_embeddings 8192) and tiny-modernbert-bias (model. keys with an
# MLM head, pytorch_model.bin, every bias, 3 layers with every second one global, window
# 6, its own thetas, max_position_embeddings 128).  Writes, for each MODEL:
#   MODEL.pooled.gz   mean-pooled embeddings, "%.6f", one row a line: every STS sentence
#                     (column 6 then column 7 of sts-test.tsv) for tiny-modernbert, the
#                     first 500 for tiny-modernbert-bias; batches of 16 padded rows
#   MODEL.long.gz     the same for long.txt (40 rows of 8 STS sentences each; truncated
#                     to 128 tokens for tiny-modernbert-bias)
#   tiny-modernbert.hidden.gz  last_hidden_state of the first 16 STS sentences, one real
#                     token a line, "ROW v v ..."
#   tiny-modernbert.verylong.gz  pooled embeddings of verylong.txt: rows of 4152, 2071
#                     and 932 tokens (the STS sentences joined), one row per batch
#   tiny-modernbert.quirks.ids  the token ids of quirks.txt (special tokens inside the
#                     text, [MASK]'s lstrip, NFC, odd spaces), one row a line
set -eu
SHARED=${1:-../shared}
REF=$SHARED/reference
GPT2=$SHARED/data/tokenizers/gpt2
OUT=tests/golden/encode-modernbert
M=tests/models
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# mkm NAME [mkmodernbert.py options]: a fresh model folder tests/models/NAME.
mkm() {
	_n=$1
	shift
	rm -rf "${M:?}/$_n"
	$PY tests/tools/mkmodernbert.py "$GPT2" "$M/$_n" --merges 600 "$@"
}
mkm tiny-modernbert --hidden 32 --layers 4 --heads 4 --ffn 48 --window 16 --every 3 \
	--max-pos 8192 --seed 21
mkm tiny-modernbert-bias --hidden 16 --layers 3 --heads 2 --ffn 24 --window 6 --every 2 \
	--max-pos 128 --theta-global 5000 --theta-local 300 --norm-bias --attn-bias \
	--mlp-bias --prefix --format bin --seed 22

mkdir -p "$OUT"
cut -f6 "$SHARED/data/sts-b/sts-test.tsv" > "$T/s1"
cut -f7 "$SHARED/data/sts-b/sts-test.tsv" > "$T/s2"
cat "$T/s1" "$T/s2" > "$T/sts.txt"
head -n 500 "$T/sts.txt" > "$T/sts500.txt"
awk '{ s = s " " $0 } NR % 8 == 0 { print substr(s, 2); s = "" } NR == 320 { exit }' \
	"$T/sts.txt" > "$OUT/long.txt"
# Rows of about 3000, 1500 and 700 tokens: consecutive STS sentences joined.
$PY - "$T/sts.txt" > "$OUT/verylong.txt" <<'PYEOF'
import sys
s = open(sys.argv[1]).read().split("\n")
i = 0
for n in (3000, 1500, 700):
    row, chars = [], 0
    while chars < n * 3.2:
        row.append(s[i])
        chars += len(s[i]) + 1
        i += 1
    print(" ".join(row))
PYEOF

fmt() {
	$PY -c 'import sys
for l in sys.stdin: print(" ".join("%.6f" % float(v) for v in l.split()))'
}
for m in tiny-modernbert tiny-modernbert-bias; do
	P=$($PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["max_position_embeddings"])' \
		"$M/$m/config.json")
	in=$T/sts500.txt
	[ $m = tiny-modernbert ] && in=$T/sts.txt
	node "$REF/hf_tokenize.js" "$M/$m" "$in" --max-length "$P" > "$T/$m.jsonl"
	$PY tests/tools/modernbert-ref.py "$M/$m" "$T/$m.jsonl" | fmt | gzip -9n > "$OUT/$m.pooled.gz"
	node "$REF/hf_tokenize.js" "$M/$m" "$OUT/long.txt" --max-length "$P" > "$T/$m.long"
	$PY tests/tools/modernbert-ref.py "$M/$m" "$T/$m.long" | fmt | gzip -9n > "$OUT/$m.long.gz"
done
node "$REF/hf_tokenize.js" "$M/tiny-modernbert" "$OUT/verylong.txt" --max-length 8192 \
	> "$T/verylong.jsonl"
$PY -c 'import json, sys
print(*[len(json.loads(l)["ids"]) for l in open(sys.argv[1])])' "$T/verylong.jsonl"
$PY tests/tools/modernbert-ref.py "$M/tiny-modernbert" "$T/verylong.jsonl" --batch 1 | fmt |
	gzip -9n > "$OUT/tiny-modernbert.verylong.gz"
$PY tests/tools/modernbert-ref.py "$M/tiny-modernbert" "$T/tiny-modernbert.jsonl" --hidden 16 |
	$PY -c 'import sys
for l in sys.stdin:
    f = l.split()
    print(f[0], " ".join("%.6f" % float(v) for v in f[1:]))' |
	gzip -9n > "$OUT/tiny-modernbert.hidden.gz"
printf '%s\n\thello\342\200\203world 123 !!\n' \
	"$(printf 'Caf\303\251 cafe\314\201 [MASK] x [MASK]y [CLS] a[SEP]b <|endoftext|>  two  spaces')" \
	> "$OUT/quirks.txt"
node "$REF/hf_tokenize.js" "$M/tiny-modernbert" "$OUT/quirks.txt" --max-length 8192 |
	$PY -c 'import json, sys
for l in sys.stdin: print(" ".join(str(i) for i in json.loads(l)["ids"]))' \
	> "$OUT/tiny-modernbert.quirks.ids"
ls -l "$OUT" "$M/tiny-modernbert" "$M/tiny-modernbert-bias"
