#!/bin/sh
# CurveZMQ: sb-keygen key files; a farm with an allow-list serves legitimate workers
# while clients with no key, a wrong server key or a key not on the list get nothing
# and inject nothing; a message over --max-msg-bytes is refused and the farm stays up;
# a direct link with keys.  Every check is on what happened, not on when: the port
# comes from tcp_port (tests/setup), heartbeats and bounds are scaled by slow (ten
# times longer under valgrind).
. ./tests/setup

plan 14
pids=
cleanup() {
	kill_own $pids
	wait 2> /dev/null
	rm -rf "$SB_TMP"
}
trap cleanup EXIT
cd "$SB_TMP" || exit 1
port=$(tcp_port) || { echo "Bail out! no free TCP port"; exit 1; }
ep="tcp://127.0.0.1:$port"
worker() {
	_n=$1; shift
	farm-worker --connect ">$ep" --heartbeat-ms "$(slow 100)" --name "$_n" "$@" \
		2>> workers.err &
	pids="$pids $!"
}
stop_workers() {
	kill_own $pids
	wait 2> /dev/null
	pids=
}

run sb-keygen farm
check "sb-keygen: exit 0 and prints the public key" \
	test "$rc" = 0 -a "$(printf '%s' "$out" | wc -c)" = 40
check "sb-keygen: the .pub file holds that key" grep -qxF "public-key = $out" farm.pub
is "sb-keygen: the secret file is private (0600)" "$(stat -c %a farm.key)" 600
run sb-keygen farm
check "sb-keygen: refuses to overwrite without -f" test "$rc" = 1 -a -n "$err"
sb-keygen w1 > /dev/null && sb-keygen w2 > /dev/null && sb-keygen rogue > /dev/null
cat w1.pub w2.pub > allow
farm-worker --gen 2000 > in.sbf

# The three workers that must get nothing are running (their signal handlers set, so
# SIGTERM ends them with their statistics line) before the farm starts: a run that is
# over before one of them started would prove nothing, and one killed while it starts
# would print no line.
worker good --curve-secret w1.key --curve-server farm.pub
worker nokey --ready ready.nokey
worker rogue --curve-secret rogue.key --curve-server farm.pub --ready ready.rogue
worker wrongserver --curve-secret w2.key --curve-server w2.pub --ready ready.wrongserver
for w in nokey rogue wrongserver; do
	reach 60 "worker $w started" test -e "ready.$w"
done
timeout "$(slow 60)" sb-farm --bind "@$ep" --heartbeat-ms "$(slow 100)" \
	--worker-timeout "$(slow 20)" -v \
	--curve-secret farm.key --curve-allow allow < in.sbf > out.sbf 2> err
check "curve farm: exit 0" test $? = 0
check "curve farm: output equals the input" cmp -s in.sbf out.sbf
# On a loaded machine the farm may give the good worker up for a moment and see it
# join again: its frames are then counted over its entries, and only it joins.
is "curve farm: the legitimate worker did all 63 frames" \
	"$(sed -n 's/^sb-farm: worker good: \([0-9]*\) frames done.*/\1/p' err |
		awk '{ n += $1 } END { print n + 0 }')" 63
is "curve farm: no other worker joined (no key, key not allowed, wrong server key)" \
	"$(grep joined err | grep -cv 'worker good joined')" 0
stop_workers
for w in nokey rogue wrongserver; do
	like "curve farm: worker $w received no frame" "$(cat workers.err)" \
		"farm-worker $w: 0 frames, 0 rows"
done

# An allowed worker whose results are too big: refused, and the farm stays up for
# the others.
worker good --curve-secret w1.key --curve-server farm.pub --delay-ms 5
worker bloated --curve-secret w2.key --curve-server farm.pub --bloat 200000
timeout "$(slow 60)" sb-farm --bind "@$ep" --heartbeat-ms "$(slow 100)" \
	--worker-timeout "$(slow 20)" -v \
	--max-msg-bytes 100000 --curve-secret farm.key --curve-allow allow \
	< in.sbf > out.sbf 2> err
check "oversized results: the farm completes with exit 0" test $? = 0
check "oversized results: output equals the input (no bloated frame got in)" \
	cmp -s in.sbf out.sbf
stop_workers

# A direct link with keys: the binding reader is the CurveZMQ server.
farm-worker --in "@$ep" --out link.sbf --curve-secret farm.key --curve-allow allow \
	2> link.err &
reader=$!
timeout "$(slow 60)" farm-worker --gen 2000 --out ">$ep" --curve-secret w1.key --curve-server farm.pub
wait "$reader"
check "curve link: reader exit 0 and the stream arrived whole" \
	test $? = 0 -a "$(cmp in.sbf link.sbf && echo same)" = same
