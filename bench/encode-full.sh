#!/bin/sh
# encode-full.sh - sb-encode on the full-size DistilBERT (6 layers x 768, 12 heads, FFN 3072,
# the real 30522-token vocabulary; random weights from mkmodel.py, 265 MB): agreement with
# PyTorch on every STS sentence, then throughput side by side with PyTorch and ONNX Runtime,
# effective GFLOP/s against the sgemm rate, one-sentence latency, load time and peak RSS.
# Run by hand (not part of make check), from the top of the source tree:
#
#   bench/encode-full.sh [BUILDDIR]
#
# BUILDDIR holds the built programs (default: .), after `make check` (which builds
# bench/encode-bench and tests/enctool).  Environment: SHARED (default ../shared), WORK
# (default /tmp/sb-bench-encode: the model, tokens and references are kept there between
# runs), ROUNDS (default 3), THREADS (default 2), SKIP_REF=1 (no PyTorch reference run),
# SKIP_ORT=1 (no ONNX Runtime).  Needs /usr/bin/python3 with torch and numpy, node with the
# reference packages (../shared/reference/setup.sh), /usr/bin/time.
#
# The sb commands run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset, so OpenBLAS picks
# its kernel for this CPU (printed); the "haswell" line repeats the sb pipeline with the
# variables as the environment sets them (this machine forces OPENBLAS_CORETYPE=Haswell).
#
# On a machine shared with other jobs every timed command (sb, PyTorch, ONNX Runtime and
# the sgemm reference alike) runs at real-time priority, `chrt -f 1`, when the script may
# do that (root): other processes then get only the kernel's 5% real-time reserve and the
# figures are those of a quiet machine.  PRIO=0 runs them at normal priority.
set -eu

W=${WORK:-/tmp/sb-bench-encode}
. "$(dirname "$0")/lib.sh"
export PATH="$B/bench:$PATH"
need "$STS" "$REF/mkmodel.py" "$B/cmd/sb-encode" "$B/cmd/sb-tokenize" "$B/tests/enctool" \
	"$B/bench/encode-bench"
mkdir -p "$W"
realtime
unset_blas() { $prio env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$@"; }
keep_blas() { $prio "$@"; }

echo "== machine"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
echo "cpu: $cpu, $(nproc) cores, $(grep -o -m1 'avx512f' /proc/cpuinfo || echo 'no avx512f')"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (figures halve when other jobs share the machine)"
echo "environment: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}" \
     "OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset}"
if [ -n "$prio" ]; then
	echo "timed commands run under '$prio' (real-time priority)"
else
	echo "timed commands run at normal priority"
fi

echo "== model and tokens"
if [ ! -f "$M/model.safetensors" ]; then
	$PY "$REF/mkmodel.py" "$M" --arch distilbert --layers 6 --hidden 768 --heads 12 --ffn 3072
fi
ls -l "$M/model.safetensors" | awk '{ printf "weights: %s bytes\n", $5 }'
sts_text
n_sent=$(wc -l < "$W/sts.txt")
[ -f "$W/sts.jsonl" ] || node "$REF/hf_tokenize.js" "$M" "$W/sts.txt" > "$W/sts.jsonl"
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
	echo "sb-tokenize: ids differ from Hugging Face tokenizers (benchmark uses HF ids)"
	enctool frames "$W/sts.ids" > "$W/tok.sbf"
fi

echo "== agreement with PyTorch (ref_forward.py), every STS sentence"
if [ "${SKIP_REF:-0}" != 1 ]; then
	if [ ! -f "$W/mean.txt" ]; then
		$PY "$REF/ref_forward.py" "$M" "$W/sts.jsonl" "$W/ref.npz" --threads "$THREADS"
		head -n 64 "$W/sts.jsonl" > "$W/sts64.jsonl"
		$PY "$REF/ref_forward.py" "$M" "$W/sts64.jsonl" "$W/ref64.npz" --hidden
		$PY -c '
import sys
import numpy as np
z = np.load(sys.argv[1], allow_pickle=True)
with open(sys.argv[2], "w") as f:
    for r in z["mean"]:
        f.write(" ".join("%.7g" % v for v in r) + "\n")
h = np.load(sys.argv[3], allow_pickle=True)["hidden"]
toks = [len(l.split()) for l in open(sys.argv[5])][:64]
with open(sys.argv[4], "w") as f:
    for r in range(64):
        for t in range(toks[r]):
            f.write(str(r) + " " + " ".join("%.7g" % v for v in h[r][t]) + "\n")
' "$W/ref.npz" "$W/mean.txt" "$W/ref64.npz" "$W/hidden64.txt" "$W/sts.ids"
	fi
	sb-encode -m "$M" --pool mean < "$W/tok.sbf" > "$W/emb.sbf"
	echo "mean pooling: $(enctool compare "$W/mean.txt" < "$W/emb.sbf")"
	head -n 64 "$W/sts.ids" > "$W/sts64.ids"
	enctool frames "$W/sts64.ids" > "$W/tok64.sbf"
	sb-encode -m "$M" < "$W/tok64.sbf" > "$W/hidden64.sbf"
	echo "last_hidden_state: $(enctool compare --hidden "$W/hidden64.txt" < "$W/hidden64.sbf")"
fi

echo "== throughput on the $n_sent STS sentences, $THREADS threads, $ROUNDS rounds (alternating)"
if [ "${SKIP_ORT:-0}" != 1 ] && [ ! -f "$W/model.onnx" ]; then
	$PY "$REF/export_onnx.py" "$M" "$W/model.onnx" > /dev/null 2>&1 ||
		{ echo "export_onnx.py failed: no ONNX Runtime figures"; SKIP_ORT=1; }
fi
: > "$W/r.sb"; : > "$W/r.sbenc"; : > "$W/r.blas"; : > "$W/r.hw"; : > "$W/r.torch"
: > "$W/r.ort"
# PyTorch and ONNX Runtime time their loops after loading; sb's figures include start-up,
# so at least start from a warm page cache (the peers' own copies may have evicted it).
warm() { cat "$M/model.safetensors" > /dev/null; }
for r in $(seq "$ROUNDS"); do
	warm
	t0=$(now)
	unset_blas sb-tokenize -m "$M" < "$W/sts.txt" |
		unset_blas sb-encode -m "$M" -t "$THREADS" --pool mean > /dev/null
	t1=$(now)
	echo "$n_sent $t0 $t1" | awk '{ print $1 / ($3 - $2) }' >> "$W/r.sb"
	warm
	t0=$(now)
	unset_blas sb-encode -m "$M" -t "$THREADS" --pool mean < "$W/tok.sbf" > /dev/null
	t1=$(now)
	echo "$n_sent $t0 $t1" | awk '{ print $1 / ($3 - $2) }' >> "$W/r.sbenc"
	warm
	t0=$(now)
	unset_blas sb-encode -m "$M" --blas-threads "$THREADS" --pool mean < "$W/tok.sbf" \
		> /dev/null
	t1=$(now)
	echo "$n_sent $t0 $t1" | awk '{ print $1 / ($3 - $2) }' >> "$W/r.blas"
	warm
	t0=$(now)
	keep_blas sb-tokenize -m "$M" < "$W/sts.txt" |
		keep_blas sb-encode -m "$M" -t "$THREADS" --pool mean > /dev/null
	t1=$(now)
	echo "$n_sent $t0 $t1" | awk '{ print $1 / ($3 - $2) }' >> "$W/r.hw"
	keep_blas $PY "$REF/torch_bench.py" "$M" "$W/sts.jsonl" --mode st --threads "$THREADS" |
		awk '{ print $1 }' >> "$W/r.torch"
	if [ "${SKIP_ORT:-0}" != 1 ]; then
		keep_blas node "$REF/ort_bench.js" "$W/model.onnx" "$W/sts.jsonl" \
			--threads "$THREADS" --mode st | awk '{ print $1 }' >> "$W/r.ort"
	fi
	echo "round $r: sb $(tail -n 1 "$W/r.sb")  sb-encode alone $(tail -n 1 "$W/r.sbenc")" \
	     " with blas threads $(tail -n 1 "$W/r.blas")  sb haswell $(tail -n 1 "$W/r.hw")" \
	     " pytorch $(tail -n 1 "$W/r.torch")" \
	     " onnxruntime $(tail -n 1 "$W/r.ort" 2> /dev/null || echo -)"
done
sb=$(median < "$W/r.sb"); sbenc=$(median < "$W/r.sbenc"); hw=$(median < "$W/r.hw")
blas=$(median < "$W/r.blas")
torch=$(median < "$W/r.torch")
core=$(unset_blas encode-bench sgemm 64 64 64 1 | sed 's/.*blas \([^,]*\),.*/\1/')
echo "blas kernel (variables unset): $core"
printf 'sentences/s (median): sb-tokenize | sb-encode --pool mean %.1f, sb-encode alone %.1f,\n' \
	"$sb" "$sbenc"
printf '  sb-encode --blas-threads %s (one forward thread) %.1f\n' "$THREADS" "$blas"
printf '  the same with the haswell setting %.1f, pytorch (st batching) %.1f\n' "$hw" "$torch"
printf 'ratio sb / pytorch: %.2f\n' "$(echo "$sb $torch" | awk '{ print $1 / $2 }')"
if [ -s "$W/r.ort" ]; then
	ort=$(median < "$W/r.ort")
	printf 'onnxruntime (st batching) %.1f sentences/s\n' "$ort"
	printf 'ratio sb / onnxruntime: %.2f (median of per-round ratios %.2f); ' \
		"$(echo "$sb $ort" | awk '{ print $1 / $2 }')" \
		"$(paste "$W/r.sb" "$W/r.ort" | awk '{ print $1 / $2 }' | median)"
	printf 'haswell setting: %.2f\n' \
		"$(echo "$hw $ort" | awk '{ print $1 / $2 }')"
fi

echo "== efficiency"
flops=$(echo "$n_tok" | awk '{ print $1 * 6 * 2 * (4 * 768 * 768 + 2 * 768 * 3072) }')
sg=$(unset_blas encode-bench sgemm 1024 3072 768 20 | awk '{ print $2 }')
eff=$(echo "$flops $n_sent $sbenc" | awk '{ print $1 / ($2 / $3) / 1e9 }')
effp=$(echo "$flops $n_sent $sb" | awk '{ print $1 / ($2 / $3) / 1e9 }')
printf 'sgemm 1024x3072x768: %.1f GFLOP/s; sb-encode %.1f effective GFLOP/s (%.0f%%), ' \
	"$sg" "$eff" "$(echo "$eff $sg" | awk '{ print 100 * $1 / $2 }')"
printf 'whole pipeline %.1f (%.0f%%)\n' \
	"$effp" "$(echo "$effp $sg" | awk '{ print 100 * $1 / $2 }')"

echo "== latency, load time, memory"
ids=$(head -n 1 "$W/sts.ids")
unset_blas encode-bench latency "$M" "$ids" 200 "$THREADS"
if [ "${SKIP_ORT:-0}" != 1 ]; then
	for i in $(seq 200); do head -n 1 "$W/sts.jsonl"; done > "$W/one.jsonl"
	keep_blas node "$REF/ort_bench.js" "$W/model.onnx" "$W/one.jsonl" --threads "$THREADS" --batch 1 |
		awk '{ printf "onnxruntime batch of one: %.6f s per sentence\n", 1 / $1 }'
fi
unset_blas encode-bench load "$M" 5
unset_blas /usr/bin/time -v sb-encode -m "$M" -t "$THREADS" --pool mean < "$W/tok.sbf" \
	2> "$W/time.log" > /dev/null
unset_blas /usr/bin/time -v sb-encode -m "$M" -t "$THREADS" < "$W/tok.sbf" \
	2> "$W/time-hidden.log" > /dev/null
wb=$(ls -l "$M/model.safetensors" | awk '{ print $5 }')
for f in time time-hidden; do
	grep 'Maximum resident' "$W/$f.log" | awk -v wb="$wb" -v f="$f" '{
		printf "peak RSS (%s): %.1f MB; weights %.1f MB + 150 MB = %.1f MB\n",
		f == "time" ? "--pool mean" : "hidden output", $NF / 1024, wb / 1048576,
		wb / 1048576 + 150 }'
done
