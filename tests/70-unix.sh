#!/bin/sh
# Unix edge cases of every sb program, through tests/unixtool (two trivial stages run by
# the same sb_cmd_run()/sb_run() code as the real programs, so no model is needed):
# an early-exiting reader, a full or closed stdout, 1-byte reads and writes, SIGINT and
# SIGTERM in the middle of a run, and a storm of SIGUSR1 (EINTR on every blocking call).
. ./tests/setup

plan 30

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

seq 1 300000 > "$SB_TMP/big.txt"
seq 1 3000 | sed 's/$/ words of text/' > "$SB_TMP/small.txt"
unixtool lines -b 7 < "$SB_TMP/small.txt" > "$SB_TMP/ref.sbf"
run unixtool check < "$SB_TMP/ref.sbf"
is "reference stream: 429 frames of 7 rows and an end frame" "$out" "frames 430 rows 3000 end yes"

# 1. The reader exits early (`| head`): the writer ends at once, quietly, by SIGPIPE.
#    Its input never ends (yes), so a writer that went on reading would never end: it
#    ends only because it noticed its reader had gone, whatever the machine's speed
#    (timeout is only a bound against a hang; reaching it gives status 124).  The time
#    taken goes to the log.
t0=$(now)
( yes "a line of text" | timeout "$(slow 120)" unixtool lines -b 16 2> "$SB_TMP/err1"
	echo $? > "$SB_TMP/rc1" ) | head -c 100 > /dev/null
diag "| head -c 100: the writer ended after $(elapsed "$t0") s"
is "| head -c 100: the writer exits by SIGPIPE (status 141)" "$(cat "$SB_TMP/rc1")" 141
is "| head -c 100: nothing on stderr" "$(cat "$SB_TMP/err1")" ""
check "| head -c 100: the writer ends though its input never does" \
	test "$(cat "$SB_TMP/rc1")" != 124
( unixtool lines -b 16 < "$SB_TMP/big.txt" | { unixtool copy 2> "$SB_TMP/err2"; echo $? > "$SB_TMP/rc2"; } ) |
	head -c 100 > /dev/null
is "| copy | head: the middle stage exits by SIGPIPE too" "$(cat "$SB_TMP/rc2")" 141
is "| copy | head: nothing on stderr" "$(cat "$SB_TMP/err2")" ""

# 2. Output that cannot be written: an error message and status 1, never success.
run sh -c 'unixtool lines < "$1" > /dev/full' sh "$SB_TMP/small.txt"
is "stdout is /dev/full: status 1" "$rc" 1
like "stdout is /dev/full: the error names the cause" "$err" "No space left on device"
run sh -c 'unixtool lines < "$1" >&-' sh "$SB_TMP/small.txt"
is "stdout closed: status 1" "$rc" 1
like "stdout closed: an error message" "$err" "unixtool: .+"
run sh -c 'unixtool copy < "$1" > /dev/full' sh "$SB_TMP/ref.sbf"
is "frames to /dev/full: status 1" "$rc" 1

# 3. A writer of 1 byte per write and a reader of 1 byte per read: same bytes.
unixtool trickle < "$SB_TMP/small.txt" | unixtool lines -b 7 > "$SB_TMP/t1.sbf"
check "text arriving 1 byte at a time: identical frames" cmp -s "$SB_TMP/t1.sbf" "$SB_TMP/ref.sbf"
unixtool trickle < "$SB_TMP/ref.sbf" | unixtool copy | unixtool trickle > "$SB_TMP/t2.sbf"
check "frames arriving and leaving 1 byte at a time: identical stream" \
	cmp -s "$SB_TMP/t2.sbf" "$SB_TMP/ref.sbf"
unixtool lines -b 7 < "$SB_TMP/small.txt" | dd bs=1 2> /dev/null > "$SB_TMP/t3.sbf"
check "a reader taking 1 byte per read (dd bs=1): identical stream" \
	cmp -s "$SB_TMP/t3.sbf" "$SB_TMP/ref.sbf"

# 4. SIGINT / SIGTERM in the middle of a run: whole frames only, no end frame, status
#    128 + signal, a message, and no file left behind but the output itself.  The
#    signal is sent once the stage has handed on 2 frames (its -t trace, outside the
#    folder checked), so frames were written and its handlers are installed, however
#    slowly it started; 300 frames of 20 ms are far from done by then.
# traced FILE N: the -t trace FILE shows at least N frames handed on.
traced() { [ -e "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ]; }
for sig in INT TERM; do
	case $sig in INT) num=2 ;; TERM) num=15 ;; esac
	d=$SB_TMP/sig$sig
	mkdir "$d"
	cp "$SB_TMP/small.txt" "$d/in.txt"
	unixtool lines -b 10 -d 20 -t "$SB_TMP/trace$sig" -i "$d/in.txt" -o "$d/out.sbf" \
		2> "$SB_TMP/err" &
	pid=$!
	reach 60 "SIG$sig mid-run: the stage handed on 2 frames" traced "$SB_TMP/trace$sig" 2
	kill -$sig $pid
	wait $pid
	rc=$?
	is "SIG$sig mid-run: status $((128 + num))" "$rc" $((128 + num))
	like "SIG$sig mid-run: the message says so" "$(cat "$SB_TMP/err")" \
		"interrupted by signal $num after [0-9]+ rows"
	run unixtool check < "$d/out.sbf"
	like "SIG$sig mid-run: the output is whole frames without an end frame" \
		"$rc $out" "^0 frames [1-9][0-9]* rows [1-9][0-9]* end no$"
	is "SIG$sig mid-run: no temporary file left" "$(cd "$d" && ls | tr '\n' ' ')" "in.txt out.sbf "
done
# The middle of a pipeline, interrupted: its reader sees a cut stream and says so.
mkfifo "$SB_TMP/fifo"
# Frames of 1000 rows, so the writer's 64 KiB output buffer flushes several times a second.
unixtool lines -b 1000 -d 20 < "$SB_TMP/big.txt" > "$SB_TMP/fifo" 2> /dev/null &
unixtool copy -t "$SB_TMP/tracemid" < "$SB_TMP/fifo" > "$SB_TMP/mid.sbf" 2> "$SB_TMP/err" &
pid=$!
reach 60 "SIGTERM in the middle stage: it handed on 2 frames" traced "$SB_TMP/tracemid" 2
kill -TERM $pid
wait $pid
rc=$?
is "SIGTERM in the middle stage: status 143" "$rc" 143
wait
run unixtool check < "$SB_TMP/mid.sbf"
like "SIGTERM in the middle stage: whole frames without an end frame" "$rc $out" \
	"^0 frames [1-9][0-9]* rows [1-9][0-9]* end no$"
run unixtool copy < "$SB_TMP/mid.sbf"
is "a cut stream fed on: status 1" "$rc" 1
like "a cut stream fed on: the error says it was cut" "$err" "without an end frame"

# 5. SIGUSR1 every millisecond with a handler installed: every blocking read and write
#    returns EINTR; the output must not change.  The input is held back until the storm
#    says (the file ready) that 50 signals have hit the stage's blocked read, so the
#    count does not depend on how long the run takes.
feed_after_storm() {
	wait_until 30 test -e "$SB_TMP/ready" || echo "unixtool storm never got ready" >&2
	"$@"
}
rm -f "$SB_TMP/ready"
feed_after_storm unixtool lines -b 7 -d 1 < "$SB_TMP/small.txt" |
	unixtool storm copy -r "$SB_TMP/ready" 2> "$SB_TMP/err" | unixtool trickle > "$SB_TMP/s1.sbf"
check "signal storm on a frame stage: identical output" cmp -s "$SB_TMP/s1.sbf" "$SB_TMP/ref.sbf"
n=$(sed -n 's/.*storm: \([0-9]*\) SIGUSR1.*/\1/p' "$SB_TMP/err")
check "signal storm on a frame stage: the storm happened (${n:-0} signals)" test "${n:-0}" -ge 50
rm -f "$SB_TMP/ready"
feed_after_storm unixtool trickle < "$SB_TMP/small.txt" |
	unixtool storm lines -b 7 -r "$SB_TMP/ready" 2> "$SB_TMP/err" |
	unixtool trickle > "$SB_TMP/s2.sbf"
check "signal storm on a text stage: identical output" cmp -s "$SB_TMP/s2.sbf" "$SB_TMP/ref.sbf"
n=$(sed -n 's/.*storm: \([0-9]*\) SIGUSR1.*/\1/p' "$SB_TMP/err")
check "signal storm on a text stage: the storm happened (${n:-0} signals)" test "${n:-0}" -ge 50
test "$sb_failed" = 0
