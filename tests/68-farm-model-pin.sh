#!/bin/sh
# A farm never mixes results of two models (or two poolings) in one stream: the first
# result accepted pins the provenance (model fingerprint, pooling, dim...); a worker
# whose results differ is refused for the rest of the run, with both values named on
# the farm's stderr and on the worker's, none of its results written, its frames done
# by the good workers.  When no good worker is left, the farm fails as with no worker
# at all: exit 1 and no end frame.  The same weights in another folder and format
# (same fingerprint) are not refused.
#
# Models: tiny-distilbert (A); a copy of it with one LayerNorm weight changed (B: same
# architecture, width and pooling, other weights and fingerprint); tiny-distilbert-bin
# (A's weights as pytorch_model.bin in another folder).
#
# Order without clocks: the farm reads the first 2 frames, then waits at a gate (a
# file the test creates) for the other 30.  The good worker's result pins first (the
# farm says so under -v); the second worker joins (the farm says so); then the gate
# opens (where the second worker's results must be taken, the first has left by then,
# so the second surely does frames).  The input's end frame waits at a second gate
# (endgate): where the second worker is to be refused, the test opens it only once the
# farm has said so, so the good worker cannot finish the stream first.
. ./tests/setup

plan 26
pids=
cleanup() {
	touch "$SB_TMP/gate" "$SB_TMP/endgate" 2> /dev/null
	kill_own -9 $pids
	wait 2> /dev/null
	rm -rf "$SB_TMP"
}
trap cleanup EXIT
[ -n "$PYTHON3" ] || { echo "Bail out! python3 is needed to make a second model"; exit 1; }
# A by a short path: messages cut a model's path at 64 bytes, and the source tree of a
# make distcheck lies deep (.../sb-0.1.0/_build/sub/../../tests/models/...).
ln -s "$SB_SRCDIR/tests/models/tiny-distilbert" "$SB_TMP/tiny-distilbert" || exit 1
A=$SB_TMP/tiny-distilbert
A2=$SB_SRCDIR/tests/models/tiny-distilbert-bin
cd "$SB_TMP" || exit 1

# B: A with embeddings.LayerNorm.weight[0] changed (it is in the fingerprint and in
# every token's output).
mkdir B && cp -r "$A"/* B/ && "$PYTHON3" - B/model.safetensors <<'EOF' || exit 1
import json, struct, sys
path = sys.argv[1]
data = bytearray(open(path, 'rb').read())
n = struct.unpack('<Q', data[:8])[0]
t = json.loads(data[8:8 + n])['embeddings.LayerNorm.weight']
assert t['dtype'] == 'F32'
at = 8 + n + t['data_offsets'][0]
v = struct.unpack('<f', data[at:at + 4])[0]
data[at:at + 4] = struct.pack('<f', v + 0.5)
open(path, 'wb').write(bytes(data))
EOF

for _ in 1 2 3 4 5 6 7 8; do cat "$SB_SRCDIR/tests/sample.txt"; done > in.txt
sb-tokenize -m "$A" --batch 2 < in.txt > tok.sbf
head -4 in.txt | sb-tokenize -m "$A" --batch 2 > head.sbf
printf '' | sb-tokenize -m "$A" > end.sbf
# p1: the first 2 frames of tok.sbf (head.sbf without its end frame).
p1=$(($(wc -c < head.sbf) - $(wc -c < end.sbf)))
check "the first frames of the stream are those of its first 4 lines" cmp -s -n "$p1" head.sbf tok.sbf
sb-encode -m "$A" < tok.sbf > local.sbf
sb-encode -m "$A" --pool mean < tok.sbf > local-mean.sbf
fpA=$(sb-cat local.sbf | sed -n '1s/.*"model_fingerprint":"\([^"]*\)".*/\1/p')
fpB=$(sb-encode -m B < head.sbf | sb-cat | sed -n '1s/.*"model_fingerprint":"\([^"]*\)".*/\1/p')
check "B has another fingerprint than A ($fpA, $fpB)" test -n "$fpA" -a -n "$fpB" -a "$fpA" != "$fpB"

hb=$(slow 100)
# producer: the first 2 frames, then the rest once the file gate exists, its end
# frame once endgate exists.
producer() {
	head -c "$p1" tok.sbf
	wait_until 120 test -e gate
	tail -c +"$((p1 + 1))" tok.sbf | farm-worker --in - --out - --wait-end endgate
}
# joined FILE N: FILE has N "joined" lines.
joined() { [ "$(grep -c ' joined with ' "$1" 2> /dev/null)" -ge "$2" ]; }
# worker NAME ARGS...: an sb-encode worker of the farm at ipc://$SB_TMP/farm.
worker() {
	_n=$1
	shift
	sb-encode --worker ">ipc://$SB_TMP/farm" --heartbeat "$hb" "$@" 2>> "$_n.err" &
	last=$!
	pids="$pids $last"
}
# farm ARGS...: the farm, its input from producer, output in out.sbf, stderr in f.err.
farm() {
	rm -f gate endgate
	cat f.err >> farms.err 2> /dev/null
	: > f.err      # no line of the last farm is taken for one of this farm
	producer | timeout "$(slow 120)" sb-farm --bind "@ipc://$SB_TMP/farm" \
		--heartbeat-ms "$hb" --liveness 10 -v "$@" > out.sbf 2> f.err &
	farm_pid=$!
}
# refused PID: the farm refused worker PID's results.
refused() { logged f.err "worker [^ ]*:$1 refused"; }
# stop PID: SIGTERM, and the status.
stop() {
	kill_own "$1"
	wait "$1"
}

# 1. A worker of model B joins a farm whose results are of model A: refused.
farm
worker good -m "$A"; good=$last
reach 60 "the first result pins" logged f.err "the first results, from worker [^ ]*, set what every result"
worker bad -m B; bad=$last
reach 60 "the second worker joined" joined f.err 2
touch gate
reach 60 "the farm refused the B worker" refused "$bad"
touch endgate
wait "$farm_pid"
is "B joins A: the farm goes on and exits 0" "$?" 0
check "B joins A: the output is model A's, byte for byte" cmp -s local.sbf out.sbf
line=$(grep "worker [^ ]*:$bad refused" f.err)
like "B joins A: the farm refuses the worker, naming both fingerprints" "$line" \
	"refused for the rest of the run: results of model 'B' \($fpB\), the first results' '[^']*/tiny-distilbert' \($fpA\) \(worker [^)]*\)"
# How many of its frames were still to hand back depends on timing: the other
# worker may have redone them already (behind a slow one).
like "B joins A: none of its results is written, its frames go to the other worker" "$line" \
	"[0-9]+ frames handed to the other workers, none of its results written"
like "B joins A: the farm lists it as refused" "$(cat f.err)" \
	"worker [^ ]*:$bad: 0 frames done, [0-9]+ taken back, .* \(refused\)"
wait_until 60 logged bad.err "the farm refuses this worker's results"
like "B joins A: the worker is told why" "$(cat bad.err)" \
	"sb-encode: >ipc://[^ ]*: the farm refuses this worker's results in its current run: results of model 'B' \($fpB\), the first results' '[^']*/tiny-distilbert' \($fpA\)"
stop "$good"
is "B joins A: the good worker ends on SIGTERM with 143" "$?" 143
stop "$bad"
is "B joins A: the refused worker too" "$?" 143

# 2. Only the refused worker is left: the farm fails as with no worker, exit 1, no end
# frame, the seqs not done listed.
farm --worker-timeout "$(slow 3)"
worker good -m "$A"; good=$last
reach 60 "the first result pins" logged f.err "the first results, from worker [^ ]*, set what every result"
worker bad -m B; bad=$last
reach 60 "the second worker joined" joined f.err 2
stop "$good" > /dev/null
reach 60 "the good worker gone" logged f.err "worker [^ ]*:$good (left|stopped answering|disconnected)"
touch gate endgate
wait "$farm_pid"
is "no good worker left: exit 1" "$?" 1
like "no good worker left: the farm says it refused B" "$(cat f.err)" \
	"worker [^ ]*:$bad refused for the rest of the run"
# The good worker answered the first frame (its result pinned); whether it also
# answered the second before its SIGTERM depends on timing: 2 or 4 rows written, and
# the seqs not done start there.
like "no good worker left: then no worker, the seqs not done listed" "$(cat f.err)" \
	"sb-farm: no worker for [0-9]+ ms; (2 rows written, seqs not done: 2-|4 rows written, seqs not done: 4-)"
run sb-cat -q out.sbf
check "no good worker left: the output is cut (no end frame), only model A's rows" \
	test "$rc" = 1 -a "$(sb-cat out.sbf 2> /dev/null | grep -c "$fpB")" = 0
stop "$bad" > /dev/null

# 3. The same weights in another folder and file format: the same fingerprint, taken.
# The first worker leaves once the second has joined, so the second does the frames
# after the gate: with both working, the first could redo them all (hedged behind the
# second's slow start) and leave the second none to be taken.
farm
worker good -m "$A"; good=$last
reach 60 "the first result pins" logged f.err "the first results, from worker [^ ]*, set what every result"
worker other -m "$A2"; other=$last
reach 60 "the second worker joined" joined f.err 2
stop "$good" > /dev/null
touch gate endgate
wait "$farm_pid"
is "A's weights in another folder: exit 0" "$?" 0
is "A's weights in another folder: nothing refused" "$(grep -c refused f.err)" 0
check "A's weights in another folder: that worker's results were taken" \
	logged f.err "worker [^ ]*:$other: [1-9][0-9]* frames done"
run sb-cat -c out.sbf
like "A's weights in another folder: a complete stream of every row" "$out" "64 rows, complete"
stop "$other" > /dev/null

# 4. Same model, another pooling: refused too.
farm
worker good -m "$A" --pool mean; good=$last
reach 60 "the first result pins" logged f.err "the first results, from worker [^ ]*, set what every result"
worker cls -m "$A" --pool cls; cls=$last
reach 60 "the second worker joined" joined f.err 2
touch gate
reach 60 "the farm refused the cls-pooling worker" refused "$cls"
touch endgate
wait "$farm_pid"
is "another pooling: exit 0" "$?" 0
check "another pooling: the output is mean pooling's, byte for byte" cmp -s local-mean.sbf out.sbf
like "another pooling: refused, naming both poolings" "$(grep "worker [^ ]*:$cls refused" f.err)" \
	"results of pooling 'cls', the first results' 'mean'"
stop "$good" > /dev/null
stop "$cls" > /dev/null
# 5. A worker's answer of another kind comes after the farm gave it up.  The worker is
# tests/farm-worker (an echo stage: its results are tokens, not hidden states), 500 ms
# a frame; it is stopped once it has started on a frame (its --trace), the farm gives
# it up (ten heartbeats without a word, --liveness 10) and its frames go to the good
# worker; continued, it answers late, as a worker the farm no longer knows: it must
# still be refused (the farm used to drop that answer and take the worker back as a new
# one, refused only if a frame was left for it).  Should its answer beat the STOP, it
# is refused at once and the late case is skipped.
farm
worker good -m "$A"; good=$last
reach 60 "the first result pins" logged f.err "the first results, from worker [^ ]*, set what every result"
farm-worker --connect ">ipc://$SB_TMP/farm" --heartbeat-ms "$hb" --name late \
	--delay-ms "$(slow 500)" --trace late.trace 2>> late.err &
late=$!
pids="$pids $late"
reach 60 "the echo worker joined" joined f.err 2
touch gate
reach 60 "the echo worker started on a frame" test -s late.trace
kill -STOP "$late"
reach 10 "the echo worker stopped" stopped "$late"
late_refused() { logged f.err "worker late refused"; }
given_up() { logged f.err "worker late stopped answering" || late_refused; }
reach 60 "the farm gave the stopped echo worker up" given_up
early=no
late_refused && early=yes
kill -CONT "$late"
if [ $early = no ]; then
	reach 60 "the farm refused the late echo worker" late_refused
	ok "an answer after the worker was given up: the worker is refused"
else
	skip "an answer after the worker was given up: the worker is refused" \
		"its answer reached the farm before the STOP"
fi
touch endgate
wait "$farm_pid"
is "an answer after the worker was given up: the farm exits 0" "$?" 0
check "an answer after the worker was given up: the output is model A's, byte for byte" \
	cmp -s local.sbf out.sbf
like "an answer after the worker was given up: the farm lists it as refused" "$(cat f.err)" \
	"worker late: 0 frames done, .* \(refused\)"
stop "$good" > /dev/null
stop "$late" > /dev/null
cat f.err >> farms.err
check "the logs show no sanitizer report" \
	test -z "$(grep -E 'AddressSanitizer|LeakSanitizer|runtime error' ./*.err)"
