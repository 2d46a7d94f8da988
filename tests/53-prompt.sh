#!/bin/sh
# Prompts: include_prompt false in 1_Pooling/config.json leaves the prompt's tokens out of
# the pooling (sb-pool -m and sb-encode --pool model), as sentence-transformers does, against
# PyTorch on tiny-distilbert (goldens of tests/tools/modules-ref.py, max abs <= 1e-5);
# prompt_length counts the prompt as sentence-transformers does; the named prompts of
# config_sentence_transformers.json (--prompt-name, default_prompt_name).
. ./tests/setup

G=$SB_SRCDIR/tests/golden/pool
S=$SB_SRCDIR/tests/sample.txt
plan 23

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

# The model: tiny-distilbert (mean pooling, 32 wide) with include_prompt false.
M=$SB_TMP/m
cp -r "$SB_SRCDIR/tests/models/tiny-distilbert" "$M"
pooling() {   # pooling MODE INCLUDE
	printf '{"word_embedding_dimension": 32, "pooling_mode": "%s", "include_prompt": %s}\n' \
		"$1" "$2" > "$M/1_Pooling/config.json"
}
pooling mean false

sb-tokenize -m "$M" --prompt 'query: ' < "$S" > "$SB_TMP/q.tok"
is "prompt_length is [CLS] + the prompt's tokens, as sentence-transformers counts it" \
	"$(pooldump meta < "$SB_TMP/q.tok" | grep '^prompt_length=')" "prompt_length=6"
sb-encode -m "$M" < "$SB_TMP/q.tok" > "$SB_TMP/q.hid"
sb-pool -m "$M" < "$SB_TMP/q.hid" 2> "$SB_TMP/err" | pooldump print > "$SB_TMP/got"
cmp_matrix "sb-pool: include_prompt false leaves the prompt's tokens out of the mean" \
	"$G/prompt-mean.txt" 1e-5
sb-encode -m "$M" --pool model < "$SB_TMP/q.tok" 2> "$SB_TMP/err" |
	pooldump print > "$SB_TMP/got"
cmp_matrix "sb-encode --pool model: the same in-process" "$G/prompt-mean.txt" 1e-5
for mode in cls max lasttoken weightedmean; do
	pooling $mode false
	sb-pool -m "$M" < "$SB_TMP/q.hid" 2> "$SB_TMP/err" | pooldump print > "$SB_TMP/got"
	cmp_matrix "include_prompt false with $mode pooling (sb-pool)" "$G/prompt-$mode.txt" 1e-5
done
pooling lasttoken false
sb-encode -m "$M" --pool model < "$SB_TMP/q.tok" 2> "$SB_TMP/err" |
	pooldump print > "$SB_TMP/got"
cmp_matrix "include_prompt false with lasttoken pooling (sb-encode)" "$G/prompt-lasttoken.txt" 1e-5
pooling mean true
sb-pool -m "$M" < "$SB_TMP/q.hid" 2> "$SB_TMP/err" | pooldump print > "$SB_TMP/got"
cmp_matrix "include_prompt true keeps them" "$G/prompt-incl-mean.txt" 1e-5
sb-pool -p mean < "$SB_TMP/q.hid" 2> "$SB_TMP/err" | pooldump print > "$SB_TMP/got"
cmp_matrix "so does sb-pool without a model (its pooling's default)" "$G/prompt-incl-mean.txt" 1e-5

# Truncation: at max length 4 the prompt fills the row and only [SEP] is pooled.
pooling mean false
sb-tokenize -m "$M" --prompt 'query: ' -l 4 < "$S" > "$SB_TMP/q4.tok"
is "prompt_length of a prompt cut by max length 4 (the prompt alone, truncated, minus one)" \
	"$(pooldump meta < "$SB_TMP/q4.tok" | grep '^prompt_length=')" "prompt_length=3"
sb-encode -m "$M" < "$SB_TMP/q4.tok" | sb-pool -m "$M" 2> "$SB_TMP/err" |
	pooldump print > "$SB_TMP/got"
cmp_matrix "rows no longer than the prompt pool what the mask keeps" "$G/prompt-mean-l4.txt" 1e-5
sb-encode -m "$M" --pool model < "$SB_TMP/q4.tok" 2> "$SB_TMP/err" |
	pooldump print > "$SB_TMP/got"
cmp_matrix "... in-process too" "$G/prompt-mean-l4.txt" 1e-5
run sb-pool -m "$M" -v -i "$SB_TMP/q.hid" -o /dev/null
like "sb-pool -v says the prompt is left out" "$err" \
	"^sb-pool: pooling mean without the prompt's tokens \(from "

# Named prompts (config_sentence_transformers.json).
printf '{"prompts": {"query": "query: ", "passage": "passage: ", "none": ""}, "default_prompt_name": null}\n' \
	> "$M/config_sentence_transformers.json"
sb-tokenize -m "$M" --prompt-name query < "$S" > "$SB_TMP/n.tok"
check "--prompt-name query gives the frames of --prompt 'query: '" cmp -s "$SB_TMP/n.tok" "$SB_TMP/q.tok"
sb-tokenize -m "$M" < "$S" > "$SB_TMP/plain.tok"
sb-tokenize -m "$M" --prompt-name none < "$S" > "$SB_TMP/none.tok"
check "an empty named prompt is no prompt" cmp -s "$SB_TMP/none.tok" "$SB_TMP/plain.tok"
run sb-tokenize -m "$M" --prompt-name doc -i "$S"
like "an unknown prompt name is refused, naming the known ones" "$rc $err" \
	"^1 sb-tokenize: .*prompt name 'doc' is not in .*config_sentence_transformers.json \(prompts: query, passage, none\)$"
run sb-tokenize -m "$M" --prompt 'x: ' --prompt-name query -i "$S"
like "--prompt and --prompt-name together: usage, exit 2" "$rc $err" \
	"^2 sb-tokenize: --prompt and --prompt-name exclude each other"
run sb-tokenize -m "$SB_SRCDIR/tests/models/tiny-distilbert" --prompt-name query -i "$S"
like "--prompt-name on a model without config_sentence_transformers.json" "$rc $err" \
	"^1 sb-tokenize: .*prompt name 'query': .* has no config_sentence_transformers.json$"
printf '{"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": "query"}\n' \
	> "$M/config_sentence_transformers.json"
sb-tokenize -m "$M" -v < "$S" > "$SB_TMP/d.tok" 2> "$SB_TMP/err"
check "the default prompt applies when no prompt is given" cmp -s "$SB_TMP/d.tok" "$SB_TMP/q.tok"
like "... and -v says so" "$(cat "$SB_TMP/err")" \
	"^sb-tokenize: prompt 'query' \(default_prompt_name of config_sentence_transformers.json, --prompt '' for none\): 7 bytes, prompt_length 6$"
sb-tokenize -m "$M" --prompt '' < "$S" > "$SB_TMP/off.tok"
check "--prompt '' turns the default off" cmp -s "$SB_TMP/off.tok" "$SB_TMP/plain.tok"
printf '{"prompts": {"query": "query: "}, "default_prompt_name": "doc"}\n' \
	> "$M/config_sentence_transformers.json"
run sb-tokenize -m "$M" -i "$S"
like "a default_prompt_name that is not among the prompts is refused" "$rc $err" \
	"^1 sb-tokenize: .*default_prompt_name 'doc' is not in .*\(prompts: query\)$"

exit $((sb_failed > 0))
