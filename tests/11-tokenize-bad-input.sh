#!/bin/sh
# sb-tokenize on awkward input: every line is exactly one row, in order (empty and
# whitespace-only lines, 1 MB lines, NUL bytes, CRLF, a BOM, no final newline);
# invalid UTF-8 stops with the line and byte offset after writing the rows before
# it, or is replaced and counted with --replace-invalid.
. ./tests/setup

M=$SB_SRCDIR/tests/models/tiny-distilbert
T=$SB_TMP
cd "$T" || exit 99
if [ ! -d "$M" ]; then
	echo "Bail out! $M is missing"
	exit 1
fi

plan 22

# ids TEXT...: the ids of each argument tokenized alone, one line each.
ids() {
	for _s in "$@"; do
		printf '%s\n' "$_s" | sb-tokenize -m "$M" | tokdump
	done
}
CLS_SEP=$(ids "")

run sh -c "sb-tokenize -m '$M' < /dev/null | tokdump -f"
is "empty input: no rows, an end frame" "$rc:$out" "0:"
run sh -c "printf '\n\n  \n\t\n' | sb-tokenize -m '$M' | tokdump"
is "empty and whitespace-only lines: one row each" "$out" \
	"$(printf '%s\n%s\n%s\n%s' "$CLS_SEP" "$CLS_SEP" "$CLS_SEP" "$CLS_SEP")"
run sh -c "printf 'hello world\nthe end' | sb-tokenize -m '$M' | tokdump"
is "missing final newline: the last line is a row" "$out" "$(ids 'hello world' 'the end')"
run sh -c "printf 'hello world\r\nthe end\r\n' | sb-tokenize -m '$M' | tokdump -x | od -c | grep -c '\\\\r'"
is "CRLF: the CR is not in the carried text" "$out" 0
run sh -c "printf 'hello world\r\nthe end\r\n' | sb-tokenize -m '$M' | tokdump"
is "CRLF: same ids as LF" "$out" "$(ids 'hello world' 'the end')"
run sh -c "printf '\357\273\277hello world\n\357\273\277hello world\n' | sb-tokenize -m '$M' | tokdump -x"
is "BOM: stripped from line 1 (text), dropped as a format char on line 2 (ids)" \
	"$(printf '%s' "$out" | cut -f1 | uniq | wc -l) $(printf '%s' "$out" | head -1 | cut -f2)" \
	"1 hello world"
run sh -c "printf 'hel\000lo wor\000ld\n\000\n' | sb-tokenize -m '$M' | tokdump"
is "NUL bytes: dropped, one row per line" "$out" "$(printf '%s\n%s' "$(ids 'hello world')" "$CLS_SEP")"
run sh -c "printf '\001\002\033[0m\n' | sb-tokenize -m '$M' | tokdump"
is "control characters only" "$out" "$(ids '[0m')"

# 1 MB lines: one word ([UNK]), and many words (truncated, flagged).
awk 'BEGIN { s = "abcdefghij"; for (i = 0; i < 17; i++) s = s s; print substr(s, 1, 1048576) }' > word.txt
run sh -c "sb-tokenize -m '$M' < word.txt | tokdump"
is "1 MB word: [CLS] [UNK] [SEP]" "$out" "2 1 3"
awk 'BEGIN { s = "the cat "; for (i = 0; i < 17; i++) s = s s; print substr(s, 1, 1048576) }' > words.txt
run sh -c "sb-tokenize -m '$M' -v < words.txt | tokdump -t -f"
is "1 MB of words: one row of 128" "$out" "0 1 128"
like "1 MB of words: counted as truncated" "$err" "1 rows, 1 truncated"
run sh -c "cat words.txt word.txt words.txt | sb-tokenize -m '$M' --no-text | tokdump -t | cut -c1-8"
is "1 MB lines among others: three rows" "$(printf '%s' "$out" | cut -c1)" "$(printf '1\n0\n1')"

# Invalid UTF-8: an error naming line and byte; rows before it are written.
printf 'one\ntwo\nthr\377ee\nfour\n' > bad.txt
run sh -c "sb-tokenize -m '$M' < bad.txt > frames"
is "invalid UTF-8: exit 1" "$rc" 1
like "invalid UTF-8: line and byte offset" "$err" "line 3, byte 3: invalid UTF-8 \\(0xff\\)"
run sh -c "tokdump < frames"
is "invalid UTF-8: the two rows before it were written, nothing after" "$out" "$(ids one two)"
like "invalid UTF-8: no end frame" "$err" "no end frame"
run sh -c "sb-tokenize -m '$M' -b 1 < bad.txt | tokdump"
is "invalid UTF-8, one row per frame: same rows" "$out" "$(ids one two)"
run sh -c "printf 'a\tb\377\n' | sb-tokenize -m '$M' --pairs"
like "invalid UTF-8 in the second text: offset in the line" "$err" "line 1, byte 3"
run sh -c "sb-tokenize -m '$M' --replace-invalid < bad.txt | tokdump"
is "--replace-invalid: every line a row" "$out" "$(ids one two three four)"
like "--replace-invalid: counted on stderr" "$err" "replaced 1 invalid UTF-8 sequences with U\\+FFFD in 1 rows"
run sh -c "sb-tokenize -m '$M' --replace-invalid < bad.txt | sb-cat"
like "--replace-invalid: meta replaced_invalid" "$out" '"replaced_invalid":1'

# Pairs: a line without a tab has an empty second text.
run sh -c "printf 'hello\n' | sb-tokenize -m '$M' --pairs | tokdump -p"
is "pairs: no tab" "$out" "2 134 94 94 97 3 3 | 0 0 0 0 0 0 1"
