#!/bin/sh
# sb-cosine --mine (paraphrase mining: the best pairs i < j overall) against a NumPy
# re-implementation of sentence-transformers' paraphrase_mining_embeddings()
# (tests/tools/mine-ref.py) on random embeddings, its tie order, and --threshold for
# --mine, --all and --corpus.
. ./tests/setup

PY=$PYTHON3
if ! "$PY" -c 'import numpy' 2> /dev/null; then
	echo "Bail out! $PY with numpy is needed (Debian: python3-numpy)"
	exit 1
fi
REF=$SB_SRCDIR/tests/tools/mine-ref.py
T=$SB_TMP

# same_pairs DESC GOT WANT: the same (i, j) lines in the same order, scores within what
# float32 and 6 decimals allow: 2e-7 relative plus 6e-7 (sb prints float32 scores with 6
# decimals, the reference float64 ones).
same_pairs() {
	if awk -F '\t' '
		NR == FNR { wi[FNR] = $1; wj[FNR] = $2; ws[FNR] = $3; wn = FNR; next }
		{ n++; d = $3 - ws[n]; if (d < 0) d = -d; w = ws[n] < 0 ? -ws[n] : ws[n]
		  if ($1 != wi[n] || $2 != wj[n] || d > 2e-7 * w + 6e-7) { printf "line %d: %s, expected %s %s %s\n", n, $0, wi[n], wj[n], ws[n]; bad = 1; exit } }
		END { if (!bad && n != wn) { printf "%d pairs, expected %d\n", n, wn; bad = 1 }
		      exit bad }' "$3" "$2" > "$T/cmp"; then
		ok "$1 ($(wc -l < "$2") pairs)"
	else
		not_ok "$1"
		diag "$(head -5 "$T/cmp")"
	fi
}

# 300 random 48-d vectors in frames of 37 rows, with texts.
"$PY" "$REF" random 300 48 11 > "$T/r.txt"
pooldump emb "$T/r.txt" --split 37 --text > "$T/r.sbf"

for args in "" "--top-k 1" "--top-k 5" "--top-k 5 --metric dot" "--top-k 300"; do
	"$PY" "$REF" mine "$T/r.txt" $args > "$T/want"
	sb-cosine --mine $args < "$T/r.sbf" > "$T/got" 2> "$T/err"
	same_pairs "--mine ${args:-(top_k 100)} equals sentence-transformers' paraphrase_mining" \
		"$T/got" "$T/want"
done
check "--mine with top_k 100 over 300 rows finds every pair once" test "$(wc -l < "$T/got")" = 44850

# The issue's case: --all -k 1 is one list per row, so pairs come both ways; --mine
# lists each pair once, i < j, best first.
sb-cosine --all -k 1 < "$T/r.sbf" > "$T/all" 2> /dev/null
sb-cosine --mine -k 1 < "$T/r.sbf" > "$T/mine" 2> /dev/null
check "--all -k 1 prints one line per row (some pairs both ways)" \
	test "$(wc -l < "$T/all")" = 300 -a "$(awk -F '\t' '$1 > $2' "$T/all" | wc -l)" -gt 0
is "--mine -k 1: every pair once, i < j" \
	"$(awk -F '\t' '{ k = $1 < $2 ? $1 " " $2 : $2 " " $1; if (seen[k]++ || $1 >= $2) bad++ } END { print NR - 0, bad + 0 }' "$T/mine")" \
	"$(awk -F '\t' '{ k = $1 < $2 ? $1 " " $2 : $2 " " $1; if (!seen[k]++) n++ } END { print n, 0 }' "$T/all")"
check "--mine: best first" sh -c "cut -f3 '$T/mine' | sort -gr -c"
like "--mine prints both texts" "$(head -1 "$T/mine")" "^([0-9]+)	([0-9]+)	0\.[0-9]{6}	row \1	row \2$"

# --max-pairs: sentence-transformers counts (i, j) and (j, i) and keeps max_pairs - 1
# before removing duplicates, so its list is a prefix of sb's, which holds max_pairs.
sb-cosine --mine -k 5 < "$T/r.sbf" > "$T/full" 2> /dev/null
sb-cosine --mine -k 5 --max-pairs 40 < "$T/r.sbf" > "$T/got" 2> /dev/null
head -40 "$T/full" > "$T/want"
check "--max-pairs 40: the 40 best pairs of the whole list" cmp -s "$T/got" "$T/want"
"$PY" "$REF" mine "$T/r.txt" --top-k 5 --max-pairs 40 > "$T/st"
head -n "$(wc -l < "$T/st")" "$T/got" > "$T/prefix"
same_pairs "--max-pairs 40: sentence-transformers' shorter list is its prefix" "$T/prefix" "$T/st"
check "... which is shorter" test "$(wc -l < "$T/st")" -lt 40

# --threshold: the pairs at or above T, nothing else changes.
"$PY" "$REF" mine "$T/r.txt" --top-k 5 --threshold 0.35 > "$T/want"
sb-cosine --mine -k 5 --threshold 0.35 < "$T/r.sbf" > "$T/got" 2> /dev/null
same_pairs "--mine --threshold 0.35 equals the reference cut at 0.35" "$T/got" "$T/want"
awk -F '\t' '$3 >= 0.35' "$T/full" > "$T/want"
check "... and the unfiltered list cut at 0.35" cmp -s "$T/got" "$T/want"
sb-cosine --all --threshold 0.3 < "$T/r.sbf" > "$T/got" 2> /dev/null
sb-cosine --all < "$T/r.sbf" 2> /dev/null | awk -F '\t' '$3 >= 0.3' > "$T/want"
check "--all --threshold 0.3 keeps the pairs of 0.3 and more" test -s "$T/got" -a \
	"$(cmp -s "$T/got" "$T/want" && echo same)" = same
sb-cosine --all -k 4 --threshold 0.3 < "$T/r.sbf" > "$T/got" 2> /dev/null
sb-cosine --all -k 4 < "$T/r.sbf" 2> /dev/null | awk -F '\t' '$3 >= 0.3' > "$T/want"
check "--all -k 4 --threshold 0.3 likewise" cmp -s "$T/got" "$T/want"
"$PY" "$REF" random 20 48 12 > "$T/q.txt"
pooldump emb "$T/q.txt" > "$T/q.sbf"
sb-cosine --corpus "$T/r.sbf" -k 8 --threshold 0.25 < "$T/q.sbf" > "$T/got" 2> /dev/null
sb-cosine --corpus "$T/r.sbf" -k 8 < "$T/q.sbf" 2> /dev/null | awk -F '\t' '$3 >= 0.25' > "$T/want"
check "--corpus --threshold 0.25 drops the results below 0.25" test -s "$T/got" -a \
	"$(wc -l < "$T/got")" -lt 160 -a "$(cmp -s "$T/got" "$T/want" && echo same)" = same
sb-cosine --corpus "$T/r.sbf" -k 8 --threshold 2 < "$T/q.sbf" > "$T/got" 2> "$T/err"
check "--corpus --threshold 2 (above any cosine): no lines, exit 0" test "$?" = 0 -a ! -s "$T/got"

# Ties: equal scores in (i, j) order.  Rows 0, 2, 3 and 5 are one vector, 1 and 4 another.
printf '6 2\n1 0\n0 1\n1 0\n2 0\n0 3\n1 0\n' > "$T/tie.txt"
pooldump emb "$T/tie.txt" > "$T/tie.sbf"
run sb-cosine --mine -k 5 --threshold 0.5 -i "$T/tie.sbf"
is "--mine: ties in (i, j) order" "$(printf '%s' "$out" | cut -f1,2 | tr '\t\n' ': ')" \
	"0:2 0:3 0:5 1:4 2:3 2:5 3:5 "

# Frames out: the same pairs as scores frames.
sb-cosine --mine -k 5 --frames < "$T/r.sbf" > "$T/s.sbf" 2> /dev/null
run sb-cat -c "$T/s.sbf"
like "--mine --frames writes a complete scores stream" "$rc:$out" "^0:.*s.sbf: [0-9]+ frames, $(wc -l < "$T/full") rows, complete$"

# The --mine examples of sb-cosine(1), as written there (M the tiny model).
awk '
	/^\.Sh EXAMPLES/ { ex = 1; next }
	/^\.Sh / { ex = 0 }
	ex && /^\.Bd -literal/ { lit = 1; line = ""; next }
	ex && /^\.Ed/ { lit = 0; if (line ~ /--mine/) print line; next }
	ex && lit { sub(/^ +/, ""); line = line == "" ? $0 : line " " $0 }
' "$SB_SRCDIR/man/sb-cosine.1" > "$T/ex.txt"
check "sb-cosine(1) has 2 --mine examples" test "$(wc -l < "$T/ex.txt")" = 2
n=0
while IFS= read -r cmd; do
	n=$((n + 1))
	(cd "$SB_SRCDIR" && M=tests/models/tiny-distilbert sh -c "$cmd") > "$T/ex.$n" 2> "$T/ex.err"
	echo "$?" > "$T/ex.rc"
	case $cmd in
	*--max-pairs\ 5*)
		is "sb-cosine(1) example: --mine --max-pairs 5" \
			"$(cat "$T/ex.rc"):$(wc -l < "$T/ex.$n"):$(awk -F '\t' '$1 >= $2 || NF != 5' "$T/ex.$n" | wc -l)" "0:5:0" ;;
	*--threshold\ 0.9*)
		is "sb-cosine(1) example: --mine --threshold 0.9" \
			"$(cat "$T/ex.rc"):$(awk -F '\t' '$3 < 0.9' "$T/ex.$n" | wc -l)" "0:0" ;;
	*) not_ok "unknown example: $cmd" ;;
	esac
done < "$T/ex.txt"

# Usage.
run sb-cosine --all --max-pairs 3 -i "$T/r.sbf"
like "--max-pairs without --mine is refused" "$rc:$err" "^1:sb-cosine: .*max.pairs: only with mode mine"
run sb-cosine --pairs --threshold 0.5 -i "$T/r.sbf"
like "--threshold with --pairs is refused" "$rc:$err" "^1:sb-cosine: .*threshold: only with mode all, mine or corpus"
run sb-cosine --mine --threshold x -i "$T/r.sbf"
like "--threshold x is refused" "$rc:$err" "^1:sb-cosine: .*threshold: 'x' is not a number"
run sb-cosine --mine --all -i "$T/r.sbf"
like "--mine with --all: usage" "$rc:$err" "^2:sb-cosine: choose one of"

plan "$sb_n"
exit $((sb_failed > 0))
