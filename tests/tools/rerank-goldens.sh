#!/bin/sh
# rerank-goldens.sh - makes the cross-encoder test models (tests/models/tiny-xlmr-rerank,
# tiny-bert-rerank3) and their goldens (tests/golden/rerank) from the reference
# implementations: Hugging Face tokenizers through node (../shared/reference/
# hf_tokenize.js --pairs) for the ids, tests/tools/roberta-ref.py --scores (PyTorch) for
# the scores.  Run by hand from the top of the source tree; make check only reads the
# results.
#
#   tests/tools/rerank-goldens.sh [SHARED]      (SHARED defaults to ../shared)
#
# Models (tests/tools/mkroberta.py):
#   tiny-xlmr-rerank    XLMRobertaForSequenceClassification, one label, byte-level BPE
#                       tokenizer, safetensors, 32 wide, 2 layers, P 130
#   tiny-bert-rerank3   BertForSequenceClassification, three labels, the WordPiece
#                       tokenizer of tests/models/tiny-bert (pairs with token types 0 and
#                       1), pytorch_model.bin, 24 wide, 2 layers, P 128
# Goldens, one line per STS pair (column 6 TAB column 7 of sts-test.tsv, 1379 pairs),
# truncated to P - 2 tokens, "%.8g":
#   tiny-xlmr-rerank.scores.gz   sigmoid of the logit (sentence-transformers' CrossEncoder)
#   tiny-xlmr-rerank.logits.gz   the logit
#   tiny-bert-rerank3.scores.gz  the three logits (CrossEncoder: no activation)
set -eu
OUT=tests/golden/rerank
. tests/tools/goldens-lib.sh

mkm mkroberta.py "$GPT2" tiny-xlmr-rerank --merges 600 --type xlm-roberta --head roberta \
	--labels 1 --hidden 32 --layers 2 --heads 4 --ffn 64 --max-pos 130 --seed 21
mkm mkroberta.py "$GPT2" tiny-bert-rerank3 --tokenizer "$M/tiny-bert" --head bert --labels 3 \
	--types 2 --eps 1e-12 --hidden 24 --layers 2 --heads 3 --ffn 48 --max-pos 128 --seed 22 \
	--format bin

mkdir -p "$OUT"
sts_split
hf_tok "$M/tiny-xlmr-rerank" "$T/pairs.txt" --pairs --max-length 128 > "$T/x.jsonl"
$PY tests/tools/roberta-ref.py "$M/tiny-xlmr-rerank" "$T/x.jsonl" --scores |
	gzip -9n > "$OUT/tiny-xlmr-rerank.scores.gz"
$PY tests/tools/roberta-ref.py "$M/tiny-xlmr-rerank" "$T/x.jsonl" --scores --raw |
	gzip -9n > "$OUT/tiny-xlmr-rerank.logits.gz"
hf_tok "$M/tiny-bert-rerank3" "$T/pairs.txt" --pairs --max-length 126 > "$T/b.jsonl"
$PY tests/tools/roberta-ref.py "$M/tiny-bert-rerank3" "$T/b.jsonl" --scores |
	gzip -9n > "$OUT/tiny-bert-rerank3.scores.gz"
ls -l "$OUT"
