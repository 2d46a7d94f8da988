#!/bin/sh
# Every way to set up a ZeroMQ link, plain and with CurveZMQ keys, moves the stream
# byte for byte: direct links where the reader binds or the writer binds, over TCP and
# ipc; a farm whose workers connect plain or with keys, over TCP and ipc; a farm whose
# input and output are CurveZMQ links where the farm connects and binds.  Each case is
# a real sb-tokenize -> sb-encode pipeline compared with the local pipe's bytes.
#
# A writer that binds is the CurveZMQ server: its socket's message size limit (then
# 256 bytes) refused the client's handshake (INITIATE is about 300 bytes), and both
# programs waited for ever without a word.  A handshake that fails for a bad key is
# now reported by both sides, without -v.
#
# No step waits on a clock: the side that binds starts first and the other side only
# once the socket is seen bound (ss, or the ipc file).
. ./tests/setup

plan 32
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
for _ in 1 2 3 4; do cat "$SB_SRCDIR/tests/sample.txt"; done > in.txt
# 32 sentences in 8 frames: several frames per link and per farm.
tok() { sb-tokenize -m "$M" --batch 4 < in.txt; }
tok | sb-encode -m "$M" > local.sbf
check "the local pipe ran" test -s local.sbf
for k in writer reader farm worker rogue; do
	sb-keygen "$k" > /dev/null || { echo "Bail out! sb-keygen $k failed"; exit 1; }
done
cat worker.pub reader.pub > farm.allow

# listening PORT: something listens on 127.0.0.1:PORT.
listening() { ss -Htln "sport = :$1" | grep -q .; }
# bound ADDR: the endpoint ADDR (tcp://127.0.0.1:P or ipc://PATH) is bound.
bound() {
	case $1 in
	tcp://*) listening "${1##*:}" ;;
	ipc://*) test -S "${1#ipc://}" ;;
	esac
}
# endpoint TRANSPORT N: a fresh tcp or ipc address.
endpoint() {
	if [ "$1" = tcp ]; then
		_p=$(tcp_port) || { echo "Bail out! no free TCP port"; exit 1; }
		echo "tcp://127.0.0.1:$_p"
	else
		echo "ipc://$SB_TMP/$2"
	fi
}

# timed_out NAME STATUS...: says so when timeout(1) ended a program (status 124).
timed_out() {
	_tn=$1
	shift
	for _st in "$@"; do
		[ "$_st" != 124 ] ||
			diag "$_tn: a program still waited after $(slow 60) s: the link never came up"
	done
}

# link SIDE SECURITY TRANSPORT: sb-tokenize writes to sb-encode over one link; SIDE
# (reader or writer) binds and starts first.  With curve, the binding side is the
# CurveZMQ server and allows the other side's key.
n=0
link() {
	n=$((n + 1))
	_ep=$(endpoint "$3" "l$n")
	_wk="" _rk=""
	if [ "$2" = curve ]; then
		if [ "$1" = writer ]; then
			_wk="--curve-secret writer.key --curve-allow reader.pub"
			_rk="--curve-secret reader.key --curve-server writer.pub"
		else
			_rk="--curve-secret reader.key --curve-allow writer.pub"
			_wk="--curve-secret writer.key --curve-server reader.pub"
		fi
	fi
	_name="link: $1 binds, $2, $3"
	if [ "$1" = writer ]; then
		# shellcheck disable=SC2086
		timeout "$(slow 60)" sb-tokenize -m "$M" --batch 4 -o "@$_ep" $_wk < in.txt \
			2> w.err &
		_b=$!
		pids="$pids $_b"
		reach 30 "$_name: $_ep bound" bound "$_ep"
		# shellcheck disable=SC2086
		timeout "$(slow 60)" sb-encode -m "$M" -i ">$_ep" $_rk > out.sbf 2> r.err
		_rc=$?
		wait "$_b"
		_wc=$?
	else
		# shellcheck disable=SC2086
		timeout "$(slow 60)" sb-encode -m "$M" -i "@$_ep" $_rk > out.sbf 2> r.err &
		_b=$!
		pids="$pids $_b"
		reach 30 "$_name: $_ep bound" bound "$_ep"
		# shellcheck disable=SC2086
		timeout "$(slow 60)" sb-tokenize -m "$M" --batch 4 -o ">$_ep" $_wk < in.txt \
			2> w.err
		_wc=$?
		wait "$_b"
		_rc=$?
	fi
	is "$_name: writer and reader exit 0" "$_wc $_rc" "0 0"
	timed_out "$_name" "$_wc" "$_rc"
	if cmp -s local.sbf out.sbf; then
		ok "$_name: the local pipe's bytes"
	else
		not_ok "$_name: the local pipe's bytes"
		diag "$(cat w.err r.err)"
	fi
}

for side in reader writer; do
	for sec in plain curve; do
		for tr in tcp ipc; do
			link "$side" "$sec" "$tr"
		done
	done
done

# farm SECURITY TRANSPORT: two sb-encode workers connect to an sb-farm that binds.
farm() {
	n=$((n + 1))
	_ep=$(endpoint "$2" "f$n")
	_fk="" _wk=""
	if [ "$1" = curve ]; then
		_fk="--curve-secret farm.key --curve-allow farm.allow"
		_wk="--curve-secret worker.key --curve-server farm.pub"
	fi
	_name="farm: workers connect, $1, $2"
	_ws=
	for w in 1 2; do
		# shellcheck disable=SC2086
		sb-encode -m "$M" --worker ">$_ep" --heartbeat "$(slow 100)" $_wk 2>> workers.err &
		_ws="$_ws $!"
	done
	pids="$pids $_ws"
	# shellcheck disable=SC2086
	tok | timeout "$(slow 60)" sb-farm --bind "@$_ep" --heartbeat-ms "$(slow 100)" $_fk \
		> out.sbf 2> f.err
	_fc=$?
	# shellcheck disable=SC2086
	kill_own $_ws
	# shellcheck disable=SC2086
	wait $_ws 2> /dev/null
	is "$_name: exit 0" "$_fc" 0
	timed_out "$_name" "$_fc"
	if cmp -s local.sbf out.sbf; then
		ok "$_name: the local pipe's bytes"
	else
		not_ok "$_name: the local pipe's bytes"
		diag "$(cat f.err)"
	fi
}

for sec in plain curve; do
	for tr in tcp ipc; do
		farm "$sec" "$tr"
	done
done

# The farm between two CurveZMQ links: its input writer binds (the farm connects as a
# client), its output it binds itself (a writer as server), its workers connect.
in_ep=$(endpoint tcp) out_ep=$(endpoint tcp) f_ep=$(endpoint ipc fl)
timeout "$(slow 60)" sb-tokenize -m "$M" --batch 4 -o "@$in_ep" --curve-secret writer.key \
	--curve-allow farm.pub < in.txt 2> w.err &
t=$!
sb-encode -m "$M" --worker ">$f_ep" --heartbeat "$(slow 100)" --curve-secret worker.key \
	--curve-server farm.pub 2>> workers.err &
w=$!
pids="$pids $w"
reach 30 "farm between CurveZMQ links: $in_ep bound" bound "$in_ep"
timeout "$(slow 60)" sb-farm --bind "@$f_ep" --heartbeat-ms "$(slow 100)" \
	-i ">$in_ep" -o "@$out_ep" --curve-secret farm.key --curve-server writer.pub \
	--curve-allow farm.allow 2> f.err &
f=$!
reach 30 "farm between CurveZMQ links: $out_ep bound" bound "$out_ep"
timeout "$(slow 60)" sb-cat -F -i ">$out_ep" --curve-secret reader.key \
	--curve-server farm.pub > out.sbf 2> r.err
rc=$?
wait "$f"; fc=$?
wait "$t"; tc=$?
kill_own "$w"
wait "$w" 2> /dev/null
is "farm between CurveZMQ links: writer, farm and reader exit 0" "$tc $fc $rc" "0 0 0"
timed_out "farm between CurveZMQ links" "$tc" "$fc" "$rc"
check "farm between CurveZMQ links: the local pipe's rows and bytes" \
	cmp -s local.sbf out.sbf
[ "$rc$fc" = 00 ] || diag "$(cat w.err f.err r.err)"

# A handshake refused for a key is said on both sides, without -v, instead of two
# programs waiting in silence.  Each is stopped once it has said so.
# refused NAME BINDER-KEYS CONNECTOR-KEYS PATTERN-BINDER PATTERN-CONNECTOR
refused() {
	_ep=$(endpoint tcp)
	# shellcheck disable=SC2086
	sb-encode -m "$M" -i "@$_ep" $2 > /dev/null 2> b.err &
	_b=$!
	pids="$pids $_b"
	reach 30 "$1: $_ep bound" bound "$_ep"
	# shellcheck disable=SC2086
	sb-tokenize -m "$M" -o ">$_ep" $3 < in.txt 2> c.err &
	_c=$!
	pids="$pids $_c"
	wait_until 30 logged b.err "$4"
	like "$1: the binding side says why" "$(cat b.err)" "$4"
	wait_until 30 logged c.err "$5"
	like "$1: the connecting side says why" "$(cat c.err)" "$5"
	kill_own "$_b" "$_c"
	wait "$_b" "$_c" 2> /dev/null
}
refused "key not allowed" "--curve-secret reader.key --curve-allow writer.pub" \
	"--curve-secret rogue.key --curve-server reader.pub" \
	"sb-encode: @tcp://[0-9.:]+: refused a client whose public key is not in --curve-allow" \
	"sb-tokenize: >tcp://[0-9.:]+: the server refused this side's key"
refused "wrong server key" "--curve-secret reader.key --curve-allow writer.pub" \
	"--curve-secret writer.key --curve-server rogue.pub" \
	"sb-encode: @tcp://[0-9.:]+: a client's CurveZMQ handshake failed: its --curve-server" \
	"sb-tokenize: >tcp://[0-9.:]+: CurveZMQ handshake failed .*is --curve-server its public key"
check "the logs show no sanitizer report" \
	test -z "$(grep -E 'AddressSanitizer|LeakSanitizer|runtime error' \
		w.err r.err f.err b.err c.err workers.err)"
