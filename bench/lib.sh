# lib.sh - what the encoder benchmarks (encode-full.sh, precision.sh, encode-roberta.sh,
# encode-mpnet.sh, encode-modernbert.sh) share.  Sourced after `set -eu`, with the script's own arguments
# ($1: BUILDDIR, default .) and W set to the work folder.  Sets B, SHARED, REF, ROUNDS,
# THREADS, PY, M ($W/model), STS, TOOLS (tests/tools), PATH and STAGE (empty), and defines:
#   need FILE...          stops, naming the first FILE that is missing
#   now, median, rate N T0 T1   the clock, the median of stdin's numbers, N / (T1 - T0)
#   machine               the "== machine" lines
#   realtime              prio="chrt -f 1" when that is allowed and PRIO is not 0, else ""
#   sts_text              $W/s1, $W/s2 (columns 6 and 7 of sts-test.tsv), $W/sts.txt
#   cached OUT CMD...     CMD > OUT unless OUT is there (through OUT.tmp, so that an
#                         interrupted run leaves no OUT)
#   join_rows K N < IN    rows of K consecutive lines joined, N rows at most
#   jsonl_ids JSONL       the "ids" of each line, space-separated
#   same_ids SBF JSONL    whether sb-tokenize's frames hold Hugging Face's ids
#   onnx_export NAME CMD...   $W/model.onnx by CMD $W/onnx.tmp unless SKIP_ORT=1 or there;
#                         on failure a line naming NAME, and SKIP_ORT=1
#   stage_rate N          N / the "s in the stage" of sb-encode -v's report in $W/v
# and, for the benchmarks on the STS sentences (RoBERTa, MPNet), whose scripts define
# torch_rate JSONL (PyTorch's sentences/s on those ids) and onnx_model OUT:
#   sts_tokens            $W/sts.jsonl and sb-tokenize's agreement with it
#   sts_agreement REFPY POOL   tests/tools/REFPY against sb-encode --pool POOL on 500
#                         sentences and on 20 rows of 512 tokens
#   sts_rounds POOL NAME  ROUNDS rounds of sb, sb-encode alone (with STAGE=1 its time in
#                         the stage), PyTorch (unless SKIP_TORCH=1), ONNX Runtime (on
#                         onnx_model's export; NAME is what a failed export says)
#   sts_summary POOL FMT  the medians and ratios (FMT: printf format of PyTorch's figure)
B=$(cd "${1:-.}" && pwd)
SHARED=${SHARED:-../shared}
REF=$SHARED/reference
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
PY=/usr/bin/python3
M=$W/model
STS=$SHARED/data/sts-b/sts-test.tsv
TOOLS=$(cd "$(dirname "$0")/../tests/tools" && pwd)
export PATH="$B/cmd:$B/tests:$PATH"
STAGE=

need() {
	for f in "$@"; do
		[ -e "$f" ] || { echo "${0##*/}: $f is missing" >&2; exit 1; }
	done
}
now() { date +%s.%N; }
median() {
	sort -g | awk '{ v[NR] = $1 }
		END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
rate() { echo "$1 $2 $3" | awk '{ print $1 / ($3 - $2) }'; }

machine() {
	echo "== machine"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')," \
	     "$(nproc) cores"
	echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (figures halve when other jobs share the" \
	     "machine)"
}

realtime() {
	prio=""
	if [ "${PRIO:-1}" != 0 ] && chrt -f 1 true 2> /dev/null; then
		prio="chrt -f 1"
	fi
}

sts_text() {
	cut -f6 "$STS" > "$W/s1"
	cut -f7 "$STS" > "$W/s2"
	cat "$W/s1" "$W/s2" > "$W/sts.txt"
}

cached() {
	_out=$1
	shift
	[ -f "$_out" ] || { "$@" > "$_out.tmp" && mv "$_out.tmp" "$_out"; }
}

join_rows() {
	awk -v k="$1" -v n="$2" '{ s = s " " $0 }
		NR % k == 0 { print substr(s, 2); s = ""; if (NR == k * n) exit }'
}

jsonl_ids() {
	$PY -c '
import json, sys
for l in open(sys.argv[1]):
    print(" ".join(map(str, json.loads(l)["ids"])))' "$1"
}

same_ids() {
	sb-cat --tsv input_ids --unpad < "$1" | tr '\t' ' ' > "$W/sb.ids"
	jsonl_ids "$2" > "$W/hf.ids"
	cmp -s "$W/sb.ids" "$W/hf.ids"
}

onnx_export() {
	_name=$1
	shift
	if [ "${SKIP_ORT:-0}" != 1 ] && [ ! -f "$W/model.onnx" ]; then
		{ "$@" "$W/onnx.tmp" > /dev/null 2>&1 && mv "$W/onnx.tmp" "$W/model.onnx"; } ||
			{ echo "$_name failed: no ONNX Runtime figures"; SKIP_ORT=1; }
	fi
}

stage_rate() {
	sed -n 's/.*(\([0-9.]*\) s in the stage).*/\1/p' "$W/v" | awk -v n="$1" '{ print n / $1 }'
}

sts_tokens() {
	ls -l "$M/model.safetensors" | awk '{ printf "weights: %s bytes\n", $5 }'
	sts_text
	n_sent=$(wc -l < "$W/sts.txt")
	cached "$W/sts.jsonl" node "$REF/hf_tokenize.js" "$M" "$W/sts.txt" --max-length 512
	sb-tokenize -m "$M" < "$W/sts.txt" > "$W/tok.sbf"
	if same_ids "$W/tok.sbf" "$W/sts.jsonl"; then
		n_tok=$(awk '{ n += NF } END { print n }' "$W/hf.ids")
		echo "sb-tokenize: the same ids as Hugging Face tokenizers for all $n_sent" \
		     "sentences ($n_tok tokens, mean" \
		     "$(echo "$n_tok $n_sent" | awk '{ printf "%.1f", $1 / $2 }'))"
	else
		echo "sb-tokenize: ids differ from Hugging Face tokenizers" >&2
		exit 1
	fi
}

sts_agreement() {
	echo "== agreement with the PyTorch port (tests/tools/$1)"
	[ "${SKIP_REF:-0}" != 1 ] || return 0
	# The port takes minutes on a busy machine: the first 500 sentences.
	head -n 500 "$W/sts.jsonl" > "$W/sts500.jsonl"
	cached "$W/pooled500.txt" $PY "$TOOLS/$1" "$M" "$W/sts500.jsonl"
	head -n 500 "$W/sts.txt" | sb-tokenize -m "$M" |
		sb-encode -m "$M" -t "$THREADS" --pool "$2" > "$W/emb.sbf"
	echo "500 STS sentences: $(enctool compare "$W/pooled500.txt" < "$W/emb.sbf")"
	# 20 rows of 40 STS sentences each, truncated to 512 tokens (514 positions).
	join_rows 40 20 < "$W/sts.txt" > "$W/long.txt"
	cached "$W/long.jsonl" node "$REF/hf_tokenize.js" "$M" "$W/long.txt" --max-length 512
	cached "$W/long-pooled.txt" $PY "$TOOLS/$1" "$M" "$W/long.jsonl"
	sb-tokenize -m "$M" < "$W/long.txt" | sb-encode -m "$M" -t "$THREADS" --pool "$2" \
		> "$W/long.sbf"
	echo "rows of 512 tokens: $(enctool compare "$W/long-pooled.txt" < "$W/long.sbf")"
}

sts_rounds() {
	n_sent=${N:-$n_sent}
	head -n "$n_sent" "$W/sts.txt" > "$W/bench.txt"
	head -n "$n_sent" "$W/sts.jsonl" > "$W/bench.jsonl"
	sb-tokenize -m "$M" < "$W/bench.txt" > "$W/bench.sbf"
	echo "== throughput on $n_sent STS sentences, $THREADS threads, $ROUNDS rounds" \
	     "(alternating)"
	onnx_export "$2" onnx_model
	: > "$W/r.sb"; : > "$W/r.sbenc"; : > "$W/r.stage"; : > "$W/r.torch"; : > "$W/r.ort"
	for r in $(seq "$ROUNDS"); do
		sts_round "$1"
	done
}

# sts_round POOL: one round of sts_rounds.
sts_round() {
	cat "$M/model.safetensors" > /dev/null
	t0=$(now)
	sb-tokenize -m "$M" < "$W/bench.txt" | sb-encode -m "$M" -t "$THREADS" --pool "$1" \
		> /dev/null
	t1=$(now)
	rate "$n_sent" "$t0" "$t1" >> "$W/r.sb"
	cat "$M/model.safetensors" > /dev/null
	t0=$(now)
	if [ -n "${STAGE:-}" ]; then
		sb-encode -m "$M" -t "$THREADS" --pool "$1" -v < "$W/bench.sbf" > /dev/null 2> "$W/v"
	else
		sb-encode -m "$M" -t "$THREADS" --pool "$1" < "$W/bench.sbf" > /dev/null
	fi
	t1=$(now)
	rate "$n_sent" "$t0" "$t1" >> "$W/r.sbenc"
	[ -z "${STAGE:-}" ] || stage_rate "$n_sent" >> "$W/r.stage"
	[ "${SKIP_TORCH:-0}" = 1 ] || torch_rate "$W/bench.jsonl" >> "$W/r.torch"
	[ "${SKIP_ORT:-0}" = 1 ] ||
		node "$REF/ort_bench.js" "$W/model.onnx" "$W/bench.jsonl" --threads "$THREADS" \
			--mode st | awk '{ print $1 }' >> "$W/r.ort"
	echo "round $r: sb $(tail -n 1 "$W/r.sb")  sb-encode alone $(tail -n 1 "$W/r.sbenc")" \
	     ${STAGE:+"(in stage $(tail -n 1 "$W/r.stage"))"} \
	     " pytorch $(tail -n 1 "$W/r.torch")" \
	     " onnxruntime $(tail -n 1 "$W/r.ort" 2> /dev/null || echo -)"
}

sts_summary() {
	sb=$(median < "$W/r.sb"); sbenc=$(median < "$W/r.sbenc")
	torch=- shown=-
	if [ -s "$W/r.torch" ]; then
		torch=$(median < "$W/r.torch")
		shown=$(printf "$2" "$torch")
	fi
	printf 'sentences/s (median): sb-tokenize | sb-encode --pool %s %.1f, sb-encode alone %.1f,' \
		"$1" "$sb" "$sbenc"
	printf ' pytorch %s\n' "$shown"
	[ -s "$W/r.torch" ] && printf 'ratio sb / pytorch: %.2f (per-round median %.2f)\n' \
		"$(echo "$sb $torch" | awk '{ print $1 / $2 }')" \
		"$(paste "$W/r.sb" "$W/r.torch" | awk '{ print $1 / $2 }' | median)"
	[ -s "$W/r.ort" ] || return 0
	ort=$(median < "$W/r.ort")
	printf 'onnxruntime %.1f sentences/s; ratio sb / onnxruntime: %.2f (per-round median ' \
		"$ort" "$(echo "$sb $ort" | awk '{ print $1 / $2 }')"
	printf '%.2f); sb-encode alone / onnxruntime: %.2f\n' \
		"$(paste "$W/r.sb" "$W/r.ort" | awk '{ print $1 / $2 }' | median)" \
		"$(echo "$sbenc $ort" | awk '{ print $1 / $2 }')"
	[ -n "${STAGE:-}" ] || return 0
	printf 'sb-encode in the stage (its -v time: loading left out, as the peers'"'"' loops)'
	printf ' / onnxruntime: per-round median %.2f\n' \
		"$(paste "$W/r.stage" "$W/r.ort" | awk '{ print $1 / $2 }' | median)"
}
