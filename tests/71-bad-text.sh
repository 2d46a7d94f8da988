#!/bin/sh
# The bad-text catalogue of sb-tokenize (issue 8, item 4), each case with its outcome:
# invalid UTF-8 of every kind at the start, middle and end of a line (overlong forms,
# surrogates, 5- and 6-byte forms, lone continuation bytes, a sequence cut by the end of
# the line); Unicode line and paragraph separators; zalgo text; a 100 MB single line and
# a million one-character lines, with their time and peak RSS written to the log.
# Always one row per input line.  (NUL, BOM, CRLF, empty lines: 11-tokenize-bad-input.sh)
. ./tests/setup

M=$SB_SRCDIR/tests/models/tiny-distilbert
if [ ! -d "$M" ]; then
	echo "Bail out! $M is missing"
	exit 1
fi
cd "$SB_TMP" || exit 99

# Under valgrind the big inputs are ten times smaller, or the run would take an hour.
big_mb=100
n_lines=1000000
if [ -n "${SB_VALGRIND:-}" ]; then
	big_mb=10
	n_lines=100000
fi

plan 33

# ids: the input_ids of each row of the frames on stdin, one line per row.
ids() { sb-cat --tsv input_ids; }

# measure NAME CMD...: runs CMD with stdin/stdout as given, records seconds and peak
# RSS (KB, when GNU time is there) in $secs and $rss, and writes them to the log.
measure() {
	_name=$1
	shift
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -f '%e %M' -o "$SB_TMP/time" "$@"
		_rc=$?
		read -r secs rss < "$SB_TMP/time"
	else
		_t0=$(date +%s)
		"$@"
		_rc=$?
		secs=$(($(date +%s) - _t0))
		rss=0
	fi
	diag "$_name: $secs s, peak RSS ${rss} KB"
	return $_rc
}

# 1. Invalid UTF-8: exit 1 naming the line and the byte offset of the bad sequence.
kinds="overlong:\300\257 surrogate:\355\240\200 five-byte:\370\210\200\200\200
six-byte:\374\204\200\200\200\200 continuation:\200 cut-sequence:\342\202"
: > all.txt
for kv in $kinds; do
	kind=${kv%%:*}
	bad=${kv#*:}
	for pos in start middle end; do
		case $pos in
		start) fmt="${bad}ab cd" off=0 ;;
		middle) fmt="ab ${bad} cd" off=3 ;;
		end) fmt="ab cd ${bad}" off=6 ;;
		esac
		# shellcheck disable=SC2059
		printf "$fmt\n" > line.txt
		cat line.txt >> all.txt
		run sb-tokenize -m "$M" -i line.txt
		like "invalid UTF-8, $kind at the $pos: exit 1 at line 1, byte $off" "$rc: $err" \
			"^1: sb-tokenize: line 1, byte $off: invalid UTF-8"
	done
done
run sh -c 'sb-tokenize -m "$1" --replace-invalid < all.txt | sb-cat --check' sh "$M"
like "--replace-invalid: the 18 bad lines give 18 rows and an end frame" "$rc $out" "^0 .* 18 rows, complete"

# 2. U+2028 and U+2029 are whitespace inside a line, not line breaks; U+0085 (NEL) is a
#    control character, dropped by clean_text.  (Checked against Hugging Face tokenizers
#    0.22, hf_tokenize.js: a U+0085 b -> [CLS] a ##b [SEP]; a U+2028 b -> [CLS] a b [SEP].)
for sep in '\342\200\250:U+2028:a b' '\342\200\251:U+2029:a b' '\302\205:U+0085:ab'; do
	same=${sep##*:}
	name=${sep#*:}
	name=${name%:*}
	# shellcheck disable=SC2059
	printf "a${sep%%:*}b\nc\n" > sep.txt
	run sh -c 'sb-tokenize -m "$1" < sep.txt | sb-cat --tsv input_ids' sh "$M"
	got=$out
	run sh -c 'printf "%s\nc\n" "$2" | sb-tokenize -m "$1" | sb-cat --tsv input_ids' sh "$M" "$same"
	is "$name inside a line: the ids of '$same', one row per line" "$got" "$out"
done

# 3. Zalgo: 5000 combining marks on one letter are stripped with the accents.
/usr/bin/python3 -c 'import sys; sys.stdout.write("z" + "\u0301\u0316\u0334" * 1667 + " z\n")' \
	> zalgo.txt 2> /dev/null ||
	awk 'BEGIN { s = "z"; for (i = 0; i < 1667; i++) s = s "\314\201\314\226\314\264"; print s " z" }' \
	> zalgo.txt
measure "zalgo (5001 combining marks)" sb-tokenize -m "$M" -i zalgo.txt -o zalgo.sbf
is "zalgo: exit 0" "$?" 0
run sh -c 'printf "z z\n" | sb-tokenize -m "$1" | sb-cat --tsv input_ids' sh "$M"
is "zalgo: the marks are dropped (same ids as 'z z')" "$(sb-cat --tsv input_ids < zalgo.sbf)" "$out"
check "zalgo: within 10 s ($secs s)" awk -v t="$secs" 'BEGIN { exit !(t < 10) }'

# 4. A single line of $big_mb MB: one row of max_length, counted as truncated.
yes word | head -c $((big_mb * 1000000)) | tr '\n' ' ' > big.txt
echo >> big.txt
measure "one line of $big_mb MB" sb-tokenize -m "$M" -i big.txt -o big.sbf
is "$big_mb MB line: exit 0" "$?" 0
run sb-cat --check < big.sbf
like "$big_mb MB line: one row and an end frame" "$rc $out" "^0 .* 1 rows, complete"
check "$big_mb MB line: within 120 s ($secs s)" awk -v t="$secs" 'BEGIN { exit !(t < 120) }'
# The program reads lines whole (sb-tokenize(1), BUGS): memory grows with the line,
# but by no more than a few copies of it.
check "$big_mb MB line: peak RSS ${rss} KB is under 5 x the line + 300 MB" \
	awk -v r="$rss" -v mb="$big_mb" 'BEGIN { exit !(r < (5 * mb + 300) * 1000) }'
rm -f big.txt big.sbf

# 5. $n_lines one-character lines: as many rows, memory independent of the count.
yes x | head -n $n_lines > many.txt
measure "$n_lines one-character lines" sb-tokenize -m "$M" -i many.txt -o many.sbf
is "$n_lines lines: exit 0" "$?" 0
run sb-cat --check < many.sbf
like "$n_lines lines: $n_lines rows and an end frame" "$rc $out" "^0 .* $n_lines rows, complete"
check "$n_lines lines: within 120 s ($secs s)" awk -v t="$secs" 'BEGIN { exit !(t < 120) }'
check "$n_lines lines: peak RSS ${rss} KB is under 300 MB" \
	awk -v r="$rss" 'BEGIN { exit !(r < 300000) }'
test "$sb_failed" = 0
