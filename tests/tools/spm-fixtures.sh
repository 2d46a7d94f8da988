#!/bin/sh
# Regenerates the SentencePiece fixtures of tests/14-tokenize-spm.sh: small models
# trained on the man-page translations of this machine (Debian's manpages-* packages),
# converted to Hugging Face folders as transformers does, and the conversion checked.
# usage, from the top of the source tree:   tests/tools/spm-fixtures.sh
# Needs python3-sentencepiece and python3-protobuf (Debian), and the Node binding of
# Hugging Face tokenizers (../shared/reference/setup.sh) for the check.
#
# Writes tests/golden/tokenize/spm/:
#   man.txt        every 53rd line of the man-page text (the test corpus; the other
#                  lines train the models), by tests/tools/spm-corpus.py
#   xlmr-uni/      unigram, nmt_nfkc, 4000 pieces: spm2json.py xlmr
#   xlmr-uni-fb/   the same trained with byte_fallback: spm2json.py xlmr-legacy
#   llama-bpe/     BPE with byte_fallback, Llama's options: spm2json.py llama
#   llama-meta/    the same model: spm2json.py llama-meta
#   tiny-uni/      a Unigram of 450 pieces with a charsmap of a few rules (the seed of
#                  the fuzz target tokspm): spm2json.py xlmr-legacy
# and prints how many lines of the whole man-page text SentencePiece and Hugging Face
# tokenize alike (tests/tools/spm-check.py).
set -eu
PY=/usr/bin/python3
SHARED=${SB_SHARED:-../shared}
G=tests/golden/tokenize/spm
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

$PY tests/tools/spm-corpus.py "$T/train.txt" "$G/man.txt"
$PY tests/tools/spm-train.py "$T/train.txt" "$T"
$PY tests/tools/spm2json.py xlmr "$T/unigram.model" "$G/xlmr-uni"
$PY tests/tools/spm2json.py xlmr-legacy "$T/unigram-fb.model" "$G/xlmr-uni-fb"
$PY tests/tools/spm2json.py llama "$T/bpe-fb.model" "$G/llama-bpe"
$PY tests/tools/spm2json.py llama-meta "$T/bpe-fb.model" "$G/llama-meta"
$PY tests/tools/spm2json.py xlmr-legacy "$T/tiny.model" "$G/tiny-uni"

cat "$T/train.txt" "$G/man.txt" > "$T/all.txt"
for x in xlmr:xlmr-uni:unigram xlmr-legacy:xlmr-uni-fb:unigram-fb llama:llama-bpe:bpe-fb \
	llama-meta:llama-meta:bpe-fb xlmr-legacy:tiny-uni:tiny; do
	style=${x%%:*}; rest=${x#*:}; dir=${rest%%:*}; model=${rest#*:}
	node "$SHARED/reference/hf_tokenize.js" "$G/$dir" "$T/all.txt" --max-length 1000000 \
		> "$T/hf.jsonl"
	$PY tests/tools/spm-check.py "$style" "$T/$model.model" "$T/all.txt" "$T/hf.jsonl"
done
