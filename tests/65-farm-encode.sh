#!/bin/sh
# The farm with real sb-encode workers on the tiny model, 2000 STS sentences:
# sb-tokenize | sb-farm | sb-pool equals sb-tokenize | sb-encode | sb-pool byte for
# byte, with three workers, when one of them is killed with -9 while it holds frames,
# and when one is stopped while it holds frames, declared dead, and continued (no row
# twice).
#
# Nothing waits on a clock.  The farm's input is opened and its end frame released by
# the test (farm-worker --wait-start / --wait-end), and each step waits for the farm's
# -v line showing the state it needs: a worker joined, was handed its first frame, was
# given up.  A worker is stopped before the input opens, so the frames it is handed
# stay with it; the farm's --liveness 10 gives it ten heartbeats (1 s) to be handed
# one before it is declared dead.  Should the farm miss even that, the re-send check is
# reported as skipped (TAP SKIP), not failed: bytes and exit status are always checked.
# Bounds are scaled by slow (tests/setup): ten times longer under valgrind.
. ./tests/setup

require_shared data/sts-b/sts-test.tsv
plan 12
pids=
cleanup() {
	kill_own -CONT $pids; kill_own $pids
	touch "$SB_TMP/go" "$SB_TMP/end" 2> /dev/null
	wait 2> /dev/null
	rm -rf "$SB_TMP"
}
trap cleanup EXIT
M=$SB_SRCDIR/tests/models/tiny-distilbert
ep="ipc://$SB_TMP/farm"
cut -f6,7 "$SB_SHARED/data/sts-b/sts-test.tsv" | tr '\t' '\n' | head -2000 > "$SB_TMP/s.txt"
# Small frames: many of them, so a worker holds only part of the stream.
sb-tokenize -m "$M" -b 8 < "$SB_TMP/s.txt" > "$SB_TMP/tok.sbf"
sb-encode -m "$M" < "$SB_TMP/tok.sbf" | sb-pool -m "$M" > "$SB_TMP/local.sbf"
check "the single-process pipeline ran" test -s "$SB_TMP/local.sbf"

worker() {
	sb-encode -m "$M" --worker ">$ep" --heartbeat "$(slow 100)" 2>> "$SB_TMP/workers.err" &
	last=$!
	pids="$pids $last"
}
stop_workers() {
	kill_own -CONT $pids; kill_own $pids
	wait 2> /dev/null
	pids=
}
# farm_bg [ARGS]: the farm in the background, tokens in through the gate (nothing
# before go exists, no end frame before end exists), pooled embeddings out in
# farm.sbf, its -v log in err, its exit status in farm.rc.
farm_bg() {
	rm -f "$SB_TMP/go" "$SB_TMP/end" "$SB_TMP/farm.rc"
	farm-worker --in "$SB_TMP/tok.sbf" --out - --wait-start "$SB_TMP/go" \
		--wait-end "$SB_TMP/end" |
		{ timeout "$(slow 120)" sb-farm --bind "@$ep" --heartbeat-ms "$(slow 100)" \
			--worker-timeout "$(slow 30)" -v "$@" 2> "$SB_TMP/err"
		  echo $? > "$SB_TMP/farm.rc"; } |
		sb-pool -m "$M" > "$SB_TMP/farm.sbf" &
	farm_pid=$!
}
# farm_wait: waits for the farm's pipeline; $st gets the farm's and sb-pool's status.
farm_wait() {
	wait "$farm_pid"
	_r=$?
	st="$(cat "$SB_TMP/farm.rc" 2> /dev/null) $_r"
	[ "$st" = "0 0" ] || diag "the farm's and sb-pool's status: $st; the end of the farm's log:" \
		"$(tail -n 60 "$SB_TMP/err")"
}
# The farm names an sb-encode worker HOST:PID; says PID [WHAT]: a -v line about it.
says() { logged "$SB_TMP/err" "worker [^ ]*:$1 $2"; }
# rejoined PID: the worker joined twice (a function, so that wait_until counts anew at
# every poll).
rejoined() { [ "$(grep -c "worker [^ ]*:$1 joined" "$SB_TMP/err" 2> /dev/null)" -ge 2 ]; }

worker; worker; worker
farm_bg
touch "$SB_TMP/go" "$SB_TMP/end"
farm_wait
is "three sb-encode workers: the farm and sb-pool exit 0" "$st" "0 0"
check "three sb-encode workers: same bytes as the single-process pipeline" \
	cmp -s "$SB_TMP/local.sbf" "$SB_TMP/farm.sbf"
stop_workers

# kill -9 of a worker that holds frames: stopped before the input opens, killed once
# the farm has handed it a frame, which therefore never comes back.
worker; victim=$last
farm_bg --liveness 10
wait_until 60 says "$victim" joined
kill -STOP "$victim"
wait_until 10 stopped "$victim"
touch "$SB_TMP/go"
held=no
wait_until 30 says "$victim" "was handed its first frame" && held=yes
kill -9 "$victim"
worker; worker
touch "$SB_TMP/end"
farm_wait
is "kill -9 of an sb-encode worker: the farm and sb-pool exit 0" "$st" "0 0"
check "kill -9 of an sb-encode worker: same bytes as the single-process pipeline" \
	cmp -s "$SB_TMP/local.sbf" "$SB_TMP/farm.sbf"
if [ $held = yes ]; then
	like "kill -9 of an sb-encode worker: the frames it held were re-sent" \
		"$(cat "$SB_TMP/err")" "re-sent: [1-9]"
else
	skip "kill -9 of an sb-encode worker: the frames it held were re-sent" \
		"the farm gave the stopped worker up before handing it a frame"
fi
stop_workers

# STOP past the heartbeat timeout, then CONT: the stopped worker holds frames, the
# farm declares it dead and hands them to the others; continued, it comes back (joins
# again, its late results dropped as duplicates or taken once) before the input ends.
worker; sleeper=$last
farm_bg --liveness 10
wait_until 60 says "$sleeper" joined
kill -STOP "$sleeper"
wait_until 10 stopped "$sleeper"
touch "$SB_TMP/go"
held=no
wait_until 30 says "$sleeper" "was handed its first frame" && held=yes
worker; worker
wait_until 60 says "$sleeper" "(stopped answering|disconnected|unreachable)"
kill -CONT "$sleeper"
wait_until 60 rejoined "$sleeper"
touch "$SB_TMP/end"
farm_wait
is "STOP/CONT of an sb-encode worker: the farm and sb-pool exit 0" "$st" "0 0"
check "STOP/CONT of an sb-encode worker: same bytes (no row twice)" \
	cmp -s "$SB_TMP/local.sbf" "$SB_TMP/farm.sbf"
if [ $held = yes ]; then
	like "STOP/CONT of an sb-encode worker: its frames were re-sent" "$(cat "$SB_TMP/err")" \
		"re-sent: [1-9]"
else
	skip "STOP/CONT of an sb-encode worker: its frames were re-sent" \
		"the farm gave the stopped worker up before handing it a frame"
fi
stop_workers

# The example of sb-farm(1): CurveZMQ keys, the farm on every interface, a worker.
cd "$SB_TMP" || exit 1
sb-keygen farm > /dev/null && sb-keygen worker1 > /dev/null && cat worker1.pub > workers.allow
port=$(tcp_port) || { echo "Bail out! no free TCP port"; exit 1; }
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
