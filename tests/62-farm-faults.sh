#!/bin/sh
# Farm faults: a worker killed with -9, a worker stopped past the heartbeat timeout
# and continued, no worker left, the consumer restarted, the farm killed.  Every run
# either writes every row once in order and exits 0, or fails; never exit 0 with
# missing rows.
#
# Nothing waits on a clock.  The farm's input is opened and its end frame released by
# the test (farm-worker --wait-start / --wait-end), so the farm cannot finish before a
# fault is in place, and each step waits for what shows the state it needs: the farm's
# -v lines (a worker joined, was handed its first frame, was given up), a --trace file,
# /proc (a process stopped).  A worker is stopped before the input opens, so the
# frames it is handed stay with it; --liveness 10 gives the farm ten heartbeats to hand
# it one.  Should the farm miss even that, the re-send check is reported as skipped
# (TAP SKIP), not failed.  Bounds are scaled by slow (tests/setup): ten times longer
# under valgrind.
. ./tests/setup

plan 15
pids=
cleanup() {
	kill_own -CONT $pids; kill_own $pids
	touch "$SB_TMP/go" "$SB_TMP/end" 2> /dev/null
	wait 2> /dev/null
	rm -rf "$SB_TMP"
}
trap cleanup EXIT
ep="ipc://$SB_TMP/farm"
worker() {
	_n=$1; shift
	farm-worker --connect ">$ep" --heartbeat-ms "$(slow 100)" --name "$_n" "$@" \
		2>> "$SB_TMP/workers.err" &
	last=$!
	pids="$pids $last"
}
stop_workers() {
	kill_own -CONT $pids; kill_own $pids
	wait 2> /dev/null
	pids=
}
stat_of() {
	sed -n "s/.*; $1: \([0-9]*\)[ ;].*/\1/p" "$SB_TMP/err"
}
# gated: the input stream through the gate: nothing before go exists, no end frame
# before end exists.
gated() {
	farm-worker --in "$SB_TMP/in.sbf" --out - --wait-start "$SB_TMP/go" \
		--wait-end "$SB_TMP/end" 2>> "$SB_TMP/producer.err"
}
# farm_bg ARGS: the farm in the background on the gated input, output in out.sbf,
# stderr in err.
farm_bg() {
	rm -f "$SB_TMP/go" "$SB_TMP/end"
	gated | timeout "$(slow 120)" sb-farm --bind "@$ep" --heartbeat-ms "$(slow 100)" -v "$@" \
		> "$SB_TMP/out.sbf" 2> "$SB_TMP/err" &
	farm_pid=$!
}
says() { logged "$SB_TMP/err" "worker $1 $2"; }
# hold NAME PID: once worker NAME has joined, stops it, then opens the input; waits
# until the farm has handed it a frame.  $held is yes when it was (the frame stays with
# the stopped worker), no when the farm gave the worker up first (or was gone).
hold() {
	wait_until 30 joined_or_over "$1"
	kill -STOP "$2"
	wait_until 10 stopped "$2"
	touch "$SB_TMP/go"
	held=no
	wait_until 30 handed_or_over "$1"
	says "$1" "was handed its first frame" && held=yes
}
# joined_or_over NAME: worker NAME joined, or the farm is gone (it may give up waiting
# for a worker before a slow-starting one joins).
joined_or_over() { says "$1" joined || gone "$farm_pid"; }
handed_or_over() { says "$1" "was handed its first frame" || gone "$farm_pid"; }
# busy FILE [N]: waits until the --trace FILE of a worker or consumer shows N frames
# taken (default 2): that process is in the middle of the stream.
# (The count is taken at every poll: as an argument of wait_until, a $(...) would be
# taken once, and the wait would never see the file grow.)
busy() { wait_until 20 at_least "$1" "${2:-2}"; }
# at_least FILE N: FILE has at least N lines.
at_least() { [ "$(cat "$1" 2> /dev/null | wc -l)" -ge "$2" ]; }
# rejoined NAME: worker NAME joined twice.
rejoined() { [ "$(grep -c "worker $1 joined" "$SB_TMP/err")" -ge 2 ]; }
lost='(stopped answering|disconnected|unreachable): [0-9]+ frames handed out again'

farm-worker --gen 2000 --batch 32 > "$SB_TMP/in.sbf"

# kill -9 of one of three workers while it holds a frame.
worker w1 --delay-ms 20; worker w2 --delay-ms 20
worker w3 --delay-ms 20; victim=$last
farm_bg --worker-timeout "$(slow 20)" --liveness 10
wait_until 30 says w1 joined
wait_until 30 says w2 joined
hold w3 "$victim"
kill -9 "$victim"
wait_until 30 says w3 "$lost"
touch "$SB_TMP/end"
wait "$farm_pid"
check "kill -9 of a worker: exit 0" test $? = 0
check "kill -9 of a worker: output equals the input (every row once, in order)" \
	cmp -s "$SB_TMP/in.sbf" "$SB_TMP/out.sbf"
r=$(stat_of re-sent)
if [ $held = yes ]; then
	check "kill -9 of a worker: the farm reports re-sent frames ($r)" test "${r:-0}" -gt 0
else
	skip "kill -9 of a worker: the farm reports re-sent frames" \
		"the farm gave the stopped worker up before handing it a frame"
fi
like "kill -9 of a worker: the farm says it lost the worker" "$(cat "$SB_TMP/err")" \
	"worker w3 $lost"
stop_workers

# kill -STOP past the heartbeat timeout (the farm gives the worker up), then -CONT:
# the worker comes back (joins again, its late results dropped or taken once) before
# the input ends; no row twice.
worker s1 --delay-ms 20; worker s2 --delay-ms 20; sleeper=$last
farm_bg --worker-timeout "$(slow 20)" --liveness 10
wait_until 30 says s1 joined
hold s2 "$sleeper"
wait_until 30 says s2 "$lost"
kill -CONT "$sleeper"
wait_until 30 rejoined s2
touch "$SB_TMP/end"
wait "$farm_pid"
check "STOP/CONT: exit 0" test $? = 0
check "STOP/CONT: output equals the input (no row emitted twice)" \
	cmp -s "$SB_TMP/in.sbf" "$SB_TMP/out.sbf"
r=$(stat_of re-sent)
if [ $held = yes ]; then
	check "STOP/CONT: the stopped worker's frames were re-sent ($r)" test "${r:-0}" -gt 0
else
	skip "STOP/CONT: the stopped worker's frames were re-sent" \
		"the farm gave the stopped worker up before handing it a frame"
fi
stop_workers

# No worker left: a clear error listing the seqs not done.  The only worker is killed
# while stopped, so it finished nothing, whatever the machine's speed.  The farm's
# --worker-timeout runs from its start too: a worker that starts more slowly than that
# never joins, and the farm fails before reading any input.  Exit 1 and the message
# hold in both orders; the seqs are listed only when the worker was handed a frame.
worker only --delay-ms 20; only=$last
farm_bg --worker-timeout "$(slow 3)" --liveness 10
hold only "$only"
kill -9 "$only"
wait "$farm_pid"
check "no worker left: exit 1" test $? = 1
if [ $held = yes ]; then
	like "no worker left: the error lists the missing seqs" "$(cat "$SB_TMP/err")" \
		"sb-farm: no worker for $(slow 3000) ms; [0-9]+ rows written, seqs not done: [0-9]+-[0-9]+"
else
	like "no worker left: the error lists the missing seqs" "$(cat "$SB_TMP/err")" \
		"sb-farm: no worker for $(slow 3000) ms; 0 rows written"
	diag "the farm gave up before the worker was handed a frame: seqs not listed"
fi
farm-worker --in "$SB_TMP/out.sbf" --out /dev/null 2> /dev/null
check "no worker left: the output has no end frame" test $? != 0
stop_workers

# The consumer of a ZeroMQ output restarts mid-stream: neither the farm nor the new
# consumer may end with success and missing rows.  The end frame is released only
# once the first consumer is dead and the second started.
port=$(tcp_port) || { echo "Bail out! no free TCP port"; exit 1; }
worker c1 --delay-ms 20; worker c2 --delay-ms 20
rm -f "$SB_TMP/go" "$SB_TMP/end"
touch "$SB_TMP/go"
gated | timeout "$(slow 120)" sb-farm --bind "@$ep" --heartbeat-ms "$(slow 100)" \
	-o "@tcp://127.0.0.1:$port" 2> "$SB_TMP/err" &
farm_pid=$!
farm-worker --in ">tcp://127.0.0.1:$port" --out "$SB_TMP/a.sbf" --trace "$SB_TMP/a.trace" \
	2> /dev/null &
a=$!
busy "$SB_TMP/a.trace"
kill -9 "$a"
wait "$a" 2> /dev/null
timeout "$(slow 5)" farm-worker --in ">tcp://127.0.0.1:$port" --out "$SB_TMP/b.sbf" \
	2> "$SB_TMP/b.err" &
b=$!
touch "$SB_TMP/end"
wait "$farm_pid"
frc=$?
wait "$b"
brc=$?
check "consumer restarted: the farm does not exit 0 (exit $frc)" test "$frc" != 0
check "consumer restarted: the new consumer does not exit 0 (exit $brc)" test "$brc" != 0
stop_workers

# The farm killed in the middle (its input's end held back, so it cannot have
# finished): the consumer downstream sees a cut stream.
worker k1 --delay-ms 20 --trace "$SB_TMP/k1.trace"
rm -f "$SB_TMP/go" "$SB_TMP/end"
touch "$SB_TMP/go"
(gated | sb-farm --bind "@$ep" --heartbeat-ms "$(slow 100)" 2> /dev/null &
	echo $! > "$SB_TMP/farm.pid"; wait) |
	farm-worker --in - --out "$SB_TMP/k.sbf" 2> "$SB_TMP/k.err" &
cons=$!
busy "$SB_TMP/k1.trace" 4
reach 30 "the farm's pid is written" test -s "$SB_TMP/farm.pid"
fp=$(cat "$SB_TMP/farm.pid")
check "the farm is running ($fp)" kill -0 "$fp"
kill -9 "$fp"
wait "$cons"
like "farm killed: the consumer reports a cut stream" "$(cat "$SB_TMP/k.err")" \
	"without an end frame|truncated|ended"
stop_workers
check "the workers' logs show no sanitizer report" \
	test -z "$(grep -E 'AddressSanitizer|runtime error|^==[0-9]+== ' "$SB_TMP/workers.err")"
