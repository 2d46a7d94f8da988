#!/bin/sh
# The load of a tokenizer by sb-tokenize with and without the tokenizer cache
# (sb-tokenize(1), FILES): the whole process on empty input (start, load, exit), CPU
# time and peak RSS, ROUNDS rounds alternating A B A B: no cache, a warm cache, and
# with SB_TOKENIZE_BASE=PROGRAM (another build, e.g. main's) that program without
# cache as well.  Prints the median and best CPU time of each, the cache file's size.
# usage, from a build tree:  sh SRC/bench/tokenize-load.sh [ROUNDS] [MODEL_DIR]
# MODEL_DIR defaults to the Qwen3 tokenizer of ../shared (151,643 tokens, 151,387 merges).
set -eu
ROUNDS=${1:-21}
SRC=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SB_SHARED:-$SRC/../shared}
SB=${SB_TOKENIZE:-./cmd/sb-tokenize}
BASE=${SB_TOKENIZE_BASE:-}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

if [ -n "${2:-}" ]; then
	ln -s "$(cd "$2" && pwd)" "$T/m"
else
	mkdir "$T/m"
	ln -s "$(cd "$SHARED/data/tokenizers/qwen3" && pwd)/tokenizer.json" "$T/m/tokenizer.json"
	cp "$SHARED/data/tokenizers/qwen3/tokenizer_config.json" "$T/m/"
fi
SB_TOKENIZER_CACHE=$T/cache "$SB" -m "$T/m" < /dev/null > /dev/null       # warms the cache
echo "cache file: $(find "$T/cache" -type f -exec wc -c {} + | awk '{ print $1; exit }') bytes"

# once NAME CACHE PROGRAM: one load, "CPU_SECONDS MAXRSS_KB" appended to $T/NAME.
once() {
	SB_TOKENIZER_CACHE=$2 /usr/bin/python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.6f %d" % (r.ru_utime + r.ru_stime, r.ru_maxrss))' "$3" -m "$T/m" >> "$T/$1"
}
: > "$T/off"
: > "$T/warm"
: > "$T/base"
i=0
while [ $i -lt "$ROUNDS" ]; do
	once off 0 "$SB"
	once warm "$T/cache" "$SB"
	[ -z "$BASE" ] || once base 0 "$BASE"
	i=$((i + 1))
done
for n in off warm base; do
	[ -s "$T/$n" ] || continue
	sort -n "$T/$n" | awk -v n="$n" '{ t[NR] = $1; r[NR] = $2 } END {
		what = n == "off" ? "no cache" : n == "warm" ? "warm cache" : "base program, no cache"
		printf "  %-24s CPU median %6.1f ms  best %6.1f ms  peak RSS %d kB  (%d rounds)\n",
			what, 1000 * t[int((NR + 1) / 2)], 1000 * t[1], r[int((NR + 1) / 2)], NR }'
done
