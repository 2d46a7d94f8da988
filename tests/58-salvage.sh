#!/bin/sh
# sb-cat --salvage: the whole frames of a cut stream with a correct end frame, and the
# resume recipe of sb-cat(1) run as written: the joined stream equals, byte for byte,
# the one an uninterrupted run writes.  Also a real interruption (SIGINT to sb-pool once
# it has written two frames), several streams in one input, a bad frame, a gap in seq,
# a ZeroMQ stream ended by --timeout.
. ./tests/setup

T=$SB_TMP
M=$SB_SRCDIR/tests/models/tiny-distilbert
PY=$PYTHON3
if ! "$PY" -c 'import msgpack' 2> /dev/null; then
	echo "Bail out! $PY with msgpack is needed (Debian: python3-msgpack)"
	exit 1
fi
[ -d "$M" ] || { echo "Bail out! $M is missing"; exit 1; }
cd "$T" || exit 99

# offsets FILE: the byte offset where each frame of FILE starts, then the file size.
offsets() {
	"$PY" -c '
import msgpack, sys
data = open(sys.argv[1], "rb").read()
u = msgpack.Unpacker(raw=True, max_buffer_size=1 << 30)
u.feed(data)
print(0)
for _ in u:
    print(u.tell())
' "$1"
}

# 100 lines: frames of 32, 32, 32 and 4 rows, then the end frame.
i=1
while [ $i -le 100 ]; do
	echo "sentence number $i is here"
	i=$((i + 1))
done > text.txt
sb-tokenize -m "$M" < text.txt | sb-encode -m "$M" | sb-pool -m "$M" > full.sbf
run sb-cat -c full.sbf
is "the uninterrupted run: 5 frames, 100 rows" "$rc:$out" "0:full.sbf: 5 frames, 100 rows, complete"
offsets full.sbf > full.off
# Inside frame 3: what a run killed while writing it may leave.
cut3=$(awk 'NR == 3 { a = $1 } NR == 4 { print int((a + $1) / 2) }' full.off)

# ---- the recipe of sb-cat(1), as written there (MODEL the tiny model)
awk '
	/^\.Sh EXAMPLES/ { ex = 1; next }
	/^\.Sh / { ex = 0 }
	ex && /^\.Bd -literal/ { n++; lit = 1; next }
	ex && /^\.Ed/ { lit = 0; next }
	ex && lit { print n "\t" $0 }
' "$SB_SRCDIR/man/sb-cat.1" > blocks.txt
b=$(awk -F '\t' '$2 ~ /^sb-cat --salvage part1.sbf/ { print $1; exit }' blocks.txt)
awk -F '\t' -v b="$b" '$1 == b { sub(/^[^\t]*\t/, ""); print }' blocks.txt |
	awk '{ if (cont) line = line " " $0; else line = $0
	       cont = $0 ~ /\|$/; if (!cont) print line }' |
	sed "s|MODEL|$M|g; s/|  */| /g" > recipe.txt
awk -F '\t' -v b="$((b + 1))" '$1 == b { sub(/^[^\t]*\t/, ""); print }' blocks.txt |
	awk '/^sb-cat:/ { if (line != "") print line; line = $0; next }
	     { sub(/^ +/, ""); line = line " " $0 } END { print line }' > messages.txt
check "sb-cat(1) holds the recipe (4 commands) and its 2 messages" \
	test "$(wc -l < recipe.txt):$(wc -l < messages.txt)" = 4:2

n=0
while IFS= read -r cmd; do
	n=$((n + 1))
	sh -c "$cmd" > "out.$n" 2> "err.$n"
	echo $? > "rc.$n"
	if [ $n = 1 ]; then
		# The run was cut in the middle of its third frame.
		cmp -s part1.sbf full.sbf && head -c "$cut3" full.sbf > part1.sbf
	fi
done < recipe.txt
is "the recipe's commands all exit 0" "$(cat rc.1 rc.2 rc.3 rc.4 | tr '\n' ' ')" "0 0 0 0 "
check "the recipe joins into the uninterrupted run's stream, byte for byte" cmp -s all.sbf full.sbf
# The messages of the man page, numbers aside, and the line it resumes at exactly.
sed 's/[0-9][0-9]*/N/g' err.2 > got.msg
sed 's/[0-9][0-9]*/N/g' messages.txt > want.msg
check "--salvage says what the man page shows" cmp -s got.msg want.msg
is "... keeping 2 frames of 32 rows, resuming at line 65 as the recipe does" \
	"$(grep -o 'kept the [0-9]* whole frames before it ([0-9]* rows)' err.2); $(sed -n 2p err.2)" \
	"kept the 2 whole frames before it (64 rows); sb-cat: salvage: wrote 64 rows and an end frame; a run over one input line per row resumes at line 65 (tail -n +65)"
run sb-cat -c done.sbf
is "the salvaged part is a complete stream" "$rc:$out" "0:done.sbf: 3 frames, 64 rows, complete"
run sb-cat -F part1.sbf
like "without --salvage, -F still refuses the cut input" "$rc:$err" "^1:sb-cat: .*part1.sbf: frame 3 at byte [0-9]+: stream ends inside the frame"

# ---- cut on a frame boundary: no partial frame, no end frame
head -c "$(sed -n 3p full.off)" full.sbf > two.sbf
run sb-cat --salvage -o two.ok.sbf two.sbf
is "a stream without end frame: its frames kept, and said so" "$rc:$err" \
	"0:sb-cat: salvage: two.sbf: no end frame after frame 2 at byte $(sed -n 3p full.off): kept its 2 frames (64 rows)
sb-cat: salvage: wrote 64 rows and an end frame; a run over one input line per row resumes at line 65 (tail -n +65)"
check "... the same bytes as salvaging the cut frame" cmp -s two.ok.sbf done.sbf

# ---- a real interruption: sb-pool stopped by SIGINT while it waits for its input
sb-tokenize -m "$M" < text.txt | sb-encode -m "$M" > hidden.sbf
offsets hidden.sbf > hidden.off
mkfifo fifo
sb-pool -m "$M" < fifo > int.sbf 2> int.err &
pool=$!
exec 3> fifo
# Two whole frames and half of the third reach it; then the writer stops, pipe open.
head -c "$(awk 'NR == 3 { a = $1 } NR == 4 { print int((a + $1) / 2) }' hidden.off)" hidden.sbf >&3
tries=0
until sb-cat --salvage int.sbf 2>&1 > /dev/null | grep -q "kept its 2 frames"; do
	tries=$((tries + 1))
	if [ "$tries" -gt "$(slow 600)" ]; then break; fi
	sleep 0.1
done
kill -INT "$pool"
wait "$pool"
prc=$?
exec 3>&-
like "sb-pool interrupted: exit 130 after 64 rows" "$prc:$(cat int.err)" \
	"^130:sb-pool: interrupted by signal 2 after 64 rows"
sb-cat --salvage int.sbf > int.ok.sbf 2> int.salvage
tail -n +65 text.txt | sb-tokenize -m "$M" | sb-encode -m "$M" | sb-pool -m "$M" > int2.sbf
sb-cat -F int.ok.sbf int2.sbf > int.all.sbf
check "salvaged, resumed at line 65 and joined: the uninterrupted stream" cmp -s int.all.sbf full.sbf

# ---- several streams in one input: a complete one, then a cut one
cat done.sbf part1.sbf > two-streams.sbf
run sb-cat --salvage -o ts.sbf two-streams.sbf
like "a complete stream then a cut one: both kept" "$rc:$err" \
	"^0:sb-cat: salvage: two-streams.sbf: frame 6 at byte [0-9]+: stream ends inside the frame .*: kept the 4 whole frames before it \(128 rows\)"
run sb-cat -c ts.sbf
is "... in one complete stream of 128 rows" "$rc:$out" "0:ts.sbf: 5 frames, 128 rows, complete"
# Several inputs: each salvaged, then joined.
run sb-cat --salvage -o both.sbf part1.sbf part1.sbf full.sbf
like "several cut inputs: each reported, all joined" "$rc:$(printf '%s' "$err" | grep -c 'part1.sbf: frame 3'):$(printf '%s' "$err" | tail -1)" \
	"^0:2:sb-cat: salvage: wrote 228 rows and an end frame; .* resumes at line 229 "

# ---- over ZeroMQ: a writer whose input is cut hands over its whole frames before it
# exits 1 (they were lost when it exited without closing its socket), and the reader
# salvages them when the stream ends without its end frame (the writer gone, or
# --timeout).  The writer going away ends it (10 s later, CUT_GRACE_MS); --timeout is
# only the bound against a writer that never comes: at 10 s it raced a writer slow to
# start on a loaded machine.
sb-cat --salvage -i "@ipc://$T/z.sock" --timeout "$(slow 60)" -o z.sbf 2> z.err &
reader=$!
tries=0
until [ -S "$T/z.sock" ] || [ "$tries" -gt "$(slow 600)" ]; do
	tries=$((tries + 1))
	sleep 0.1
done
sb-cat -F -o ">ipc://$T/z.sock" part1.sbf 2> zw.err
wrc=$?
wait "$reader"
rrc=$?
like "zeromq: the cut input's whole frames reach the salvaging reader" \
	"$wrc:$rrc:$(sb-cat -c z.sbf 2>&1):$(head -1 z.err)" \
	"^1:0:z.sbf: 3 frames, 64 rows, complete:sb-cat: salvage: @ipc://.*/z.sock: .*: kept the 2 whole frames before it \(64 rows\)$"

# ---- faults inside a stream
"$PY" -c '
import sys
d = bytearray(open(sys.argv[1], "rb").read())
o = [int(x) for x in open(sys.argv[2])]
bad = bytearray(d); bad[o[1]] = 0xc1                    # frame 2: a byte MessagePack never uses
open("bad.sbf", "wb").write(bad)
open("gap.sbf", "wb").write(d[o[0]:o[1]] + d[o[2]:])   # frame 2 missing
' full.sbf full.off
run sb-cat --salvage -o bad.ok.sbf bad.sbf
like "a bad frame: the frames before it are kept" "$rc:$err" \
	"^0:sb-cat: salvage: bad.sbf: frame 2 at byte [0-9]+: .*: kept the 1 whole frame before it \(32 rows\)"
run sb-cat --salvage -o gap.ok.sbf gap.sbf
like "a gap in seq: the frames before it are kept" "$rc:$err" \
	"^0:sb-cat: salvage: gap.sbf: frame 2 at byte [0-9]+: seq 64, expected 32 \(rows missing or out of order\): kept the 1 whole frame before it \(32 rows\)"
run sb-cat -c gap.ok.sbf
is "... in a complete stream" "$rc:$out" "0:gap.ok.sbf: 2 frames, 32 rows, complete"
: > empty.sbf
run sb-cat --salvage -o e.sbf empty.sbf
is "an empty input: nothing to keep, a stream of 0 rows" \
	"$rc:$(printf '%s' "$err" | tr '\n' '|'):$(sb-cat -c e.sbf)" \
	"0:sb-cat: salvage: empty.sbf: empty input: nothing to keep|sb-cat: salvage: wrote 0 rows and an end frame; a run over one input line per row resumes at line 1 (tail -n +1):e.sbf: 1 frames, 0 rows, complete"
run sb-cat --salvage full.sbf -o f.sbf
is "a complete input: copied, one line on stderr" "$rc:$(cmp f.sbf full.sbf && echo same):$err" \
	"0:same:sb-cat: salvage: wrote 100 rows and an end frame; a run over one input line per row resumes at line 101 (tail -n +101)"
run sb-cat --salvage --tsv x full.sbf
like "--salvage with --tsv: usage" "$rc:$err" "^2:sb-cat: --tsv cannot be combined with another mode"

plan "$sb_n"
exit $((sb_failed > 0))
