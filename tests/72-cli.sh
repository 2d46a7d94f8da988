#!/bin/sh
# 72-cli.sh - the dead ends a new user hits, on every program (issue #18, items 8, 11,
# 12): a stray argument is named (exit 2); text or a .npy file given to a frame reader
# is recognised and the message says what to run first (exit 1); binary frames bound
# for a terminal are refused (exit 2) unless -o - insists; --version (and with -v the
# kernel sets, libraries and build flags) everywhere; stage errors speak in the
# program's option names, not the stages' key=value syntax; -v settings say what each
# figure is.  Terminals are given by script(1) (util-linux).
. "${SB_BUILDDIR:-.}/tests/setup"

pids=
cleanup() {
	for p in $pids; do kill "$p" 2> /dev/null; done
	wait 2> /dev/null
	rm -rf "$SB_TMP"
}
trap cleanup EXIT

require_cmd script
M=$SB_SRCDIR/tests/models/tiny-distilbert
so=$SB_BUILDDIR/tests/.libs/stage_scale.so
T=$SB_TMP
VERSION=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$SB_BUILDDIR/config.h")
PROGS="sb-cat sb-cosine sb-encode sb-farm sb-fetch sb-keygen sb-pool sb-run sb-tokenize sb-weights"
if [ -z "$VERSION" ] || [ ! -f "$so" ]; then
	echo "Bail out! PACKAGE_VERSION in $SB_BUILDDIR/config.h or $so is missing"
	exit 1
fi

plan 88

# Inputs: text, a .npy file, frames of every kind the readers below take.
printf 'hello world\nsecond line\n' > "$T/text.txt"
NPY=$SB_SRCDIR/tests/fixtures/frames/good/emb-f16.sentence_embedding.npy
sb-tokenize -m "$M" < "$T/text.txt" > "$T/tok.sbf"
printf '1\t0\n0\t1\n' > "$T/e.tsv"
sb-cat --from-tsv "$T/e.tsv" -m model=a -o "$T/a.sbf"
sb-cat --from-tsv "$T/e.tsv" -m model=b -o "$T/b.sbf"
check "inputs made" test -s "$T/tok.sbf" -a -s "$T/a.sbf" -a -s "$T/b.sbf" -a -s "$NPY"

# ---- item 8: a stray argument is named, exit 2 ----
# stray DESC ARG CMD...: CMD (which holds ARG) exits 2 naming ARG on its first line.
stray() {
	_d=$1 _a=$2; shift 2
	run "$@"
	like "stray argument: $_d: exit 2, '$_a' named" "$rc:$(printf '%s\n' "$err" | head -n 1)" \
		"^2:$1: unexpected argument '$_a'"
}
stray sb-tokenize file.txt sb-tokenize -m "$M" file.txt
stray sb-encode file.txt sb-encode -m "$M" file.txt
stray sb-pool file.txt sb-pool -p mean file.txt
stray sb-cosine file.txt sb-cosine file.txt
stray sb-farm file.txt sb-farm --bind "@ipc://$T/stray" file.txt
stray sb-fetch extra sb-fetch org/name extra
stray sb-keygen extra sb-keygen "$T/key" extra
stray sb-weights extra sb-weights list "$M" extra
stray "sb-cat --from-tsv" extra sb-cat --from-tsv "$T/e.tsv" extra
check "sb-keygen wrote nothing after a stray argument" test ! -e "$T/key.key"
run sb-run "$so" file.txt
like "stray argument: sb-run (key=value after the stage): exit 2, named" "$rc:$err" \
	"^2:sb-run: 'file\.txt': expected key=value"
run sb-tokenize -m "$M" -i "$T/text.txt" -- -o
like "stray argument after --: named too" "$rc:$(printf '%s\n' "$err" | head -n 1)" \
	"^2:sb-tokenize: unexpected argument '-o'"

# ---- item 8: text and .npy given to a frame reader ----
TEXT_HINT="looks like text, not sb frames: run sb-tokenize -m MODEL"
NPY_HINT="looks like a \.npy file, not sb frames: .*sb-cat --from-npy"
# hint DESC PATTERN CMD...: CMD exits 1 with one line on stderr matching PATTERN.
hint() {
	_d=$1 _p=$2; shift 2
	run "$@"
	_n=$(printf '%s\n' "$err" | grep -c .)
	like "$_d: exit 1, one line, the hint" "$rc:$_n:$err" "^1:1:$_p"
}
for r in "sb-encode -m $M" "sb-pool -p mean" "sb-cosine" "sb-cat" "sb-cat -c" \
	"sb-cat -F -o $T/x.sbf" "sb-cat --tsv sentence_embedding" "sb-run $so"; do
	hint "text into $r" "${r%% *}: stdin: frame 1 at byte 0: this $TEXT_HINT" \
		sh -c "$r < \"\$1\"" sh "$T/text.txt"
	hint ".npy into $r" "${r%% *}: stdin: frame 1 at byte 0: this $NPY_HINT" \
		sh -c "$r < \"\$1\"" sh "$NPY"
done
hint "text as -i FILE" "sb-pool: $T/text.txt: frame 1 at byte 0: this $TEXT_HINT" \
	sb-pool -p mean -i "$T/text.txt"
hint "text as the --corpus of sb-cosine" "sb-cosine: .*$T/text.txt: frame 1 at byte 0: this $TEXT_HINT" \
	sb-cosine --corpus "$T/text.txt" -i "$T/a.sbf"
# Text whose first bytes are MessagePack length claims (0xc4: bin8 of 132 bytes, 0xd9:
# str8), text shorter than the .npy magic, and text written one byte at a time.
printf '\304\204 ogonek\n' > "$T/t1.txt"
printf '\331\204 lam\n' > "$T/t2.txt"
printf 'hi' > "$T/t3.txt"
hint "text starting with U+0104 (bin8 to MessagePack)" ".*: this $TEXT_HINT" sb-pool -p mean -i "$T/t1.txt"
hint "text starting with U+0644 (str8 to MessagePack)" ".*: this $TEXT_HINT" sb-pool -p mean -i "$T/t2.txt"
hint "two bytes of text, no newline" ".*: this $TEXT_HINT" sb-pool -p mean -i "$T/t3.txt"
hint "text one byte per write" ".*: this $TEXT_HINT" \
	sh -c 'unixtool trickle < "$1" | sb-encode -m "$2"' sh "$T/text.txt" "$M"
# The farm reads its input when a worker asks: give it one.
farm-worker --connect ">ipc://$T/farm" --heartbeat-ms 100 --name w 2> /dev/null &
pids="$pids $!"
hint "text into sb-farm (with a worker)" "sb-farm: .*: this $TEXT_HINT" \
	timeout 120 sb-farm --bind "@ipc://$T/farm" --heartbeat-ms 100 --worker-timeout 60 \
	-i "$T/text.txt"
# Frames still pass, however they arrive.
run sh -c 'unixtool trickle < "$1" | sb-cat -c' sh "$T/a.sbf"
is "frames one byte per write: still read" "$rc" 0

# ---- item 8: binary output to a terminal ----
# tty DESC CMD: runs the shell command CMD with a terminal (script) as stdin, stdout and
# stderr; sets rc and tty (what the terminal showed).
tty() {
	timeout 120 script -qec "$1" /dev/null < /dev/null > "$T/tty" 2>&1
	rc=$?
	tty=$(tr -d '\r' < "$T/tty")
}
REFUSE="refusing to write binary .* to a terminal"
for w in "sb-tokenize -m $M" "sb-encode -m $M -i $T/tok.sbf" "sb-pool -p mean -i $T/a.sbf" \
	"sb-cosine --frames -i $T/a.sbf" "sb-run -i $T/a.sbf $so" "sb-farm --bind @ipc://$T/farm-tty" \
	"sb-cat -F $T/a.sbf" "sb-cat --from-tsv $T/e.tsv" "sb-cat --npy sentence_embedding $T/a.sbf"; do
	tty "$w"
	like "frames to a terminal: ${w%% *} refuses, exit 2" "$rc:$tty" "^2:${w%% *}: $REFUSE"
done
tty "sb-run -i $T/a.sbf -o - $so"
is "-o - writes to the terminal anyway: sb-run" "$rc" 0
tty "sb-cat -F -o - $T/a.sbf"
is "-o - writes to the terminal anyway: sb-cat -F" "$rc" 0
tty "sb-cosine -i $T/a.sbf"
like "TSV to a terminal is fine (sb-cosine)" "$rc:$tty" "^0:0	1	0\.000000"
tty "sb-cat $T/a.sbf"
is "JSON to a terminal is fine (sb-cat)" "$rc" 0

# ---- item 12: --version ----
for p in $PROGS; do
	run "$p" --version
	is "$p --version: exit 0, name and version" "$rc:$out" "0:$p $VERSION"
	run "$p" -v --version
	like "$p -v --version: kernel sets, libraries and build" "$rc:$(echo $out)" \
		"^0:$p $VERSION kernels: .*generic.* openblas: .* zeromq: [0-9]+\.[0-9]+\.[0-9]+ msgpack-c: [0-9.]+ utf8proc: [0-9.]+ build: "
done
run sb-encode --version -v
is "--version -v: the order does not matter" "$(echo "$out" | grep -c .)" \
	"$(sb-encode -v --version | grep -c .)"

# ---- item 11: messages in option names, not key=value ----
# speaks DESC OPTION KEY CMD...: CMD fails naming OPTION, and KEY (grep -E) nowhere.
speaks() {
	_d=$1 _o=$2 _k=$3; shift 3
	run "$@"
	like "$_d: names $_o" "$rc:$err" "^[12]:.*$_o"
	check "$_d: no '$_k'" test -z "$(printf '%s\n' "$err" | grep -E -- "$_k")"
}
speaks "int8 without calibration" "--calibration FILE" "calibration=" \
	sb-pool -p mean --precision int8 -i "$T/a.sbf" -o "$T/x.sbf"
speaks "--calibrate with int8" "--calibration FILE" "calibration=" \
	sb-pool -p mean --calibrate "$T/c.txt" --precision int8 -i "$T/a.sbf" -o "$T/x.sbf"
speaks "--truncate-dim 0" "--truncate-dim: must be at least 1" "truncate_dim" \
	sb-pool -p mean --truncate-dim 0 -i "$T/a.sbf" -o "$T/x.sbf"
speaks "--truncate-dim x" "--truncate-dim: expected a number" "truncate_dim" \
	sb-pool -p mean --truncate-dim x -i "$T/a.sbf" -o "$T/x.sbf"
speaks "embeddings of two models" "--allow-mixed to compare anyway" "allow_mixed" \
	sh -c 'sb-cat -F "$1" "$2" | sb-cosine' sh "$T/a.sbf" "$T/b.sbf"
check "  and --allow-mixed is said once" test "$(printf '%s\n' "$err" | grep -o -- --allow-mixed | wc -l)" = 1
speaks "--top-k without --all or --corpus" "--top-k" "top_k" sb-cosine --pairs -k 3 -i "$T/a.sbf"
run sb-run -i "$T/a.sbf" "$so" scale=abc
like "sb-run keeps the key=value spelling its user typed" "$rc:$err" "^1:sb-run: scale: 'abc'"

# ---- item 11: -v settings lines say what each figure is ----
run sb-encode -v -t 2 -m "$M" -i "$T/tok.sbf" -o "$T/x.sbf"
line=$(printf '%s\n' "$err" | grep -v ' in: ' | grep -v 'rows/s')
like "sb-encode -v: 'threads: 2'" "$line" "threads: 2"
check "sb-encode -v: no bare figure between commas" test -z "$(printf '%s\n' "$line" | grep -E ', [0-9]+,')"
like "sb-encode -v: the BLAS core and the kernel set named" "$line" "blas: .*kernels: (generic|avx2|avx512)"
