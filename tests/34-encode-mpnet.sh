#!/bin/sh
# MPNet (all-mpnet-base-v2's architecture): sb-tokenize | sb-encode | sb-pool against the
# PyTorch port of transformers' MPNetModel (tests/tools/mpnet-ref.py; goldens and models
# by tests/tools/mpnet-goldens.sh), max abs <= 1e-5: STS sentences and rows of up to
# max_position_embeddings - 2 = 318 tokens (relative distances far past max_distance 128,
# so every bucket of the position bias is used), frames padded to their longest row,
# threads and sub-batches, the pad token among real tokens, pairs as <s> A </s> </s> B
# </s>; a second shape (tiny-mpnet-3); the pytorch_model.bin of the same weights under
# mpnet. gives the same bytes; then
# too-long rows and bad checkpoints.  Under valgrind the STS input is cut to 200
# sentences.
. ./tests/setup

M=$SB_SRCDIR/tests/models
G=$SB_SRCDIR/tests/golden/encode-mpnet
T=$SB_TMP

plan 21

. "$SB_SRCDIR/tests/encoder.sh"
sts_text 1000
paste "$T/s1" "$T/s2" > "$T/pairs.txt"

rows=$(wc -l < "$T/sts.txt")
pipe tiny-mpnet < "$T/sts.txt" > "$T/o.sbf"
compare "$rows STS sentences, mean pooling and Normalize" \
	"$(golden tiny-mpnet.pooled "$rows")" < "$T/o.sbf"
sb-tokenize -m "$M/tiny-mpnet" -b 5 < "$T/sts.txt" |
	sb-encode -m "$M/tiny-mpnet" -p model -t 3 --max-batch-tokens 70 > "$T/o.sbf"
compare "5-row frames, 3 threads, 70-token sub-batches, pooled in-process" \
	"$(golden tiny-mpnet.pooled "$rows")" < "$T/o.sbf"
sb-tokenize -m "$M/tiny-mpnet" < "$T/s16.txt" | sb-encode -m "$M/tiny-mpnet" > "$T/o.sbf"
compare "last_hidden_state of every real token" "$(golden tiny-mpnet.hidden)" --hidden \
	< "$T/o.sbf"
sb-tokenize -m "$M/tiny-mpnet" < "$G/pad-quirks.txt" | sb-encode -m "$M/tiny-mpnet" \
	> "$T/o.sbf"
compare "<pad> and <s> among real tokens: position ids from padding_idx 1" \
	"$(golden tiny-mpnet.pad-quirks)" --hidden < "$T/o.sbf"
pipe tiny-mpnet < "$G/long.txt" > "$T/long.sbf"
compare "30 rows of 20 to 318 tokens in one frame" "$(golden tiny-mpnet.long)" \
	< "$T/long.sbf"
sb-tokenize -m "$M/tiny-mpnet" < "$G/long.txt" | sb-cat > "$T/json" 2> /dev/null
like "the longest rows have max_position_embeddings - 2 tokens" "$(head -n 1 "$T/json")" \
	'"input_ids":\{"dtype":"int64","shape":\[30,318\]'
sb-tokenize -m "$M/tiny-mpnet" -b 4 < "$G/long.txt" |
	sb-encode -m "$M/tiny-mpnet" -p model -t 2 --max-batch-tokens 200 > "$T/o.sbf"
compare "long rows in 4-row frames, 2 threads, rows longer than the token budget" \
	"$(golden tiny-mpnet.long)" < "$T/o.sbf"
# Another shape: 3 heads of 8, 3 layers, a bucket table larger than the 32 used, no
# Normalize module; STS sentences then long rows cut to 128 tokens.
cat "$T/s1" "$T/s2" | head -n 500 | cat - "$G/long.txt" > "$T/m3.txt"
pipe tiny-mpnet-3 < "$T/m3.txt" > "$T/o.sbf"
compare "tiny-mpnet-3 (24 wide, 3 layers, 3 heads, 40 buckets): 500 STS sentences and 30 long rows" \
	"$(golden tiny-mpnet-3.pooled)" < "$T/o.sbf"
pipe tiny-mpnet-bin < "$G/long.txt" > "$T/long-bin.sbf"
sb-cat --tsv sentence_embedding < "$T/long.sbf" > "$T/a.tsv"
sb-cat --tsv sentence_embedding < "$T/long-bin.sbf" > "$T/b.tsv"
if [ -s "$T/a.tsv" ] && cmp -s "$T/a.tsv" "$T/b.tsv"; then
	ok "pytorch_model.bin with mpnet. keys and extra tensors: the same floats"
else
	not_ok "pytorch_model.bin with mpnet. keys and extra tensors: the same floats"
fi
sb-tokenize -m "$M/tiny-mpnet" < "$T/s16.txt" > "$T/s16.sbf"
sb-encode -m "$M/tiny-mpnet" -i "$T/s16.sbf" | sb-cat --tsv last_hidden_state > "$T/a.tsv"
sb-encode -m "$M/tiny-mpnet-bin" -i "$T/s16.sbf" | sb-cat --tsv last_hidden_state \
	> "$T/b.tsv"
if [ -s "$T/a.tsv" ] && cmp -s "$T/a.tsv" "$T/b.tsv"; then
	ok "the same hidden states from both checkpoints"
else
	not_ok "the same hidden states from both checkpoints"
fi
fp() { sb-cat < "$1" | head -n 1 | sed 's/.*"model_fingerprint":"\([^"]*\)".*/\1/'; }
is "the same model fingerprint from both checkpoints" "$(fp "$T/long-bin.sbf")" \
	"$(fp "$T/long.sbf")"
like "meta names the model type" "$(sb-cat < "$T/long.sbf" | head -n 1)" '"model_type":"mpnet"'

# Pairs: <s> A </s> </s> B </s>, B's tokens (and its last </s>) of type 1, as Hugging Face
# tokenizers makes them from the TemplateProcessing of all-mpnet-base-v2's tokenizer.json.
sb-tokenize -m "$M/tiny-mpnet" --pairs < "$T/pairs.txt" > "$T/pairs.sbf"
sb-cat --tsv input_ids --unpad < "$T/pairs.sbf" | tr '\t' ' ' > "$T/ids"
if gzip -dc "$G/pairs.ids.gz" | cmp -s - "$T/ids"; then
	ok "sb-tokenize --pairs: Hugging Face's ids for the $(wc -l < "$T/ids") STS pairs"
else
	not_ok "sb-tokenize --pairs: Hugging Face's ids"
	diag "$(gzip -dc "$G/pairs.ids.gz" | diff - "$T/ids" | head -n 6)"
fi
sb-cat --tsv token_type_ids --unpad < "$T/pairs.sbf" | tr '\t' ' ' > "$T/types"
if gzip -dc "$G/pairs.types.gz" | cmp -s - "$T/types"; then
	ok "sb-tokenize --pairs: Hugging Face's token types"
else
	not_ok "sb-tokenize --pairs: Hugging Face's token types"
	diag "$(gzip -dc "$G/pairs.types.gz" | diff - "$T/types" | head -n 6)"
fi
sb-encode -m "$M/tiny-mpnet" -i "$T/pairs.sbf" -p model > "$T/o.sbf" 2> "$T/err"
check "pairs encode (token types ignored: MPNet has no token type table)" \
	test -s "$T/o.sbf" -a ! -s "$T/err"

# Too long: the tokenizer truncates to max_position_embeddings - 2 by default; one more
# token is refused by the encoder, naming the position id.
sb-tokenize -m "$M/tiny-mpnet" --max-length 319 < "$G/long.txt" > "$T/long319.sbf"
run sb-encode -m "$M/tiny-mpnet" -i "$T/long319.sbf"
like "319 tokens with 320 positions from padding_idx 1: a clear error" "$rc $err" \
	"^1 sb-encode: .*row [0-9]*: token at position 318 has position id 320, past max_position_embeddings 320"

# Bad checkpoints and configs: tiny-mpnet's weights, edited or under an edited config.
# badmodel NAME CONFIG-SED [WEIGHTS-SED]: a copy of tiny-mpnet with its config.json (and
# the safetensors header, byte for byte the same length) edited.
badmodel() {
	mkdir -p "$T/$1"
	sed "$2" "$M/tiny-mpnet/config.json" > "$T/$1/config.json"
	if [ -n "${3:-}" ]; then
		LC_ALL=C sed "$3" "$M/tiny-mpnet/model.safetensors" > "$T/$1/model.safetensors"
	else
		ln -sf "$M/tiny-mpnet/model.safetensors" "$T/$1/model.safetensors"
	fi
	echo "$T/$1"
}
run sb-encode -m "$(badmodel nobias '' 's/relative_attention_bias/relative_attention_xxxx/')" \
	-i "$T/s16.sbf"
like "no relative_attention_bias: refused naming the tensor" "$rc $err" \
	"^1 sb-encode: .*tensor 'encoder.relative_attention_bias.weight' not found"
run sb-encode -m "$(badmodel biasshape '' 's/"shape":\[32,4\]/"shape":[4,32]/')" \
	-i "$T/s16.sbf"
like "a relative_attention_bias of another shape: both shapes" "$rc $err" \
	"^1 sb-encode: .*tensor 'encoder.relative_attention_bias.weight': shape \[4, 32\], expected \[32, 4\]"
run sb-encode -m "$(badmodel buckets40 's/"relative_attention_num_buckets": 32/"relative_attention_num_buckets": 40/')" \
	-i "$T/s16.sbf"
like "relative_attention_num_buckets against the table: both shapes" "$rc $err" \
	"^1 sb-encode: .*tensor 'encoder.relative_attention_bias.weight': shape \[32, 4\], expected \[40, 4\]"
run sb-encode -m "$(badmodel buckets16 's/"relative_attention_num_buckets": 32/"relative_attention_num_buckets": 16/')" \
	-i "$T/s16.sbf"
like "fewer than the 32 buckets MPNet looks up: refused naming the field" "$rc $err" \
	"^1 sb-encode: .*'relative_attention_num_buckets' is 16, expected 32 to 65536"
mkdir -p "$T/layers3"
sed 's/"num_hidden_layers": 2/"num_hidden_layers": 3/' "$M/tiny-mpnet-bin/config.json" \
	> "$T/layers3/config.json"
ln -sf "$M/tiny-mpnet-bin/pytorch_model.bin" "$T/layers3/pytorch_model.bin"
run sb-encode -m "$T/layers3" -i "$T/s16.sbf"
like "a missing layer under mpnet.: the key named as the file would have it" "$rc $err" \
	"^1 sb-encode: .*tensor 'mpnet.encoder.layer.2.attention.attn.q.weight' not found"
