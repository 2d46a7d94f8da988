#!/bin/sh
# sb-cosine's blocked search (lib/search.h) and double-product matrix (lib/scores.h)
# against the pair-by-pair path (--exact): the same bytes out, TSV and frames, on
# adversarial data (tests/tools/search-data.awk: exact ties, scaled rows, near ties
# float32 cannot resolve, zero vectors), for --corpus, --all -k, --mine and --matrix, with
# blocks and query batches that do not divide the row counts, k larger than the corpus, a
# corpus of one row, several threads, int8 and uint8, on sb's packed kernel (AVX-512
# CPUs) and on OpenBLAS (--kernels generic).
. ./tests/setup

T=$SB_TMP
GEN=$SB_SRCDIR/tests/tools/search-data.awk
plan 65

# data NAME ROWS DIM SEED [KIND [DTYPE]]: $T/NAME.sbf in frames of 5 rows, with texts.
data() {
	awk -v rows="$2" -v dim="$3" -v seed="$4" -v kind="${5:-float}" -f "$GEN" > "$T/$1.txt" &&
		pooldump emb "$T/$1.txt" --split 5 --text --dtype "${6:-float32}" > "$T/$1.sbf"
}
data a13 333 13 7
data a768 120 768 11
data q13 41 13 99
data i8 150 24 5 int8 int8
data u8 150 24 6 uint8 uint8
data one 1 13 3

# same DESC INPUT ARGS...: sb-cosine ARGS < INPUT prints the same TSV and writes the same
# frames with and without --exact.
same() {
	_d=$1 _in=$2
	shift 2
	if sb-cosine --exact "$@" < "$_in" > "$T/want" 2> "$T/err" &&
		sb-cosine "$@" < "$_in" > "$T/got" 2>> "$T/err" &&
		sb-cosine --exact --frames "$@" < "$_in" > "$T/wantf" 2>> "$T/err" &&
		sb-cosine --frames "$@" < "$_in" > "$T/gotf" 2>> "$T/err" &&
		[ -s "$T/want" ] && cmp -s "$T/want" "$T/got" && cmp -s "$T/wantf" "$T/gotf"; then
		ok "$_d ($(wc -l < "$T/got") lines)"
	else
		not_ok "$_d"
		diag "$(cat "$T/err"; cmp "$T/want" "$T/got"; diff "$T/want" "$T/got" | head -4)"
	fi
}

for m in cosine dot euclidean; do
	same "$m: --corpus, 13 dims, blocks of 7, batches of 10, 2 threads" "$T/a13.sbf" \
		--corpus "$T/a13.sbf" -k 5 --metric $m --block-rows 7 --query-batch 10 -t 2
	same "$m: --corpus, other queries, one block per frame" "$T/q13.sbf" \
		--corpus "$T/a13.sbf" -k 3 --metric $m --block-rows 5 -t 1
	same "$m: --corpus, 768 dims, default blocks, 3 threads" "$T/a768.sbf" \
		--corpus "$T/a768.sbf" -k 10 --metric $m -t 3
	same "$m: --corpus, k larger than the corpus" "$T/q13.sbf" \
		--corpus "$T/a13.sbf" -k 1000 --metric $m --block-rows 64
	same "$m: --corpus of one row" "$T/q13.sbf" --corpus "$T/one.sbf" -k 4 --metric $m
	same "$m: one query row" "$T/one.sbf" --corpus "$T/a13.sbf" -k 4 --metric $m
	same "$m: --all -k 3, blocks of 7, batches of 9, 3 threads" "$T/a13.sbf" \
		--all -k 3 --metric $m --block-rows 7 --query-batch 9 -t 3
	same "$m: --all -k 2, 768 dims" "$T/a768.sbf" --all -k 2 --metric $m --block-rows 50
	same "$m: --mine -k 4, blocks of 7" "$T/a13.sbf" --mine -k 4 --metric $m \
		--block-rows 7 --query-batch 16 -t 2
	same "$m: --mine, 768 dims" "$T/a768.sbf" --mine -k 6 --metric $m
	same "$m: --all -k larger than the rows" "$T/q13.sbf" --all -k 100 --metric $m
	same "$m: --corpus through OpenBLAS (--kernels generic)" "$T/a13.sbf" \
		--corpus "$T/a13.sbf" -k 5 --metric $m --block-rows 7 --query-batch 10 -t 2 \
		--kernels generic
	same "$m: --mine through OpenBLAS, 768 dims" "$T/a768.sbf" --mine -k 3 --metric $m \
		--kernels generic
	same "$m: --matrix (double product)" "$T/a13.sbf" --matrix --metric $m
	same "$m: --matrix, 768 dims" "$T/a768.sbf" --matrix --metric $m
done
for m in cosine dot euclidean; do
	same "$m: int8 --corpus" "$T/i8.sbf" --corpus "$T/i8.sbf" -k 6 --metric $m \
		--block-rows 16 -t 2
	same "$m: uint8 --mine" "$T/u8.sbf" --mine -k 3 --metric $m --block-rows 16
done
same "int8 --matrix" "$T/i8.sbf" --matrix --metric euclidean
same "--corpus --threshold" "$T/a13.sbf" --corpus "$T/a13.sbf" -k 5 --threshold 0.5 \
	--block-rows 7
same "--all -k --threshold" "$T/a13.sbf" --all -k 5 --threshold 0.5 --block-rows 7
same "manhattan stays on the pair-by-pair path" "$T/a13.sbf" --corpus "$T/a13.sbf" -k 5 \
	--metric manhattan

# Near ties decide: a query that is one of the perturbed rows finds itself first.
sb-cosine --corpus "$T/a13.sbf" -k 1 --metric euclidean -t 2 < "$T/a13.sbf" 2> /dev/null |
	awk -F '\t' 'NR % 8 == 6 || NR % 8 == 7 { if ($1 != $2) bad = 1; n++ } END { exit bad || !n }'
is "near ties: each perturbed row is its own nearest row (euclidean)" "$?" 0

# Zero vectors: counted once per scan, as before.
sb-cosine --corpus "$T/a13.sbf" -k 1 < "$T/one.sbf" > /dev/null 2> "$T/err"
sb-cosine --exact --corpus "$T/a13.sbf" -k 1 < "$T/one.sbf" > /dev/null 2> "$T/err2"
is "the zero-vector warning is the same" "$(cat "$T/err")" "$(cat "$T/err2")"

# Options.
sb-cosine --corpus "$T/a13.sbf" -t 0 < "$T/one.sbf" > /dev/null 2> "$T/err"
like "-t 0 is refused" "$? $(cat "$T/err")" "^[12] .*threads"
sb-cosine --corpus "$T/a13.sbf" --block-rows x < "$T/one.sbf" > /dev/null 2> "$T/err"
like "--block-rows x is refused" "$? $(cat "$T/err")" "^[12] .*block"

# A corpus file that breaks the stream's rules is refused with the stream reader's
# message, naming the file, and nothing is written.
n=$(wc -c < "$T/a13.sbf")
head -c $((n - 3)) "$T/a13.sbf" > "$T/cut.sbf"
sb-cosine --corpus "$T/cut.sbf" -k 1 < "$T/one.sbf" > "$T/out" 2> "$T/err"
like "a corpus cut inside its end frame: exit 1, the file and frame named" "$? $(cat "$T/err")" \
	"^1 sb-cosine: corpus: [^ ]*/cut.sbf: frame [0-9]+ at byte [0-9]+: stream ends inside the frame"
check "a cut corpus: nothing written" test ! -s "$T/out"
: > "$T/empty.sbf"
sb-cosine --corpus "$T/empty.sbf" -k 1 < "$T/one.sbf" > "$T/out" 2> "$T/err"
like "an empty corpus file: exit 1, said so" "$? $(cat "$T/err")" \
	"^1 sb-cosine: corpus: [^ ]*/empty.sbf: empty input: ended without an end frame"
check "an empty corpus file: nothing written" test ! -s "$T/out"

# The corpus is the stage's second input, opened by the runner with the run's transport
# options: --max-msg-bytes bounds its frames as it bounds the first input's.
sb-cosine --corpus "$T/a768.sbf" -k 1 --max-msg-bytes 2000 < "$T/one.sbf" > "$T/out" 2> "$T/err"
like "--max-msg-bytes applies to the corpus: exit 1, the corpus named" "$? $(cat "$T/err")" \
	"^1 sb-cosine: corpus: [^ ]*/a768.sbf: frame 1 at byte 0: .*over the limit of 2000 bytes"
sb-cosine --corpus "$T/a13.sbf" -k 1 --max-msg-bytes 2000 < "$T/one.sbf" > "$T/out" 2> "$T/err"
is "a corpus within --max-msg-bytes is read" "$? $(wc -l < "$T/out")" "0 1"
