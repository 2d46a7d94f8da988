#!/bin/sh
# sb-encode against PyTorch goldens (tests/golden/encode, made by
# tests/tools/encode-goldens.sh): every STS sentence through every test model variant,
# cosine >= 0.99999 and max abs <= 1e-4; then the failure paths.  Under valgrind every
# input is cut to its first 200 sentences (or pairs), or the run would take an hour: the
# same paths are taken, on fewer rows.
. ./tests/setup

M=$SB_SRCDIR/tests/models
G=$SB_SRCDIR/tests/golden/encode
T=$SB_TMP

plan 44

# cap: stdin to stdout, cut to the first $n lines under valgrind.
n_sts=2758 n_pairs=1379 n=
[ -n "${SB_VALGRIND:-}" ] && n_sts=200 n_pairs=200 n=200
cap() {
	if [ -n "$n" ]; then head -n "$n"; else cat; fi
}
gzip -dc "$G/sts.ids.gz" > "$T/sts.ids" && gzip -dc "$G/sts-pairs.ids.gz" > "$T/pairs.ids" ||
	{ echo "Bail out! cannot read $G"; exit 1; }
if [ -n "$n" ]; then
	cap < "$T/sts.ids" > "$T/x" && mv "$T/x" "$T/sts.ids"
	cap < "$T/pairs.ids" > "$T/x" && mv "$T/x" "$T/pairs.ids"
fi
head -n 500 "$T/sts.ids" > "$T/s500.ids"
enctool frames "$T/sts.ids" > "$T/sts.sbf"
enctool frames -r 17 --int32 --text "$T/sts.ids" > "$T/sts32.sbf"
enctool frames "$T/pairs.ids" > "$T/pairs.sbf"
enctool frames "$T/s500.ids" > "$T/s500.sbf"

# golden NAME: the golden file, uncompressed into $T (its first $n rows under valgrind).
golden() {
	gzip -dc "$G/$1.gz" | cap > "$T/$1"
	echo "$T/$1"
}

# compare DESC GOLDEN [enctool compare options] < frames
compare() {
	_d=$1 _g=$2
	shift 2
	if enctool compare "$@" "$_g" > "$T/cmp" 2>&1; then
		ok "$_d: $(cat "$T/cmp")"
	else
		not_ok "$_d"
		diag "$(cat "$T/cmp")"
	fi
}

# Every variant, with the pooling of its own 1_Pooling/config.json.
for m in tiny-distilbert tiny-distilbert-f16 tiny-distilbert-bf16 tiny-distilbert-relu-cls \
	 tiny-bert-gelu-new; do
	sb-encode -m "$M/$m" --pool model < "$T/sts.sbf" > "$T/o.sbf"
	compare "$m: $n_sts STS sentences, pooled in-process" "$(golden $m.pooled)" < "$T/o.sbf"
done
sb-encode -m "$M/tiny-distilbert-bin" --pool model < "$T/sts.sbf" > "$T/o.sbf"
compare "pytorch_model.bin with prefixes and extra heads: same as safetensors" \
	"$T/tiny-distilbert.pooled" < "$T/o.sbf"
sb-encode -m "$M/tiny-bert" --pool model < "$T/pairs.sbf" > "$T/o.sbf"
compare "bert with token types: $n_pairs STS pairs" "$(golden tiny-bert.pooled)" < "$T/o.sbf"

# From text: sb-tokenize gives the ids of Hugging Face tokenizers, so the whole pipeline
# matches too (singles, and pairs with token types for BERT).
require_shared data/sts-b/sts-test.tsv
cut -f6 "$SB_SHARED/data/sts-b/sts-test.tsv" > "$T/s1"
cut -f7 "$SB_SHARED/data/sts-b/sts-test.tsv" > "$T/s2"
cat "$T/s1" "$T/s2" | cap > "$T/sts.txt"
paste "$T/s1" "$T/s2" | cap > "$T/pairs.txt"
sb-tokenize -m "$M/tiny-distilbert" < "$T/sts.txt" |
	sb-encode -m "$M/tiny-distilbert" -p model > "$T/o.sbf"
compare "sb-tokenize | sb-encode on the STS text" "$T/tiny-distilbert.pooled" < "$T/o.sbf"
sb-tokenize -m "$M/tiny-bert" --pairs < "$T/pairs.txt" |
	sb-encode -m "$M/tiny-bert" -p model > "$T/o.sbf"
compare "sb-tokenize --pairs | sb-encode (bert, token types)" "$T/tiny-bert.pooled" < "$T/o.sbf"

# The man page's examples.
printf 'A girl is styling her hair.\nA group of men play soccer on the beach.\n' \
	> "$T/sentences.txt"
(cd "$SB_SRCDIR" && sb-tokenize -m tests/models/tiny-distilbert < "$T/sentences.txt" |
	sb-encode -m tests/models/tiny-distilbert --pool model > "$T/emb.sbf" &&
	sb-tokenize -m tests/models/tiny-distilbert < "$T/sentences.txt" |
	sb-encode -m tests/models/tiny-distilbert > "$T/hidden.sbf" &&
	sb-pool -m tests/models/tiny-distilbert < "$T/hidden.sbf" > "$T/emb2.sbf" 2> /dev/null)
head -n 2 "$T/tiny-distilbert.pooled" > "$T/p2"
compare "sb-encode(1) example 1" "$T/p2" < "$T/emb.sbf"
compare "sb-encode(1) example 2" "$T/p2" < "$T/emb2.sbf"

# Pooling modes, hidden states, the two-program pipeline.
sb-encode -m "$M/tiny-distilbert" -p cls < "$T/s500.sbf" > "$T/o.sbf"
compare "--pool cls" "$(golden tiny-distilbert.cls)" < "$T/o.sbf"
sb-encode -m "$M/tiny-distilbert" -p max < "$T/s500.sbf" > "$T/o.sbf"
compare "--pool max" "$(golden tiny-distilbert.max)" < "$T/o.sbf"
sb-encode -m "$M/tiny-distilbert" < "$T/s500.sbf" > "$T/o.sbf"
compare "last_hidden_state on real tokens, zeros at padding" \
	"$(golden tiny-distilbert.hidden)" --hidden < "$T/o.sbf"
sb-encode -m "$M/tiny-distilbert" < "$T/sts.sbf" | sb-pool -m "$M/tiny-distilbert" \
	> "$T/o.sbf" 2> /dev/null
compare "sb-encode | sb-pool" "$T/tiny-distilbert.pooled" < "$T/o.sbf"

# The same results whatever the batching, threads, kernels and products.
sb-encode -m "$M/tiny-distilbert" -p mean --max-batch-tokens 40 -t 1 < "$T/sts32.sbf" \
	> "$T/o.sbf"
compare "int32 ids, 17-row frames, 40-token sub-batches, 1 thread" \
	"$T/tiny-distilbert.pooled" < "$T/o.sbf"
sb-encode -m "$M/tiny-distilbert" -p mean -t 3 --max-batch-tokens 100 < "$T/sts.sbf" \
	> "$T/o.sbf"
compare "3 threads, 100-token sub-batches" "$T/tiny-distilbert.pooled" < "$T/o.sbf"
sb-encode -m "$M/tiny-distilbert" -p mean --blas-threads 2 < "$T/sts.sbf" > "$T/o.sbf"
compare "one thread with 2 BLAS threads" "$T/tiny-distilbert.pooled" < "$T/o.sbf"
sb-encode -m "$M/tiny-distilbert" -p mean --no-fuse-qkv < "$T/sts.sbf" > "$T/o.sbf"
compare "--no-fuse-qkv" "$T/tiny-distilbert.pooled" < "$T/o.sbf"
for k in generic avx2 avx512; do
	if sb-encode -m "$M/tiny-distilbert" -p mean --kernels $k < "$T/s500.sbf" \
		> "$T/k.sbf" 2> "$T/err"; then
		head -n 500 "$T/tiny-distilbert.pooled" > "$T/p500"
		compare "--kernels $k" "$T/p500" < "$T/k.sbf"
	else
		like "--kernels $k: refused only when the cpu lacks it" "$(cat "$T/err")" \
			"not supported by this cpu"
	fi
done

# Texts and meta are carried.
sb-encode -m "$M/tiny-distilbert" -p mean < "$T/sts32.sbf" | sb-cat > "$T/json" 2> "$T/err"
like "texts are carried through" "$(head -n 1 "$T/json")" '"text": ?\["2 47 425 130 780'
like "meta names the model and its fingerprint" "$(head -n 1 "$T/json")" \
	'"model_fingerprint": ?"fnv1a64:[0-9a-f]{16}"'
fp_bin=$(sb-encode -m "$M/tiny-distilbert-bin" -p mean < "$T/s500.sbf" | sb-cat | head -n 1 |
	 grep -o 'fnv1a64:[0-9a-f]*')
fp_st=$(sb-encode -m "$M/tiny-distilbert" -p mean < "$T/s500.sbf" | sb-cat | head -n 1 |
	grep -o 'fnv1a64:[0-9a-f]*')
is "the same floats from .bin and .safetensors give the same fingerprint" "$fp_bin" "$fp_st"

# Bad input.
printf '2 47 913 3\n2 47 914 3\n' > "$T/oov.ids"
enctool frames "$T/oov.ids" > "$T/oov.sbf"
run sb-encode -m "$M/tiny-distilbert" -i "$T/oov.sbf"
like "a token id past the vocabulary: a clear error" "$rc $err" \
	"^1 sb-encode: .*row 1, position 2: token id 914 out of range \(vocab_size 914\)"
awk 'BEGIN { printf "2"; for (i = 0; i < 128; i++) printf " 47"; print " 3" }' > "$T/long.ids"
enctool frames "$T/long.ids" > "$T/long.sbf"
run sb-encode -m "$M/tiny-distilbert" -i "$T/long.sbf"
like "130 tokens with 128 positions: a clear error" "$rc $err" \
	"^1 sb-encode: .*row 0: token at position 128, past max_position_embeddings 128"
head -n 3 "$T/sts.ids" > "$T/s3.ids"
enctool frames --no-mask "$T/s3.ids" > "$T/nomask.sbf"
run sb-encode -m "$M/tiny-distilbert" -i "$T/nomask.sbf"
like "a tokens frame without attention_mask: a clear error" "$rc $err" \
	"^1 sb-encode: .*no tensor 'attention_mask'"
printf '2 47 3 | 0 0 2\n' > "$T/tt.ids"
enctool frames "$T/tt.ids" > "$T/tt.sbf"
run sb-encode -m "$M/tiny-bert" -i "$T/tt.sbf"
like "a token type past type_vocab_size: a clear error" "$rc $err" \
	"^1 sb-encode: .*row 0, position 2: token type 2 out of range \(type_vocab_size 2\)"
sb-encode -m "$M/tiny-distilbert" -p mean < "$T/s500.sbf" > "$T/emb.sbf"
run sb-encode -m "$M/tiny-distilbert" -i "$T/emb.sbf"
like "an embeddings frame is not a tokens frame" "$rc $err" \
	"expected a tokens frame, got embeddings"
head -c 1000 "$T/s500.sbf" > "$T/cut.sbf"
run sb-encode -m "$M/tiny-distilbert" -i "$T/cut.sbf"
check "a cut stream fails with exit 1" test "$rc" = 1

# newmodel NAME SED: a copy of tiny-distilbert with config.json edited by SED.
newmodel() {
	mkdir -p "$T/$1"
	cp "$M/tiny-distilbert/model.safetensors" "$T/$1/"
	sed "$2" "$M/tiny-distilbert/config.json" > "$T/$1/config.json"
}
newmodel deberta 's/"model_type": "distilbert"/"model_type": "deberta-v2"/'
run sb-encode -m "$T/deberta" -i "$T/s500.sbf"
like "an unknown architecture is refused by name" "$rc $err" \
	"^1 sb-encode: .*model_type 'deberta-v2' is not supported"
newmodel layers3 's/"n_layers": 2/"n_layers": 3/'
run sb-encode -m "$T/layers3" -i "$T/s500.sbf"
like "a missing tensor is named" "$rc $err" \
	"^1 sb-encode: .*tensor 'transformer.layer.2.attention.q_lin.weight' not found"
newmodel ffn48 's/"hidden_dim": 64/"hidden_dim": 48/'
run sb-encode -m "$T/ffn48" -i "$T/s500.sbf"
like "a mis-shaped tensor: its name and both shapes" "$rc $err" \
	"^1 sb-encode: .*tensor 'transformer.layer.0.ffn.lin1.weight': shape \[64, 32\], \
expected \[48, 32\]"
newmodel gelu_fast 's/"activation": "gelu"/"activation": "swish"/'
run sb-encode -m "$T/gelu_fast" -i "$T/s500.sbf"
like "an unknown activation is named" "$rc $err" \
	"^1 sb-encode: .*activation 'swish' is not supported"
newmodel heads5 's/"n_heads": 4/"n_heads": 5/'
run sb-encode -m "$T/heads5" -i "$T/s500.sbf"
like "heads that do not divide the width" "$rc $err" "not a multiple of the 5 attention heads"
run sb-encode -m "$T/no-such-model" -i "$T/s500.sbf"
check "a missing model folder fails with exit 1" test "$rc" = 1

# Usage.
run sb-encode -i "$T/s500.sbf"
check "no -m: usage and exit 2" test "$rc" = 2 -a -n "$err"
run sb-encode -m "$M/tiny-distilbert" --threads 0
check "--threads 0: exit 2" test "$rc" = 2
run sb-encode -m "$M/tiny-distilbert" --threads 257
like "--threads 257: exit 2" "$rc $err" "^2 sb-encode: --threads: expected 1 to 256"
run sb-encode -m "$M/tiny-distilbert" --threads 2 --blas-threads 2
like "--threads with --blas-threads: exit 2" "$rc $err" "exclude each other"
run sb-encode -m "$M/tiny-distilbert" --kernels sse9
like "--kernels with an unknown name: exit 2" "$rc $err" "^2 sb-encode: --kernels: kernels 'sse9'"
run sb-encode -m "$M/tiny-distilbert" --normalize
check "--normalize without --pool: exit 2" test "$rc" = 2
run sb-encode -m "$M/tiny-distilbert" -p avg -i "$T/s500.sbf"
like "an unknown pooling mode is named" "$rc $err" "^1 sb-encode: .*avg"

exit $((sb_failed > 0))
