#!/bin/sh
# RoBERTa / XLM-RoBERTa / CamemBERT: sb-tokenize | sb-encode | sb-pool against the PyTorch
# port of transformers' RobertaModel (tests/tools/roberta-ref.py; goldens and models by
# tests/tools/roberta-goldens.sh), max abs <= 1e-5: four shapes (safetensors without
# prefix, pytorch_model.bin with roberta. keys and extra tensors, safetensors with
# roberta. keys, two token types and eps 1e-12, and an XLM-R with a SentencePiece
# Unigram tokenizer on text in 12 languages), frames padded to their longest row, rows
# of max_position_embeddings - 2 tokens, the pad token among real tokens; then too-long
# rows and bad checkpoints.  Under valgrind the STS input is cut to 200 sentences.
. ./tests/setup

M=$SB_SRCDIR/tests/models
G=$SB_SRCDIR/tests/golden/encode-roberta
T=$SB_TMP

plan 19

. "$SB_SRCDIR/tests/encoder.sh"
sts_text


rows=$(wc -l < "$T/sts.txt")
pipe tiny-xlmr < "$T/sts.txt" > "$T/o.sbf"
compare "xlm-roberta, bare keys: $rows STS sentences" "$(golden tiny-xlmr.pooled "$rows")" \
	< "$T/o.sbf"
sb-tokenize -m "$M/tiny-xlmr" -b 5 < "$T/s500.txt" |
	sb-encode -m "$M/tiny-xlmr" -p model -t 3 --max-batch-tokens 70 > "$T/o.sbf"
compare "5-row frames, 3 threads, 70-token sub-batches, pooled in-process" \
	"$(golden tiny-xlmr.pooled 500)" < "$T/o.sbf"
sb-tokenize -m "$M/tiny-xlmr" < "$T/s16.txt" | sb-encode -m "$M/tiny-xlmr" > "$T/o.sbf"
compare "last_hidden_state of every real token" "$(golden tiny-xlmr.hidden)" --hidden \
	< "$T/o.sbf"
sb-tokenize -m "$M/tiny-xlmr" < "$G/pad-quirks.txt" | sb-encode -m "$M/tiny-xlmr" > "$T/o.sbf"
compare "<pad> and <s> among real tokens: transformers' position ids" \
	"$(golden tiny-xlmr.pad-quirks)" --hidden < "$T/o.sbf"
# XLM-RoBERTa with its own kind of tokenizer, SentencePiece Unigram: sb-tokenize's ids
# feed the encoder, the golden's ids are Hugging Face tokenizers'.
cat "$SB_SRCDIR/tests/golden/tokenize/spm/man.txt" "$T/s500.txt" > "$T/uni.txt"
rows=$(wc -l < "$T/uni.txt")
pipe tiny-xlmr-uni < "$T/uni.txt" > "$T/o.sbf"
compare "xlm-roberta with a SentencePiece Unigram tokenizer: $rows rows (man pages in 12 languages, STS)" \
	"$(golden tiny-xlmr-uni.pooled "$rows")" < "$T/o.sbf"
for m in tiny-xlmr tiny-roberta-bin tiny-camembert; do
	pipe $m < "$G/long.txt" > "$T/o.sbf"
	compare "$m: 40 rows of max_position_embeddings - 2 tokens" "$(golden $m.long)" \
		< "$T/o.sbf"
done
for m in tiny-roberta-bin tiny-camembert; do
	pipe $m < "$T/s500.txt" > "$T/o.sbf"
	compare "$m: 500 STS sentences" "$(golden $m.pooled)" < "$T/o.sbf"
done
sb-tokenize -m "$M/tiny-xlmr" < "$T/s16.txt" | sb-encode -m "$M/tiny-xlmr" -p mean |
	sb-cat > "$T/json" 2> "$T/err"
like "meta names the model type" "$(head -n 1 "$T/json")" '"model_type": ?"xlm-roberta"'

# Too long: the tokenizer truncates to max_position_embeddings - 2 by default; one more
# token is refused by the encoder, naming the position id.
sb-tokenize -m "$M/tiny-xlmr" < "$G/long.txt" | sb-cat > "$T/json" 2> /dev/null
like "the tokenizer's default length is max_position_embeddings - 2" "$(head -n 1 "$T/json")" \
	'"max_seq_length": ?64'
sb-tokenize -m "$M/tiny-xlmr" --max-length 65 < "$G/long.txt" > "$T/long65.sbf"
run sb-encode -m "$M/tiny-xlmr" -i "$T/long65.sbf"
like "65 tokens with 66 positions from padding_idx 1: a clear error" "$rc $err" \
	"^1 sb-encode: .*row 0: token at position 64 has position id 66, past max_position_embeddings 66"
sb-tokenize -m "$M/tiny-roberta-bin" --no-truncation < "$G/long.txt" > "$T/long.sbf"
run sb-encode -m "$M/tiny-roberta-bin" -i "$T/long.sbf"
like "untruncated rows: refused too" "$rc $err" \
	"^1 sb-encode: .*row 0: token at position 38 has position id 40, past max_position_embeddings 40"

# Bad checkpoints and configs: the weights of tiny-xlmr under a config that disagrees.
# badcfg NAME SED: tiny-xlmr with its config.json edited by SED.
badcfg() {
	mkdir -p "$T/$1"
	ln -sf "$M/tiny-xlmr/model.safetensors" "$T/$1/model.safetensors"
	sed "$2" "$M/tiny-xlmr/config.json" > "$T/$1/config.json"
	echo "$T/$1"
}
sb-tokenize -m "$M/tiny-xlmr" < "$T/s16.txt" > "$T/s16.sbf"
run sb-encode -m "$(badcfg layers 's/"num_hidden_layers": 2/"num_hidden_layers": 3/')" \
	-i "$T/s16.sbf"
like "a missing layer: its first tensor named" "$rc $err" \
	"^1 sb-encode: .*tensor 'encoder.layer.2.attention.self.query.weight' not found \(also tried the distilbert./bert./roberta. prefixes"
run sb-encode -m "$(badcfg pos 's/"max_position_embeddings": 66/"max_position_embeddings": 70/')" \
	-i "$T/s16.sbf"
like "a position table of another shape: both shapes" "$rc $err" \
	"^1 sb-encode: .*tensor 'embeddings.position_embeddings.weight': shape \[66, 32\], expected \[70, 32\]"
run sb-encode -m "$(badcfg pad 's/"pad_token_id": 1/"pad_token_id": 65/')" -i "$T/s16.sbf"
like "pad_token_id at the end of the position table: refused" "$rc $err" \
	"^1 sb-encode: .*'pad_token_id' is 65: position ids start at 66, past max_position_embeddings 66"
run sb-encode -m "$(badcfg rel 's/"absolute"/"relative_key"/')" -i "$T/s16.sbf"
like "another position_embedding_type: refused by name" "$rc $err" \
	"^1 sb-encode: .*position_embedding_type 'relative_key' is not supported"
run sb-encode -m "$(badcfg deberta 's/"xlm-roberta"/"deberta-v2"/')" -i "$T/s16.sbf"
like "an unsupported model_type: refused by name" "$rc $err" \
	"^1 sb-encode: .*model_type 'deberta-v2' is not supported \(distilbert, bert, roberta, xlm-roberta, camembert, mpnet, modernbert\)"
