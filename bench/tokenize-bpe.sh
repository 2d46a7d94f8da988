#!/bin/sh
# sb-tokenize against Hugging Face tokenizers on byte-level BPE files: the real Qwen3
# tokenizer.json and a RoBERTa folder built from GPT-2's BPE
# (tests/tools/tokenize-mkbpe.py).  For each: the speed of bench/tokenize.sh (STS
# sentences repeated to SIZE_MB, max length 128, ROUNDS rounds alternating A B A B,
# one thread), then the load time (warm: the file is in the page cache) of both, in
# the same run, and sb-tokenize's peak RSS with the tokenizer loaded.  sb-tokenize is
# timed without the tokenizer cache and with a warm one (sb-tokenize(1), FILES).
# usage, from a build tree:  sh SRC/bench/tokenize-bpe.sh [SIZE_MB] [ROUNDS]
# Needs ../shared (data/tokenizers, data/sts-b) and node with the Hugging Face binding.
set -eu
SIZE_MB=${1:-8}
ROUNDS=${2:-5}
SRC=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SB_SHARED:-$SRC/../shared}
SB=${SB_TOKENIZE:-./cmd/sb-tokenize}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

mkdir "$T/qwen3"
ln -s "$(cd "$SHARED/data/tokenizers/qwen3" && pwd)/tokenizer.json" "$T/qwen3/tokenizer.json"
cp "$SHARED/data/tokenizers/qwen3/tokenizer_config.json" "$T/qwen3/"
/usr/bin/python3 "$SRC/tests/tools/tokenize-mkbpe.py" "$SHARED/data/tokenizers/gpt2" "$T/roberta"
head -n 1 "$SHARED/data/sts-b/sts-test.tsv" | cut -f6 > "$T/one.txt"

for m in qwen3 roberta; do
	echo "== $m: speed, without tokenizer cache and with a warm one, in each round"
	BENCH_TOKENIZER_CACHE=both sh "$SRC/bench/tokenize.sh" "$SIZE_MB" "$ROUNDS" "$T/$m"
	echo "== $m: load time (the file in the page cache), $ROUNDS rounds A B A B"
	: > "$T/sb.load"
	: > "$T/sbc.load"
	: > "$T/hf.load"
	SB_TOKENIZER_CACHE=$T/cache "$SB" -m "$T/$m" < /dev/null > /dev/null
	i=0
	while [ $i -lt "$ROUNDS" ]; do
		SB_TOKENIZER_CACHE=0 /usr/bin/time -f '%e %M' -o "$T/t" "$SB" -m "$T/$m" \
			< /dev/null > /dev/null
		cat "$T/t" >> "$T/sb.load"
		SB_TOKENIZER_CACHE=$T/cache /usr/bin/time -f '%e %M' -o "$T/t" "$SB" -m "$T/$m" \
			< /dev/null > /dev/null
		cat "$T/t" >> "$T/sbc.load"
		RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false node \
			"$SRC/bench/tokenize-hf.js" "$T/$m" "$T/one.txt" 128 | cut -d' ' -f5,6 >> "$T/hf.load"
		i=$((i + 1))
	done
	for c in sb sbc; do
		sort -n "$T/$c.load" | awk -v c="$c" '{ t[NR] = $1; r[NR] = $2 } END {
			printf "  sb-tokenize, whole process (start, load, exit), %s: best %.3f s  median %.3f s  peak RSS %d kB\n",
				c == "sb" ? "no cache  " : "warm cache", t[1], t[int((NR + 1) / 2)], r[1] }'
	done
	sort -n "$T/hf.load" | awk '{ t[NR] = $1; r[NR] = $2 } END {
		printf "  Hugging Face, Tokenizer.fromFile() alone:      best %.3f s  median %.3f s  (node RSS after it %.0f MB)\n",
			t[1], t[int((NR + 1) / 2)], r[1] }'
done
