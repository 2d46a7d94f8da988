#!/bin/sh
# search.sh - exact top-k search: sb-cosine --corpus (blocked float32 products, exact
# double rescoring) against FAISS IndexFlatIP (add + search, timed inside Python), on
# random unit vectors, alternating ROUNDS times in the same run (A B A B).  Prints each
# round's times and ratio, peak RSS, the number of pairs sb scored again in double, and
# checks sb's top-k against a float64 brute force (ids and order, scores within 1e-6).
# Run by hand (not part of make check), from a build tree:
#
#   sh SRC/bench/search.sh [BUILDDIR]
#
# Environment: WORK (default /tmp/sb-bench-search: data kept between runs), ROWS (100000),
# DIM (768), QUERIES (1000), K (10), THREADS (2), ROUNDS (3); ALL=N adds `--all -k K` on
# the first N corpus rows against FAISS self-search (self match dropped); BIG=1 adds a
# corpus of 1M x 384 streamed from disk (time and RSS; 1.5 GB of files); EXACT=1 times
# `--exact` once.  Needs /usr/bin/python3 with numpy and faiss (Debian: python3-faiss),
# /usr/bin/time.  Timed commands run at real-time priority (`chrt -f 1`) when allowed,
# as bench/encode-full.sh does, so that other jobs on the machine do not skew the ratio;
# PRIO=0 turns that off.
set -eu

B=$(cd "${1:-.}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
W=${WORK:-/tmp/sb-bench-search}
ROWS=${ROWS:-100000}
DIM=${DIM:-768}
QUERIES=${QUERIES:-1000}
K=${K:-10}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
PY=/usr/bin/python3
REF=$SRC/bench/search-ref.py
export PATH="$B/cmd:$PATH"

for f in "$B/cmd/sb-cosine" "$B/cmd/sb-cat" /usr/bin/time; do
	[ -x "$f" ] || { echo "search.sh: $f is missing" >&2; exit 1; }
done
"$PY" -c 'import numpy, faiss' || { echo "search.sh: $PY needs numpy and faiss" >&2; exit 1; }
prio=""
if [ "${PRIO:-1}" != 0 ] && chrt -f 1 true 2> /dev/null; then
	prio="chrt -f 1"
fi
mkdir -p "$W"

echo "== machine"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
echo "cpu: $cpu, $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
sb-cosine --version -v 2>&1 | grep -E '^(kernels|openblas):'
echo "timed commands: ${prio:-normal priority}"

# embeddings NAME ROWS DIM SEED: NAME.npy and NAME.sbf (frames of 256 rows).
embeddings() {
	if [ ! -f "$W/$1.sbf" ]; then
		"$PY" "$REF" data "$W/$1.npy" "$2" "$3" "$4"
		sb-cat --from-npy "sentence_embedding=$W/$1.npy" -k embeddings -b 256 \
			-m normalized=1 -o "$W/$1.sbf"
	fi
}
# timed OUT CMD...: runs CMD, prints "SECONDS RSS_KB" into OUT.
timed() {
	_o=$1
	shift
	$prio /usr/bin/time -f '%e %M' -o "$_o" "$@"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
median() {
	sort -g | awk '{ v[NR] = $1 }
		END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "== data: corpus $ROWS x $DIM, $QUERIES queries, k $K, $THREADS threads"
embeddings corpus "$ROWS" "$DIM" 1
embeddings queries "$QUERIES" "$DIM" 2

echo "== exact search: sb-cosine --corpus against FAISS IndexFlatIP (add + search)"
: > "$W/ratios"
r=1
while [ "$r" -le "$ROUNDS" ]; do
	timed "$W/t.sb" sb-cosine --corpus "$W/corpus.sbf" -k "$K" -t "$THREADS" -v \
		< "$W/queries.sbf" > "$W/sb.tsv" 2> "$W/sb.err"
	fa=$($prio "$PY" "$REF" faiss "$W/corpus.npy" "$W/queries.npy" "$K" "$THREADS" |
		awk '{ print $2 }')
	read -r sb rss < "$W/t.sb"
	echo "round $r: sb-cosine $sb s (peak RSS $((rss / 1024)) MB), faiss $fa s:" \
		"faiss / sb = $(ratio "$fa" "$sb")"
	ratio "$fa" "$sb" >> "$W/ratios"
	echo >> "$W/ratios"
	r=$((r + 1))
done
echo "median faiss / sb: $(median < "$W/ratios")"
grep -o 'rescored [0-9]* pairs[^;]*' "$W/sb.err" || true
"$PY" "$REF" check "$W/corpus.npy" "$W/queries.npy" "$K" "$W/sb.tsv"

if [ "${EXACT:-0}" = 1 ]; then
	timed "$W/t.ex" sb-cosine --exact --corpus "$W/corpus.sbf" -k "$K" \
		< "$W/queries.sbf" > "$W/ex.tsv"
	read -r ex rss < "$W/t.ex"
	cmp -s "$W/ex.tsv" "$W/sb.tsv" && same=identical || same=DIFFERENT
	echo "--exact: $ex s (output $same), $(ratio "$ex" "$sb") x the blocked search's time"
fi

if [ "${ALL:-0}" != 0 ]; then
	echo "== --all -k $K on $ALL rows against FAISS self-search (self match dropped)"
	embeddings all "$ALL" "$DIM" 3
	timed "$W/t.all" sb-cosine --all -k "$K" -t "$THREADS" < "$W/all.sbf" > "$W/all.tsv"
	fa=$($prio "$PY" "$REF" faiss "$W/all.npy" - "$K" "$THREADS" self | awk '{ print $2 }')
	read -r sb rss < "$W/t.all"
	echo "sb-cosine --all $sb s (peak RSS $((rss / 1024)) MB), faiss $fa s:" \
		"faiss / sb = $(ratio "$fa" "$sb")"
	"$PY" "$REF" check "$W/all.npy" - "$K" "$W/all.tsv" self
fi

if [ "${BIG:-0}" = 1 ]; then
	echo "== 1M x 384 streamed from disk, $QUERIES queries"
	embeddings big 1000000 384 4
	embeddings bigq "$QUERIES" 384 5
	timed "$W/t.big" sb-cosine --corpus "$W/big.sbf" -k "$K" -t "$THREADS" \
		< "$W/bigq.sbf" > "$W/big.tsv"
	read -r sb rss < "$W/t.big"
	echo "sb-cosine --corpus (1M x 384): $sb s, peak RSS $((rss / 1024)) MB"
fi
