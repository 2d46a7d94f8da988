#!/bin/sh
# roberta-goldens.sh - makes the RoBERTa-family test models (tests/models/tiny-xlmr,
# tiny-roberta-bin, tiny-camembert, tiny-xlmr-uni) and their goldens
# (tests/golden/encode-roberta) from
# the reference implementations: Hugging Face tokenizers through node
# (../shared/reference/hf_tokenize.js) for the ids, tests/tools/roberta-ref.py (PyTorch)
# for the floats.  Run by hand from the top of the source tree; make check only reads
# the results.
#
#   tests/tools/roberta-goldens.sh [SHARED]      (SHARED defaults to ../shared)
#
# Writes, for each MODEL (max_position_embeddings P, so P - 2 tokens fit):
#   tiny-xlmr-uni.pooled.gz  mean-pooled embeddings of man.txt (12 languages) then the
#                     first 500 STS sentences, tiny-xlmr-uni (a SentencePiece Unigram
#                     tokenizer, as every XLM-RoBERTa model has)
#   MODEL.pooled.gz   mean-pooled embeddings, "%.6f", one row a line: every STS
#                     sentence (column 6 then column 7 of sts-test.tsv) for tiny-xlmr,
#                     the first 500 for the others; ids truncated to P - 2 as the
#                     tokenizer's model_max_length and sentence_bert_config.json say
#   MODEL.long.gz     the same for long.txt (40 rows of 8 STS sentences each),
#                     truncated to P - 2 tokens: rows of exactly P - 2 tokens
#   tiny-xlmr.hidden.gz  last_hidden_state of the first 16 STS sentences, one real
#                     token a line, "ROW v v ..."
#   tiny-xlmr.pad-quirks.gz  the same for pad-quirks.txt (<pad> and <s> inside rows)
set -eu
OUT=tests/golden/encode-roberta
. tests/tools/goldens-lib.sh

mkm mkroberta.py "$GPT2" tiny-xlmr --merges 600 --type xlm-roberta --hidden 32 --layers 2 \
	--heads 4 --ffn 64 --max-pos 66 --seed 11
mkm mkroberta.py "$GPT2" tiny-roberta-bin --merges 600 --type roberta --hidden 24 --layers 3 \
	--heads 3 --ffn 48 --max-pos 40 --seed 12 --format bin --prefix --extra
mkm mkroberta.py "$GPT2" tiny-camembert --merges 600 --type camembert --hidden 16 --layers 1 \
	--heads 2 --ffn 40 --max-pos 130 --types 2 --eps 1e-12 --seed 13 --prefix

mkdir -p "$OUT"
sts_split
head -n 500 "$T/sts.txt" > "$T/sts500.txt"
join_rows 8 40 < "$T/sts.txt" > "$OUT/long.txt"
sts_long roberta-ref.py tiny-xlmr $(($(max_pos "$M/tiny-xlmr") - 2)) "$T/sts.txt"
for m in tiny-roberta-bin tiny-camembert; do
	sts_long roberta-ref.py $m $(($(max_pos "$M/$m") - 2)) "$T/sts500.txt"
done
# Rows with the pad token among real tokens: its position id is padding_idx and the ids
# after it count on from the previous one (create_position_ids_from_input_ids).
pad_quirks "$OUT/pad-quirks.txt"
hf_tok "$M/tiny-xlmr" "$OUT/pad-quirks.txt" --max-length 64 > "$T/q.jsonl"
hidden roberta-ref.py "$M/tiny-xlmr" "$T/q.jsonl" 4 "$OUT/tiny-xlmr.pad-quirks.gz"
hidden roberta-ref.py "$M/tiny-xlmr" "$T/tiny-xlmr.jsonl" 16 "$OUT/tiny-xlmr.hidden.gz"
# XLM-RoBERTa with its own kind of tokenizer: the SentencePiece Unigram tokenizer.json of
# tests/golden/tokenize/spm/xlmr-uni (Precompiled nmt_nfkc charsmap, Metaspace, XLM-R's
# special tokens), on the man-page text in 12 languages and the first 500 STS sentences.
mkm mkroberta.py "$GPT2" tiny-xlmr-uni --merges 600 \
	--tokenizer tests/golden/tokenize/spm/xlmr-uni --type xlm-roberta --hidden 16 --layers 3 \
	--heads 4 --ffn 40 --max-pos 130 --seed 14
for in in tests/golden/tokenize/spm/man.txt "$T/sts500.txt"; do
	hf_tok "$M/tiny-xlmr-uni" "$in" --max-length 128
done > "$T/uni.jsonl"
pooled roberta-ref.py "$M/tiny-xlmr-uni" "$T/uni.jsonl" "$OUT/tiny-xlmr-uni.pooled.gz"
ls -l "$OUT"
