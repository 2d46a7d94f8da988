#!/bin/sh
# The farm: results in input order, load balancing by readiness, credits, late joiners,
# bounded memory, worker errors, a cut input.  Workers are tests/farm-worker (an echo
# stage that can be slowed down), so the farm's output must equal its input.  No check
# depends on the machine's speed: where one worker must be slower than another it is
# slower by seconds per frame, a late joiner joins once the early worker has been handed
# its first frame (the farm's -v line), and a worker given up by a farm on a loaded
# machine (re-sent frames) is allowed for.  Bounds are scaled by slow (tests/setup):
# ten times longer under valgrind.
. ./tests/setup

plan 19
pids=
cleanup() {
	kill_own $pids
	touch "$SB_TMP/go" 2> /dev/null
	wait 2> /dev/null
	rm -rf "$SB_TMP"
}
trap cleanup EXIT
ep="ipc://$SB_TMP/farm"
# worker NAME [options]: starts an echo worker in the background.
worker() {
	_n=$1; shift
	farm-worker --connect ">$ep" --heartbeat-ms "$(slow 100)" --name "$_n" "$@" \
		2>> "$SB_TMP/workers.err" &
	pids="$pids $!"
}
stop_workers() {
	kill_own $pids
	wait 2> /dev/null
	pids=
}
# The farm gives a silent worker ten heartbeats (1 s, --liveness 10) before it is
# dead: none of these checks is about that, and on a loaded machine 3 (300 ms) were
# missed now and then.
farm() {
	timeout "$(slow 120)" sb-farm --bind "@$ep" --heartbeat-ms "$(slow 100)" \
		--liveness 10 --worker-timeout "$(slow 20)" -v "$@"
}
# frames_of NAME: frames the farm's -v statistics credit to worker NAME, summed over
# its entries: a worker given up on a loaded machine that joins again has two.
frames_of() {
	sed -n "s/^sb-farm: worker $1: \([0-9]*\) frames done.*/\1/p" "$SB_TMP/err" |
		awk '{ n += $1 } END { print n + 0 }'
}
# joined NAME...: the farm's -v log says that each worker NAME joined.
joined() {
	for _j in "$@"; do logged "$SB_TMP/err" "worker $_j joined" || return 1; done
}

farm-worker --gen 2000 --batch 32 > "$SB_TMP/in.sbf"
check "the generator wrote a stream" test -s "$SB_TMP/in.sbf"

# Three workers: every row once, in order, byte for byte.
worker w1; worker w2; worker w3 --delay-ms 5
farm < "$SB_TMP/in.sbf" > "$SB_TMP/out.sbf" 2> "$SB_TMP/err"
check "three workers: exit 0" test $? = 0
check "three workers: output equals the input" cmp -s "$SB_TMP/in.sbf" "$SB_TMP/out.sbf"
like "three workers: statistics" "$(cat "$SB_TMP/err")" \
	"in: 63 frames, 2000 rows; out: 63 frames, 2000 rows; re-sent: [0-9]+ \\([0-9]+ from lost workers"
held=$(sed -n 's/.*most held: \([0-9]*\).*/\1/p' "$SB_TMP/err")
check "memory bound: at most twice the 6 credits of the workers held (held $held)" \
	test -n "$held" -a "$held" -le 12
stop_workers

# Readiness, not round-robin: a slow worker gets few frames, and never more than its
# credits at once.  The slow one takes 2 s a frame: the fast one (10 ms) does the
# stream, and the slow one's frame too when it blocks the head of the line.  The input
# opens only once both have joined (farm-worker --wait-start), so the slow one cannot
# do frames while the fast one is still starting.
worker fast --credits 2 --delay-ms 10; worker slow --credits 1 --delay-ms "$(slow 2000)"
rm -f "$SB_TMP/go"
farm-worker --in "$SB_TMP/in.sbf" --out - --wait-start "$SB_TMP/go" |
	farm > "$SB_TMP/out.sbf" 2> "$SB_TMP/err" &
farm_pid=$!
reach 60 "fast and slow: both workers joined" joined fast slow
touch "$SB_TMP/go"
wait "$farm_pid"
check "fast and slow: exit 0 and same output" \
	test $? = 0 -a "$(cmp "$SB_TMP/in.sbf" "$SB_TMP/out.sbf" && echo same)" = same
f=$(frames_of fast); s=$(frames_of slow)
check "fast worker did most frames (fast $f, slow $s)" test "$f" -gt $((s * 3))
# A worker given up with nothing done and nothing to take back (its frame done by the
# other) is not in the statistics: then there is nothing to check.
if logged "$SB_TMP/err" "worker slow: "; then
	like "slow worker held at most its 1 credit" "$(cat "$SB_TMP/err")" \
		"worker slow: .* 1 credits, at most 1 in flight"
else
	skip "slow worker held at most its 1 credit" \
		"the farm gave it up with nothing done, so it is not in the statistics"
fi
stop_workers

# A late joiner gets work: it starts once the early worker has been handed its first
# frame; the early one takes 1 s a frame, so the stream is far from done.
worker early --delay-ms "$(slow 1000)"
farm < "$SB_TMP/in.sbf" > "$SB_TMP/out.sbf" 2> "$SB_TMP/err" &
farm_pid=$!
wait_until 30 logged "$SB_TMP/err" "worker early was handed its first frame"
worker late
wait "$farm_pid"
check "late join: exit 0 and same output" \
	test $? = 0 -a "$(cmp "$SB_TMP/in.sbf" "$SB_TMP/out.sbf" && echo same)" = same
l=$(frames_of late)
check "late join: the late worker did frames ($l)" test "$l" -gt 0
stop_workers

# Credits cap: a worker asking for 50 credits gets --max-credits.
worker greedy --credits 50 --delay-ms 20
farm --max-credits 3 < "$SB_TMP/in.sbf" > "$SB_TMP/out.sbf" 2> "$SB_TMP/err"
like "a worker gets at most --max-credits" "$(cat "$SB_TMP/err")" \
	"worker greedy: .* 3 credits, at most 3 in flight"
stop_workers

# A stage error on one frame ends the run with the worker's message.
worker bad --fail-seq 100
farm < "$SB_TMP/in.sbf" > "$SB_TMP/out.sbf" 2> "$SB_TMP/err"
rc=$?
check "worker error: exit 1" test $rc = 1
like "worker error: message names the worker and the row" "$(cat "$SB_TMP/err")" \
	"sb-farm: worker bad: frame at seq 96: echo: row 100 refused on purpose"
stop_workers

# The same while the producer is still writing (until the farm is gone): the farm does
# not wait for it.
worker bad --fail-seq 100
(head -c 20000 "$SB_TMP/in.sbf"; wait_until 120 test -e "$SB_TMP/farm.done") |
	(timeout "$(slow 60)" sb-farm --bind "@$ep" --heartbeat-ms "$(slow 100)" \
		> /dev/null 2> "$SB_TMP/err"; _r=$?; touch "$SB_TMP/farm.done"; exit $_r)
rc=$?
check "worker error with the input still open: exit 1 at once (exit $rc)" test $rc = 1
stop_workers

# A cut input: what was read is written, then exit 1 and no end frame.
head -c 30000 "$SB_TMP/in.sbf" > "$SB_TMP/cut.sbf"
worker w1
farm < "$SB_TMP/cut.sbf" > "$SB_TMP/out.sbf" 2> "$SB_TMP/err"
check "cut input: exit 1" test $? = 1
farm-worker --in "$SB_TMP/out.sbf" --out /dev/null 2> "$SB_TMP/err2"
check "cut input: the output has no end frame either" test $? != 0
stop_workers

# Bad usage.
run sb-farm
check "no --bind: exit 2 with usage" test "$rc" = 2 -a -n "$err"
run sb-farm --bind tcp://0.0.0.0:1 < /dev/null
like "plain text on a non-loopback address is refused" "$err" "plain text on a non-loopback"
check "the workers' logs show no sanitizer report" \
	test -z "$(grep -E 'AddressSanitizer|LeakSanitizer|runtime error|^==[0-9]+== ' \
		"$SB_TMP/workers.err")"
