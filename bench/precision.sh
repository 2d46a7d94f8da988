#!/bin/sh
# precision.sh - sb-encode --precision bf16 and int8 against float32 (issue #17): accuracy
# of the pooled embeddings on the 2758 STS sentences for the full-size random DistilBERT and
# three other shapes, throughput in the same run (rounds alternating f32, bf16, int8,
# 2 threads) on the STS sentences and on 417-token documents, the kernels' own rates (each
# kernel set, and the peak of the kernels auto takes, AMX where the cpu has it, with the
# weights in cache) against which the whole pass's effective rate is given, load time and
# peak RSS per precision.  Run by hand from the top of the source tree:
#
#   bench/precision.sh [BUILDDIR]
#
# BUILDDIR holds the built programs (default: .), with tests/enctool and bench/encode-bench
# built (make check builds them); build without sanitizers for meaningful speeds.
# Environment: SHARED (default ../shared), WORK (default /tmp/sb-bench-precision: models
# and tokens are kept between runs), ROUNDS (default 3), THREADS (default 2), SHAPES=0
# (only the full-size DistilBERT), PRIO=0 (normal priority; default: `chrt -f 1` when
# allowed, as bench/encode-full.sh does), PEERS=0 (no PyTorch runs; bench/torch-quant.py),
# PEER_ROUNDS (default 1).  ONNX Runtime float32 on the same model: bench/encode-full.sh.
set -eu

W=${WORK:-/tmp/sb-bench-precision}
. "$(dirname "$0")/lib.sh"
export PATH="$B/bench:$PATH"
need "$STS" "$REF/mkmodel.py" "$B/cmd/sb-encode" "$B/tests/enctool" "$B/bench/encode-bench"
mkdir -p "$W"
realtime
# OpenBLAS 0.3.21 does not know every AVX-512 CPU (family 6 model 207 falls back to its
# SSE3 "Prescott" kernels); attention's products go through it in every precision, so such
# a CPU gets the Cooperlake kernels.  OPENBLAS_CORETYPE set by the caller is kept.
core=${OPENBLAS_CORETYPE:-}
if [ -z "$core" ] && grep -q -m1 avx512f /proc/cpuinfo &&
	"$B/bench/encode-bench" sgemm 8 8 8 1 | grep -q 'blas Prescott'; then
	core=Cooperlake
fi
run() {
	if [ -n "$core" ]; then
		$prio env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE="$core" "$@"
	else
		$prio env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$@"
	fi
}

echo "== machine"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores;" \
     "$(grep -m1 '^flags' /proc/cpuinfo | grep -o -w 'avx512_bf16\|avx512_vnni\|avx_vnni\|amx_tile\|amx_bf16\|amx_int8' | tr '\n' ' ')"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg); timed commands ${prio:+under '$prio'};" \
     "OpenBLAS core $(run encode-bench sgemm 8 8 8 1 | sed 's/.*blas \([^,]*\),.*/\1/')"

# ---- models: NAME ARCH LAYERS HIDDEN HEADS FFN ----
shapes="distilbert-base distilbert 6 768 12 3072"
if [ "${SHAPES:-1}" != 0 ]; then
	shapes="$shapes
minilm-l6 bert 6 384 12 1536
minilm-l12 bert 12 384 12 1536
bert-base bert 12 768 12 3072"
fi
echo "$shapes" | while read -r name arch l h n f; do
	[ -f "$W/$name/model.safetensors" ] ||
		$PY "$REF/mkmodel.py" "$W/$name" --arch "$arch" --layers "$l" --hidden "$h" \
			--heads "$n" --ffn "$f" > /dev/null
done
M=$W/distilbert-base

echo "== tokens"
sts_text
cut -f5 "$STS" > "$W/gold"
n_sent=$(wc -l < "$W/sts.txt")
sb-tokenize -m "$M" < "$W/sts.txt" > "$W/tok.sbf"
sb-cat --tsv input_ids --unpad < "$W/tok.sbf" | tr '\t' ' ' > "$W/sts.ids"
# 417-token documents: the STS sentences' tokens run together, 415 per document.
awk '{ for (i = 2; i < NF; i++) t[n++] = $i }
	END { for (d = 0; d + 415 <= n; d += 415) { printf "101"
		for (i = d; i < d + 415; i++) printf " %s", t[i]; print " 102" } }' \
	"$W/sts.ids" > "$W/docs.ids"
enctool frames "$W/docs.ids" > "$W/docs.sbf"
n_doc=$(wc -l < "$W/docs.ids")
n_tok=$(awk '{ n += NF } END { print n }' "$W/sts.ids")
echo "$n_sent STS sentences ($n_tok tokens), $n_doc documents of 417 tokens"

echo "== accuracy: pooled (mean) embeddings against float32 sb, every STS sentence"
echo "(sb float32 matches PyTorch to cosine 1.00000000 on these models: bench/encode-full.sh)"
echo "$shapes" | while read -r name arch l h n f; do
	for p in f32 bf16 int8; do
		run sb-encode -m "$W/$name" -t "$THREADS" --precision $p --pool mean \
			< "$W/tok.sbf" > "$W/emb-$p.sbf"
		sb-cat --npy sentence_embedding -o "$W/emb-$p.npy" < "$W/emb-$p.sbf"
	done
	$PY - "$W" "$name" "$n_sent" << 'PYEOF'
import sys
import numpy as np
w, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
e = {p: np.load(f"{w}/emb-{p}.npy").astype(np.float64) for p in ("f32", "bf16", "int8")}
gold = np.array([float(x) for x in open(f"{w}/gold")])
def rank(v):
    r = np.empty(len(v)); r[np.argsort(v, kind="stable")] = np.arange(len(v)); return r
def spearman(a, b):
    return np.corrcoef(rank(a), rank(b))[0, 1]
def sts(x):
    a, b = x[: n // 2], x[n // 2 :]
    return spearman((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1), gold)
s32 = sts(e["f32"])
for p in ("bf16", "int8"):
    c = (e[p] * e["f32"]).sum(1) / np.linalg.norm(e[p], axis=1) / np.linalg.norm(e["f32"], axis=1)
    print(f"{name} {p}: cosine with f32 min {c.min():.6f}, 1st percentile "
          f"{np.percentile(c, 1):.6f}, median {np.median(c):.7f}; STS Spearman "
          f"{sts(e[p]):.4f} (f32 {s32:.4f}, change {sts(e[p]) - s32:+.4f})")
PYEOF
done

echo "== kernels alone, one thread ([225 x 768] x [3072 x 768]^T, weights from memory)"
run encode-bench packed 225 3072 768 20
for kp in "avx512 bf16-split" "avx512 bf16" "avx512_bf16 bf16-split" "avx512_bf16 bf16" \
	"avx512_vnni int8" "amx bf16-split" "amx bf16" "amx int8"; do
	set -- $kp
	SB_LOWP_KERNELS=$1 run encode-bench lowp $2 225 3072 768 20 2>&1 || true
done
# A sub-batch of four 417-token documents (1668 rows, Q|K|V): the AMX kernels' chunks of
# rows at work.
echo "== AMX bf16 on a sub-batch of four documents, one thread ([1668 x 768] x [2304 x 768]^T)"
for k in bf16-split bf16; do
	SB_LOWP_KERNELS=amx run encode-bench lowp $k 1668 2304 768 5 2>&1 || true
done
# The peak: the kernels auto takes, weights in cache ([512 x 768] x [64 x 768]^T, eight
# sets of weights: 0.8 MB in bf16), one thread; times the threads for the whole pass.
# Each precision's peak is that of its recipe: bf16 splits the inputs of Q|K|V and of the
# output projection (4 d^2 operations per token and layer) and rounds the feed-forward's
# once (2 d f); int8 runs Q|K|V and the output projection in plain bf16 and the
# feed-forward in int8.
echo "== peak of the kernels auto takes, one thread, weights in cache ([512 x 768] x [64 x 768]^T)"
run encode-bench packed 512 64 768 200 | tee "$W/peak.f32"
for k in bf16-split bf16 int8; do
	run encode-bench lowp $k 512 64 768 200 | tee "$W/peak.$k"
done
kernel_rate() { sed 's/.*, \([0-9.]*\) the kernel alone.*/\1/' "$W/peak.$1"; }
# The model's width d, feed-forward width f and layers, read once from its config.json.
set -- $(awk -F'[:,]' '/"dim"/ { d = $2 } /"hidden_dim"/ { f = $2 } /"n_layers"/ { l = $2 }
	END { print d, f, l }' "$M/config.json")
d=$1 f=$2 layers=$3
mix() { echo "$d $f $1 $2" | awk '{ a = 4 * $1 * $1; b = 2 * $1 * $2; printf "%.1f", (a + b) / (a / $3 + b / $4) }'; }
peak_f32=$(awk '{ print $2 }' "$W/peak.f32")
peak_bf16=$(mix "$(kernel_rate bf16-split)" "$(kernel_rate bf16)")
peak_int8=$(mix "$(kernel_rate bf16)" "$(kernel_rate int8)")
echo "the recipes' peaks, one thread: bf16 $peak_bf16, int8 $peak_int8 G operations/s"

echo "== throughput, $THREADS threads, $ROUNDS rounds alternating f32 bf16 int8 (whole process, load included)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
flops=$((layers * 2 * (4 * d * d + 2 * d * f)))
for what in sts docs; do
	for p in f32 bf16 int8; do : > "$W/r.$what.$p"; done
	for r in $(seq "$ROUNDS"); do
		for p in f32 bf16 int8; do
			cat "$M/model.safetensors" > /dev/null
			t0=$(now)
			[ $what = sts ] && in=$W/tok.sbf || in=$W/docs.sbf
			run sb-encode -m "$M" -t "$THREADS" --precision $p --pool mean \
				< "$in" > /dev/null
			echo "$(now) $t0" | awk '{ print $1 - $2 }' >> "$W/r.$what.$p"
		done
	done
	[ $what = sts ] && rows=$n_sent toks=$n_tok || rows=$n_doc toks=$((n_doc * 417))
	for p in f32 bf16 int8; do
		t=$(median < "$W/r.$what.$p")
		paste "$W/r.$what.f32" "$W/r.$what.$p" | awk '{ printf "%.2f ", $1 / $2 }' > "$W/ratios"
		eval "pk=\$peak_$p"
		echo "$what $p: $(echo "$rows $t $toks $flops $pk $THREADS" | awk '{ printf "%.1f rows/s, %.0f effective GOP/s (%.0f%% of %d x the one-thread peak)", $1 / $2, $3 * $4 / $2 * 1e-9, 100 * $3 * $4 / $2 * 1e-9 / ($5 * $6), $6 }'), median $t s; vs f32 per round: $(cat "$W/ratios")"
	done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"


echo "== load time (warm, median of 5) and peak RSS (--pool mean over the STS sentences)"
for p in f32 bf16 int8; do
	l=$(SB_PRECISION=$p run encode-bench load "$M" 5)
	run /usr/bin/time -f %M sb-encode -m "$M" -t "$THREADS" --precision $p --pool mean \
		< "$W/tok.sbf" 2> "$W/rss" > /dev/null
	echo "$p: $l; peak RSS $(tail -n 1 "$W/rss" | awk '{ printf "%.0f MB", $1 / 1024 }')"
done

if [ "${PEERS:-1}" != 0 ]; then
	echo "== PyTorch on the same weights and ids: float32, and quantize_dynamic int8 ($THREADS threads)"
	for p in f32 int8; do
		run sb-encode -m "$M" -t "$THREADS" --precision $p --pool mean < "$W/tok.sbf" \
			> /dev/null
	done
	t0=$(now)
	run sb-encode -m "$M" -t "$THREADS" --pool mean < "$W/tok.sbf" > /dev/null
	t1=$(now)
	run sb-encode -m "$M" -t "$THREADS" --precision int8 --pool mean < "$W/tok.sbf" > /dev/null
	t2=$(now)
	echo "$n_sent $t0 $t1 $t2" |
		awk '{ printf "sb f32 %.1f rows/s, sb int8 %.1f rows/s (this run)\n", $1 / ($3 - $2), $1 / ($4 - $3) }'
	run $PY "$(dirname "$0")/torch-quant.py" "$REF" "$M" "$W/sts.ids" --threads "$THREADS" \
		--rounds "${PEER_ROUNDS:-1}"
fi
