#!/bin/sh
# Direct ZeroMQ links between stages: a tokenize | encode | pool pipeline over TCP and
# ipc gives byte for byte what the local pipe gives, whichever side starts first; a
# writer killed mid-stream is a cut stream for the reader; a reader killed mid-stream
# fails the writer; plain text on a non-loopback address is refused.
#
# No step waits on a clock: "starts first" means its socket is seen bound (ss, or the
# ipc file), a kill comes once the victim's output shows data.  In the two kill cases
# the reader connects only once the writer listens, and a state that is not reached
# stops the test naming it.  The documented bounds are checked with margin: a reader
# waits 10 s for a vanished writer before it reports a cut stream (CUT_GRACE_MS in
# lib/zmq_link.c); a writer notices a dead reader when the connection drops, which for
# a killed process is at once (the kernel closes it) and otherwise within ZeroMQ's 10 s
# heartbeat timeout, and its context's end takes at most 5 s more (lib/zmq_ctx.c: libzmq
# now and then never finished the socket of a reader killed that way): the test gives
# it 30 s.  Ports come from tcp_port (tests/setup), so tests running side by side never
# share one.
. ./tests/setup

require_shared data/sts-b/sts-test.tsv
plan 10
pids=
cleanup() {
	kill_own $pids
	wait 2> /dev/null
	rm -rf "$SB_TMP"
}
trap cleanup EXIT
M=$SB_SRCDIR/tests/models/tiny-distilbert
cut -f6,7 "$SB_SHARED/data/sts-b/sts-test.tsv" | tr '\t' '\n' | head -300 > "$SB_TMP/s.txt"
sb-tokenize -m "$M" < "$SB_TMP/s.txt" | sb-encode -m "$M" | sb-pool -m "$M" > "$SB_TMP/local.sbf"
check "the local pipeline ran" test -s "$SB_TMP/local.sbf"
p1=$(tcp_port) && p2=$(tcp_port) || { echo "Bail out! no free TCP port"; exit 1; }
# grows FILE: waits until FILE holds data.
grows() { wait_until 60 test -s "$1"; }
# listening PORT: something listens on 127.0.0.1:PORT.
listening() { ss -Htln "sport = :$1" | grep -q .; }
require_cmd ss

# Writers bind and start first; readers connect later.
sb-tokenize -m "$M" -o "@tcp://127.0.0.1:$p1" < "$SB_TMP/s.txt" 2> "$SB_TMP/t.err" &
t=$!
wait_until 30 listening "$p1"
sb-encode -m "$M" -i ">tcp://127.0.0.1:$p1" -o "@tcp://127.0.0.1:$p2" 2> "$SB_TMP/e.err" &
e=$!
wait_until 30 listening "$p2"
timeout "$(slow 60)" sb-pool -m "$M" -i ">tcp://127.0.0.1:$p2" > "$SB_TMP/tcp.sbf" 2> "$SB_TMP/p.err"
prc=$?
wait "$t"; trc=$?
wait "$e"; erc=$?
check "tcp pipeline: every stage exits 0 ($trc $erc $prc)" test "$trc$erc$prc" = 000
check "tcp pipeline: output equals the local pipe's byte for byte" \
	cmp -s "$SB_TMP/local.sbf" "$SB_TMP/tcp.sbf"

# Readers bind and start first; writers connect (ipc).
timeout "$(slow 60)" sb-pool -m "$M" -i "@ipc://$SB_TMP/b" > "$SB_TMP/ipc.sbf" \
	2> "$SB_TMP/p.err" &
p=$!
timeout "$(slow 60)" sb-encode -m "$M" -i "@ipc://$SB_TMP/a" -o ">ipc://$SB_TMP/b" \
	2> "$SB_TMP/e.err" &
e=$!
wait_until 30 test -S "$SB_TMP/a" -a -S "$SB_TMP/b"
sb-tokenize -m "$M" -o ">ipc://$SB_TMP/a" < "$SB_TMP/s.txt"
trc=$?
wait "$e"; erc=$?
wait "$p"; prc=$?
check "ipc pipeline: every stage exits 0 ($trc $erc $prc)" test "$trc$erc$prc" = 000
check "ipc pipeline: output equals the local pipe's byte for byte" \
	cmp -s "$SB_TMP/local.sbf" "$SB_TMP/ipc.sbf"

# A writer killed mid-stream: the reader reports a cut stream (after a grace period
# for the writer to come back) and exits 1.
farm-worker --gen 5000000 --out "@tcp://127.0.0.1:$p1" 2> /dev/null &
w=$!
pids="$pids $w"
reach 30 "the writer listens on $p1" listening "$p1"
timeout "$(slow 60)" farm-worker --in ">tcp://127.0.0.1:$p1" --out "$SB_TMP/r.sbf" 2> "$SB_TMP/r.err" &
r=$!
reach 60 "the reader's output grows" grows "$SB_TMP/r.sbf"
kill -9 "$w"
wait "$r"
check "writer killed: the reader exits 1" test $? = 1
like "writer killed: the reader says the stream was cut" "$(cat "$SB_TMP/r.err")" \
	"the writer went away after [0-9]+ frames \([0-9]+ rows\) without an end frame"

# A reader killed mid-stream: the writer fails instead of feeding a later reader a
# stream with a hole, and notices within the bound (30 s for 10 s documented).
farm-worker --gen 5000000 --out "@tcp://127.0.0.1:$p2" 2> "$SB_TMP/w.err" &
w=$!
pids="$pids $w"
reach 30 "the writer listens on $p2" listening "$p2"
farm-worker --in ">tcp://127.0.0.1:$p2" --out "$SB_TMP/r2.sbf" 2> "$SB_TMP/r2.err" &
r=$!
pids="$pids $r"
reach 60 "the reader's output grows" grows "$SB_TMP/r2.sbf"
kill -9 "$r"
if wait_until 30 gone "$w"; then
	wait "$w"
	wrc=$?
else
	wrc="still running 30 s after its reader died"
	# What a failure needs to be understood: the connections on the port, where
	# the writer's threads wait, what both sides said.
	diag "connections on $p2:" "$(ss -Htanp "( sport = :$p2 or dport = :$p2 )" 2>&1)"
	for _t in /proc/"$w"/task/*; do
		diag "writer thread ${_t##*/}: $(cat "$_t/wchan" 2> /dev/null) $(sed -n \
			's/^State:[[:space:]]*//p' "$_t/status" 2> /dev/null)"
	done
	diag "writer: $(cat "$SB_TMP/w.err")" "reader: $(cat "$SB_TMP/r2.err")"
fi
check "reader killed: the writer exits 1 (exit $wrc)" test "$wrc" = 1
like "reader killed: the writer says so" "$(cat "$SB_TMP/w.err")" "the reader went away"

run sb-tokenize -m "$M" -o "@tcp://0.0.0.0:$p1" < "$SB_TMP/s.txt"
like "plain text on a non-loopback address is refused without --insecure" "$err" \
	"plain text on a non-loopback address"
