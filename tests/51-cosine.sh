#!/bin/sh
# sb-cosine: every mode and metric against the NumPy goldens of tests/tools/pool-ref.py,
# the STS Spearman and Pearson, -v figures, and the bad inputs.  (--mine and --threshold:
# 57-mining.sh.)
. ./tests/setup

G=$SB_SRCDIR/tests/golden/pool
plan 43

# cmp_scores DESC GOLDEN COLUMN: column COLUMN of $SB_TMP/out (TSV) against the golden
# matrix flattened row by row, within 1e-6 relative to max(1, |expected|) (scores travel
# as float32 and print with 6 decimals).
cmp_scores() {
	awk -v col="$3" '
		NR == FNR { if (FNR > 1) for (i = 1; i <= NF; i++) want[++wn] = $i; next }
		{ n++; d = $col - want[n]; if (d < 0) d = -d
		  w = want[n]; if (w < 0) w = -w; if (w < 1) w = 1
		  if (d / w > max) max = d / w
		  if (d > 1e-6 * w + 5e-7) { printf "line %d: %s, expected %s\n", n, $col, want[n]; bad = 1 } }
		END { if (!bad && n != wn) { printf "%d scores, expected %d\n", n, wn; bad = 1 }
		      printf "max rel diff %g\n", max > "/dev/stderr"; exit bad }' "$2" "$SB_TMP/out" \
		> "$SB_TMP/cmp" 2> "$SB_TMP/cmpmax"
	if [ $? = 0 ]; then
		ok "$1 ($(cat "$SB_TMP/cmpmax"))"
	else
		not_ok "$1"
		diag "$(head -5 "$SB_TMP/cmp")"
	fi
}

pooldump emb "$G/vectors.txt" --split 3 --meta model=m1 --meta pooling=mean > "$SB_TMP/v.sbf"
pooldump emb "$G/vectors768.txt" --split 4 > "$SB_TMP/big.sbf"

for m in cosine dot euclidean manhattan; do
	sb-cosine --pairs --metric $m < "$SB_TMP/big.sbf" > "$SB_TMP/out" 2> "$SB_TMP/err"
	cmp_scores "--pairs --metric $m (768 dims) equals NumPy" "$G/pairs768-$m.txt" 3
done
for m in cosine dot euclidean manhattan; do
	sb-cosine --metric $m < "$SB_TMP/v.sbf" > "$SB_TMP/out" 2> "$SB_TMP/err"
	cmp_scores "first row against the others, --metric $m, equals NumPy" "$G/first-$m.txt" 3
done
sb-cosine < "$SB_TMP/v.sbf" > "$SB_TMP/out" 2> "$SB_TMP/err"
like "a zero vector scores cosine 0, with a warning" \
	"$(sed -n 5p "$SB_TMP/out") $(cat "$SB_TMP/err")" \
	"^0	5	0.000000 sb-cosine: warning: 1 zero vectors: their cosine with anything is 0"

sb-cosine --matrix < "$SB_TMP/v.sbf" 2> /dev/null | tr '\t' '\n' > "$SB_TMP/out"
cmp_scores "--matrix equals NumPy's matrix" "$G/matrix-cosine.txt" 1
# Upper triangle of the golden matrix, in the order --all prints it.
awk 'NR > 1 { r = NR - 2; for (j = r + 2; j <= NF; j++) print r, j - 1, $j }' \
	"$G/matrix-euclidean.txt" | awk 'BEGIN { print "0 0" } { print $3 }' > "$SB_TMP/tri"
sb-cosine --all --metric euclidean < "$SB_TMP/v.sbf" > "$SB_TMP/out" 2> /dev/null
cmp_scores "--all prints every pair i < j" "$SB_TMP/tri" 3
is "--all pairs are in order" "$(cut -f1,2 "$SB_TMP/out" | head -3 | tr '\n\t' ' :')" "0:1 0:2 0:3 "

# top-k: the brute-force answer from the golden matrix (score descending, index ascending).
topk() {   # GOLDEN K SELF(1: skip the diagonal)
	awk -v k="$2" -v self="$3" 'NR > 1 { r = NR - 2
		for (j = 1; j <= NF; j++) if (!(self && j - 1 == r)) printf "%d\t%d\t%.17g\n", r, j - 1, $j }' "$1" |
		sort -t '	' -k1,1n -k3,3gr -k2,2n | awk -v k="$2" '$1 != last { n = 0; last = $1 } n++ < k'
}
topk "$G/matrix-cosine.txt" 2 1 > "$SB_TMP/want"
sb-cosine --all --top-k 2 < "$SB_TMP/v.sbf" > "$SB_TMP/out" 2> /dev/null
is "--all --top-k 2 picks the same rows as a full sort" "$(cut -f1,2 "$SB_TMP/out")" \
	"$(cut -f1,2 "$SB_TMP/want")"

# Corpus search: the same vectors saved as a corpus file, queried in batches of 3.
cp "$SB_TMP/v.sbf" "$SB_TMP/corpus.sbf"
topk "$G/matrix-dot.txt" 3 0 > "$SB_TMP/want"
sb-cosine --corpus "$SB_TMP/corpus.sbf" -k 3 --metric dot --query-batch 3 < "$SB_TMP/v.sbf" \
	> "$SB_TMP/out" 2> "$SB_TMP/err"
is "--corpus --top-k 3 finds the same rows as a full sort" "$(cut -f1,2 "$SB_TMP/out")" \
	"$(cut -f1,2 "$SB_TMP/want")"
awk 'BEGIN { print "0 0" } { print $3 }' "$SB_TMP/want" > "$SB_TMP/wantscores"
cmp_scores "--corpus scores equal NumPy's" "$SB_TMP/wantscores" 3
pooldump emb "$G/vectors.txt" --text --split 5 > "$SB_TMP/vt.sbf"
sb-cosine --corpus "$SB_TMP/vt.sbf" -k 1 < "$SB_TMP/vt.sbf" > "$SB_TMP/out" 2> /dev/null
is "--corpus prints both texts" "$(head -1 "$SB_TMP/out" | cut -f1,2,4,5)" "0	0	row 0	row 0"

# Hamming on packed bits.
pooldump emb "$G/vectors-ubinary.txt" --dtype uint8 --meta precision=ubinary > "$SB_TMP/ub.sbf"
sb-cosine --pairs --metric hamming < "$SB_TMP/ub.sbf" > "$SB_TMP/out" 2> /dev/null
cmp_scores "--metric hamming on ubinary equals NumPy's bit count" "$G/pairs-hamming.txt" 3
run sb-cosine --metric hamming -i "$SB_TMP/v.sbf"
like "hamming on float32 is refused" "$rc $err" "^1 sb-cosine: .*metric hamming compares packed binary"
run sb-cosine -i "$SB_TMP/ub.sbf"
like "cosine on packed bits is refused" "$rc $err" "^1 sb-cosine: .*only metric hamming compares them"

# Texts and frames output.
run sb-cosine --pairs -i "$SB_TMP/vt.sbf"
like "TSV rows carry both texts" "$out" "^2	3	-?[0-9]\.[0-9]{6}	row 2	row 3$"
sb-cosine --pairs --frames < "$SB_TMP/v.sbf" > "$SB_TMP/s.sbf" 2> /dev/null
like "--frames writes scores frames with the metric and the model in meta" \
	"$(pooldump meta < "$SB_TMP/s.sbf" | sort | tr '\n' ' ')" "metric=cosine model=m1 pooling=mean"

# STS Spearman: 2-d unit vectors whose pair cosines are the predictions of spearman.txt.
awk 'NR > 1 { printf "1 0\n%.17g %.17g\n", $2, sqrt(1 - $2 * $2) }' "$G/spearman.txt" |
	awk '{ l[NR] = $0 } END { print NR, 2; for (i = 1; i <= NR; i++) print l[i] }' > "$SB_TMP/sp.txt"
awk 'NR > 1 { printf "g\tf\ty\t%d\t%s\ta\tb\n", NR, $1 }' "$G/spearman.txt" > "$SB_TMP/gold.tsv"
pooldump emb "$SB_TMP/sp.txt" > "$SB_TMP/sp.sbf"
run sb-cosine --pairs --gold "$SB_TMP/gold.tsv" -i "$SB_TMP/sp.sbf"
is "--gold: Spearman with average ranks for ties, as scipy" "$(printf '%s' "$out" | head -1)" \
	"spearman	$(awk 'NR == 1 { printf "%.6f", $1 }' "$G/spearman.txt")	pairs	10	metric	cosine"
# Pearson of the gold scores and the predictions, two-pass in awk (NumPy: 0.913090).
pearson=$(awk 'NR > 1 { x[NR] = $1; y[NR] = $2; mx += $1; my += $2; n++ }
	END { mx /= n; my /= n
	      for (i in x) { a = x[i] - mx; b = y[i] - my; sxy += a * b; sxx += a * a; syy += b * b }
	      printf "%.6f", sxy / sqrt(sxx * syy) }' "$G/spearman.txt")
is "--gold: Pearson on a second line, as EmbeddingSimilarityEvaluator reports both" \
	"$(printf '%s' "$out" | sed -n 2p)" "pearson	$pearson	pairs	10	metric	cosine"
{ printf 'genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2\n'; cat "$SB_TMP/gold.tsv"; } \
	> "$SB_TMP/gold-header.tsv"
want=$out
run sb-cosine --pairs --gold "$SB_TMP/gold-header.tsv" -i "$SB_TMP/sp.sbf"
is "--gold: a header line (score not a number) is skipped" "$rc:$out" "0:$want"
{ head -3 "$SB_TMP/gold.tsv"; printf 'g\tf\ty\t1\tscore\ta\tb\n'; tail -n +4 "$SB_TMP/gold.tsv"; } \
	> "$SB_TMP/gold-bad.tsv"
run sb-cosine --pairs --gold "$SB_TMP/gold-bad.tsv" -i "$SB_TMP/sp.sbf"
like "--gold: ... but not a word on a later line" "$rc:$err" "^1:sb-cosine: .*gold-bad.tsv: line 4: column 5 is not a number$"
head -5 "$SB_TMP/gold.tsv" > "$SB_TMP/gold5.tsv"
run sb-cosine --pairs --gold "$SB_TMP/gold5.tsv" -i "$SB_TMP/sp.sbf"
like "--gold with a different pair count is refused" "$rc $err" "5 gold scores, 10 pairs scored"

# Bad input.
printf '3 16\n' > "$SB_TMP/three.txt"
sed -n 2,4p "$G/vectors.txt" >> "$SB_TMP/three.txt"
pooldump emb "$SB_TMP/three.txt" > "$SB_TMP/three.sbf"
run sb-cosine --pairs -i "$SB_TMP/three.sbf"
like "an odd row count with --pairs is refused" "$rc $err" \
	"^1 sb-cosine: .*odd number of rows \(3\) with pairs: row 2 has no partner$"
printf '0 16\n' > "$SB_TMP/zero.txt"
pooldump emb "$SB_TMP/zero.txt" > "$SB_TMP/empty.sbf"
run sb-cosine -i "$SB_TMP/empty.sbf"
like "an empty stream: a clear message" "$rc $err" "^1 sb-cosine: .*the input holds no embeddings"
run sb-cosine -i /dev/null
like "no stream at all: a clear message" "$rc $err" "^1 sb-cosine: .*without an end frame"
awk 'NR == 4 { $7 = "nan" } NR == 5 { $2 = "inf" } { print }' "$G/vectors.txt" > "$SB_TMP/nan.txt"
pooldump emb "$SB_TMP/nan.txt" --split 2 > "$SB_TMP/nan.sbf"
run sb-cosine --all -i "$SB_TMP/nan.sbf"
like "NaN in an embedding: an error naming the row" "$rc $err" \
	"^1 sb-cosine: .*row 2: embedding has NaN at dimension 6$"
pooldump emb "$G/vectors.txt" --split 3 --meta model=m2 --meta pooling=mean > "$SB_TMP/m2.sbf"
run sb-cosine --corpus "$SB_TMP/m2.sbf" -i "$SB_TMP/v.sbf"
like "a corpus of another model is refused, compared with the queries" "$rc $err" \
	"^1 sb-cosine: .*corpus .*m2.sbf: embeddings of model 'm2', the queries of 'm1': scores across models are meaningless"
pooldump emb "$G/vectors.txt" --meta model=m2 > "$SB_TMP/m2only.sbf"
sb-cat -F "$SB_TMP/v.sbf" "$SB_TMP/m2only.sbf" > "$SB_TMP/vm2.sbf"
run sb-cosine --all -i "$SB_TMP/vm2.sbf"
like "input rows of another model are refused, compared with the earlier rows" "$rc $err" \
	"^1 sb-cosine: .*row 8: embeddings of model 'm2', earlier rows of 'm1'"
run sb-cosine --corpus "$SB_TMP/m2.sbf" --allow-mixed -i "$SB_TMP/v.sbf"
check "--allow-mixed compares them anyway" test "$rc" = 0 -a -n "$out"
pooldump emb "$G/vectors.txt" --meta model=m1 --meta pooling=cls > "$SB_TMP/cls.sbf"
run sb-cosine --corpus "$SB_TMP/cls.sbf" -i "$SB_TMP/v.sbf"
like "embeddings of another pooling are refused" "$rc $err" "pooled with 'cls', the queries with 'mean'"
pooldump emb "$G/vectors.txt" --meta model=/a/m --meta model_fingerprint=f1 > "$SB_TMP/f1.sbf"
pooldump emb "$G/vectors.txt" --meta model=/b/m --meta model_fingerprint=f1 \
	--meta precision=float32 > "$SB_TMP/f1b.sbf"
pooldump emb "$G/vectors.txt" --meta model=/a/m --meta model_fingerprint=f2 > "$SB_TMP/f2.sbf"
run sb-cosine --corpus "$SB_TMP/f1b.sbf" -i "$SB_TMP/f1.sbf"
check "the same weights in another folder compare (fingerprints decide)" test "$rc" = 0
run sb-cosine --corpus "$SB_TMP/f2.sbf" -i "$SB_TMP/f1.sbf"
like "other weights under the same name are refused" "$rc $err" \
	"model '/a/m' \(f2\), the queries of '/a/m' \(f1\)"
pooldump emb "$G/vectors.txt" > "$SB_TMP/plain.sbf"
run sb-cosine --corpus "$SB_TMP/f1b.sbf" -i "$SB_TMP/plain.sbf"
check "meta missing on one side refuses nothing" test "$rc" = 0
run sb-cosine --corpus "$SB_TMP/big.sbf" -i "$SB_TMP/v.sbf"
like "a corpus of another dimension is refused, naming the queries' dimension" "$rc $err" \
	"^1 sb-cosine: .*corpus .*: embeddings of 768 x float32, the queries 16 x float32: dimension mismatch"
head -c 200 "$SB_TMP/corpus.sbf" > "$SB_TMP/cut.sbf"
run sb-cosine --corpus "$SB_TMP/cut.sbf" -i "$SB_TMP/v.sbf"
like "a cut corpus file is refused" "$rc $err" "^1 sb-cosine: "
run sb-cosine --corpus "$SB_TMP/missing.sbf" -i "$SB_TMP/v.sbf"
like "a missing corpus file is named" "$rc $err" "missing.sbf"

# -v: the statistics count the bytes of TSV printed (they said 0).
sb-cosine -v --all < "$SB_TMP/v.sbf" > "$SB_TMP/out" 2> "$SB_TMP/err"
like "-v: bytes out are the bytes printed" "$(grep ' in: ' "$SB_TMP/err")" \
	"; out: [0-9]+ frames, 28 rows, $(wc -c < "$SB_TMP/out" | tr -d ' ') bytes; "
check "... which are not 0" test "$(wc -c < "$SB_TMP/out")" -gt 0

run sb-cosine --metric jaccard
like "an unknown metric: usage error" "$rc $err" "^2 sb-cosine: --metric: unknown metric 'jaccard'"

exit $((sb_failed > 0))
