#!/bin/sh
# sb-tokenize against Hugging Face tokenizers on SentencePiece files: the Unigram file
# of XLM-RoBERTa's kind (Precompiled nmt_nfkc charsmap, Metaspace) and the Llama-style
# BPE with byte_fallback of tests/golden/tokenize/spm (4000 pieces each, trained on
# Debian's man-page translations).  For each, on two texts -- the STS sentences
# (English) and the man-page test lines (tests/golden/tokenize/spm/man.txt: 12
# languages, Latin, Cyrillic and CJK scripts) -- the speed of bench/tokenize.sh
# (repeated to SIZE_MB, max length 128, ROUNDS rounds alternating A B A B, one thread),
# then the load time (warm) of both in the same run and sb-tokenize's peak RSS; the
# same for a Unigram file of XLM-RoBERTa's size (250,002 pieces, bench/spm-bigvocab.py).
# usage, from a build tree:  sh SRC/bench/tokenize-spm.sh [SIZE_MB] [ROUNDS]
# Needs ../shared (data/sts-b) and node with the Hugging Face binding.
set -eu
SIZE_MB=${1:-8}
ROUNDS=${2:-5}
SRC=$(cd "$(dirname "$0")/.." && pwd)
SB=${SB_TOKENIZE:-./cmd/sb-tokenize}
G=$SRC/tests/golden/tokenize/spm
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

head -n 1 "$G/man.txt" > "$T/one.txt"
/usr/bin/python3 "$SRC/bench/spm-bigvocab.py" "$SRC" "$T/big-uni"
for m in xlmr-uni llama-bpe big-uni; do
	d=$G/$m
	[ $m = big-uni ] && d=$T/big-uni
	for text in sts man; do
		[ $m = big-uni ] && break
		echo "== $m: speed, $text text"
		if [ $text = man ]; then
			BENCH_TEXT=$G/man.txt sh "$SRC/bench/tokenize.sh" "$SIZE_MB" "$ROUNDS" "$G/$m"
		else
			sh "$SRC/bench/tokenize.sh" "$SIZE_MB" "$ROUNDS" "$G/$m"
		fi
	done
	echo "== $m: load time (warm), $ROUNDS rounds A B A B"
	: > "$T/sb.load"
	: > "$T/hf.load"
	i=0
	while [ $i -lt "$ROUNDS" ]; do
		/usr/bin/time -f '%U %M' -o "$T/t" "$SB" -m "$d" < /dev/null > /dev/null
		cat "$T/t" >> "$T/sb.load"
		RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false node \
			"$SRC/bench/tokenize-hf.js" "$d" "$T/one.txt" 128 | cut -d' ' -f5,6 >> "$T/hf.load"
		i=$((i + 1))
	done
	sort -n "$T/sb.load" | awk '{ t[NR] = $1; r[NR] = $2 } END {
		printf "  sb-tokenize, whole process (start, load, exit): best %.3f s  median %.3f s user CPU  peak RSS %d kB\n",
			t[1], t[int((NR + 1) / 2)], r[1] }'
	sort -n "$T/hf.load" | awk '{ t[NR] = $1; r[NR] = $2 } END {
		printf "  Hugging Face, Tokenizer.fromFile() alone:      best %.3f s  median %.3f s wall  (node RSS after it %.0f MB)\n",
			t[1], t[int((NR + 1) / 2)], r[1] }'
done
