#!/bin/sh
# The farm with real sb-encode workers on the tiny model, 2000 STS sentences:
# sb-tokenize | sb-farm | sb-pool equals sb-tokenize | sb-encode | sb-pool byte for
# byte, with three workers, when one of them is killed with -9 in the middle, and when
# one is stopped past the heartbeat timeout and continued (no row twice).  Times are scaled
# by slow (tests/setup): ten times longer under valgrind.
. ./tests/setup

require_shared data/sts-b/sts-test.tsv
plan 12
pids=
cleanup() {
	for p in $pids; do kill -CONT "$p" 2> /dev/null; kill "$p" 2> /dev/null; done
	wait 2> /dev/null
	rm -rf "$SB_TMP"
}
trap cleanup EXIT
M=$SB_SRCDIR/tests/models/tiny-distilbert
ep="ipc://$SB_TMP/farm"
cut -f6,7 "$SB_SHARED/data/sts-b/sts-test.tsv" | tr '\t' '\n' | head -2000 > "$SB_TMP/s.txt"
# Small frames so the run lasts long enough to kill a worker in its middle.
sb-tokenize -m "$M" -b 8 < "$SB_TMP/s.txt" > "$SB_TMP/tok.sbf"
sb-encode -m "$M" < "$SB_TMP/tok.sbf" | sb-pool -m "$M" > "$SB_TMP/local.sbf"
check "the single-process pipeline ran" test -s "$SB_TMP/local.sbf"

worker() {
	sb-encode -m "$M" --worker ">$ep" --heartbeat "$(slow 100)" 2>> "$SB_TMP/workers.err" &
	last=$!
	pids="$pids $last"
}
stop_workers() {
	for p in $pids; do kill -CONT "$p" 2> /dev/null; kill "$p" 2> /dev/null; done
	wait 2> /dev/null
	pids=
}
# farm_bg [DELAY]: tokens in (DELAY ms apart: a slow producer keeps the run going),
# pooled embeddings out, in the background.
farm_bg() {
	farm-worker --in "$SB_TMP/tok.sbf" --out - --delay-ms "${1:-0}" |
		timeout "$(slow 120)" sb-farm --bind "@$ep" --heartbeat-ms "$(slow 100)" \
		--worker-timeout "$(slow 30)" -v \
		2> "$SB_TMP/err" | sb-pool -m "$M" > "$SB_TMP/farm.sbf" &
	farm_pid=$!
}
# joined N: waits until N workers have joined the farm.
joined() {
	_i=0
	while [ "$(grep -c joined "$SB_TMP/err" 2> /dev/null)" -lt "$1" ] &&
		[ $_i -lt "$(slow 400)" ]; do
		sleep 0.05
		_i=$((_i + 1))
	done
}

worker; worker; worker
farm_bg
wait "$farm_pid"
check "three sb-encode workers: exit 0" test $? = 0
check "three sb-encode workers: same bytes as the single-process pipeline" \
	cmp -s "$SB_TMP/local.sbf" "$SB_TMP/farm.sbf"
stop_workers

# kill -9 of a worker in the middle.  It is stopped first for a moment, so it surely
# holds frames when it dies.
worker; victim=$last
farm_bg 4
joined 1
slow_sleep 0.3
kill -STOP "$victim"
slow_sleep 0.1
kill -9 "$victim"
worker; worker
wait "$farm_pid"
check "kill -9 of an sb-encode worker: exit 0" test $? = 0
check "kill -9 of an sb-encode worker: same bytes as the single-process pipeline" \
	cmp -s "$SB_TMP/local.sbf" "$SB_TMP/farm.sbf"
like "kill -9 of an sb-encode worker: the farm reports re-sent frames" "$(cat "$SB_TMP/err")" \
	"re-sent: [1-9]"
stop_workers

# kill -STOP past the heartbeat timeout (3 heartbeats, 300 ms unscaled), then -CONT.
worker; sleeper=$last
farm_bg 4
joined 1
slow_sleep 0.3
kill -STOP "$sleeper"
worker; worker
slow_sleep 1
kill -CONT "$sleeper"
wait "$farm_pid"
check "STOP/CONT of an sb-encode worker: exit 0" test $? = 0
check "STOP/CONT of an sb-encode worker: same bytes (no row twice)" \
	cmp -s "$SB_TMP/local.sbf" "$SB_TMP/farm.sbf"
like "STOP/CONT of an sb-encode worker: its frames were re-sent" "$(cat "$SB_TMP/err")" \
	"re-sent: [1-9]"
stop_workers

# The example of sb-farm(1): CurveZMQ keys, the farm on every interface, a worker.
cd "$SB_TMP" || exit 1
sb-keygen farm > /dev/null && sb-keygen worker1 > /dev/null && cat worker1.pub > workers.allow
port=$((20000 + ($$ + 11) % 20000))
sb-encode -m "$M" --worker ">tcp://127.0.0.1:$port" --heartbeat "$(slow 100)" \
	--curve-secret worker1.key --curve-server farm.pub 2>> workers.err &
pids="$pids $!"
timeout "$(slow 120)" sb-tokenize -m "$M" -b 8 < s.txt |
	sb-farm --bind "tcp://0.0.0.0:$port" --curve-secret farm.key \
		--curve-allow workers.allow |
	sb-pool -m "$M" > example.sbf
check "sb-farm(1) example: exit 0" test $? = 0
check "sb-farm(1) example: same bytes as the single-process pipeline" \
	cmp -s local.sbf example.sbf
stop_workers
check "the workers' logs show no sanitizer report" \
	test -z "$(grep -E 'AddressSanitizer|LeakSanitizer|runtime error|^==[0-9]+== ' \
		"$SB_TMP/workers.err")"
