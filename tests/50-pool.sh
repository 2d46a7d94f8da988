#!/bin/sh
# sb-pool: every pooling mode, normalize, truncate_dim and precision against the NumPy
# goldens of tests/tools/pool-ref.py (tests/golden/pool), then the bad inputs.
. ./tests/setup

G=$SB_SRCDIR/tests/golden/pool
plan 31

# cmp_matrix DESC GOLDEN TOL: compares $SB_TMP/got (pooldump print) with a golden matrix.
cmp_matrix() {
	awk -v tol="$3" '
		FNR == 1 && NR == 1 { next }          # golden header: ROWS COLS
		NR == FNR { for (i = 1; i <= NF; i++) want[NR - 1, i] = $i; wn = NR - 1; wc = NF; next }
		/^#/ { next }
		{ r++; if (NF != wc) { printf "row %d: %d columns, expected %d\n", r, NF, wc; bad = 1; exit }
		  for (i = 1; i <= NF; i++) {
			d = $i - want[r, i]; if (d < 0) d = -d
			w = want[r, i]; if (w < 0) w = -w
			if (w > 1000) d = d / w                # the -1e9 of padded max: relative
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

pooldump hidden "$G/hidden.txt" > "$SB_TMP/hidden.sbf"
pooldump hidden "$G/hidden.txt" --int32 --split 4 --text --meta model=tiny \
	--meta model_fingerprint=abc123 > "$SB_TMP/hidden32.sbf"

for mode in cls max mean mean_sqrt_len_tokens weightedmean lasttoken; do
	sb-pool -p "$mode" < "$SB_TMP/hidden.sbf" 2> "$SB_TMP/err" | pooldump print > "$SB_TMP/got"
	cmp_matrix "pooling $mode equals sentence-transformers' math" "$G/pool-$mode.txt" 1e-5
done
sb-pool -p lasttoken,weightedmean,mean_sqrt_len_tokens,mean,max,cls < "$SB_TMP/hidden.sbf" \
	2> /dev/null | pooldump print > "$SB_TMP/got"
cmp_matrix "all six modes concatenated in sentence-transformers' order" "$G/pool-all.txt" 1e-5
sb-pool -p mean --normalize < "$SB_TMP/hidden.sbf" 2> /dev/null | pooldump print > "$SB_TMP/got"
cmp_matrix "mean + normalize" "$G/pool-mean-norm.txt" 1e-5
sb-pool -p mean --truncate-dim 12 --normalize < "$SB_TMP/hidden32.sbf" 2> /dev/null |
	pooldump print > "$SB_TMP/got"
cmp_matrix "truncate to 12 then normalize, int32 mask, frames of 4 rows" \
	"$G/pool-mean-trunc12-norm.txt" 1e-5

# Meta: model copied from the input, pooling/normalized/dim/precision set; text copied.
sb-pool -p mean,cls --truncate-dim 20 < "$SB_TMP/hidden32.sbf" 2> /dev/null > "$SB_TMP/e.sbf"
meta=$(pooldump meta < "$SB_TMP/e.sbf" | sort | tr '\n' ' ')
is "meta records model, fingerprint, pooling, normalization, dim, precision" "$meta" \
	"dim=20 model=tiny model_fingerprint=abc123 normalized=false pooling=cls,mean precision=float32 "
run sb-cosine --first < "$SB_TMP/e.sbf"
like "texts travel from hidden frames to the scores" "$out" "^0	1	-?[0-9.]+	row 0	row 1$"

# The model's pooling config: a folder with 1_Pooling/config.json (legacy booleans).
mkdir -p "$SB_TMP/m/1_Pooling"
printf '{"word_embedding_dimension": 16, "pooling_mode_max_tokens": true}\n' \
	> "$SB_TMP/m/1_Pooling/config.json"
sb-pool -m "$SB_TMP/m" < "$SB_TMP/hidden.sbf" 2> "$SB_TMP/err" | pooldump print > "$SB_TMP/got"
cmp_matrix "-m MODEL takes the pooling from 1_Pooling/config.json" "$G/pool-max.txt" 1e-5
printf '{"embedding_dimension": 16, "pooling_mode": ["mean", "cls"]}\n' \
	> "$SB_TMP/m/1_Pooling/config.json"
sb-pool -m "$SB_TMP/m" < "$SB_TMP/hidden.sbf" 2> "$SB_TMP/err" | pooldump print > "$SB_TMP/got"
cmp_matrix "-m MODEL with the v5.4 pooling_mode list" "$G/pool-cls,mean.txt" 1e-5
mkdir -p "$SB_TMP/bare"
run sb-pool -m "$SB_TMP/bare" -o "$SB_TMP/x.sbf" -i "$SB_TMP/hidden.sbf"
like "a model without pooling config: mean, with a notice" "$rc $err" \
	"^0 sb-pool: .* has no pooling configuration .*: using mean pooling$"

# Quantization: the golden ranges come from rows 0-3, so rows 4 and 5 fall partly outside.
sb-pool -p mean --calibrate "$SB_TMP/cal.txt" < "$SB_TMP/hidden.sbf" > /dev/null 2>&1
head -3 "$SB_TMP/cal.txt" > "$SB_TMP/calhead"
is "--calibrate writes the documented format" "$(tr '\n' ' ' < "$SB_TMP/calhead")" \
	"sb-calibration 1 dim 16 rows 6 "
for p in int8 uint8; do
	sb-pool -p mean --precision $p --calibration "$G/calibration.txt" < "$SB_TMP/hidden.sbf" \
		2> "$SB_TMP/err" | pooldump print > "$SB_TMP/got"
	cmp_matrix "precision $p with calibration ranges equals quantize_embeddings()" \
		"$G/quant-$p.txt" 0
done
for p in binary ubinary; do
	sb-pool -p mean --precision $p < "$SB_TMP/hidden.sbf" 2> "$SB_TMP/err" |
		pooldump print > "$SB_TMP/got"
	cmp_matrix "precision $p equals quantize_embeddings()" "$G/quant-$p.txt" 0
done
sb-pool -p mean --precision ubinary --truncate-dim 12 < "$SB_TMP/hidden.sbf" 2> /dev/null |
	pooldump print > "$SB_TMP/got"
cmp_matrix "ubinary of 12 dimensions pads each row to 2 bytes" "$G/quant-ubinary-trunc12.txt" 0

# Bad input and usage.
run sb-pool -p mean --precision int8 -i "$SB_TMP/hidden.sbf"
like "int8 without calibration ranges is refused" "$rc $err" \
	"^1 sb-pool: --precision int8 needs calibration ranges \(--calibration FILE"
printf 'sb-calibration 1\ndim 8\nrows 1\n' > "$SB_TMP/badcal"
i=0; while [ $i -lt 8 ]; do echo "0 1" >> "$SB_TMP/badcal"; i=$((i + 1)); done
run sb-pool -p mean --precision uint8 --calibration "$SB_TMP/badcal" -i "$SB_TMP/hidden.sbf"
like "calibration of another width is refused" "$rc $err" \
	"^1 sb-pool: .*calibration ranges have 8 dimensions, embeddings 16"
pooldump hidden "$G/hidden.txt" --no-mask > "$SB_TMP/nomask.sbf"
run sb-pool -p mean -i "$SB_TMP/nomask.sbf"
like "hidden frames without attention_mask: a clear message" "$rc $err" \
	"^1 sb-pool: .*no tensor 'attention_mask'"
# Put a NaN into row 2's second token: line 1 + 6 mask lines + 2 * 7 + 1 + 1.
awk 'NR == 1 + 6 + 2 * 7 + 2 { $3 = "nan" } { print }' "$G/hidden.txt" > "$SB_TMP/nan.txt"
pooldump hidden "$SB_TMP/nan.txt" > "$SB_TMP/nan.sbf"
run sb-pool -p mean -i "$SB_TMP/nan.sbf"
like "NaN in the hidden state: an error naming the row" "$rc $err" \
	"^1 sb-pool: .*row 2: pooled embedding has NaN at dimension 2"
run sb-pool -p mean --truncate-dim 17 -i "$SB_TMP/hidden.sbf"
like "truncate_dim past the width is refused" "$rc $err" "truncate_dim 17 exceeds the pooled width 16"
run sb-pool -p avg -i "$SB_TMP/hidden.sbf"
like "an unknown pooling mode is named" "$rc $err" "^1 sb-pool: unknown pooling mode 'avg'"
pooldump emb "$G/vectors.txt" > "$SB_TMP/emb.sbf"
run sb-pool -p mean -i "$SB_TMP/emb.sbf"
like "embeddings frames are not hidden frames" "$rc $err" "expected a hidden frame, got embeddings"
head -c 300 "$SB_TMP/hidden.sbf" > "$SB_TMP/cut.sbf"
run sb-pool -p mean -i "$SB_TMP/cut.sbf"
check "a cut stream fails" test "$rc" = 1
run sb-pool -p mean --precision float16 -i "$SB_TMP/hidden.sbf"
like "an unknown precision is named" "$rc $err" "unknown precision 'float16'"
run sb-pool --bogus
check "a bad option exits 2" test "$rc" = 2
run sb-pool --calibrate "$SB_TMP/c2" -i /dev/null
like "an empty input stream: a clear message" "$rc $err" "^1 sb-pool: "

exit $((sb_failed > 0))
