#!/bin/sh
# ModernBERT: sb-tokenize | sb-encode | sb-pool against the PyTorch port of transformers'
# ModernBertModel (tests/tools/modernbert-ref.py; goldens and models by
# tests/tools/modernbert-goldens.sh), max abs <= 1e-5: tiny-modernbert (bare keys, 4
# layers of which 0 and 3 global, a 16-token window, so most STS sentences are longer
# than the window) and tiny-modernbert-bias (model. keys beside an MLM head,
# pytorch_model.bin, every bias, window 6, its own thetas); frames padded to their
# longest row, threads and small sub-batches, rows of 4152, 2071 and 932 tokens in one
# padded frame (attention in blocks with an online softmax); the tokenizer's ids against
# Hugging Face's; then too-long rows and configs or checkpoints that are refused.
# Under valgrind the STS input is cut to 200 sentences and the very long rows are left
# out.
. ./tests/setup

M=$SB_SRCDIR/tests/models
G=$SB_SRCDIR/tests/golden/encode-modernbert
T=$SB_TMP

plan 19

. "$SB_SRCDIR/tests/encoder.sh"
sts_text


sb-tokenize -m "$M/tiny-modernbert" < "$G/quirks.txt" | sb-cat --tsv input_ids --unpad |
	tr '\t' ' ' > "$T/ids"
check "tokenizer: Hugging Face's ids (special tokens in the text, [MASK] lstrip, NFC)" \
	cmp "$G/tiny-modernbert.quirks.ids" "$T/ids"

rows=$(wc -l < "$T/sts.txt")
pipe tiny-modernbert < "$T/sts.txt" > "$T/o.sbf"
compare "tiny-modernbert: $rows STS sentences" "$(golden tiny-modernbert.pooled "$rows")" \
	< "$T/o.sbf"
sb-tokenize -m "$M/tiny-modernbert" -b 5 < "$T/s500.txt" |
	sb-encode -m "$M/tiny-modernbert" -p model -t 3 --max-batch-tokens 70 > "$T/o.sbf"
compare "5-row frames, 3 threads, 70-token sub-batches, pooled in-process" \
	"$(golden tiny-modernbert.pooled 500)" < "$T/o.sbf"
sb-tokenize -m "$M/tiny-modernbert" < "$T/s16.txt" | sb-encode -m "$M/tiny-modernbert" -t 2 \
	> "$T/o.sbf"
compare "last_hidden_state of every real token, 2 threads sharing each product" \
	"$(golden tiny-modernbert.hidden)" --hidden < "$T/o.sbf"
for m in tiny-modernbert tiny-modernbert-bias; do
	pipe $m < "$G/long.txt" > "$T/o.sbf"
	compare "$m: 40 rows of 8 STS sentences" "$(golden $m.long)" < "$T/o.sbf"
done
pipe tiny-modernbert-bias < "$T/s500.txt" > "$T/o.sbf"
compare "tiny-modernbert-bias: 500 STS sentences" "$(golden tiny-modernbert-bias.pooled 500)" \
	< "$T/o.sbf"
if [ -n "${SB_VALGRIND:-}" ]; then
	skip "rows of 4152, 2071 and 932 tokens" "too slow under valgrind"
	skip "the same with 2 threads" "too slow under valgrind"
else
	pipe tiny-modernbert < "$G/verylong.txt" > "$T/o.sbf"
	compare "rows of 4152, 2071 and 932 tokens in one padded frame" \
		"$(golden tiny-modernbert.verylong)" < "$T/o.sbf"
	pipe tiny-modernbert -t 2 < "$G/verylong.txt" > "$T/o.sbf"
	compare "the same with 2 threads" "$(golden tiny-modernbert.verylong)" < "$T/o.sbf"
fi
sb-tokenize -m "$M/tiny-modernbert" < "$T/s16.txt" > "$T/s16.sbf"
sb-encode -m "$M/tiny-modernbert" -p mean -i "$T/s16.sbf" | sb-cat > "$T/json" 2> "$T/err"
like "meta names the model type" "$(head -n 1 "$T/json")" '"model_type": ?"modernbert"'

# Too long: tiny-modernbert-bias has 128 positions; the tokenizer truncates to them by
# default, and the encoder refuses one more.
sb-tokenize -m "$M/tiny-modernbert-bias" --no-truncation < "$G/long.txt" > "$T/long.sbf"
run sb-encode -m "$M/tiny-modernbert-bias" -i "$T/long.sbf"
like "a row past max_position_embeddings: a clear error" "$rc $err" \
	"^1 sb-encode: .*row 10: token at position 128, past max_position_embeddings 128"

# Bad checkpoints and configs: the weights of tiny-modernbert under a config that disagrees.
# badcfg NAME SED: tiny-modernbert with its config.json edited by SED.
badcfg() {
	mkdir -p "$T/$1"
	ln -sf "$M/tiny-modernbert/model.safetensors" "$T/$1/model.safetensors"
	sed "$2" "$M/tiny-modernbert/config.json" > "$T/$1/config.json"
	echo "$T/$1"
}
run sb-encode -m "$(badcfg layers 's/"num_hidden_layers": 4/"num_hidden_layers": 5/')" \
	-i "$T/s16.sbf"
like "a missing layer: its first tensor named" "$rc $err" \
	"^1 sb-encode: .*tensor 'layers.4.attn_norm.weight' not found"
run sb-encode -m "$(badcfg ffn 's/"intermediate_size": 48/"intermediate_size": 40/')" \
	-i "$T/s16.sbf"
like "Wi of another shape: both shapes" "$rc $err" \
	"^1 sb-encode: .*tensor 'layers.0.mlp.Wi.weight': shape \[96, 32\], expected \[80, 32\]"
run sb-encode -m "$(badcfg nb 's/"norm_bias": false/"norm_bias": true/')" -i "$T/s16.sbf"
like "norm_bias without LayerNorm biases: the first one named" "$rc $err" \
	"^1 sb-encode: .*tensor 'embeddings.norm.bias' not found"
run sb-encode -m "$(badcfg act 's/"hidden_activation": "gelu"/"hidden_activation": "silu"/')" \
	-i "$T/s16.sbf"
like "an activation not implemented: refused by name" "$rc $err" \
	"^1 sb-encode: .*hidden_activation: .*silu"
run sb-encode -m "$(badcfg rs 's/"norm_eps"/"rope_scaling": {"rope_type": "linear", "factor": 2.0}, "norm_eps"/')" \
	-i "$T/s16.sbf"
like "rope_scaling: refused" "$rc $err" "^1 sb-encode: .*'rope_scaling' is not supported"
run sb-encode -m "$(badcfg lt 's/"norm_eps"/"layer_types": ["full_attention", "full_attention", "sliding_attention", "full_attention"], "norm_eps"/')" \
	-i "$T/s16.sbf"
like "layer_types other than global_attn_every_n_layers': refused" "$rc $err" \
	"^1 sb-encode: .*'layer_types' item 1 is not 'sliding_attention'"
run sb-encode -m "$(badcfg heads 's/"num_attention_heads": 4/"num_attention_heads": 32/')" \
	-i "$T/s16.sbf"
like "an odd head size: refused (rotary embeddings)" "$rc $err" \
	"^1 sb-encode: .*head size 1 is odd"
run sb-encode -m "$M/tiny-modernbert" --precision bf16 -i "$T/s16.sbf"
like "bf16: refused (float32 only)" "$rc $err" \
	"^1 sb-encode: .*modernbert runs in float32 only \(precision bf16"
