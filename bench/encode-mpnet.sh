#!/bin/sh
# encode-mpnet.sh - sb-encode on a full-size random all-mpnet-base-v2 shape (model_type
# mpnet, 12 layers x 768, 12 heads, FFN 3072, 514 positions, 32 relative position
# buckets, the 30527 tokens of all-mpnet-base-v2's vocabulary built from bert-base-uncased's
# by tests/tools/mkmpnet.py, mean pooling then Normalize): agreement with the PyTorch port
# (tests/tools/mpnet-ref.py) on 500 STS sentences and on 20 rows of 512 tokens, then
# throughput side by side with PyTorch and ONNX Runtime on the same weights, rounds
# alternating A B C A B C.  Run by hand (not part of make check), from the top of the
# source tree:
#
#   bench/encode-mpnet.sh [BUILDDIR]
#
# BUILDDIR holds the built programs (default: .), after `make check` (for tests/enctool).
# Environment: SHARED (default ../shared), WORK (default /tmp/sb-bench-mpnet: the model,
# tokens and references are kept there between runs), ROUNDS (default 3), THREADS
# (default 2), N (default: all 2758 STS sentences; the first N for the throughput rounds,
# as on a machine so loaded that a round takes minutes), SKIP_REF=1, SKIP_ORT=1,
# SKIP_TORCH=1.  Needs /usr/bin/python3 with torch and numpy, node with the reference
# packages (../shared/reference/setup.sh).
#
# PyTorch (tests/tools/mpnet-ref.py --bench) and ONNX Runtime (mpnet-ref.py --onnx, then
# ../shared/reference/ort_bench.js) time their loops after loading, on ids tokenized
# beforehand, batched as sentence-transformers' encode() does (sorted by length, 32 a
# batch padded to the longest), pooling and normalizing included.  sb's figures are the
# whole pipeline from text, start-up and tokenization included (sb-tokenize | sb-encode
# --pool model), and sb-encode alone on saved tokens.
set -eu

B=$(cd "${1:-.}" && pwd)
SHARED=${SHARED:-../shared}
REF=$SHARED/reference
W=${WORK:-/tmp/sb-bench-mpnet}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
PY=/usr/bin/python3
M=$W/model
STS=$SHARED/data/sts-b/sts-test.tsv
VOCAB=$SHARED/data/vocab/bert-base-uncased-vocab.txt
TOOLS=$(cd "$(dirname "$0")/../tests/tools" && pwd)
export PATH="$B/cmd:$B/tests:$PATH"

for f in "$STS" "$VOCAB" "$B/cmd/sb-encode" "$B/cmd/sb-tokenize" "$B/tests/enctool"; do
	[ -e "$f" ] || { echo "encode-mpnet.sh: $f is missing" >&2; exit 1; }
done
mkdir -p "$W"
now() { date +%s.%N; }
median() {
	sort -g | awk '{ v[NR] = $1 }
		END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
rate() { echo "$1 $2 $3" | awk '{ print $1 / ($3 - $2) }'; }

echo "== machine"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (figures halve when other jobs share the machine)"

echo "== model and tokens"
if [ ! -f "$M/model.safetensors" ]; then
	$PY "$TOOLS/mkmpnet.py" "$VOCAB" "$M" --hidden 768 --layers 12 --heads 12 --ffn 3072 \
		--max-pos 514 --buckets 32 --seed 1 > /dev/null
fi
ls -l "$M/model.safetensors" | awk '{ printf "weights: %s bytes\n", $5 }'
cut -f6 "$STS" > "$W/s1"
cut -f7 "$STS" > "$W/s2"
cat "$W/s1" "$W/s2" > "$W/sts.txt"
n_sent=$(wc -l < "$W/sts.txt")
[ -f "$W/sts.jsonl" ] ||
	{ node "$REF/hf_tokenize.js" "$M" "$W/sts.txt" --max-length 512 > "$W/sts.tmp" &&
	  mv "$W/sts.tmp" "$W/sts.jsonl"; }
$PY -c '
import json, sys
for l in open(sys.argv[1]):
    print(" ".join(map(str, json.loads(l)["ids"])))' "$W/sts.jsonl" > "$W/sts.ids"
n_tok=$(awk '{ n += NF } END { print n }' "$W/sts.ids")
sb-tokenize -m "$M" < "$W/sts.txt" > "$W/tok.sbf"
sb-cat --tsv input_ids --unpad < "$W/tok.sbf" | tr '\t' ' ' > "$W/sb.ids"
if cmp -s "$W/sb.ids" "$W/sts.ids"; then
	echo "sb-tokenize: the same ids as Hugging Face tokenizers for all $n_sent sentences" \
	     "($n_tok tokens, mean $(echo "$n_tok $n_sent" | awk '{ printf "%.1f", $1 / $2 }'))"
else
	echo "sb-tokenize: ids differ from Hugging Face tokenizers" >&2
	exit 1
fi

echo "== agreement with the PyTorch port (tests/tools/mpnet-ref.py)"
if [ "${SKIP_REF:-0}" != 1 ]; then
	# The port takes minutes on a busy machine: the first 500 sentences.
	head -n 500 "$W/sts.jsonl" > "$W/sts500.jsonl"
	[ -f "$W/pooled500.txt" ] ||
		{ $PY "$TOOLS/mpnet-ref.py" "$M" "$W/sts500.jsonl" > "$W/pooled500.txt.tmp" &&
		  mv "$W/pooled500.txt.tmp" "$W/pooled500.txt"; }
	head -n 500 "$W/sts.txt" | sb-tokenize -m "$M" |
		sb-encode -m "$M" -t "$THREADS" --pool model > "$W/emb.sbf"
	echo "500 STS sentences: $(enctool compare "$W/pooled500.txt" < "$W/emb.sbf")"
	# 20 rows of 40 STS sentences each, truncated to 512 tokens (514 positions).
	awk '{ s = s " " $0 } NR % 40 == 0 { print substr(s, 2); s = "" } NR == 800 { exit }' \
		"$W/sts.txt" > "$W/long.txt"
	[ -f "$W/long.jsonl" ] ||
		{ node "$REF/hf_tokenize.js" "$M" "$W/long.txt" --max-length 512 > "$W/long.tmp" &&
		  mv "$W/long.tmp" "$W/long.jsonl"; }
	[ -f "$W/long-pooled.txt" ] ||
		{ $PY "$TOOLS/mpnet-ref.py" "$M" "$W/long.jsonl" > "$W/long-pooled.txt.tmp" &&
		  mv "$W/long-pooled.txt.tmp" "$W/long-pooled.txt"; }
	sb-tokenize -m "$M" < "$W/long.txt" | sb-encode -m "$M" -t "$THREADS" --pool model \
		> "$W/long.sbf"
	echo "rows of 512 tokens: $(enctool compare "$W/long-pooled.txt" < "$W/long.sbf")"
fi

n_sent=${N:-$n_sent}
head -n "$n_sent" "$W/sts.txt" > "$W/bench.txt"
head -n "$n_sent" "$W/sts.jsonl" > "$W/bench.jsonl"
sb-tokenize -m "$M" < "$W/bench.txt" > "$W/bench.sbf"
echo "== throughput on $n_sent STS sentences, $THREADS threads, $ROUNDS rounds (alternating)"
if [ "${SKIP_ORT:-0}" != 1 ] && [ ! -f "$W/model.onnx" ]; then
	{ $PY "$TOOLS/mpnet-ref.py" "$M" --onnx "$W/onnx.tmp" > /dev/null 2>&1 &&
	  mv "$W/onnx.tmp" "$W/model.onnx"; } ||
		{ echo "mpnet-ref.py --onnx failed: no ONNX Runtime figures"; SKIP_ORT=1; }
fi
: > "$W/r.sb"; : > "$W/r.sbenc"; : > "$W/r.stage"; : > "$W/r.torch"; : > "$W/r.ort"
warm() { cat "$M/model.safetensors" > /dev/null; }
for r in $(seq "$ROUNDS"); do
	warm
	t0=$(now)
	sb-tokenize -m "$M" < "$W/bench.txt" | sb-encode -m "$M" -t "$THREADS" --pool model \
		> /dev/null
	t1=$(now)
	rate "$n_sent" "$t0" "$t1" >> "$W/r.sb"
	warm
	t0=$(now)
	sb-encode -m "$M" -t "$THREADS" --pool model -v < "$W/bench.sbf" > /dev/null 2> "$W/v"
	t1=$(now)
	rate "$n_sent" "$t0" "$t1" >> "$W/r.sbenc"
	sed -n 's/.*(\([0-9.]*\) s in the stage).*/\1/p' "$W/v" |
		awk -v n="$n_sent" '{ print n / $1 }' >> "$W/r.stage"
	[ "${SKIP_TORCH:-0}" = 1 ] ||
		$PY "$TOOLS/mpnet-ref.py" "$M" "$W/bench.jsonl" --bench --threads "$THREADS" |
		awk '{ print $1 }' >> "$W/r.torch"
	if [ "${SKIP_ORT:-0}" != 1 ]; then
		node "$REF/ort_bench.js" "$W/model.onnx" "$W/bench.jsonl" --threads "$THREADS" \
			--mode st | awk '{ print $1 }' >> "$W/r.ort"
	fi
	echo "round $r: sb $(tail -n 1 "$W/r.sb")  sb-encode alone $(tail -n 1 "$W/r.sbenc")" \
	     "(in stage $(tail -n 1 "$W/r.stage"))" \
	     " pytorch $(tail -n 1 "$W/r.torch")" \
	     " onnxruntime $(tail -n 1 "$W/r.ort" 2> /dev/null || echo -)"
done
sb=$(median < "$W/r.sb"); sbenc=$(median < "$W/r.sbenc")
torch=-
[ -s "$W/r.torch" ] && torch=$(median < "$W/r.torch")
printf 'sentences/s (median): sb-tokenize | sb-encode --pool model %.1f, sb-encode alone %.1f,' \
	"$sb" "$sbenc"
printf ' pytorch %s\n' "$torch"
[ -s "$W/r.torch" ] && printf 'ratio sb / pytorch: %.2f (per-round median %.2f)\n' \
	"$(echo "$sb $torch" | awk '{ print $1 / $2 }')" \
	"$(paste "$W/r.sb" "$W/r.torch" | awk '{ print $1 / $2 }' | median)"
if [ -s "$W/r.ort" ]; then
	ort=$(median < "$W/r.ort")
	printf 'onnxruntime %.1f sentences/s; ratio sb / onnxruntime: %.2f (per-round median ' \
		"$ort" "$(echo "$sb $ort" | awk '{ print $1 / $2 }')"
	printf '%.2f); sb-encode alone / onnxruntime: %.2f\n' \
		"$(paste "$W/r.sb" "$W/r.ort" | awk '{ print $1 / $2 }' | median)" \
		"$(echo "$sbenc $ort" | awk '{ print $1 / $2 }')"
	printf 'sb-encode in the stage (its -v time: loading left out, as the peers'"'"' loops)'
	printf ' / onnxruntime: per-round median %.2f\n' \
		"$(paste "$W/r.stage" "$W/r.ort" | awk '{ print $1 / $2 }' | median)"
fi
