#!/bin/sh
# sb-tokenize on byte-level BPE files against Hugging Face tokenizers: ids, type ids,
# attention masks and truncated flags identical on every line of the corpora (STS-B,
# the WordPiece hard cases, the BPE hard cases, invalid UTF-8, every code point of
# planes 0-3 and 14), single and pairs, at max lengths 512 and 16, for the real Qwen3
# tokenizer.json, a RoBERTa folder built from GPT-2's BPE (tokenizer.json, and
# vocab.json + merges.txt) and the small tiny-qwen file (every added-token flag).
# Goldens: tests/tools/tokenize-bpe-goldens.sh.  Then lines in pieces, bounded memory
# on a 64 MB line, the pre-token bound, -v, and malformed files.
. ./tests/setup

G=$SB_SRCDIR/tests/golden/tokenize/bpe
T=$SB_TMP
require_shared data/tokenizers/qwen3/tokenizer.json
require_shared data/tokenizers/gpt2/encoder.json
require_shared data/sts-b/sts-test.tsv
require_cmd gzip
require_cmd sha256sum
STS=$SB_SHARED/data/sts-b/sts-test.tsv
cd "$T" || exit 99

plan 76

# Model folders: the real Qwen3 file, RoBERTa from GPT-2's files (both layouts), tiny.
mkdir qwen3
ln -s "$SB_SHARED/data/tokenizers/qwen3/tokenizer.json" qwen3/tokenizer.json
cp "$SB_SHARED/data/tokenizers/qwen3/tokenizer_config.json" qwen3/
"$PYTHON3" "$SB_SRCDIR/tests/tools/tokenize-mkbpe.py" "$SB_SHARED/data/tokenizers/gpt2" roberta
"$PYTHON3" "$SB_SRCDIR/tests/tools/tokenize-mkbpe.py" "$SB_SHARED/data/tokenizers/gpt2" \
	roberta-vj --no-json
ln -s "$G/tiny-qwen" tiny
pad_of() {
	case $1 in qwen3) echo 151643 ;; roberta*) echo 1 ;; tiny) echo 1256 ;; esac
}

cut -f6 "$STS" > sts1.txt
cut -f7 "$STS" > sts2.txt
cut -f6,7 "$STS" > pairs.txt
cp "$SB_SRCDIR/tests/golden/tokenize/hard.txt" "$SB_SRCDIR/tests/golden/tokenize/hard-pairs.txt" .
cp "$G/hard-bpe.txt" "$G/hard-bpe-pairs.txt" "$G/hard-bpe-invalid.txt" .

# agree MODEL GOLDEN-MODEL NAME LEN: ids (and type ids for pairs), truncated flags (from
# the lengths without truncation) and, at 16, the attention masks of rows padded to the
# max length (tokdump checks ones then zeros and the pad id) identical on every line.
agree() {
	_m=$1 _gm=$2 _n=$3 _l=$4
	_p= _f=
	case $_n in *pairs) _p=--pairs ;; esac
	case $_n in *invalid) _f=--replace-invalid ;; esac
	_pad=
	[ "$_l" = 16 ] && _pad="--padding max_length"
	# Trailing spaces aside: an empty pair is " | " there, " |" from tokdump.
	gzip -dc "$G/$_gm-$_n-$_l.gz" | sed 's/ *$//' > expected
	gzip -dc "$G/$_gm-$_n-len.gz" | awk -v l="$_l" '{ print ($1 > l) ? 1 : 0 }' > flags
	# shellcheck disable=SC2086
	if sb-tokenize -m "$_m" -l "$_l" --no-text $_p $_f $_pad < "$_n.txt" > frames 2> err &&
	   tokdump -t -P "$(pad_of "$_m")" ${_p:+-p} < frames > got; then
		# tokdump -t prints "FLAG ids...": an empty row is the flag alone.
		awk '{ print (NF > 1) ? substr($0, index($0, " ") + 1) : "" }' got |
			sed 's/ *$//' > got.ids
		cut -d' ' -f1 got > got.flags
		_same=$(paste -d '\n' expected got.ids | paste - - | awk -F '\t' '$1 == $2' | wc -l)
		_total=$(wc -l < expected)
		if [ "$_same" -eq "$_total" ] && [ "$(wc -l < got)" -eq "$_total" ] &&
		   cmp -s flags got.flags; then
			ok "$_m: $_n, max length $_l: $_same/$_total rows identical (ids, flags${_pad:+, masks})"
		else
			not_ok "$_m: $_n, max length $_l: $_same/$_total rows identical"
			diff expected got.ids | head -6 | sed 's/^/# /'
			cmp flags got.flags | sed 's/^/# flags: /'
		fi
	else
		not_ok "$_m: $_n, max length $_l: sb-tokenize or tokdump failed"
		sed 's/^/# /' err
	fi
}

for m in qwen3 roberta tiny; do
	for n in sts1 sts2 hard hard-bpe hard-bpe-invalid pairs hard-pairs hard-bpe-pairs; do
		for L in 512 16; do
			agree $m $m $n $L
		done
	done
done
# vocab.json + merges.txt: the ids of the tokenizer.json transformers builds from them.
for n in sts1 hard-bpe pairs; do
	for L in 512 16; do
		agree roberta-vj roberta $n $L
	done
done

# Every code point of planes 0-3 and 14 in context: sha256 of each block of 4096 rows.
"$PYTHON3" "$SB_SRCDIR/tests/tools/tokenize-bpe-allchars.py" > allchars.txt
for m in qwen3 roberta; do
	sb-tokenize -m $m -l 512 --no-text -b 4096 < allchars.txt | tokdump -P "$(pad_of $m)" > ac.ids
	split -l 4096 -a 3 -d ac.ids ac.
	for f in ac.[0-9][0-9][0-9]; do sha256sum < "$f" | cut -d' ' -f1; done > ac.sha
	rm -f ac.[0-9][0-9][0-9]
	bad=$(paste -d ' ' "$G/$m-allchars.sha256" ac.sha | awk '$1 != $2 { print NR - 1 }' | tr '\n' ' ')
	if [ -z "$bad" ] && [ "$(wc -l < ac.sha)" -eq "$(wc -l < "$G/$m-allchars.sha256")" ]; then
		ok "$m: every code point of planes 0-3 and 14 in context: $(wc -l < ac.ids) rows identical"
	else
		not_ok "$m: every code point: blocks of 4096 rows that differ: ${bad:-count}"
		diag "tests/tools/tokenize-bpe-probe.sh lists the code points"
	fi
done

# Lines in pieces (the runner's --chunk-bytes) give the ids of whole lines.
awk 'BEGIN { srand(7); split("hello world caf\303\251 <|im_start|> it'"'"'s 12345 \344\270\255\346\226\207 !! \t \302\240 e\314\201", w, " ")
	for (i = 0; i < 12; i++) { n = (i % 3 == 0) ? 5 : 3000; line = ""
		for (k = 0; k < n; k++) line = line w[1 + int(rand() * 12)] ((k % 7) ? " " : "  ")
		print line } }' > long.txt
cat hard-bpe.txt >> long.txt
for m in qwen3 roberta; do
	sb-tokenize -m $m -l 100000 < long.txt | sb-cat --tsv input_ids --unpad > whole
	for ch in 1 7 4096; do
		sb-tokenize -m $m -l 100000 --chunk-bytes $ch < long.txt |
			sb-cat --tsv input_ids --unpad > pieces
		check "$m: lines in pieces of $ch bytes: the ids of whole lines" cmp -s whole pieces
	done
done

# A 64 MB line of words: one row, bounded memory (ASan's quarantine kept small).
awk 'BEGIN { s = "hello world caf\303\251 \344\270\255\346\226\207 it'"'"'s 42 "; t = s
	while (length(t) < 1048576) t = t t
	for (i = 0; i < 64; i++) printf "%s", t; printf "\nthe cat\n" }' > big.txt
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4" \
	/usr/bin/time -f '%M' -o rss sb-tokenize -m qwen3 --no-text -l 512 < big.txt |
	sb-cat --tsv input_ids --unpad > big.out
rss=$(tail -n 1 rss)
diag "qwen3: peak RSS tokenizing a 64 MB line: $rss kB"
check "qwen3: a 64 MB line: peak RSS under 400 MB ($rss kB)" test "$rss" -lt 409600
is "qwen3: a 64 MB line: two rows, the first of 512 tokens" \
	"$(awk '{ print NF }' big.out | tr '\n' ' ')" "512 2 "

# A pre-token (here one word) is held whole up to 1 MiB: longer is refused, loudly.
awk 'BEGIN { s = "a"; while (length(s) < 1048576) s = s s; print "ok " substr(s, 1, 1000000)
	print "too " s "b" }' > word.txt
run sh -c 'sb-tokenize -m roberta -l 128 < word.txt > word.out'
like "a word of 1 MB, then one over 1 MiB: refused, exit 1, the line named" \
	"$rc $err" "^1 .*line 2.*more than 1048576 bytes in one pre-token"
is "  the row before it was written" \
	"$(tokdump -P 1 < word.out 2> /dev/null | awk '{ print NF }')" "128"

# -v names the pipeline.
run sh -c 'sb-tokenize -v -m qwen3 < /dev/null > /dev/null'
like "-v: NFC normalizer" "$err" "normalizer +NFC +from tokenizer.json"
like "-v: Split with Qwen's pattern, then ByteLevel" "$err" "pre_tokenizer +Split\\(qwen2\\) ByteLevel"
like "-v: BPE, its merges" "$err" "model +BPE, 151387 merges, byte-level"
run sh -c 'sb-tokenize -v -m roberta-vj < /dev/null > /dev/null'
like "-v: vocab.json + merges.txt" "$err" "tokenizer from vocab.json \\+ merges.txt"

# sb-tokenize does no products: BLAS's worker threads, which spin for a tenth of a
# second after the library loads, are stopped at its start.  Once its stage is open
# (-v prints the prompt) and it waits for input, it is one thread (on a machine of one
# CPU BLAS starts none, and this holds either way).
mkfifo blas.fifo
sb-tokenize -v -m tiny < blas.fifo > /dev/null 2> blas.err &
pid=$!
exec 7> blas.fifo
wait_until 60 grep -q 'prompt' blas.err
threads=$(ls "/proc/$pid/task" | wc -l | tr -d ' ')
exec 7>&-
wait "$pid"
is "waiting for input: one thread, no BLAS workers" "$threads" 1

# Malformed or unsupported files: exit 1 and one line naming the JSON path.
mkdir bad
cp "$G/tiny-qwen/tokenizer_config.json" bad/
sed 's/\\\\p{N}|/\\\\p{N}+|/' "$G/tiny-qwen/tokenizer.json" > bad/tokenizer.json
run sh -c 'echo x | sb-tokenize -m bad'
like "an unknown Split regex: refused with its JSON path" "$rc $err" \
	"^1 .*tokenizer.json: pre_tokenizer.pretokenizers\\[0\\]: pattern.Regex .* is not one sb implements"
is "  on one line" "$(printf '%s\n' "$err" | wc -l | tr -d ' ')" 1
sed 's/\["h", "e"\]/["h", "ezz"]/' "$G/tiny-qwen/tokenizer.json" > bad/tokenizer.json
run sh -c 'echo x | sb-tokenize -m bad'
like "a merge naming an unknown token: refused with its index" "$rc $err" \
	"^1 .*tokenizer.json: model.merges\\[2\\]: 'ezz' is not in model.vocab"
sed 's/"<|endoftext|>", "single_word"/"<|endoftext|>", "single_word": 1, "x"/' \
	"$G/tiny-qwen/tokenizer.json" > bad/tokenizer.json
run sh -c 'echo x | sb-tokenize -m bad'
like "a flag of the wrong type: refused with its path" "$rc $err" \
	"^1 .*tokenizer.json: added_tokens\\[0\\]: single_word: expected a boolean"
sed 's/"vocab": {/"vocab": {"huge": 1073741824, /' "$G/tiny-qwen/tokenizer.json" > bad/tokenizer.json
run sh -c 'echo x | sb-tokenize -m bad'
like "a huge id: refused before anything is allocated for it" "$rc $err" \
	"^1 .*tokenizer.json: model.vocab: token id 1073741824 out of range"
