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
OUT=tests/golden/encode-mpnet
. tests/tools/goldens-lib.sh

mkm mkmpnet.py tests/models/vocab.txt tiny-mpnet --hidden 32 --layers 2 --heads 4 --ffn 64 \
	--max-pos 320 --seed 21
mkm mkmpnet.py tests/models/vocab.txt tiny-mpnet-bin --hidden 32 --layers 2 --heads 4 \
	--ffn 64 --max-pos 320 --seed 21 --format bin --prefix --extra

mkdir -p "$OUT"
sts_split
head -n 1000 "$T/sts.txt" > "$T/sts1000.txt"
awk 'BEGIN { k = 2 } { s = s " " $0; n++ }
     n == k { print substr(s, 2); s = ""; n = 0; k += 2; if (k > 60) exit }' \
	"$T/sts.txt" > "$OUT/long.txt"
pad_quirks "$OUT/pad-quirks.txt"

m=$M/tiny-mpnet
sts_long mpnet-ref.py tiny-mpnet 318 "$T/sts1000.txt"
hidden mpnet-ref.py "$m" "$T/tiny-mpnet.jsonl" 16 "$OUT/tiny-mpnet.hidden.gz"
hf_tok "$m" "$OUT/pad-quirks.txt" --max-length 318 > "$T/q.jsonl"
hidden mpnet-ref.py "$m" "$T/q.jsonl" 4 "$OUT/tiny-mpnet.pad-quirks.gz"
hf_tok "$m" "$T/pairs.txt" --max-length 318 --pairs > "$T/pairs.jsonl"
jsonl_field ids "$T/pairs.jsonl" | gzip -9n > "$OUT/pairs.ids.gz"
jsonl_field type_ids "$T/pairs.jsonl" | gzip -9n > "$OUT/pairs.types.gz"

# A second shape: 24 wide (3 heads of 8), 3 layers, a table of 40 relative position
# buckets (transformers looks up the first 32 only), 130 positions (128
# tokens fit), no Normalize module: the first 500 STS sentences, then long.txt truncated
# to 128 tokens.
mkm mkmpnet.py tests/models/vocab.txt tiny-mpnet-3 --hidden 24 --layers 3 --heads 3 --ffn 40 \
	--max-pos 130 --buckets 40 --seed 22 --no-normalize
head -n 500 "$T/sts.txt" > "$T/sts500.txt"
for in in "$T/sts500.txt" "$OUT/long.txt"; do
	hf_tok "$M/tiny-mpnet-3" "$in" --max-length 128
done > "$T/m3.jsonl"
pooled mpnet-ref.py "$M/tiny-mpnet-3" "$T/m3.jsonl" "$OUT/tiny-mpnet-3.pooled.gz"
ls -l "$OUT" "$M/tiny-mpnet" "$M/tiny-mpnet-bin" "$M/tiny-mpnet-3"
