#!/bin/sh
# The sentence-transformers modules after Pooling (Dense, LayerNorm, Normalize), applied
# by sb-pool -m MODEL and sb-encode --pool model where they stand in modules.json, against
# PyTorch on the same random weights (goldens of tests/tools/modules-ref.py, max abs
# <= 1e-5), and the modules sb does not implement refused by name.
. ./tests/setup

G=$SB_SRCDIR/tests/golden/pool
MD=$SB_SRCDIR/tests/models
S=$SB_SRCDIR/tests/sample.txt
plan 22

cmp_matrix() {   # DESC GOLDEN TOL: $SB_TMP/got (pooldump print) against a golden matrix
	awk -v tol="$3" '
		FNR == 1 && NR == 1 { next }
		NR == FNR { for (i = 1; i <= NF; i++) want[NR - 1, i] = $i; wn = NR - 1; wc = NF; next }
		/^#/ { next }
		{ r++; if (NF != wc) { printf "row %d: %d columns, expected %d\n", r, NF, wc; bad = 1; exit }
		  for (i = 1; i <= NF; i++) {
			d = $i - want[r, i]; if (d < 0) d = -d
			if (d > max) max = d
			if (d > tol) { printf "row %d col %d: %s, expected %s\n", r, i, $i, want[r, i]; bad = 1 }
		  } }
		END { if (!bad && r != wn) { printf "%d rows, expected %d\n", r, wn; bad = 1 }
		      printf "max abs diff %g\n", max > "/dev/stderr"; exit bad }' "$2" "$SB_TMP/got" \
		> "$SB_TMP/cmp" 2> "$SB_TMP/cmpmax"
	if [ $? = 0 ]; then
		ok "$1 ($(cat "$SB_TMP/cmpmax"))"
	else
		not_ok "$1"
		diag "$(head -5 "$SB_TMP/cmp")"
	fi
}

# 1. A Dense module (32 -> 20, Tanh), as mkmodel.py --dense writes it: the issue's case.
M=$MD/tiny-distilbert-dense
sb-tokenize -m "$M" < "$S" | sb-encode -m "$M" > "$SB_TMP/dense.hid"
sb-pool -m "$M" < "$SB_TMP/dense.hid" 2> "$SB_TMP/err" > "$SB_TMP/dense.emb"
pooldump print < "$SB_TMP/dense.emb" > "$SB_TMP/got"
cmp_matrix "sb-pool -m applies 2_Dense (Tanh): the reference's 20-wide embeddings" \
	"$G/dense-tanh.txt" 1e-5
is "the embeddings' meta dim is the Dense's width" \
	"$(pooldump meta < "$SB_TMP/dense.emb" | grep '^dim=')" "dim=20"
sb-tokenize -m "$M" < "$S" | sb-encode -m "$M" --pool model > "$SB_TMP/dense2.emb"
pooldump print < "$SB_TMP/dense2.emb" > "$SB_TMP/got"
cmp_matrix "sb-encode --pool model applies it in-process" "$G/dense-tanh.txt" 1e-5
is "... with meta dim 20 too" "$(pooldump meta < "$SB_TMP/dense2.emb" | grep '^dim=')" "dim=20"
run sb-encode -m "$M" --pool mean -i /dev/null
like "sb-encode --pool MODES warns that the model's Dense is left out" "$err" \
	"^sb-encode: --pool mean: the modules after Pooling in .*modules.json \(Dense, LayerNorm\) are not applied; --pool model applies them$"
sb-pool -m "$M" -p cls,mean < "$SB_TMP/dense.hid" > /dev/null 2> "$SB_TMP/err"
like "a pooling whose width the Dense does not take is refused, both widths named" \
	"$(cat "$SB_TMP/err")" "2_Dense: Dense takes vectors of 32, the pooling gives 64"
run sb-pool -m "$M" -v -i "$SB_TMP/dense.hid" -o /dev/null
like "-v names the modules applied" "$err" "^sb-pool: then 2_Dense \(Dense 32 -> 20, tanh\)$"

# 2. A chain of every kind: ReLU Dense, LayerNorm, Normalize, SiLU Dense + residual, GELU
#    Dense without bias (pytorch_model.bin), Sigmoid Dense + projected residual, Identity
#    Dense, Dropout, Normalize; cls pooling of a BERT.
M=$MD/tiny-bert-modules
sb-tokenize -m "$M" < "$S" | sb-encode -m "$M" > "$SB_TMP/chain.hid"
sb-pool -m "$M" < "$SB_TMP/chain.hid" 2> "$SB_TMP/err" | pooldump print > "$SB_TMP/got"
cmp_matrix "sb-pool: a chain of 7 modules and the final Normalize equal PyTorch's" \
	"$G/modules-chain.txt" 1e-5
sb-tokenize -m "$M" < "$S" | sb-encode -m "$M" --pool model 2> "$SB_TMP/err" |
	pooldump print > "$SB_TMP/got"
cmp_matrix "sb-encode --pool model: the same" "$G/modules-chain.txt" 1e-5
sb-pool -m "$M" --no-normalize < "$SB_TMP/chain.hid" 2> "$SB_TMP/err" |
	pooldump print > "$SB_TMP/got"
cmp_matrix "--no-normalize drops the final Normalize, not the one inside the chain" \
	"$G/modules-nonorm.txt" 1e-5
sb-pool -m "$M" --truncate-dim 8 < "$SB_TMP/chain.hid" 2> "$SB_TMP/err" |
	pooldump print > "$SB_TMP/got"
cmp_matrix "--truncate-dim cuts the chain's output, then normalizes" "$G/modules-trunc8.txt" 1e-5
sb-pool -m "$M" -p cls --no-normalize < "$SB_TMP/chain.hid" 2> "$SB_TMP/err" |
	pooldump print > "$SB_TMP/got"
cmp_matrix "-p keeps the model's modules (the pooling alone is overridden)" \
	"$G/modules-nonorm.txt" 1e-5
run sb-pool -m "$M" --truncate-dim 13 -i "$SB_TMP/chain.hid"
like "--truncate-dim past the chain's width is refused" "$rc $err" \
	"^1 sb-pool: .*truncate_dim 13 exceeds the embedding width 12"
sb-pool -p cls < "$SB_TMP/chain.hid" 2> /dev/null | pooldump print > "$SB_TMP/got"
cmp_matrix "without -m, sb-pool pools only" "$G/modules-pooled.txt" 1e-5

# 3. Modules sb does not implement, or out of place: refused at load, named.
mk() {   # mk NAME ENTRIES...: a copy of tiny-distilbert-dense with this modules.json tail
	rm -rf "$SB_TMP/$1"
	cp -r "$MD/tiny-distilbert-dense" "$SB_TMP/$1"
	_n=$1; shift
	{
		printf '[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"}'
		for _e in "$@"; do printf ',%s' "$_e"; done
		printf ']\n'
	} > "$SB_TMP/$_n/modules.json"
}
P='{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}'
D='{"idx":2,"name":"2","path":"2_Dense","type":"sentence_transformers.models.Dense"}'
mk cnn "$P" '{"idx":2,"name":"2","path":"2_CNN","type":"sentence_transformers.models.CNN"}'
run sb-pool -m "$SB_TMP/cnn" -i "$SB_TMP/dense.hid"
like "sb-pool: a CNN module is refused, naming the entry and its type" "$rc $err" \
	"^1 sb-pool: .*modules.json: module 2 \('2_CNN'\): type 'sentence_transformers.models.CNN' is not implemented"
run sb-encode -m "$SB_TMP/cnn" --pool model -i /dev/null
like "sb-encode --pool model: the same" "$rc $err" "^1 sb-encode: .*module 2 \('2_CNN'\)"
mk wlp '{"idx":1,"name":"1","path":"1_WLP","type":"sentence_transformers.models.WeightedLayerPooling"}' "$P"
run sb-pool -m "$SB_TMP/wlp" -i "$SB_TMP/dense.hid"
like "WeightedLayerPooling is refused" "$rc $err" "^1 sb-pool: .*'sentence_transformers.models.WeightedLayerPooling' is not implemented"
mk early "$D" "$P"
run sb-pool -m "$SB_TMP/early" -i "$SB_TMP/dense.hid"
like "a Dense before Pooling (on token embeddings) is refused" "$rc $err" \
	"^1 sb-pool: .*module 1 \('2_Dense'\): Dense before Pooling"
mk softmax "$P" "$D"
printf '{"in_features": 32, "out_features": 20, "bias": true, "activation_function": "torch.nn.modules.activation.Softmax"}\n' \
	> "$SB_TMP/softmax/2_Dense/config.json"
run sb-pool -m "$SB_TMP/softmax" -i "$SB_TMP/dense.hid"
like "an activation sb does not implement is refused, named" "$rc $err" \
	"^1 sb-pool: .*2_Dense/config.json: activation_function 'torch.nn.modules.activation.Softmax' is not implemented"
mk shape "$P" "$D"
printf '{"in_features": 20, "out_features": 32, "bias": true, "activation_function": "torch.nn.modules.activation.Tanh"}\n' \
	> "$SB_TMP/shape/2_Dense/config.json"
run sb-pool -m "$SB_TMP/shape" -i "$SB_TMP/dense.hid"
like "weights of another shape: the tensor and both shapes named" "$rc $err" \
	"^1 sb-pool: .*2_Dense/model.safetensors: tensor 'linear.weight': shape \[20, 32\], expected \[32, 20\]"
mk noweights "$P" "$D"
rm "$SB_TMP/noweights/2_Dense/model.safetensors"
run sb-pool -m "$SB_TMP/noweights" -i "$SB_TMP/dense.hid"
like "a Dense without weights is refused" "$rc $err" \
	"^1 sb-pool: .*2_Dense: no model.safetensors or pytorch_model.bin"
mk feature "$P" "$D"
printf '{"in_features": 32, "out_features": 20, "module_input_name": "token_embeddings"}\n' \
	> "$SB_TMP/feature/2_Dense/config.json"
run sb-pool -m "$SB_TMP/feature" -i "$SB_TMP/dense.hid"
like "a Dense on another feature than sentence_embedding is refused" "$rc $err" \
	"module_input_name 'token_embeddings': only sentence_embedding is implemented"

exit $((sb_failed > 0))
