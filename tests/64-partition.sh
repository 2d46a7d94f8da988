#!/bin/sh
# A network partition between the farm and its worker, made with network namespaces
# (unshare -rn, a veth pair, a second namespace for the worker): a partition that heals
# in time ends with every row once, in order; one that does not heal ends with a clear
# error listing the missing seqs.  Addresses are inside the namespaces we create.
#
# No step waits on a clock: the link goes down once the farm has seen the worker join,
# the farm's input opens only then (farm-worker --wait-start), so frames go to a worker
# it cannot reach whatever the machine's speed, the link comes back once the farm has
# given the worker up (its -v line), and the input's end frame is released only then
# (--wait-end).  Times are scaled by slow (tests/setup): ten times longer under valgrind.
. ./tests/setup

plan 7
if ! unshare -rn true 2> /dev/null; then
	echo "Bail out! unshare -rn failed: this test needs unprivileged user and network namespaces"
	exit 1
fi
farm-worker --gen 2000 --batch 32 > "$SB_TMP/in.sbf"

cat > "$SB_TMP/inner.sh" << 'INNER'
# Runs as root of a new user and network namespace.  $1: scratch folder, $2: heal or not,
# $3: the factor of the times (SB_SLOW).
T=$1
mode=$2
f=$3
set -u
ip link set lo up
ip link add v0 type veth peer name v1
# upto N CMD...: runs CMD every 50 ms until it succeeds, at most N seconds (times f).
upto() {
	_w=$(($1 * f * 20))
	shift
	while ! "$@"; do
		[ "$_w" -gt 0 ] || return 1
		sleep 0.05
		_w=$((_w - 1))
	done
}
unshare -n sleep 600 &
holder=$!
# The holder has its own network namespace once unshare has run.
other_ns() { [ "$(readlink "/proc/$holder/ns/net")" != "$(readlink /proc/self/ns/net)" ]; }
upto 30 other_ns
ip link set v1 netns "$holder"
ip addr add 10.77.0.1/24 dev v0
ip link set v0 up
nsenter -t "$holder" -n sh -c 'ip link set lo up; ip addr add 10.77.0.2/24 dev v1; ip link set v1 up'
ep=tcp://10.77.0.1:5555
timeout=$((10 * f)) liveness=3
# Not healed: the farm gives the unreachable worker ten heartbeats (--liveness 10) to
# be handed frames once the input opens.
[ "$mode" = heal ] || timeout=$((2 * f)) liveness=10
farm-worker --in "$T/in.sbf" --out - --wait-start "$T/go-$mode" --wait-end "$T/end-$mode" \
	2>> "$T/producer.err" |
	sb-farm --bind "@$ep" --insecure --heartbeat-ms $((100 * f)) --worker-timeout $timeout \
	--liveness $liveness -v \
	> "$T/out-$mode.sbf" 2> "$T/err-$mode" &
farm=$!
nsenter -t "$holder" -n farm-worker --connect ">$ep" --insecure --heartbeat-ms $((100 * f)) \
	--delay-ms 30 2> "$T/worker-$mode.err" &
worker=$!
upto 30 grep -qs "joined" "$T/err-$mode"
ip link set v0 down
touch "$T/go-$mode"
if [ "$mode" = heal ]; then
	upto 30 grep -qs "stopped answering" "$T/err-$mode"
	ip link set v0 up
	touch "$T/end-$mode"
fi
wait "$farm"
echo $? > "$T/rc-$mode"
kill "$worker" "$holder" 2> /dev/null
touch "$T/end-$mode"
wait 2> /dev/null
INNER

unshare -rn sh "$SB_TMP/inner.sh" "$SB_TMP" heal "$SB_SLOW"
is "partition healed in time: the farm exits 0" "$(cat "$SB_TMP/rc-heal")" 0
check "partition healed in time: output equals the input" \
	cmp -s "$SB_TMP/in.sbf" "$SB_TMP/out-heal.sbf"
like "partition healed in time: the worker was lost, its frames handed out again" \
	"$(cat "$SB_TMP/err-heal")" "stopped answering: [0-9]+ frames handed out again"
like "partition healed in time: the worker came back and finished" "$(cat "$SB_TMP/err-heal")" \
	"out: 63 frames, 2000 rows"

unshare -rn sh "$SB_TMP/inner.sh" "$SB_TMP" cut "$SB_SLOW"
is "partition not healed: the farm exits 1" "$(cat "$SB_TMP/rc-cut")" 1
# The seqs are listed when the farm read frames, that is when it handed the worker one
# before giving it up (it reads input only while a worker is there); a farm slower
# than that fails with the same message before reading any.
if grep -q "was handed its first frame" "$SB_TMP/err-cut"; then
	like "partition not healed: a clear error listing the missing seqs" \
		"$(cat "$SB_TMP/err-cut")" \
		"sb-farm: no worker for $(slow 2000) ms; [0-9]+ rows written, seqs not done: [0-9]+-[0-9]+"
else
	like "partition not healed: a clear error listing the missing seqs" \
		"$(cat "$SB_TMP/err-cut")" "sb-farm: no worker for $(slow 2000) ms; 0 rows written"
	diag "the farm gave the worker up before handing it a frame: seqs not listed"
fi
farm-worker --in "$SB_TMP/out-cut.sbf" --out /dev/null 2> /dev/null
check "partition not healed: the output has no end frame" test $? != 0
