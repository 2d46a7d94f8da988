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
# 6, its own thetas, max_position_embeddings 128), both with mkmodernbert.py's --init
# visible weights (LayerNorm weights and biases away from 1 and 0, so that a loader that
# dropped one would fail).  Writes, for each MODEL:
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
OUT=tests/golden/encode-modernbert
. tests/tools/goldens-lib.sh

mkm mkmodernbert.py "$GPT2" tiny-modernbert --merges 600 --hidden 32 --layers 4 --heads 4 \
	--ffn 48 --window 16 --every 3 --max-pos 8192 --seed 21 --init visible
mkm mkmodernbert.py "$GPT2" tiny-modernbert-bias --merges 600 --hidden 16 --layers 3 \
	--heads 2 --ffn 24 --window 6 --every 2 --max-pos 128 --theta-global 5000 \
	--theta-local 300 --norm-bias --attn-bias --mlp-bias --prefix --format bin --seed 22 \
	--init visible

mkdir -p "$OUT"
sts_split
head -n 500 "$T/sts.txt" > "$T/sts500.txt"
join_rows 8 40 < "$T/sts.txt" > "$OUT/long.txt"
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

sts_long modernbert-ref.py tiny-modernbert "$(max_pos "$M/tiny-modernbert")" "$T/sts.txt"
sts_long modernbert-ref.py tiny-modernbert-bias "$(max_pos "$M/tiny-modernbert-bias")" \
	"$T/sts500.txt"
hf_tok "$M/tiny-modernbert" "$OUT/verylong.txt" --max-length 8192 > "$T/verylong.jsonl"
$PY -c 'import json, sys
print(*[len(json.loads(l)["ids"]) for l in open(sys.argv[1])])' "$T/verylong.jsonl"
pooled modernbert-ref.py "$M/tiny-modernbert" "$T/verylong.jsonl" \
	"$OUT/tiny-modernbert.verylong.gz" --batch 1
hidden modernbert-ref.py "$M/tiny-modernbert" "$T/tiny-modernbert.jsonl" 16 \
	"$OUT/tiny-modernbert.hidden.gz"
printf '%s\n\thello\342\200\203world 123 !!\n' \
	"$(printf 'Caf\303\251 cafe\314\201 [MASK] x [MASK]y [CLS] a[SEP]b <|endoftext|>  two  spaces')" \
	> "$OUT/quirks.txt"
hf_tok "$M/tiny-modernbert" "$OUT/quirks.txt" --max-length 8192 | jsonl_field ids \
	> "$OUT/tiny-modernbert.quirks.ids"
ls -l "$OUT" "$M/tiny-modernbert" "$M/tiny-modernbert-bias"
