# encoder.sh - what the encoder tests against a PyTorch port share (32-encode-roberta,
# 34-encode-mpnet, 35-encode-modernbert).  Sourced after tests/setup, with M (the
# models' folder), G (the family's goldens) and T (the test's scratch folder) set.

# sts_text [ROWS]: $T/s1 and $T/s2 (the STS test pairs' two columns) and $T/sts.txt,
# both columns one after the other, cut to ROWS lines (all without ROWS; 200 under
# valgrind whatever ROWS says); $T/s500.txt and $T/s16.txt its first 500 and 16 lines.
sts_text() {
	require_shared data/sts-b/sts-test.tsv
	cut -f6 "$SB_SHARED/data/sts-b/sts-test.tsv" > "$T/s1"
	cut -f7 "$SB_SHARED/data/sts-b/sts-test.tsv" > "$T/s2"
	_n=${1:-}
	[ -n "${SB_VALGRIND:-}" ] && _n=200
	if [ -n "$_n" ]; then
		cat "$T/s1" "$T/s2" | head -n "$_n" > "$T/sts.txt"
	else
		cat "$T/s1" "$T/s2" > "$T/sts.txt"
	fi
	head -n 500 "$T/sts.txt" > "$T/s500.txt"
	head -n 16 "$T/sts.txt" > "$T/s16.txt"
}

# golden NAME [ROWS]: the golden file uncompressed into $T, cut to ROWS rows.
golden() {
	if [ -n "${2:-}" ]; then
		gzip -dc "$G/$1.gz" | head -n "$2" > "$T/$1"
	else
		gzip -dc "$G/$1.gz" > "$T/$1"
	fi
	echo "$T/$1"
}

# compare DESC GOLDEN [enctool compare options] < frames: max abs <= 1e-5.
compare() {
	_d=$1 _g=$2
	shift 2
	if enctool compare --abs 1e-5 "$@" "$_g" > "$T/cmp" 2>&1; then
		ok "$_d: $(cat "$T/cmp")"
	else
		not_ok "$_d"
		diag "$(cat "$T/cmp")"
	fi
}

# pipe MODEL [sb-encode options] < text > frames: the three-program pipeline.
pipe() {
	_m=$1
	shift
	sb-tokenize -m "$M/$_m" | sb-encode -m "$M/$_m" "$@" | sb-pool -m "$M/$_m" 2> /dev/null
}
