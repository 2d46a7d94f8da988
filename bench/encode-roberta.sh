#!/bin/sh
# encode-roberta.sh - sb-encode on a full-size random RoBERTa-base shape (model_type
# xlm-roberta, 12 layers x 768, 12 heads, FFN 3072, 514 positions, the 50265 tokens of
# RoBERTa's byte-level BPE built from GPT-2's files by tests/tools/mkroberta.py): agreement
# with the PyTorch port (tests/tools/roberta-ref.py) on 500 STS sentences and on 20 rows of
# 512 tokens, then throughput
# side by side with PyTorch and ONNX Runtime on the same weights, rounds alternating
# A B C A B C.  Run by hand (not part of make check), from the top of the source tree:
#
#   bench/encode-roberta.sh [BUILDDIR]
#
# BUILDDIR holds the built programs (default: .), after `make check` (for tests/enctool).
# Environment: SHARED (default ../shared), WORK (default /tmp/sb-bench-roberta: the model,
# tokens and references are kept there between runs), ROUNDS (default 3), THREADS
# (default 2), N (default: all 2758 STS sentences; the first N for the throughput rounds,
# as on a machine so loaded that a round takes minutes), SKIP_REF=1, SKIP_ORT=1,
# SKIP_TORCH=1.  Needs /usr/bin/python3 with torch and numpy, node
# with the reference packages (../shared/reference/setup.sh).
#
# PyTorch (../shared/reference/torch_bench.py) and ONNX Runtime (export_onnx.py,
# ort_bench.js) time their loops after loading, on ids tokenized beforehand, batched as
# sentence-transformers' encode() does (sorted by length, 32 a batch padded to the
# longest).  sb's figures are the whole pipeline from text, start-up and tokenization
# included (sb-tokenize | sb-encode --pool mean), and sb-encode alone on saved tokens.
set -eu

W=${WORK:-/tmp/sb-bench-roberta}
. "$(dirname "$0")/lib.sh"
need "$STS" "$SHARED/data/tokenizers/gpt2/encoder.json" "$B/cmd/sb-encode" \
	"$B/cmd/sb-tokenize" "$B/tests/enctool"
mkdir -p "$W"
torch_rate() {
	$PY "$REF/torch_bench.py" "$M" "$1" --mode st --threads "$THREADS" | awk '{ print $1 }'
}
onnx_model() { $PY "$REF/export_onnx.py" "$M" "$1"; }

machine
echo "== model and tokens"
if [ ! -f "$M/model.safetensors" ]; then
	$PY "$TOOLS/mkroberta.py" "$SHARED/data/tokenizers/gpt2" "$M" --type xlm-roberta \
		--merges 50000 --hidden 768 --layers 12 --heads 12 --ffn 3072 --max-pos 514 \
		--seed 1 > /dev/null
fi
sts_tokens
sts_agreement roberta-ref.py mean
sts_rounds mean export_onnx.py
sts_summary mean %.1f
