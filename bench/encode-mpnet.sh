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

W=${WORK:-/tmp/sb-bench-mpnet}
. "$(dirname "$0")/lib.sh"
VOCAB=$SHARED/data/vocab/bert-base-uncased-vocab.txt
need "$STS" "$VOCAB" "$B/cmd/sb-encode" "$B/cmd/sb-tokenize" "$B/tests/enctool"
mkdir -p "$W"
STAGE=1
torch_rate() {
	$PY "$TOOLS/mpnet-ref.py" "$M" "$1" --bench --threads "$THREADS" | awk '{ print $1 }'
}
onnx_model() { $PY "$TOOLS/mpnet-ref.py" "$M" --onnx "$1"; }

machine
echo "== model and tokens"
if [ ! -f "$M/model.safetensors" ]; then
	$PY "$TOOLS/mkmpnet.py" "$VOCAB" "$M" --hidden 768 --layers 12 --heads 12 --ffn 3072 \
		--max-pos 514 --buckets 32 --seed 1 > /dev/null
fi
sts_tokens
sts_agreement mpnet-ref.py model
sts_rounds model "mpnet-ref.py --onnx"
sts_summary model %s
