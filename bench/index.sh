#!/bin/sh
# index.sh - sb-index against Python's FAISS (the same library, driven from Python) and
# beside sb-cosine --corpus (exact), on random unit vectors: for each kind of index, build
# time and peak RSS, query time (loading the index + searching) and peak RSS, index file
# size, and recall@K against sb-cosine's exact rows.  Python builds its own index of the
# same kind and then reads sb-index's file with faiss.read_index to search it, so the two
# query times compare the same index.  Run by hand (not part of make check), from a
# build tree configured with FAISS:
#
#   sh SRC/bench/index.sh [BUILDDIR]
#
# Environment: WORK (default /tmp/sb-bench-index: data kept between runs), DATA (random:
# unit vectors with no neighbourhoods, the worst case; clustered: rows in 1,000 clusters
# of low dimension, all orthogonal to each other; latent: clusters near and far in a
# space of low dimension, as embeddings of real text are; see bench/search-ref.py), ROWS
# (100000), DIM (768), QUERIES (1000), K (10), THREADS (2), TRAIN (50000: the rows IVF
# and PQ train on, the first ones), KINDS (the factory strings, below), PY_NO_BUILD
# (factory strings Python only searches with, its build not timed: "HNSW32" saves the
# half hour Debian's FAISS takes to build it again on 2 busy cores).  FAISS's OpenMP
# threads wait passively (OMP_WAIT_POLICY=passive unless set): spinning threads on a
# machine busier than its cores make training many times slower, for both sides.
# Needs /usr/bin/python3 with numpy and faiss (Debian: python3-faiss), /usr/bin/time.
set -eu

B=$(cd "${1:-.}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
W=${WORK:-/tmp/sb-bench-index}
ROWS=${ROWS:-100000}
DIM=${DIM:-768}
QUERIES=${QUERIES:-1000}
K=${K:-10}
THREADS=${THREADS:-2}
TRAIN=${TRAIN:-50000}
# factory|sb-index query options|Python's parameter.  PQ64np: a PQ without polysemous
# training (FAISS's "PQ64" adds it: minutes of training that only polysemous search,
# which neither side uses, needs).
# Entries are separated by spaces: no spaces inside them (--nprobe=16, not --nprobe 16).
KINDS=${KINDS:-"Flat||- IVF1024,Flat|--nprobe=16|nprobe=16 IVF1024,PQ64np|--nprobe=16|nprobe=16 HNSW32||- HNSW32|--ef-search=128|efSearch=128"}
PY=/usr/bin/python3
REF=$SRC/bench/index-ref.py
DATA=${DATA:-random}
case "$DATA" in
random) gen=data ;;
clustered) gen=clustered ;;
latent) gen=latent ;;
*) echo "index.sh: DATA is random, clustered or latent, not '$DATA'" >&2; exit 1 ;;
esac
export PATH="$B/cmd:$PATH"
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
export OMP_WAIT_POLICY

for f in "$B/cmd/sb-index" "$B/cmd/sb-cosine" "$B/cmd/sb-cat" /usr/bin/time; do
	[ -x "$f" ] || { echo "index.sh: $f is missing" >&2; exit 1; }
done
"$PY" -c 'import numpy, faiss' || { echo "index.sh: $PY needs numpy and faiss" >&2; exit 1; }
mkdir -p "$W"

echo "== machine"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
echo "cpu: $cpu, $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
sb-index --version -v 2>&1 | grep -E '^(sb-index|kernels|openblas|faiss)'
echo "OMP_WAIT_POLICY=$OMP_WAIT_POLICY"

embeddings() {
	if [ ! -f "$W/$1.sbf" ] || [ "$(cat "$W/$1.done" 2>/dev/null)" != "$gen $2 $3 $4" ]; then
		"$PY" "$SRC/bench/search-ref.py" "$gen" "$W/$1.npy" "$2" "$3" "$4"
		sb-cat --from-npy "sentence_embedding=$W/$1.npy" -k embeddings -b 256 \
			-m normalized=1 -o "$W/$1.sbf"
		echo "$gen $2 $3 $4" > "$W/$1.done"
	fi
}
# timed OUT CMD...: runs CMD, "SECONDS RSS_KB" into OUT.
timed() {
	_o=$1
	shift
	/usr/bin/time -f '%e %M' -o "$_o" "$@"
}
mb() { echo $(($1 / 1024)); }

echo "== data: corpus $ROWS x $DIM ($DATA unit vectors), $QUERIES queries, k $K, $THREADS threads"
embeddings corpus "$ROWS" "$DIM" 1
embeddings queries "$QUERIES" "$DIM" 2

echo "== exact: sb-cosine --corpus"
timed "$W/t" sb-cosine --corpus "$W/corpus.sbf" -k "$K" -t "$THREADS" \
	< "$W/queries.sbf" > "$W/exact.tsv"
read -r s rss < "$W/t"
echo "sb-cosine --corpus: $s s, peak RSS $(mb "$rss") MB"

echo "== indexes (train on the first $TRAIN rows)"
printf '%-16s %-16s %9s %7s %9s %7s %8s %7s | %9s %9s %7s %7s\n' kind query \
	"build s" "RSS MB" "query s" "RSS MB" "file MB" recall "py build" "py query" \
	"py RSS" "py rec"
built=" ${PY_NO_BUILD:-} "
for kind in $KINDS; do
	f=${kind%%|*}
	rest=${kind#*|}
	qopt=${rest%%|*}
	param=${rest#*|}
	file="$W/$(echo "$f" | tr ',' '_').index"
	if [ ! -f "$file.done" ] || [ "$(cat "$file.done")" != "$f $TRAIN $DATA $ROWS $DIM" ]; then
		timed "$W/tb" sb-index build -o "$file" --factory "$f" --train-sample "$TRAIN" \
			-t "$THREADS" < "$W/corpus.sbf" 2> "$W/build.err"
		echo "$f $TRAIN $DATA $ROWS $DIM" > "$file.done"
		cp "$W/tb" "$file.time"
	fi
	read -r bs brss < "$file.time"
	# shellcheck disable=SC2086
	timed "$W/tq" sb-index query "$file" -k "$K" -t "$THREADS" $qopt \
		< "$W/queries.sbf" > "$W/got.tsv"
	read -r qs qrss < "$W/tq"
	rec=$("$PY" "$REF" recall "$W/exact.tsv" "$W/got.tsv")
	# Python builds each kind once (a second line of a kind only searches)
	case "$built" in
	*" $f "*) train=skip ;;
	*) train=$TRAIN ;;
	esac
	timed "$W/tp" "$PY" "$REF" faiss "$W/corpus.npy" "$W/queries.npy" "$f" "$K" "$THREADS" \
		"$train" "$param" "$W/py.tsv" "$file" > "$W/py.out" 2> "$W/py.err"
	read -r _ pb _ pq < "$W/py.out"
	read -r _ prss < "$W/tp"
	prec=$("$PY" "$REF" recall "$W/exact.tsv" "$W/py.tsv")
	built="$built $f "
	printf '%-16s %-16s %9s %7s %9s %7s %8s %7s | %9s %9s %7s %7s\n' "$f" "${qopt:--}" \
		"$bs" "$(mb "$brss")" "$qs" "$(mb "$qrss")" \
		"$(($(stat -c %s "$file") / 1048576))" "$rec" "$pb" "$pq" "$(mb "$prss")" "$prec"
done

# Latency: one query at a time on one thread (--query-batch 1 -t 1), each index kind
# with its query options; the time of loading the index (a run with one query) taken off.
echo "== latency: one query at a time, one thread (load time subtracted)"
# (made again whenever the queries were: a first query of other data would not load
# an index of this width)
if [ ! -f "$W/q1.sbf" ] || ! cmp -s "$W/queries.done" "$W/q1.done"; then
	"$PY" -c 'import numpy, sys; numpy.save(sys.argv[2], numpy.load(sys.argv[1])[:1])' \
		"$W/queries.npy" "$W/q1.npy"
	sb-cat --from-npy "sentence_embedding=$W/q1.npy" -k embeddings -m normalized=1 \
		-o "$W/q1.sbf"
	cp "$W/queries.done" "$W/q1.done"
fi
printf '%-16s %-16s %9s %12s %12s\n' kind query "load s" "ms/query" "queries/s"
for kind in $KINDS; do
	f=${kind%%|*}
	rest=${kind#*|}
	qopt=${rest%%|*}
	file="$W/$(echo "$f" | tr ',' '_').index"
	[ -f "$file" ] || continue
	# shellcheck disable=SC2086
	timed "$W/t1" sb-index query "$file" -k "$K" -t 1 $qopt < "$W/q1.sbf" > /dev/null
	# shellcheck disable=SC2086
	timed "$W/tn" sb-index query "$file" -k "$K" -t 1 --query-batch 1 $qopt \
		< "$W/queries.sbf" > /dev/null
	read -r l1 _ < "$W/t1"
	read -r ln _ < "$W/tn"
	awk -v f="$f" -v o="${qopt:--}" -v l="$l1" -v t="$ln" -v n="$QUERIES" 'BEGIN {
		s = t - l; if (s <= 0) s = 0.001
		printf "%-16s %-16s %9.2f %12.3f %12.0f\n", f, o, l, 1000 * s / (n - 1), (n - 1) / s }'
done
