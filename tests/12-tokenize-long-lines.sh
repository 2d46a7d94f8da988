#!/bin/sh
# Lines longer than the runner's text chunk reach the tokenizer in pieces: the tokens
# are those of the whole line, and memory stays bounded whatever the line length.
. ./tests/setup

M=$SB_SRCDIR/tests/models/tiny-distilbert
plan 8

# Lines of many lengths (0 to ~200 kB) with multi-byte characters and a long word.
awk 'BEGIN {
	split("hello world what a time to be alive the cat café naïve 日本語 don'"'"'t !! ?", w, " ")
	long = sprintf("%0120d", 0)
	srand(5)
	for (i = 0; i < 24; i++) {
		n = (i % 6 == 0) ? 0 : (i % 6 == 1) ? 3 : (i % 6 == 2) ? 40 : (i % 6 == 3) ? 900 : 20000
		line = ""
		for (k = 0; k < n; k++)
			line = line (k ? " " : "") ((k % 97 == 5) ? long : w[1 + int(rand() * 14)])
		print line
	}
}' > "$SB_TMP/long.txt"
paste - - < "$SB_TMP/long.txt" > "$SB_TMP/pairs.txt"

dump() {
	sb-cat --tsv input_ids --unpad -t
}
sb-tokenize -m "$M" -l 512 < "$SB_TMP/long.txt" | dump > "$SB_TMP/whole"
for ch in 1 7 4096; do
	sb-tokenize -m "$M" -l 512 --chunk-bytes $ch < "$SB_TMP/long.txt" | dump > "$SB_TMP/pieces"
	check "lines in pieces of $ch bytes: the same ids and texts as whole lines" \
		cmp -s "$SB_TMP/whole" "$SB_TMP/pieces"
done
sb-tokenize -m "$M" -l 512 --pairs < "$SB_TMP/pairs.txt" | dump > "$SB_TMP/whole"
for ch in 1 4096; do
	sb-tokenize -m "$M" -l 512 --pairs --chunk-bytes $ch < "$SB_TMP/pairs.txt" | dump \
		> "$SB_TMP/pieces"
	check "pairs in pieces of $ch bytes: the same ids and texts" \
		cmp -s "$SB_TMP/whole" "$SB_TMP/pieces"
done
is "every line is one row" "$(wc -l < "$SB_TMP/whole" | tr -d ' ')" 12

# A 64 MB line, then a short one: bounded memory, one row each, the right tokens.
# ASan keeps freed memory in a quarantine: keep it small so RSS measures the program.
awk 'BEGIN { s = "hello world café "; t = s; while (length(t) < 1048576) t = t t
	for (i = 0; i < 64; i++) printf "%s", t; printf "\nthe cat\n" }' > "$SB_TMP/big.txt"
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4" \
	/usr/bin/time -f '%M' -o "$SB_TMP/rss" sb-tokenize -m "$M" --no-text \
	< "$SB_TMP/big.txt" | sb-cat --tsv input_ids --unpad > "$SB_TMP/big.out"
rss=$(tail -n 1 "$SB_TMP/rss")
diag "peak RSS tokenizing a 64 MB line: $rss kB"
check "a 64 MB line: peak RSS under 150 MB ($rss kB)" test "$rss" -lt 153600
is "a 64 MB line: two rows, the first truncated to 128 tokens" \
	"$(awk '{ print NF }' "$SB_TMP/big.out" | tr '\n' ' ')" "128 4 "
