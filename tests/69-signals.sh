#!/bin/sh
# SIGTERM and SIGINT end every program that waits on ZeroMQ (a writer whose reader
# never comes, before or after its frames are queued, a reader whose writer never
# comes, a worker without a farm, a farm without workers or without the reader of its
# output) within the documented bound, a second (sb(7), EXIT STATUS), with the
# documented status: 143 or 130, a worker too.  A ZeroMQ endpoint without @ or > is
# refused with a message that says how to write it.
#
# Each program is signalled once it is seen waiting: its -v line says so ("waiting
# for a reader", "the end frame is queued; waiting for the reader to confirm it"...).
# The bound checked here is 10 s (times SB_SLOW), far above the documented second, so
# a loaded machine does not fail the test; the times measured go to the log.
. ./tests/setup

plan 20
pids=
cleanup() {
	kill_own -9 $pids
	wait 2> /dev/null
	rm -rf "$SB_TMP"
}
trap cleanup EXIT
require_cmd ss
M=$SB_SRCDIR/tests/models/tiny-distilbert
cd "$SB_TMP" || exit 1
printf 'hello world\nsecond line\n' > hi.txt
sb-tokenize -m "$M" < hi.txt > tok.sbf
sb-encode -m "$M" < tok.sbf > enc.sbf
ports=
for _ in 1 2 3 4 5 6 7 8; do
	p=$(tcp_port) || { echo "Bail out! no free TCP port"; exit 1; }
	ports="$ports $p"
done
# shellcheck disable=SC2086
set -- $ports
p1=$1 p2=$2 p3=$3 p4=$4 p5=$5 p6=$6 p7=$7 p8=$8

# now_ms: a clock in milliseconds, for the log.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# signalled NAME SIG PATTERN STATUS INPUT CMD...: runs CMD in the background with
# INPUT as standard input and stderr in NAME.err, waits until its stderr matches
# PATTERN, sends SIG, and checks that it ends within the bound with STATUS.
signalled() {
	_name=$1 _sig=$2 _pat=$3 _want=$4 _in=$5
	shift 5
	"$@" < "$_in" 2> "$_name.err" &
	_pid=$!
	pids="$pids $_pid"
	if ! wait_until 60 logged "$_name.err" "$_pat"; then
		not_ok "$_name: reached the state /$_pat/ before the signal"
		diag "$(cat "$_name.err")"
		kill_own -9 "$_pid"
		wait "$_pid" 2> /dev/null
		return
	fi
	_t0=$(now_ms)
	kill "-$_sig" "$_pid"
	if wait_until 10 gone "$_pid"; then
		wait "$_pid"
		_st=$?
		diag "$_name: ended $(($(now_ms) - _t0)) ms after SIG$_sig, status $_st"
		is "$_name: SIG$_sig ends it within the bound, status $_want" "$_st" "$_want"
	else
		not_ok "$_name: SIG$_sig ends it within the bound, status $_want"
		diag "still running $(slow 10) s after SIG$_sig: $(cat /proc/"$_pid"/wchan 2> /dev/null)"
		kill_own -9 "$_pid"
		wait "$_pid" 2> /dev/null
	fi
}

# The issue's case: a writer connects, queues its frames and the end frame, and waits
# for a reader that never comes (it used to stay in zmq_ctx_term for good).
signalled w-connect TERM 'waiting for the reader to confirm' 143 hi.txt \
	sb-tokenize -m "$M" -v -o ">tcp://127.0.0.1:$p1"
like "w-connect: says it was interrupted" "$(cat w-connect.err)" \
	"sb-tokenize: interrupted by signal 15 after 2 rows"
signalled w-connect-int INT 'waiting for the reader to confirm' 130 hi.txt \
	sb-tokenize -m "$M" -v -o ">tcp://127.0.0.1:$p1"
signalled w-connect-ipc TERM 'waiting for the reader to confirm' 143 /dev/null \
	sb-pool -m "$M" -v -i enc.sbf -o ">ipc://$SB_TMP/nobody"
# A writer that binds and waits for a reader to take its first frame.
signalled w-bind TERM 'waiting for a reader' 143 hi.txt \
	sb-tokenize -m "$M" -v -o "@tcp://127.0.0.1:$p2"
# Readers that connect or bind and wait for a writer.
signalled r-connect TERM 'waiting for a writer' 143 /dev/null \
	sb-encode -m "$M" -v -i ">tcp://127.0.0.1:$p3"
signalled r-bind INT 'waiting for a writer' 130 /dev/null \
	sb-encode -m "$M" -v -i "@ipc://$SB_TMP/r"
# A worker whose farm never comes: it exits as every program does (it used to exit 0).
signalled worker TERM 'waiting for a farm' 143 /dev/null \
	sb-encode -m "$M" -v --worker ">tcp://127.0.0.1:$p4"
like "worker: says it stopped" "$(cat worker.err)" "worker stopped by signal 15 after 0 rows"
signalled worker-int INT 'waiting for a farm' 130 /dev/null \
	sb-encode -m "$M" -v --worker ">ipc://$SB_TMP/nofarm"
# A farm whose input writer never comes (it reads input once a worker is there).
sb-encode -m "$M" --worker ">ipc://$SB_TMP/f2" --heartbeat "$(slow 100)" 2> worker2.err &
w2=$!
pids="$pids $w2"
signalled farm-in TERM 'waiting for a writer' 143 /dev/null \
	sb-farm --bind "@ipc://$SB_TMP/f2" --heartbeat-ms "$(slow 100)" -v \
	-i ">tcp://127.0.0.1:$p5"
# A farm whose results are all written to a link nobody reads: the frames and the end
# frame are queued, the farm waits for the reader's confirmation.
signalled farm-out TERM 'waiting for the reader to confirm' 143 /dev/null \
	sb-farm --bind "@ipc://$SB_TMP/f2" --heartbeat-ms "$(slow 100)" -v -i tok.sbf \
	-o ">tcp://127.0.0.1:$p6"
like "farm-out: says it was interrupted" "$(cat farm-out.err)" "interrupted by signal 15"
kill_own "$w2"
wait "$w2"
is "the farm's worker: SIGTERM, status 143" "$?" 143
# A farm that has input and no worker.
signalled farm-noworker TERM 'waiting for a worker' 143 /dev/null \
	sb-farm --bind "@ipc://$SB_TMP/f3" -v -i tok.sbf
# sb-cat installs no handler: the signal's default action ends it at once.  It is
# signalled once ZeroMQ's threads run (its socket is open).
threads() { [ "$(ls "/proc/$1/task" 2> /dev/null | wc -l)" -ge 3 ]; }
sb-cat -F -o ">tcp://127.0.0.1:$p7" tok.sbf 2> cat.err &
c=$!
pids="$pids $c"
reach 30 "sb-cat: its ZeroMQ threads run" threads "$c"
kill -TERM "$c"
if wait_until 10 gone "$c"; then wait "$c"; st=$?; else st=running; fi
is "sb-cat writing to a link nobody reads: SIGTERM, status 143" "$st" 143

# An endpoint without @ or >: refused, saying how to write it.
run timeout -k "$(slow 10)" "$(slow 20)" sb-tokenize -m "$M" -o "tcp://127.0.0.1:$p8" < hi.txt
is "-o tcp://... without @ or >: exit 1" "$rc" 1
like "-o tcp://... without @ or >: the message shows both ways" "$err" \
	"sb-tokenize: tcp://127.0.0.1:$p8: a ZeroMQ endpoint needs @ to bind or > to connect \('@tcp://127.0.0.1:$p8' or '>tcp://127.0.0.1:$p8'\)"
run timeout -k "$(slow 10)" "$(slow 20)" sb-encode -m "$M" -i "ipc://$SB_TMP/bare"
is "-i ipc://... without @ or >: exit 1 with the message" \
	"$rc $(printf '%s' "$err" | grep -c 'needs @ to bind or > to connect')" "1 1"
check "the logs show no sanitizer report" \
	test -z "$(grep -E 'AddressSanitizer|LeakSanitizer|runtime error' ./*.err)"
