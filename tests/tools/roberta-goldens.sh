#!/bin/sh
# roberta-goldens.sh - makes the RoBERTa-family test models (tests/models/tiny-xlmr,
# tiny-roberta-bin, tiny-camembert, tiny-xlmr-uni) and their goldens
# (tests/golden/encode-roberta) from
# the reference implementations: Hugging Face tokenizers through node
# (../shared/reference/hf_tokenize.js) for the ids, tests/tools/roberta-ref.py (PyTorch)
# for the floats.  Run by hand from the top of the source tree; make check only reads
# the results.
#
#   tests/tools/roberta-goldens.sh [SHARED]      (SHARED defaults to ../shared)
#
# Writes, for each MODEL (max_position_embeddings P, so P - 2 tokens fit):
#   tiny-xlmr-uni.pooled.gz  mean-pooled embeddings of man.txt (12 languages) then the
#                     first 500 STS sentences, tiny-xlmr-uni (a SentencePiece Unigram
#                     tokenizer, as every XLM-RoBERTa model has)
#   MODEL.pooled.gz   mean-pooled embeddings, "%.6f", one row a line: every STS
#                     sentence (column 6 then column 7 of sts-test.tsv) for tiny-xlmr,
#                     the first 500 for the others; ids truncated to P - 2 as the
#                     tokenizer's model_max_length and sentence_bert_config.json say
#   MODEL.long.gz     the same for long.txt (40 rows of 8 STS sentences each),
#                     truncated to P - 2 tokens: rows of exactly P - 2 tokens
#   tiny-xlmr.hidden.gz  last_hidden_state of the first 16 STS sentences, one real
#                     token a line, "ROW v v ..."
#   tiny-xlmr.pad-quirks.gz  the same for pad-quirks.txt (<pad> and <s> inside rows)
set -eu
SHARED=${1:-../shared}
REF=$SHARED/reference
GPT2=$SHARED/data/tokenizers/gpt2
OUT=tests/golden/encode-roberta
M=tests/models
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# mkm NAME [mkroberta.py options]: a fresh model folder tests/models/NAME.
mkm() {
	_n=$1
	shift
	rm -rf "${M:?}/$_n"
	$PY tests/tools/mkroberta.py "$GPT2" "$M/$_n" --merges 600 "$@"
}
mkm tiny-xlmr --type xlm-roberta --hidden 32 --layers 2 --heads 4 --ffn 64 --max-pos 66 \
	--seed 11
mkm tiny-roberta-bin --type roberta --hidden 24 --layers 3 --heads 3 --ffn 48 --max-pos 40 \
	--seed 12 --format bin --prefix --extra
mkm tiny-camembert --type camembert --hidden 16 --layers 1 --heads 2 --ffn 40 --max-pos 130 \
	--types 2 --eps 1e-12 --seed 13 --prefix

mkdir -p "$OUT"
cut -f6 "$SHARED/data/sts-b/sts-test.tsv" > "$T/s1"
cut -f7 "$SHARED/data/sts-b/sts-test.tsv" > "$T/s2"
cat "$T/s1" "$T/s2" > "$T/sts.txt"
head -n 500 "$T/sts.txt" > "$T/sts500.txt"
awk '{ s = s " " $0 } NR % 8 == 0 { print substr(s, 2); s = "" } NR == 320 { exit }' \
	"$T/sts.txt" > "$OUT/long.txt"

for m in tiny-xlmr tiny-roberta-bin tiny-camembert; do
	P=$($PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["max_position_embeddings"])' \
		"$M/$m/config.json")
	in=$T/sts500.txt
	[ $m = tiny-xlmr ] && in=$T/sts.txt
	node "$REF/hf_tokenize.js" "$M/$m" "$in" --max-length $((P - 2)) > "$T/$m.jsonl"
	$PY tests/tools/roberta-ref.py "$M/$m" "$T/$m.jsonl" |
		$PY -c 'import sys
for l in sys.stdin: print(" ".join("%.6f" % float(v) for v in l.split()))' |
		gzip -9n > "$OUT/$m.pooled.gz"
	node "$REF/hf_tokenize.js" "$M/$m" "$OUT/long.txt" --max-length $((P - 2)) > "$T/$m.long"
	$PY tests/tools/roberta-ref.py "$M/$m" "$T/$m.long" |
		$PY -c 'import sys
for l in sys.stdin: print(" ".join("%.6f" % float(v) for v in l.split()))' |
		gzip -9n > "$OUT/$m.long.gz"
done
# Rows with the pad token among real tokens: its position id is padding_idx and the ids
# after it count on from the previous one (create_position_ids_from_input_ids).
printf 'hello <pad> world\n<pad>\nA man <pad><pad> is playing a flute.\n%s\n' \
	'<s> two starts </s> and ends' > "$OUT/pad-quirks.txt"
node "$REF/hf_tokenize.js" "$M/tiny-xlmr" "$OUT/pad-quirks.txt" --max-length 64 > "$T/q.jsonl"
$PY tests/tools/roberta-ref.py "$M/tiny-xlmr" "$T/q.jsonl" --hidden 4 |
	$PY -c 'import sys
for l in sys.stdin:
    f = l.split()
    print(f[0], " ".join("%.6f" % float(v) for v in f[1:]))' |
	gzip -9n > "$OUT/tiny-xlmr.pad-quirks.gz"
$PY tests/tools/roberta-ref.py "$M/tiny-xlmr" "$T/tiny-xlmr.jsonl" --hidden 16 |
	$PY -c 'import sys
for l in sys.stdin:
    f = l.split()
    print(f[0], " ".join("%.6f" % float(v) for v in f[1:]))' |
	gzip -9n > "$OUT/tiny-xlmr.hidden.gz"
# XLM-RoBERTa with its own kind of tokenizer: the SentencePiece Unigram tokenizer.json of
# tests/golden/tokenize/spm/xlmr-uni (Precompiled nmt_nfkc charsmap, Metaspace, XLM-R's
# special tokens), on the man-page text in 12 languages and the first 500 STS sentences.
mkm tiny-xlmr-uni --tokenizer tests/golden/tokenize/spm/xlmr-uni --type xlm-roberta \
	--hidden 16 --layers 3 --heads 4 --ffn 40 --max-pos 130 --seed 14
for in in tests/golden/tokenize/spm/man.txt "$T/sts500.txt"; do
	node "$REF/hf_tokenize.js" "$M/tiny-xlmr-uni" "$in" --max-length 128
done > "$T/uni.jsonl"
$PY tests/tools/roberta-ref.py "$M/tiny-xlmr-uni" "$T/uni.jsonl" |
	$PY -c 'import sys
for l in sys.stdin: print(" ".join("%.6f" % float(v) for v in l.split()))' |
	gzip -9n > "$OUT/tiny-xlmr-uni.pooled.gz"
ls -l "$OUT"
