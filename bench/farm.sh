#!/bin/sh
# farm.sh - the farm's overhead: rows per second of
#     sb-tokenize | sb-encode | sb-pool                     (the plain pipe)
# against
#     sb-tokenize | sb-farm | sb-pool  +  N sb-encode --worker on this machine
# on the same tokens, alternating ROUNDS times in the same run; prints both rates per
# round with its ratio, the best of each, and the ratio farm / pipe of the bests and
# the median of the rounds' ratios (1.00 = no overhead; the machine may be shared, so
# compare only figures of the same run).  With one
# worker both runs use the same compute, so the ratio is the farm's cost.
# Run by hand (not part of make check), from a build tree:
#
#   sh SRC/bench/farm.sh MODEL [ROWS] [ROUNDS] [WORKERS]
#
# MODEL: a model folder (e.g. a full-size one from ../shared/reference/mkmodel.py
# --layers 6 --hidden 768 --heads 12 --ffn 3072); ROWS STS sentences (default 1000),
# ROUNDS (default 3), WORKERS (default 1); THREADS=N in the environment gives sb-encode
# -t N in both runs.  Needs ../shared/data/sts-b/sts-test.tsv.
set -eu
M=$1
ROWS=${2:-1000}
ROUNDS=${3:-3}
WORKERS=${4:-1}
T_OPT=${THREADS:+-t $THREADS}
SRC=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SB_SHARED:-$SRC/../shared}
export PATH="$(pwd)/cmd:$PATH"
T=$(mktemp -d /tmp/sb-bench-farm.XXXXXX)
pids=
trap 'for p in $pids; do kill "$p" 2> /dev/null; done; rm -rf "$T"' EXIT
now() { date +%s.%N; }

cut -f6,7 "$SHARED/data/sts-b/sts-test.tsv" | tr '\t' '\n' | head -n "$ROWS" > "$T/s.txt"
sb-tokenize -m "$M" < "$T/s.txt" > "$T/tok.sbf"
ep="ipc://$T/farm"
i=0
while [ $i -lt "$WORKERS" ]; do
	sb-encode -m "$M" $T_OPT --worker ">$ep" 2> "$T/worker$i.err" &
	pids="$pids $!"
	i=$((i + 1))
done
sleep 1         # the workers load the model once, before any timed run

best_pipe=0
best_farm=0
r=1
while [ $r -le "$ROUNDS" ]; do
	t0=$(now)
	sb-encode -m "$M" $T_OPT < "$T/tok.sbf" | sb-pool -m "$M" > "$T/pipe.sbf"
	t1=$(now)
	sb-farm --bind "@$ep" < "$T/tok.sbf" | sb-pool -m "$M" > "$T/farm.sbf"
	t2=$(now)
	cmp -s "$T/pipe.sbf" "$T/farm.sbf" || { echo "farm.sh: outputs differ" >&2; exit 1; }
	p=$(echo "$ROWS $t0 $t1" | awk '{ printf "%.1f", $1 / ($3 - $2) }')
	f=$(echo "$ROWS $t1 $t2" | awk '{ printf "%.1f", $1 / ($3 - $2) }')
	q=$(echo "$f $p" | awk '{ printf "%.3f", $1 / $2 }')
	echo "$q" >> "$T/ratios"
	echo "round $r: pipe $p rows/s, farm ($WORKERS worker(s)) $f rows/s, ratio $q"
	best_pipe=$(echo "$best_pipe $p" | awk '{ print ($2 > $1) ? $2 : $1 }')
	best_farm=$(echo "$best_farm $f" | awk '{ print ($2 > $1) ? $2 : $1 }')
	r=$((r + 1))
done
echo "best: pipe $best_pipe rows/s, farm $best_farm rows/s, ratio farm/pipe" \
	"$(echo "$best_farm $best_pipe" | awk '{ printf "%.3f", $1 / $2 }');" \
	"median of the rounds' ratios $(sort -g "$T/ratios" |
	awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')"
