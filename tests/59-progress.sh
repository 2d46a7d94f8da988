#!/bin/sh
# --progress with an input of known size (a regular file): the total and an ETA while
# running, 100% at the end; without one (a pipe): no total.  Stderr is a terminal
# (tests/tools/progress-pty.py), and the program is held in a write long enough that a
# progress line shows before its input is all read: no timing is assumed.
. ./tests/setup

T=$SB_TMP
M=$SB_SRCDIR/tests/models/tiny-distilbert
PTY=$SB_SRCDIR/tests/tools/progress-pty.py
[ -d "$M" ] || { echo "Bail out! $M is missing"; exit 1; }

# human BYTES: as the progress line prints sizes (powers of 1000, one decimal).
human() {
	awk -v v="$1" 'BEGIN { split(",k,M,G,T", u, ","); i = 1
		while (v >= 1000 && i < 5) { v /= 1000; i++ }
		if (i == 1) printf "%.0f", v; else printf "%.1f%s", v, u[i] }'
}

i=1
while [ $i -le 3000 ]; do
	echo "line $i of the text, with a few more words in it"
	i=$((i + 1))
done > "$T/text.txt"
total=$(human "$(wc -c < "$T/text.txt")")

# A text stage reading a file.
"$PYTHON3" "$PTY" "$T/text.txt" sb-tokenize -m "$M" --progress > "$T/tok.out"
like "sb-tokenize --progress: exit 0, output written" "$(head -2 "$T/tok.out" | tr '\n' ' ')" "^exit 0 out [1-9][0-9]* $"
sed '1,2d' "$T/tok.out" > "$T/tok.lines"
like "while running: bytes of the total, percent and an ETA" "$(head -n -1 "$T/tok.lines")" \
	"^sb-tokenize: [0-9.]+k? rows  [0-9.]+k? rows/s  [0-9.]+[kM]?B of ${total}B \([0-9]{1,2}%\)  [0-9.]+ s  ETA [0-9]+ (s|min [0-9]{2} s)$"
like "at the end: 100% of the total, no ETA" "$(tail -1 "$T/tok.lines")" \
	"^sb-tokenize: 3\.0k rows  [0-9.]+k? rows/s  ${total}B of ${total}B \(100%\)  [0-9.]+ s$"

# A frame stage reading a file: sb-cosine over 300 frames of embeddings.
awk '{ printf "%d\t%d\t%d\n", NR % 7 + 1, NR % 11, NR % 13 }' "$T/text.txt" | sb-cat --from-tsv - -b 10 > "$T/emb.sbf"
etotal=$(human "$(wc -c < "$T/emb.sbf")")
"$PYTHON3" "$PTY" "$T/emb.sbf" sb-cosine --progress > "$T/cos.out"
like "sb-cosine --progress: exit 0" "$(head -1 "$T/cos.out")" "^exit 0$"
like "frames: an ETA while running" "$(sed '1,2d' "$T/cos.out" | head -n -1)" \
	"^sb-cosine: .*B of ${etotal}B \([0-9]{1,2}%\)  [0-9.]+ s  ETA [0-9]+ "
like "frames: the whole file at the end" "$(tail -1 "$T/cos.out")" \
	"^sb-cosine: 3\.0k rows  .* ${etotal}B of ${etotal}B \(100%\)  [0-9.]+ s$"

# Stdin a pipe: the size is not known, so no total and no ETA.
"$PYTHON3" "$PTY" "-:$T/text.txt" sb-tokenize -m "$M" --progress > "$T/pipe.out"
like "from a pipe: exit 0" "$(head -1 "$T/pipe.out")" "^exit 0$"
check "from a pipe: no total, no ETA" sh -c "sed '1,2d' '$T/pipe.out' | grep -q 'B in  ' && ! grep -q 'ETA\\| of ' '$T/pipe.out'"

# -i FILE is a known size too.
"$PYTHON3" "$PTY" /dev/null sb-tokenize -m "$M" --progress -i "$T/text.txt" > "$T/i.out"
like "-i FILE: the total at the end" "$(tail -1 "$T/i.out")" "B of ${total}B \(100%\)"

plan "$sb_n"
exit $((sb_failed > 0))
