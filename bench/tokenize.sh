#!/bin/sh
# sb-tokenize against Hugging Face tokenizers (its Node binding, one thread) on the
# STS benchmark sentences repeated to about SIZE_MB megabytes, in the same run,
# alternating ROUNDS times; prints MB/s of text for both and the ratio (best round
# of each, and the median), by wall time and by CPU time (the machine is shared:
# CPU time is the steadier figure when other jobs run).
# usage, from a build tree:  sh SRC/bench/tokenize.sh [SIZE_MB] [ROUNDS] [MODEL_DIR]
# MODEL_DIR defaults to a DistilBERT folder (WordPiece, bert-base-uncased's vocabulary)
# made by ../shared/reference/mkmodel.py; bench/tokenize-bpe.sh passes byte-level BPE
# folders.  Needs ../shared (data, reference/mkmodel.py) and node with the Hugging Face
# binding (../shared/reference/setup.sh).  sb-tokenize is timed end to end (process
# start, model loading, reading, tokenizing, writing frames to /dev/null); the
# Hugging Face figure is its encoding loop alone.  BENCH_TEXT=FILE repeats the lines
# of FILE instead of the STS sentences.  BENCH_TOKENIZER_CACHE=warm times sb-tokenize
# with a tokenizer cache (sb-tokenize(1), FILES) filled by a first run; the default,
# off, without one (the load parses the files each time); both, each round both ways.
set -eu
SIZE_MB=${1:-8}
ROUNDS=${2:-5}
MODEL=${3:-}
SRC=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SB_SHARED:-$SRC/../shared}
SB=${SB_TOKENIZE:-./cmd/sb-tokenize}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

if [ -n "$MODEL" ]; then
	ln -s "$(cd "$MODEL" && pwd)" "$T/m"
else
	/usr/bin/python3 "$SHARED/reference/mkmodel.py" "$T/m" --arch distilbert > /dev/null
fi
if [ -n "${BENCH_TEXT:-}" ]; then
	cp "$BENCH_TEXT" "$T/sts.txt"
else
	cut -f6,7 "$SHARED/data/sts-b/sts-test.tsv" | tr '\t' '\n' > "$T/sts.txt"
fi
: > "$T/in.txt"
while [ "$(wc -c < "$T/in.txt")" -lt $((SIZE_MB * 1000000)) ]; do
	cat "$T/sts.txt" >> "$T/in.txt"
done
case ${BENCH_TOKENIZER_CACHE:-off} in
off|warm)	MODES=${BENCH_TOKENIZER_CACHE:-off} ;;
both)		MODES="off warm" ;;
*)		echo "BENCH_TOKENIZER_CACHE: off, warm or both" >&2; exit 2 ;;
esac
SB_TOKENIZER_CACHE=$T/cache "$SB" -m "$T/m" < /dev/null > /dev/null
echo "tokenizer cache: $MODES"
BYTES=$(wc -c < "$T/in.txt")
LINES=$(wc -l < "$T/in.txt")
echo "input: $LINES lines, $BYTES bytes (${BENCH_TEXT:-STS sentences} repeated)"

# Each round: "WALL CPU" seconds for each, one line each.
: > "$T/hf.times"
for c in $MODES; do : > "$T/sb-$c.times"; done
i=0
while [ $i -lt "$ROUNDS" ]; do
	for c in $MODES; do
		[ "$c" = off ] && SB_TOKENIZER_CACHE=0 || SB_TOKENIZER_CACHE=$T/cache
		export SB_TOKENIZER_CACHE
		# The child's wall and CPU time to the microsecond (GNU time prints
		# hundredths, a tenth of sb's time on 4 MB).
		/usr/bin/python3 -c 'import resource, subprocess, sys, time
t = time.monotonic()
subprocess.run(sys.argv[1:-1], stdin=open(sys.argv[-1]), stdout=subprocess.DEVNULL, check=True)
w = time.monotonic() - t
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.6f %.6f" % (w, r.ru_utime + r.ru_stime))' "$SB" -m "$T/m" -l 128 "$T/in.txt" \
			>> "$T/sb-$c.times"
	done
	RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false node "$SRC/bench/tokenize-hf.js" \
		"$T/m" "$T/in.txt" 128 | cut -d' ' -f1,2 >> "$T/hf.times"
	i=$((i + 1))
done
# report COLUMN NAME MODE: best and median MB/s of both, and the ratios.
report() {
	awk -v b="$BYTES" -v c="$1" -v what="$2, tokenizer cache $3" -v sbf="$T/sb-$3.times" \
	    -v hff="$T/hf.times" '
	function sort(a, n,   i, j, t) {
		for (i = 0; i < n; i++)
			for (j = i + 1; j < n; j++)
				if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	}
	BEGIN {
		n = 0; while ((getline x < sbf) > 0) { split(x, f, " "); s[n++] = f[c] + 1e-6 }
		m = 0; while ((getline x < hff) > 0) { split(x, f, " "); h[m++] = f[c] + 1e-6 }
		sort(s, n); sort(h, m)
		mb = b / 1e6
		printf "%s:\n", what
		printf "  sb-tokenize             best %8.2f MB/s  median %8.2f MB/s  (%d rounds)\n", mb / s[0], mb / s[int(n / 2)], n
		printf "  Hugging Face (1 thread) best %8.2f MB/s  median %8.2f MB/s\n", mb / h[0], mb / h[int(m / 2)]
		printf "  ratio sb / Hugging Face best %.1fx  median %.1fx\n", h[0] / s[0], h[int(m / 2)] / s[int(n / 2)]
	}'
}
for c in $MODES; do
	report 1 "wall time" "$c"
	report 2 "CPU time" "$c"
done
