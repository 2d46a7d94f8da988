#!/bin/sh
# sb-cat on bad streams (tests/fixtures/frames/bad, written by tests/tools/mkframes.py):
# every one gets exit 1 and one line on stderr naming the input, the frame number and
# its byte offset, and nothing but the complete frames before the fault on stdout;
# in every mode (JSON, TSV, .npy, --check), from a file and from a pipe.  Length
# fields that claim gigabytes run under a memory limit.
. ./tests/setup

B=$SB_SRCDIR/tests/fixtures/frames/bad
T=$SB_TMP
if [ ! -f "$B/MANIFEST" ]; then
	echo "Bail out! $B/MANIFEST is missing"
	exit 1
fi

# The memory limit: ulimit -v where it works; under AddressSanitizer (which reserves
# terabytes of address space) its allocator limit instead.
limit=ulimit
if ldd "$SB_BUILDDIR/cmd/sb-cat" 2> /dev/null | grep -q libasan; then
	limit=asan
elif [ -n "${SB_VALGRIND:-}" ]; then
	limit=none
	diag "under valgrind: memory limits are not applied (valgrind itself needs the space)"
fi
limited() {
	case $limit in
	asan) ASAN_OPTIONS="${ASAN_OPTIONS:-}:max_allocation_size_mb=64:allocator_may_return_null=0" "$@" ;;
	ulimit) (ulimit -v 262144 && "$@") ;;
	*) "$@" ;;
	esac
}

# expect_bad DESC NAME STDOUT WORD CMD...: CMD fails as described above.
expect_bad() {
	_d=$1 _n=$2 _want=$3 _word=$4
	shift 4
	limited "$@" > "$T/out" 2> "$T/err"
	_rc=$?
	_lines=$(wc -l < "$T/err")
	_msg=$(cat "$T/err")
	_why=
	[ "$_rc" = 1 ] || _why="exit $_rc, expected 1"
	[ "$_lines" = 1 ] || _why="$_why; $_lines lines on stderr, expected 1"
	case $_msg in
	"sb-cat: "*) ;;
	*) _why="$_why; message does not start with 'sb-cat: '" ;;
	esac
	case $_n in
	empty-input) ;;
	*) printf '%s\n' "$_msg" | grep -Eq 'frame [0-9]+ at byte [0-9]+' ||
		_why="$_why; message names no frame and byte offset" ;;
	esac
	if [ -n "$_word" ]; then
		printf '%s\n' "$_msg" | grep -qF -- "$_word" || _why="$_why; message lacks '$_word'"
	fi
	if [ "$_want" = - ]; then
		[ -s "$T/out" ] && _why="$_why; output where none was expected"
	else
		cmp -s "$T/out" "$_want" || _why="$_why; output differs from $(basename "$_want")"
	fi
	if [ -z "$_why" ]; then
		ok "$_d"
	else
		not_ok "$_d"
		diag "${_why#; }" "stderr: $(head -c 600 "$T/err")"
	fi
}

count=0
while IFS='	' read -r name want word; do
	case $name in '#'* | '') continue ;; esac
	count=$((count + 1))
	f=$B/$name.sbf
	if [ "$want" = - ]; then w=- ; else w=$B/$want; fi
	expect_bad "$name: file" "$name" "$w" "$word" sb-cat "$f"
	expect_bad "$name: pipe" "$name" "$w" "$word" sh -c 'cat "$1" | sb-cat' sh "$f"
	expect_bad "$name: --check" "$name" - "$word" sb-cat -q "$f"
	# TSV of the one tensor every fixture's complete frames hold: rows, then the fault.
	case $want in
	tokens-0.jsonl)
		printf '1\t1\t1\t1\t1\t0\n1\t1\t1\t1\t1\t1\n' > "$T/want.tsv"
		expect_bad "$name: --tsv" "$name" "$T/want.tsv" "$word" sb-cat --tsv attention_mask "$f" ;;
	emb-f16-0.jsonl)
		sb-cat --tsv sentence_embedding "$B/../good/emb-f16.sbf" > "$T/want.tsv"
		expect_bad "$name: --tsv" "$name" "$T/want.tsv" "$word" sb-cat --tsv sentence_embedding "$f" ;;
	*)
		expect_bad "$name: --tsv" "$name" - "$word" sb-cat --tsv sentence_embedding "$f" ;;
	esac
	rm -f "$T/x.npy"
	case $want in
	tokens-0.jsonl) t=attention_mask ;;
	*) t=sentence_embedding ;;
	esac
	expect_bad "$name: --npy" "$name" - "$word" sb-cat --npy "$t" -o "$T/x.npy" "$f"
	check "$name: --npy leaves no partial file" test ! -e "$T/x.npy"
done < "$B/MANIFEST"
check "the manifest lists at least 45 bad streams" test "$count" -ge 45

# A frame that is fine by itself but breaks the stream's rules: --check catches it.
G=$SB_SRCDIR/tests/fixtures/frames/good
sb-cat --from-npy "$SB_SRCDIR/tests/fixtures/frames/npy/emb-f32.npy" -b 2 > "$T/s.sbf"
head -c "$(sb-cat --from-npy "$SB_SRCDIR/tests/fixtures/frames/npy/emb-f32.npy" -b 2 |
	"${PYTHON3:-/usr/bin/python3}" -c '
import sys, msgpack
u = msgpack.Unpacker(sys.stdin.buffer); u.skip(); print(u.tell())')" "$T/s.sbf" > "$T/first.sbf"
cat "$T/first.sbf" "$T/s.sbf" > "$T/dup.sbf"
run sb-cat -c "$T/dup.sbf"
like "check: a frame whose seq repeats rows is refused" "$rc:$err" \
	"^1:sb-cat: .*dup.sbf: frame 2 at byte [0-9]+: seq 0, expected 2"
# {"sb":1,"kind":"end","rows_total":9} after frames of 2 rows
{ cat "$T/first.sbf"; printf '\203\242sb\001\244kind\243end\252rows_total\011'; } > "$T/total.sbf"
run sb-cat -c "$T/total.sbf"
like "check: an end frame with the wrong rows_total is refused" "$rc:$err" \
	"^1:sb-cat: .*total.sbf: frame 2 at byte [0-9]+: end frame says 9 rows, the stream had 2$"
# The first frame of tokens.sbf, then emb-f16's frame as if it continued the stream.
"${PYTHON3:-/usr/bin/python3}" - "$G/tokens.sbf" "$G/emb-f16.sbf" "$T/mixed.sbf" <<'PY'
import sys, msgpack
t = list(msgpack.Unpacker(open(sys.argv[1], "rb"), raw=False))
e = list(msgpack.Unpacker(open(sys.argv[2], "rb"), raw=False))
e[0]["seq"] = 2
with open(sys.argv[3], "wb") as out:
    for f in (t[0], e[0], {"sb": 1, "kind": "end", "rows_total": 5}):
        out.write(msgpack.packb(f, use_bin_type=True))
PY
run sb-cat -c "$T/mixed.sbf"
like "check: a stream that changes kind is refused" "$rc:$err" \
	"^1:sb-cat: .*mixed.sbf: frame 2 at byte [0-9]+: a frame of kind embeddings in a stream of kind tokens$"
cat "$G/tokens.sbf" > "$T/ok.sbf"
run sb-cat -c "$T/ok.sbf"
is "check: a good stream passes" "$rc:$out" "0:$T/ok.sbf: 3 frames, 3 rows, complete"
run sb-cat -c "$B/no-end.sbf"
like "check: a cut stream is summarized as cut" "$rc:$out" "^1:.*no-end.sbf: 1 frames, 2 rows, cut \(no end frame\)$"

# Memory stays bounded for claims of gigabytes, also when the claim arrives slowly.
for n in claim-array32 claim-map32 claim-bin32 claim-str32 claim-inner; do
	limited sh -c 'cat "$1"; sleep 0.2' sh "$B/$n.sbf" | limited sb-cat > /dev/null 2> "$T/err"
	rc=$?
	like "$n from a slow pipe under a memory limit ($limit): exit 1, one line" \
		"$rc:$(wc -l < "$T/err"):$(cat "$T/err")" "^1:1:sb-cat: stdin: frame [0-9]+ at byte [0-9]+: .*limit"
done

plan "$sb_n"
