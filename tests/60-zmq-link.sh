#!/bin/sh
# Direct ZeroMQ links between stages: a tokenize | encode | pool pipeline over TCP and
# ipc gives byte for byte what the local pipe gives, whichever side starts first; a
# writer killed mid-stream is a cut stream for the reader; a reader killed mid-stream
# fails the writer; plain text on a non-loopback address is refused.
. ./tests/setup

require_shared data/sts-b/sts-test.tsv
plan 10
pids=
cleanup() {
	for p in $pids; do kill "$p" 2> /dev/null; done
	wait 2> /dev/null
	rm -rf "$SB_TMP"
}
trap cleanup EXIT
M=$SB_SRCDIR/tests/models/tiny-distilbert
cut -f6,7 "$SB_SHARED/data/sts-b/sts-test.tsv" | tr '\t' '\n' | head -300 > "$SB_TMP/s.txt"
sb-tokenize -m "$M" < "$SB_TMP/s.txt" | sb-encode -m "$M" | sb-pool -m "$M" > "$SB_TMP/local.sbf"
check "the local pipeline ran" test -s "$SB_TMP/local.sbf"
p1=$((20000 + $$ % 20000)); p2=$((p1 + 1))
# grows FILE: waits (up to 20 s) until FILE holds data.
grows() {
	_i=0
	while [ ! -s "$1" ] && [ $_i -lt 200 ]; do sleep 0.1; _i=$((_i + 1)); done
}

# Writers bind and start first; readers connect later.
sb-tokenize -m "$M" -o "@tcp://127.0.0.1:$p1" < "$SB_TMP/s.txt" 2> "$SB_TMP/t.err" &
t=$!
sleep 0.3
sb-encode -m "$M" -i ">tcp://127.0.0.1:$p1" -o "@tcp://127.0.0.1:$p2" 2> "$SB_TMP/e.err" &
e=$!
sleep 0.3
timeout 60 sb-pool -m "$M" -i ">tcp://127.0.0.1:$p2" > "$SB_TMP/tcp.sbf" 2> "$SB_TMP/p.err"
prc=$?
wait "$t"; trc=$?
wait "$e"; erc=$?
check "tcp pipeline: every stage exits 0 ($trc $erc $prc)" test "$trc$erc$prc" = 000
check "tcp pipeline: output equals the local pipe's byte for byte" \
	cmp -s "$SB_TMP/local.sbf" "$SB_TMP/tcp.sbf"

# Readers bind and start first; writers connect (ipc).
timeout 60 sb-pool -m "$M" -i "@ipc://$SB_TMP/b" > "$SB_TMP/ipc.sbf" 2> "$SB_TMP/p.err" &
p=$!
timeout 60 sb-encode -m "$M" -i "@ipc://$SB_TMP/a" -o ">ipc://$SB_TMP/b" 2> "$SB_TMP/e.err" &
e=$!
sleep 0.3
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
timeout 60 farm-worker --in ">tcp://127.0.0.1:$p1" --out "$SB_TMP/r.sbf" 2> "$SB_TMP/r.err" &
r=$!
grows "$SB_TMP/r.sbf"
kill -9 "$w"
wait "$r"
check "writer killed: the reader exits 1" test $? = 1
like "writer killed: the reader says the stream was cut" "$(cat "$SB_TMP/r.err")" \
	"the writer went away after [0-9]+ frames \([0-9]+ rows\) without an end frame"

# A reader killed mid-stream: the writer fails instead of feeding a later reader a
# stream with a hole.
timeout 60 farm-worker --gen 5000000 --out "@tcp://127.0.0.1:$p2" 2> "$SB_TMP/w.err" &
w=$!
farm-worker --in ">tcp://127.0.0.1:$p2" --out "$SB_TMP/r2.sbf" 2> /dev/null &
r=$!
grows "$SB_TMP/r2.sbf"
kill -9 "$r"
wait "$w"
wrc=$?
check "reader killed: the writer exits 1 (exit $wrc)" test $wrc = 1
like "reader killed: the writer says so" "$(cat "$SB_TMP/w.err")" "the reader went away"

run sb-tokenize -m "$M" -o "@tcp://0.0.0.0:$p1" < "$SB_TMP/s.txt"
like "plain text on a non-loopback address is refused without --insecure" "$err" \
	"plain text on a non-loopback address"
