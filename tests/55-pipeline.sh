#!/bin/sh
# The whole pipeline on tests/models/tiny-distilbert: sb-tokenize | sb-encode | sb-pool |
# sb-cosine on the first 50 STS test pairs reproduces the PyTorch reference
# (ref_forward.py: pooled embeddings, cls, max, normalized mean) and the cosine of each
# pair within 1e-5 (goldens from tests/tools/pool-e2e-ref.py); the man page examples,
# the demo and the STS evaluation script run.
. ./tests/setup

require_shared data/sts-b/sts-test.tsv
require_cmd sb-tokenize
require_cmd sb-encode
G=$SB_SRCDIR/tests/golden/pool
M=$SB_SRCDIR/tests/models/tiny-distilbert
STS=$SB_SHARED/data/sts-b/sts-test.tsv
plan 17

cmp_matrix() {   # DESC GOLDEN TOL [COLUMN]: $SB_TMP/got against a golden matrix
	awk -v tol="$3" -v col="${4:-0}" '
		FNR == 1 && NR == 1 { next }
		NR == FNR { for (i = 1; i <= NF; i++) want[NR - 1, i] = $i; wn = NR - 1; wc = NF; next }
		/^#/ { next }
		{ r++; if (col) { $0 = $col }
		  if (NF != wc) { printf "row %d: %d columns, expected %d\n", r, NF, wc; bad = 1; exit }
		  for (i = 1; i <= NF; i++) {
			d = $i - want[r, i]; if (d < 0) d = -d
			if (d > max) max = d
			if (d > tol) { printf "row %d col %d: %s, expected %s\n", r, i, $i, want[r, i]; bad = 1 }
		  } }
		END { if (!bad && r != wn) { printf "%d rows, expected %d\n", r, wn; bad = 1 }
		      printf "max abs diff %g\n", max > "/dev/stderr"; exit bad }' "$2" "$SB_TMP/got" \
		> "$SB_TMP/cmp" 2> "$SB_TMP/cmpmax"
	if [ $? = 0 ]; then
		ok "$1 ($(cat "$SB_TMP/cmpmax"))"
	else
		not_ok "$1"
		diag "$(head -5 "$SB_TMP/cmp")"
	fi
}

head -n 50 "$STS" > "$SB_TMP/gold.tsv"
cut -f 6,7 "$SB_TMP/gold.tsv" | tr '\t' '\n' > "$SB_TMP/s.txt"
sb-tokenize -m "$M" < "$SB_TMP/s.txt" | sb-encode -m "$M" > "$SB_TMP/hidden.sbf"
check "sb-tokenize | sb-encode writes hidden frames" sb-cat -q "$SB_TMP/hidden.sbf"

sb-pool -m "$M" < "$SB_TMP/hidden.sbf" 2> "$SB_TMP/err" | pooldump print > "$SB_TMP/got"
cmp_matrix "pooled embeddings (the model's mean pooling) equal PyTorch's" "$G/e2e-pooled.txt" 1e-5
sb-pool -p cls < "$SB_TMP/hidden.sbf" 2> /dev/null | pooldump print > "$SB_TMP/got"
cmp_matrix "cls pooling equals PyTorch's" "$G/e2e-cls.txt" 1e-5
sb-pool -p max < "$SB_TMP/hidden.sbf" 2> /dev/null | pooldump print > "$SB_TMP/got"
cmp_matrix "max pooling equals PyTorch's" "$G/e2e-max.txt" 1e-5
sb-pool -m "$M" --normalize < "$SB_TMP/hidden.sbf" 2> /dev/null | pooldump print > "$SB_TMP/got"
cmp_matrix "normalized mean equals PyTorch's" "$G/e2e-norm.txt" 1e-5

sb-tokenize -m "$M" < "$SB_TMP/s.txt" | sb-encode -m "$M" | sb-pool -m "$M" |
	sb-cosine --pairs > "$SB_TMP/got" 2> "$SB_TMP/err"
cmp_matrix "the full pipe's cosine of each STS pair equals the reference" "$G/e2e-cos.txt" 1e-5 3
like "pairs carry both sentences" "$(head -1 "$SB_TMP/got")" \
	"^0	1	[0-9.-]+	A girl is styling her hair\.	A girl is brushing her hair\.$"
pooldump meta < "$SB_TMP/hidden.sbf" > "$SB_TMP/m1"
sb-pool -m "$M" < "$SB_TMP/hidden.sbf" 2> /dev/null | pooldump meta > "$SB_TMP/m2"
like "embeddings meta: model from sb-encode, pooling from the model" \
	"$(sort "$SB_TMP/m2" | tr '\n' ' ')" "pooling=mean .*precision=float32"

# sb-pool(1) and sb-cosine(1) EXAMPLES, as written there (M and the sample file).
cd "$SB_SRCDIR" || exit 1
out=$(sb-tokenize -m $M < tests/sample.txt | sb-encode -m $M |
	sb-pool -m $M | sb-cosine)
is "man: the first sentence against the others" "$(printf '%s\n' "$out" | wc -l | tr -d ' ')" \
	"$(($(wc -l < tests/sample.txt) - 1))"
sb-tokenize -m $M < tests/sample.txt | sb-encode -m $M > "$SB_TMP/h.sbf"
sb-pool -m $M --calibrate "$SB_TMP/ranges.txt" -o /dev/null < "$SB_TMP/h.sbf"
sb-pool -m $M --precision int8 --calibration "$SB_TMP/ranges.txt" \
	< "$SB_TMP/h.sbf" > "$SB_TMP/int8.sbf"
like "man: calibrate, then int8" "$(pooldump print < "$SB_TMP/int8.sbf" | head -1)" "^# int8$"
out=$(sb-pool -m $M --precision ubinary < "$SB_TMP/h.sbf" |
	sb-cosine --pairs --metric hamming)
like "man: ubinary and hamming" "$out" "^0	1	-[0-9]+\.000000	"
out=$(cut -f 6,7 "$SB_TMP/gold.tsv" | tr '\t' '\n' | sb-tokenize -m $M |
	sb-encode -m $M | sb-pool -m $M | sb-cosine --pairs --gold "$SB_TMP/gold.tsv")
like "man: the STS Spearman" "$out" "^spearman	-?[01]\.[0-9]{6}	pairs	50	metric	cosine$"
sb-tokenize -m $M < tests/sample.txt | sb-encode -m $M |
	sb-pool -m $M -o "$SB_TMP/corpus.sbf"
out=$(echo 'a man is eating food' | sb-tokenize -m $M | sb-encode -m $M |
	sb-pool -m $M | sb-cosine --corpus "$SB_TMP/corpus.sbf" -k 3)
is "man: corpus search, 3 best rows" "$(printf '%s\n' "$out" | cut -f 1 | tr '\n' ' ')" "0 0 0 "

# The demo: without the real model it says so and runs on the tiny model.
run env HF_HUB_OFFLINE=1 SB_MODEL= HF_HOME="$SB_TMP/nohf" sh tests/demo.sh
like "demo: says plainly that the real model is not here" "$rc $out" \
	"^0 NOTE: the real model sentence-transformers/stsb-distilbert-base is not available here"
like "demo: prints the similarities" "$out" "cosine similarity with \"hello world what a time to be alive!\":"
run env SB_MODEL="$SB_TMP/nomodel" sh tests/demo.sh
like "demo: a wrong SB_MODEL is named" "$rc $err" "^1 demo: SB_MODEL=.* is not a model folder"

# The STS evaluation script on 50 pairs of the tiny model (the figure means nothing).
run sh tests/sts-eval.sh -m "$M" -n 50 "$STS"
like "sts-eval.sh prints Spearman for four metrics" "$rc $(printf '%s' "$out" | grep -c '^spearman')" "^0 4$"

exit $((sb_failed > 0))
