#!/bin/sh
# The CLUSTER examples of sb(7), on the loopback: direct links between stages and a
# farm of two workers give exactly what the local pipe gives.
. ./tests/setup

M=$SB_SRCDIR/tests/models/tiny-distilbert
plan 5
in=$SB_SRCDIR/tests/sample.txt
# Ports no other test holds (tests/setup), so tests running side by side never share one.
p1=$(tcp_port) && p2=$(tcp_port) && p3=$(tcp_port) ||
	{ echo "Bail out! no free TCP port"; exit 1; }

sb-tokenize -m "$M" < "$in" | sb-encode -m "$M" | sb-pool -m "$M" > "$SB_TMP/local.sbf"

# Direct links: tokenize binds, encode connects and binds, pool connects.
sb-tokenize -m "$M" -o "@tcp://127.0.0.1:$p1" < "$in" 2> "$SB_TMP/e1" &
t=$!
sb-encode -m "$M" -i ">tcp://127.0.0.1:$p1" -o "@tcp://127.0.0.1:$p2" 2> "$SB_TMP/e2" &
e=$!
timeout "$(slow 60)" sb-pool -m "$M" -i ">tcp://127.0.0.1:$p2" > "$SB_TMP/linked.sbf" 2> "$SB_TMP/e3"
rc=$?
wait $t; rt=$?
wait $e; re=$?
is "direct links: every stage exits 0" "$rt $re $rc" "0 0 0"
check "direct links: byte for byte the local pipe's output" \
	cmp -s "$SB_TMP/local.sbf" "$SB_TMP/linked.sbf"
[ "$rc" = 0 ] || diag "$(cat "$SB_TMP/e1" "$SB_TMP/e2" "$SB_TMP/e3")"

# A farm with two workers in place of sb-encode.
sb-encode -m "$M" --worker ">tcp://127.0.0.1:$p3" 2> "$SB_TMP/w1" &
w1=$!
sb-encode -m "$M" --worker ">tcp://127.0.0.1:$p3" 2> "$SB_TMP/w2" &
w2=$!
sb-tokenize -m "$M" < "$in" | timeout "$(slow 60)" sb-farm --bind "tcp://127.0.0.1:$p3" 2> "$SB_TMP/ef" |
	sb-pool -m "$M" > "$SB_TMP/farmed.sbf"
kill_own $w1 $w2
# Bounded: a worker that ignored SIGTERM must fail this check, not hang the suite.
wait_until 60 gone "$w1" && wait_until 60 gone "$w2"
ended=$?
kill_own -9 $w1 $w2
wait $w1 $w2 2> /dev/null
is "farm: both workers end on SIGTERM" "$ended" 0
check "farm: byte for byte the local pipe's output" cmp -s "$SB_TMP/local.sbf" "$SB_TMP/farmed.sbf"
is "farm: no errors from the farm or the workers" \
	"$(grep -Ei 'error|sanitizer|leak' "$SB_TMP/w1" "$SB_TMP/w2" "$SB_TMP/ef" | head -5)" ""
