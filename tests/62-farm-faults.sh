#!/bin/sh
# Farm faults: a worker killed with -9, a worker stopped past the heartbeat timeout
# and continued, no worker left, the consumer restarted, the farm killed.  Every run
# either writes every row once in order and exits 0, or fails; never exit 0 with
# missing rows.  Times are scaled by slow (tests/setup): ten times longer under valgrind.
. ./tests/setup

plan 15
pids=
cleanup() {
	for p in $pids; do kill -CONT "$p" 2> /dev/null; kill "$p" 2> /dev/null; done
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
	for p in $pids; do kill -CONT "$p" 2> /dev/null; kill "$p" 2> /dev/null; done
	wait 2> /dev/null
	pids=
}
stat_of() {
	sed -n "s/.*; $1: \([0-9]*\)[ ;].*/\1/p" "$SB_TMP/err"
}
# farm_bg ARGS: the farm in the background, output in out.sbf, stderr in err.
farm_bg() {
	timeout "$(slow 120)" sb-farm --bind "@$ep" --heartbeat-ms "$(slow 100)" -v "$@" \
		< "$SB_TMP/in.sbf" > "$SB_TMP/out.sbf" 2> "$SB_TMP/err" &
	farm_pid=$!
}

# busy FILE [N]: waits (up to 20 s, scaled) until the --trace FILE of a worker or consumer
# shows N frames taken (default 2): that process is in the middle of the stream.
busy() {
	_i=0
	while [ "$(cat "$1" 2> /dev/null | wc -l)" -lt "${2:-2}" ] && [ $_i -lt "$(slow 400)" ]; do
		sleep 0.05
		_i=$((_i + 1))
	done
}

farm-worker --gen 2000 --batch 32 > "$SB_TMP/in.sbf"

# kill -9 of one of three workers in the middle of the stream.
worker w1 --delay-ms 60; worker w2 --delay-ms 60
worker w3 --delay-ms 60 --trace "$SB_TMP/w3.trace"; victim=$last
farm_bg --worker-timeout "$(slow 20)"
busy "$SB_TMP/w3.trace"
kill -9 "$victim"
wait "$farm_pid"
check "kill -9 of a worker: exit 0" test $? = 0
check "kill -9 of a worker: output equals the input (every row once, in order)" \
	cmp -s "$SB_TMP/in.sbf" "$SB_TMP/out.sbf"
r=$(stat_of re-sent)
check "kill -9 of a worker: the farm reports re-sent frames ($r)" test "${r:-0}" -gt 0
like "kill -9 of a worker: the farm says it lost the worker" "$(cat "$SB_TMP/err")" \
	"worker w3 (stopped answering|disconnected|unreachable): [0-9]+ frames handed out again"
stop_workers

# kill -STOP past the heartbeat timeout, then kill -CONT: no row twice.
worker s1 --delay-ms 60; worker s2 --delay-ms 60 --trace "$SB_TMP/s2.trace"; sleeper=$last
farm_bg --worker-timeout "$(slow 20)"
busy "$SB_TMP/s2.trace"
kill -STOP "$sleeper"
slow_sleep 1
kill -CONT "$sleeper"
wait "$farm_pid"
check "STOP/CONT: exit 0" test $? = 0
check "STOP/CONT: output equals the input (no row emitted twice)" \
	cmp -s "$SB_TMP/in.sbf" "$SB_TMP/out.sbf"
r=$(stat_of re-sent)
check "STOP/CONT: the stopped worker's frames were re-sent ($r)" test "${r:-0}" -gt 0
stop_workers

# No worker left: a clear error listing the seqs not done.
worker only --delay-ms 60 --trace "$SB_TMP/only.trace"; only=$last
farm_bg --worker-timeout "$(slow 1)"
busy "$SB_TMP/only.trace" 4
kill -9 "$only"
wait "$farm_pid"
check "no worker left: exit 1" test $? = 1
like "no worker left: the error lists the missing seqs" "$(cat "$SB_TMP/err")" \
	"sb-farm: no worker for $(slow 1000) ms; [0-9]+ rows written, seqs not done: [0-9]+-[0-9]+"
farm-worker --in "$SB_TMP/out.sbf" --out /dev/null 2> /dev/null
check "no worker left: the output has no end frame" test $? != 0
stop_workers

# The consumer of a ZeroMQ output restarts mid-stream: neither the farm nor the new
# consumer may end with success and missing rows.
port=$((20000 + $$ % 20000))
worker c1 --delay-ms 40; worker c2 --delay-ms 40
timeout "$(slow 120)" sb-farm --bind "@$ep" --heartbeat-ms "$(slow 100)" \
	-o "@tcp://127.0.0.1:$port" \
	< "$SB_TMP/in.sbf" 2> "$SB_TMP/err" &
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
wait "$farm_pid"
frc=$?
wait "$b"
brc=$?
check "consumer restarted: the farm does not exit 0 (exit $frc)" test "$frc" != 0
check "consumer restarted: the new consumer does not exit 0 (exit $brc)" test "$brc" != 0
stop_workers

# The farm killed: the consumer downstream sees a cut stream.
worker k1 --delay-ms 40 --trace "$SB_TMP/k1.trace"
(sb-farm --bind "@$ep" --heartbeat-ms "$(slow 100)" < "$SB_TMP/in.sbf" 2> /dev/null &
	echo $! > "$SB_TMP/farm.pid"; wait) |
	farm-worker --in - --out "$SB_TMP/k.sbf" 2> "$SB_TMP/k.err" &
cons=$!
busy "$SB_TMP/k1.trace" 4
fp=$(cat "$SB_TMP/farm.pid")
check "the farm is running ($fp)" kill -0 "$fp"
kill -9 "$fp"
wait "$cons"
like "farm killed: the consumer reports a cut stream" "$(cat "$SB_TMP/k.err")" \
	"without an end frame|truncated|ended"
stop_workers
check "the workers' logs show no sanitizer report" \
	test -z "$(grep -E 'AddressSanitizer|runtime error|^==[0-9]+== ' "$SB_TMP/workers.err")"
