#!/bin/sh
# sb-run with a stage built as a shared object; the runner's -v statistics and
# --progress line, which every program shares.
. ./tests/setup

so=$SB_BUILDDIR/tests/.libs/stage_scale.so
plan 13

printf '1\t2\t3\n-1\t0\t0.5\n4\t4\t4\n' > "$SB_TMP/x.tsv"
sb-cat --from-tsv "$SB_TMP/x.tsv" --batch 2 > "$SB_TMP/x.sbf"
run sb-run -v -i "$SB_TMP/x.sbf" -o "$SB_TMP/y.sbf" "$so" scale=0.5
is "sb-run with a .so stage: exit 0" "$rc" 0
is "the stage's option took effect" "$(sb-cat --tsv sentence_embedding "$SB_TMP/y.sbf" | tr '\t' ' ')" \
	"0.5 1 1.5
-0.5 0 0.25
2 2 2"
like "-v: frames, rows and bytes in and out" "$err" \
	"^sb-run: in: 2 frames, 3 rows, [0-9]+ bytes; out: 2 frames, 3 rows, [0-9]+ bytes; .* rows/s$"
check "the output ends with an end frame" sb-cat -q "$SB_TMP/y.sbf"

run sb-run -i "$SB_TMP/x.sbf" "$so" scale=abc
is "a bad stage option: exit 1" "$rc" 1
like "a bad stage option: the stage's message" "$err" "^sb-run: scale: 'abc' is not a number$"
is "a bad stage option: no output at all" "$out" ""
run sb-run "$so" noequals
is "an argument without '=': exit 2" "$rc" 2
run sb-run "$SB_TMP/x.sbf"
is "not a shared object: exit 1" "$rc" 1

# --progress draws a live line only on a terminal: under script(1) stderr is one.
if command -v script > /dev/null 2>&1; then
	script -qec "sb-run --progress -i $SB_TMP/x.sbf -o $SB_TMP/z.sbf $so scale=0.5" /dev/null \
		> "$SB_TMP/tty" 2>&1
	like "--progress on a terminal: a rows/s line" "$(tr '\r' '\n' < "$SB_TMP/tty")" \
		"sb-run: 3 rows .* rows/s"
else
	not_ok "--progress: script(1) is missing (util-linux)"
fi
run sb-run --progress -i "$SB_TMP/x.sbf" -o "$SB_TMP/z.sbf" "$so" scale=0.5
is "--progress when stderr is not a terminal: silent" "$err" ""
check "--progress: the output is unchanged" cmp -s "$SB_TMP/y.sbf" "$SB_TMP/z.sbf"

# Results of a frame are written before the next input is awaited: a producer that
# writes its second line only once the first frame has come out of the pipeline is
# not left waiting (it would be, to the end of its bound, if sb-tokenize held the
# frame back until more input or the end).  No clock: the order of events is checked.
M=$SB_SRCDIR/tests/models/tiny-distilbert
(echo hello
	if wait_until 60 test -e "$SB_TMP/first"; then echo seen > "$SB_TMP/producer"; fi
	echo world) | sb-tokenize -m "$M" -b 1 |
	{ head -c 1 > /dev/null; touch "$SB_TMP/first"; cat > /dev/null; }
check "a slow producer: the first frame is passed on before the next line is written" \
	test "$(cat "$SB_TMP/producer" 2> /dev/null)" = seen
