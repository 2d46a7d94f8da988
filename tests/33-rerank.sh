#!/bin/sh
# Cross-encoders: sb-tokenize --pairs | sb-encode --head classify against the PyTorch
# port of transformers' *ForSequenceClassification and sentence-transformers'
# CrossEncoder activation (tests/tools/roberta-ref.py --scores; models and goldens by
# tests/tools/rerank-goldens.sh), max abs <= 1e-5 on the STS pairs: XLM-RoBERTa with one
# label (sigmoid, and --logits), BERT with three labels (pooler, token types,
# pytorch_model.bin); other batchings; the frames' layout and meta; sb(7)'s reranking
# example; the failure paths.  Under valgrind the pairs are cut to 200.
. ./tests/setup

M=$SB_SRCDIR/tests/models
G=$SB_SRCDIR/tests/golden/rerank
T=$SB_TMP
X=$M/tiny-xlmr-rerank
B=$M/tiny-bert-rerank3

plan 16

require_shared data/sts-b/sts-test.tsv
n=1379
[ -n "${SB_VALGRIND:-}" ] && n=200
cut -f6,7 "$SB_SHARED/data/sts-b/sts-test.tsv" | head -n $n > "$T/pairs.txt"

# scores FRAMES > lines: the score tensor as text, one row a line, values by spaces.
scores() {
	sb-cat --tsv score "$1" | tr '\t' ' '
}

# compare DESC GOLDEN < lines: max abs difference, row by row, of equal widths.
compare() {
	gzip -dc "$G/$2.gz" | head -n $n > "$T/golden"
	cat > "$T/got"
	if paste "$T/got" "$T/golden" | awk -F'\t' -v want="$(wc -l < "$T/golden")" '
		{
			na = split($1, a, " "); nb = split($2, b, " ")
			if (na != nb || na == 0) { print "row " NR - 1 ": widths " na " and " nb; bad = 1 }
			for (i = 1; i <= na; i++) {
				d = a[i] - b[i]; if (d < 0) d = -d
				if (d > m) { m = d; mr = NR - 1 }
			}
		}
		END {
			printf "%d rows of %d values: max abs %.3g (row %d)\n", NR, na, m, mr
			exit bad || NR != want || m > 1e-5
		}' > "$T/cmp" 2>&1; then
		ok "$1: $(cat "$T/cmp")"
	else
		not_ok "$1"
		diag "$(cat "$T/cmp")"
	fi
}

sb-tokenize -m "$X" --pairs < "$T/pairs.txt" > "$T/x.tok"
sb-encode -m "$X" --head classify -i "$T/x.tok" > "$T/x.sbf"
scores "$T/x.sbf" > "$T/x.txt"
compare "xlm-roberta, one label: sigmoid scores of $n STS pairs" \
	tiny-xlmr-rerank.scores < "$T/x.txt"
sb-encode -m "$X" --head classify --logits -i "$T/x.tok" > "$T/xl.sbf"
scores "$T/xl.sbf" > "$T/xl.txt"
compare "--logits: the logits" tiny-xlmr-rerank.logits < "$T/xl.txt"
sb-tokenize -m "$X" --pairs -b 7 < "$T/pairs.txt" |
	sb-encode -m "$X" --head classify -t 3 --max-batch-tokens 90 > "$T/o.sbf"
scores "$T/o.sbf" > "$T/o.txt"
compare "7-row frames, 3 threads, 90-token sub-batches" \
	tiny-xlmr-rerank.scores < "$T/o.txt"
sb-tokenize -m "$B" --pairs < "$T/pairs.txt" | sb-encode -m "$B" --head classify \
	> "$T/b.sbf"
scores "$T/b.sbf" > "$T/b.txt"
compare "bert, three labels, token types, pytorch_model.bin: logits" \
	tiny-bert-rerank3.scores < "$T/b.txt"

# The frames: kind scores, score [rows] or [rows, labels], meta, texts carried.
sb-cat "$T/x.sbf" | head -n 1 > "$T/j"
like "one label: a scores frame" "$(cat "$T/j")" '"kind": ?"scores"'
like "one label: meta labels 1, activation sigmoid" "$(cat "$T/j")" \
	'"labels": ?1,.*"activation": ?"sigmoid"'
like "the pairs' texts are carried" "$(cat "$T/j")" \
	'"text": ?\["A girl is styling her hair.\\tA girl is brushing her hair."'
sb-cat --npy score -o "$T/x.npy" "$T/x.sbf"
sb-cat --npy score -o "$T/b.npy" "$T/b.sbf"
run "$PYTHON3" -c "import numpy, sys
print(numpy.load(sys.argv[1]).shape, numpy.load(sys.argv[2]).shape)" "$T/x.npy" "$T/b.npy"
is "score is [rows] for one label, [rows, 3] for three" "$out" "($n,) ($n, 3)"
like "--logits: activation none" "$(sb-cat "$T/xl.sbf" | head -n 1)" '"activation": ?"none"'
like "three labels: activation none" "$(sb-cat "$T/b.sbf" | head -n 1)" \
	'"labels": ?3,.*"activation": ?"none"'

# sb(7)'s example, as written there, with the test models: the candidates of the
# bi-encoder, best reranked first.
sed -n '/^Rerank with a cross-encoder/,/^\.Ed/p' "$SB_SRCDIR/man/sb.7" |
	sed '1,3d; $d; s/\\e/\\/g' > "$T/example.sh"
head -n 40 "$SB_SRCDIR/tests/sample.txt" > "$T/passages.txt"
echo 'a man is eating food' > "$T/query.txt"
(cd "$T" && MODEL=$M/tiny-xlmr RERANKER=$X &&
	sed "s|RERANKER|$RERANKER|g; s|MODEL|$MODEL|g" example.sh > run.sh && sh -e run.sh) \
	> "$T/ranked" 2> "$T/err"
sb-tokenize -m "$X" --pairs < "$T/candidates.tsv" | sb-encode -m "$X" --head classify |
	sb-cat --tsv score | paste - "$T/candidates.tsv" | sort -gr | cut -f 3 > "$T/want"
if [ -s "$T/ranked" ] && [ "$(wc -l < "$T/ranked")" -eq "$(wc -l < "$T/candidates.tsv")" ] &&
	cmp -s "$T/ranked" "$T/want"; then
	ok "sb(7) example: $(wc -l < "$T/ranked") candidates reranked by their scores"
else
	not_ok "sb(7) example"
	diag "$(cat "$T/err" "$T/ranked")"
fi

# Failure paths.
run sb-encode -m "$X" --logits -i "$T/x.tok"
like "--logits without --head: usage, exit 2" "$rc $err" "^2 .*--logits needs --head"
run sb-encode -m "$X" --head regress -i "$T/x.tok"
like "--head with another value: exit 2" "$rc $err" "^2 .*--head: 'regress' is not one of classify"
run sb-encode -m "$X" --head classify -p mean -i "$T/x.tok"
like "--head with --pool: exit 2" "$rc $err" "^2 .*--head and --pool exclude each other"
sb-tokenize -m "$M/tiny-xlmr" --pairs < "$T/pairs.txt" > "$T/enc.tok"
run sb-encode -m "$M/tiny-xlmr" --head classify -i "$T/enc.tok"
like "an encoder without a classifier: the tensor named" "$rc $err" \
	"^1 sb-encode: .*classification head: .*tensor 'classifier.dense.weight' not found"
mkdir -p "$T/labels2"
ln -sf "$X/model.safetensors" "$X/tokenizer.json" "$X/tokenizer_config.json" \
	"$X/special_tokens_map.json" "$T/labels2/"
sed 's/"LABEL_0": 0/"LABEL_0": 0, "LABEL_1": 1/; s/"0": "LABEL_0"/"0": "LABEL_0", "1": "LABEL_1"/' \
	"$X/config.json" > "$T/labels2/config.json"
run sb-encode -m "$T/labels2" --head classify -i "$T/x.tok"
like "config.json's labels differ from the classifier's rows: both named" "$rc $err" \
	"^1 sb-encode: .*tensor 'classifier.out_proj.weight' gives 1 labels \(its rows\), config.json 2"
