#!/bin/sh
# sb-tokenize against Hugging Face tokenizers: token ids and type ids identical for
# every line of the STS benchmark (both columns, and as pairs) and of a hard-case
# file, at max lengths 128 and 16, through both loading paths (tokenizer.json and
# vocab.txt + tokenizer_config.json), with the real vocabulary.  Goldens:
# tests/tools/tokenize-goldens.sh.  Then padding, batching, truncation flags, type
# ids, prompts, -v, the sb-tokenize(1) examples and bad usage.
. ./tests/setup

G=$SB_SRCDIR/tests/golden/tokenize
T=$SB_TMP
require_shared data/vocab/bert-base-uncased-vocab.txt
require_shared data/sts-b/sts-test.tsv
require_cmd gzip
VOCAB=$SB_SHARED/data/vocab/bert-base-uncased-vocab.txt
STS=$SB_SHARED/data/sts-b/sts-test.tsv
cd "$T" || exit 99

plan 50

# Model folders around the real vocabulary: vocab.txt only, tokenizer.json, cased.
mkmodel() {
	mkdir -p "$1"
	ln -s "$VOCAB" "$1/vocab.txt"
	cp "$G/model/config.json" "$G/model/sentence_bert_config.json" \
		"$G/model/special_tokens_map.json" "$1/"
	cp "$G/model/$2" "$1/tokenizer_config.json"
}
mkmodel vocab tokenizer_config.json
mkmodel json tokenizer_config.json
mkmodel cased tokenizer_config-cased.json
# tokenizer.json: the committed template with the vocab object made from vocab.txt.
sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' "$VOCAB" |
	awk 'BEGIN { printf "{" } { printf "%s\"%s\": %d", (NR > 1 ? ", " : ""), $0, NR - 1 }
	     END { printf "}" }' > vocab.json
awk -v vf=vocab.json '{
	i = index($0, "@VOCAB@")
	if (i) {
		printf "%s", substr($0, 1, i - 1)
		while ((getline l < vf) > 0)
			printf "%s", l
		print substr($0, i + 7)
	} else {
		print
	}
}' "$G/model/tokenizer.json.in" > json/tokenizer.json

cut -f6 "$STS" > sts1.txt
cut -f7 "$STS" > sts2.txt
cut -f6,7 "$STS" > pairs.txt
cp "$G/hard.txt" hard.txt
cp "$G/hard-pairs.txt" hard-pairs.txt

# agree DESC GOLDEN INPUT TOKDUMP-FLAGS SB-TOKENIZE-ARGS...: every line identical.
agree() {
	_d=$1 _g=$2 _in=$3 _f=$4
	shift 4
	gzip -dc "$G/$_g.gz" > expected
	if sb-tokenize "$@" < "$_in" > frames 2> err && tokdump $_f < frames > got; then
		_same=$(paste -d '\n' expected got | paste - - | awk -F '\t' '$1 == $2' | wc -l)
		_total=$(wc -l < expected)
		if [ "$_same" -eq "$_total" ] && [ "$(wc -l < got)" -eq "$_total" ]; then
			ok "$_d: $_same/$_total lines identical"
		else
			not_ok "$_d: $_same/$_total lines identical"
			diff expected got | head -6 | sed 's/^/# /'
		fi
	else
		not_ok "$_d: sb-tokenize or tokdump failed"
		sed 's/^/# /' err
	fi
}

for m in json vocab; do
	for L in 128 16; do
		agree "$m: STS sentence 1, max length $L" sts1-$L sts1.txt "" -m $m -l $L
		agree "$m: STS sentence 2, max length $L" sts2-$L sts2.txt "" -m $m -l $L
		agree "$m: STS pairs, max length $L" pairs-$L pairs.txt -p -m $m -l $L --pairs
		agree "$m: hard cases, max length $L" hard-$L hard.txt "" -m $m -l $L
		agree "$m: hard-case pairs, max length $L" hard-pairs-$L hard-pairs.txt -p \
			-m $m -l $L --pairs
	done
done
for L in 128 16; do
	agree "cased: hard cases, max length $L" hard-cased-$L hard.txt "" -m cased -l $L
done
# The max length comes from sentence_bert_config.json (128) by default.
agree "json: STS sentence 1, default max length" sts1-128 sts1.txt "" -m json

run sh -c 'echo "hello world what a time to be alive!" | sb-tokenize -m json | tokdump'
is "the seed's sentence" "$out" "101 7592 2088 2054 1037 2051 2000 2022 4142 999 102"

# Padding: longest per frame (default), max_length, multiples, none.
head -40 sts1.txt > s40.txt
sb-tokenize -m json < s40.txt | tokdump > all.txt
run sh -c 'sb-tokenize -m json -b 8 < s40.txt | tokdump -f'
is "--batch 8: 5 frames of 8 rows" "$(cut -d' ' -f1,2 "$T/out" | tr '\n' ,)" "0 8,8 8,16 8,24 8,32 8,"
w=$(awk 'NR > 0 && NR <= 8 { if (NF > m) m = NF } END { print m }' all.txt)
is "padding longest: frame width is its longest row" "$(head -1 "$T/out" | cut -d' ' -f3)" "$w"
run sh -c 'sb-tokenize -m json -b 8 --pad-to-multiple-of 8 < s40.txt | tokdump -f'
is "--pad-to-multiple-of 8" "$(cut -d' ' -f3 "$T/out" | awk '$1 % 8 { bad = 1 } END { print bad + 0 }')" 0
run sh -c 'sb-tokenize -m json --padding max_length -l 32 < s40.txt | tokdump -f'
is "--padding max_length" "$(cut -d' ' -f3 "$T/out" | sort -u)" 32
run sh -c 'sb-tokenize -m json --padding none < s40.txt | tokdump -f'
is "--padding none: frames of equal-length rows" \
	"$(awk '{ n += $2 } END { print n }' "$T/out")/$(wc -l < "$T/out")" \
	"40/$(awk '{ print NF }' all.txt | uniq | wc -l)"
run sh -c 'sb-tokenize -m json --padding none < s40.txt | tokdump'
is "--padding none: same ids" "$out" "$(cat all.txt)"

# Truncated rows are flagged per row.
run sh -c 'sb-tokenize -m json -l 16 < sts1.txt | tokdump -t'
n16=$(awk '$1 == 1' "$T/out" | wc -l)
is "truncated flags" "$n16" "$(gzip -dc "$G/sts1-128.gz" | awk 'NF > 16' | wc -l)"
run sh -c 'sb-tokenize -v -m json -l 16 < sts1.txt > /dev/null'
like "-v counts truncated rows" "$err" "1379 rows, $n16 truncated"
like "-v says where max length came from" "$err" "max_length +16 +from option --max-length"
run sh -c 'sb-tokenize -v -m json < /dev/null > /dev/null'
like "-v: max_seq_length from sentence_bert_config.json" "$err" \
	"max_length +128 +from sentence_bert_config.json"

# token_type_ids: DistilBERT has none for single sentences; pairs have them; BERT too.
run sh -c 'echo hi | sb-tokenize -m json | tokdump -f'
is "distilbert: no token_type_ids" "$out" "0 1 3"
run sh -c 'printf "hi\tyou\n" | sb-tokenize -m json --pairs | tokdump -f -p'
is "pairs: token_type_ids" "$out" "0 1 5 types"
mkdir bert && cp json/* bert/ 2>/dev/null; rm -f bert/vocab.txt && ln -s "$VOCAB" bert/vocab.txt
sed 's/"distilbert"/"bert"/' "$G/model/config.json" > bert/config.json
run sh -c 'echo hi | sb-tokenize -m bert | tokdump -f'
is "bert: token_type_ids" "$out" "0 1 3 types"
run sh -c 'echo hi | sb-tokenize -m bert --no-token-type-ids | tokdump -f'
is "--no-token-type-ids" "$out" "0 1 3"

# Prompts are prepended; prompt_length is [CLS] + the prompt's tokens.
run sh -c 'echo "the cat" | sb-tokenize -m json --prompt "query: " | sb-cat'
like "--prompt: prompt_length in meta" "$out" '"prompt_length":3'
run sh -c 'echo "the cat" | sb-tokenize -m json --prompt "query: " | tokdump'
is "--prompt: ids" "$out" "$(echo 'query: the cat' | sb-tokenize -m json | tokdump)"

# Texts are carried unless --no-text.
run sh -c 'echo "hello there" | sb-tokenize -m json | tokdump -x'
is "text carried" "$(printf '%s' "$out" | cut -f2)" "hello there"
run sh -c 'echo "hello there" | sb-tokenize -m json --no-text | sb-cat'
check "--no-text" test -n "$out" -a -z "$(printf '%s' "$out" | grep '"text"')"

# The examples of sb-tokenize(1).
run sh -c "echo 'hello world what a time to be alive!' | sb-tokenize -m '$SB_SRCDIR/tests/models/tiny-distilbert' | sb-cat"
like "man example 1" "$out" '"kind":"tokens".*"rows":1'
run sh -c "cut -f6,7 '$STS' | sb-tokenize -m '$SB_SRCDIR/tests/models/tiny-distilbert' --pairs -l 16 --padding max_length > pairs.sbf && tokdump -f < pairs.sbf | cut -d' ' -f3 | sort -u"
is "man example 2" "$out" 16
run sh -c "sb-tokenize -v -m '$SB_SRCDIR/tests/models/tiny-distilbert' < /dev/null > /dev/null"
like "man example 3" "$err" "tokenizer from tokenizer.json"

# Bad usage and bad models.
run sb-tokenize --help
check "--help: usage on stdout, exit 0" test "$rc" = 0 -a -n "$out"
run sb-tokenize -m json --padding sideways
check "bad --padding: exit 2" test "$rc" = 2
run sb-tokenize
like "no model: exit 2 and a message" "$rc $err" "^2 .*no model"
run sh -c 'echo x | sb-tokenize -m /nonexistent/model'
like "missing model: exit 1, says what" "$rc $err" "^1 .*"
run sh -c 'echo x | sb-tokenize -m json -l 2'
like "max length too small: exit 1" "$rc $err" "^1 .*max length 2"
