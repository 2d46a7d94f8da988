#!/bin/sh
# sb-tokenize on SentencePiece files (converted as transformers does) against Hugging
# Face tokenizers: ids, type ids, attention masks and truncated flags identical on
# every line of the corpora (STS-B, the WordPiece and BPE hard cases, invalid UTF-8,
# multilingual man-page text, every code point of planes 0-3 and 14), single and
# pairs, at max lengths 512 and 16, for a Unigram file of XLM-RoBERTa's kind
# (Precompiled nmt_nfkc charsmap, Metaspace), the same with byte_fallback in the older
# form of the hub's files, and a BPE file with byte_fallback of Llama's kind in both
# its forms (Prepend + Replace normalizers; Metaspace prepend_scheme first, no split).
# Fixtures: tests/tools/spm-fixtures.sh; goldens: tests/tools/tokenize-spm-goldens.sh.
# Then lines in pieces, -v, and malformed files.
. ./tests/setup

G=$SB_SRCDIR/tests/golden/tokenize/spm
B=$SB_SRCDIR/tests/golden/tokenize/bpe
T=$SB_TMP
require_shared data/sts-b/sts-test.tsv
require_cmd gzip
require_cmd sha256sum
STS=$SB_SHARED/data/sts-b/sts-test.tsv
cd "$T" || exit 99

plan 117

for m in xlmr-uni xlmr-uni-fb llama-bpe llama-meta; do
	ln -s "$G/$m" $m
done
pad_of() {
	case $1 in xlmr*) echo 1 ;; *) echo 0 ;; esac
}

cut -f6 "$STS" > sts1.txt
cut -f7 "$STS" > sts2.txt
cut -f6,7 "$STS" > pairs.txt
cp "$SB_SRCDIR/tests/golden/tokenize/hard.txt" "$SB_SRCDIR/tests/golden/tokenize/hard-pairs.txt" .
cp "$B/hard-bpe.txt" "$B/hard-bpe-pairs.txt" "$B/hard-bpe-invalid.txt" .
cp "$G/man.txt" "$G/man-pairs.txt" .

# agree MODEL NAME LEN: ids (and type ids for pairs), truncated flags (from the
# lengths without truncation) and, at 16, the attention masks of rows padded to the
# max length (tokdump checks ones then zeros and the pad id) identical on every line.
agree() {
	_m=$1 _n=$2 _l=$3
	_p= _f=
	case $_n in *pairs) _p=--pairs ;; esac
	case $_n in *invalid) _f=--replace-invalid ;; esac
	_pad=
	[ "$_l" = 16 ] && _pad="--padding max_length"
	gzip -dc "$G/$_m-$_n-$_l.gz" | sed 's/ *$//' > expected
	gzip -dc "$G/$_m-$_n-len.gz" | awk -v l="$_l" '{ print ($1 > l) ? 1 : 0 }' > flags
	# shellcheck disable=SC2086
	if sb-tokenize -m "$_m" -l "$_l" --no-text $_p $_f $_pad < "$_n.txt" > frames 2> err &&
	   tokdump -t -P "$(pad_of "$_m")" ${_p:+-p} < frames > got; then
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

for m in xlmr-uni xlmr-uni-fb llama-bpe llama-meta; do
	for n in sts1 sts2 hard hard-bpe hard-bpe-invalid man pairs hard-pairs hard-bpe-pairs \
		man-pairs; do
		for L in 512 16; do
			agree $m $n $L
		done
	done
done

# Every code point of planes 0-3 and 14 in context: sha256 of each block of 4096 rows.
"$PYTHON3" "$SB_SRCDIR/tests/tools/tokenize-bpe-allchars.py" > allchars.txt
for m in xlmr-uni llama-bpe; do
	sb-tokenize -m $m -l 512 --no-text -b 4096 < allchars.txt | tokdump -P "$(pad_of $m)" > ac.ids
	split -l 4096 -a 3 -d ac.ids ac.
	for f in ac.[0-9][0-9][0-9]; do sha256sum < "$f" | cut -d' ' -f1; done > ac.sha
	rm -f ac.[0-9][0-9][0-9]
	bad=$(paste -d ' ' "$G/$m-allchars.sha256" ac.sha | awk '$1 != $2 { print NR - 1 }' | tr '\n' ' ')
	if [ -z "$bad" ] && [ "$(wc -l < ac.sha)" -eq "$(wc -l < "$G/$m-allchars.sha256")" ]; then
		ok "$m: every code point of planes 0-3 and 14 in context: $(wc -l < ac.ids) rows identical"
	else
		not_ok "$m: every code point: blocks of 4096 rows that differ: ${bad:-count}"
	fi
done

# Lines in pieces (the runner's --chunk-bytes) give the ids of whole lines.
awk 'BEGIN { srand(7); split("hello world caf\303\251 <mask> <s> it'"'"'s 12345 \344\270\255\346\226\207 !! \t \302\240 e\314\201 \357\254\201 \342\226\201", w, " ")
	for (i = 0; i < 12; i++) { n = (i % 3 == 0) ? 5 : 3000; line = ""
		for (k = 0; k < n; k++) line = line w[1 + int(rand() * 15)] ((k % 7) ? " " : "  ")
		print line } }' > long.txt
cat man.txt hard-bpe.txt >> long.txt
for m in xlmr-uni llama-bpe llama-meta; do
	sb-tokenize -m $m -l 100000 < long.txt | sb-cat --tsv input_ids --unpad > whole
	for ch in 1 7 4096; do
		sb-tokenize -m $m -l 100000 --chunk-bytes $ch < long.txt |
			sb-cat --tsv input_ids --unpad > pieces
		check "$m: lines in pieces of $ch bytes: the ids of whole lines" cmp -s whole pieces
	done
done

# -v names the pipeline.
run sh -c 'sb-tokenize -v -m xlmr-uni < /dev/null > /dev/null'
like "-v: Precompiled, Strip, Replace" "$err" "normalizer +Precompiled Strip Replace\\(\" \\{2,\\}\"\\)"
like "-v: Metaspace" "$err" "pre_tokenizer +Metaspace\\(▁, always, split\\)"
like "-v: Unigram" "$err" "model +Unigram, 4002 pieces"
run sh -c 'sb-tokenize -v -m llama-meta < /dev/null > /dev/null'
like "-v: Metaspace, first, no split" "$err" "pre_tokenizer +Metaspace\\(▁, first\\) "

# Malformed or unsupported files: exit 1 and one line naming the JSON path.
mkdir bad
cp "$G/xlmr-uni/tokenizer_config.json" bad/
bad() {
	# bad DESCRIPTION PATTERN SED-SCRIPT [MODEL]
	sed "$3" "$G/${4:-xlmr-uni}/tokenizer.json" > bad/tokenizer.json
	run sh -c 'echo x | sb-tokenize -m bad'
	like "$1" "$rc $err" "$2"
	is "  on one line" "$(printf '%s\n' "$err" | wc -l | tr -d ' ')" 1
}
bad "a charsmap that is not base64: refused with its path" \
	"^1 .*tokenizer.json: normalizer.normalizers\\[0\\]: precompiled_charsmap: not base64" \
	's/"precompiled_charsmap":"/&!/'
bad "a charsmap whose trie is longer than the blob: refused" \
	"^1 .*normalizers\\[0\\]: precompiled_charsmap: a trie of .* bytes in a blob of" \
	's/"precompiled_charsmap":"..../"precompiled_charsmap":"\/\/\/\//'
bad "a Replace regex other than \" {2,}\": refused" \
	"^1 .*normalizer.normalizers\\[2\\]: Replace with the regex ' \\{3,\\}' is not supported" \
	's/{"Regex":" {2,}"}/{"Regex":" {3,}"}/'
bad "a Metaspace replacement of two characters: refused" \
	"^1 .*pre_tokenizer: replacement: expected one character" \
	's/"replacement":"▁","prepend_scheme":"always"/"replacement":"▁▁","prepend_scheme":"always"/'
bad "an unknown prepend_scheme: refused" \
	"^1 .*pre_tokenizer: prepend_scheme 'sometimes': expected always, first or never" \
	's/"prepend_scheme":"always"/"prepend_scheme":"sometimes"/'
bad "unk_id null: refused" \
	"^1 .*tokenizer.json: model.unk_id: null: a Unigram model without an unknown piece" \
	's/"unk_id":3/"unk_id":null/'
bad "unk_id out of range: refused" \
	"^1 .*tokenizer.json: model.unk_id: expected an id of model.vocab" \
	's/"unk_id":3/"unk_id":4002/'
bad "a vocabulary entry without a score: refused with its byte offset" \
	"^1 .*tokenizer.json: model.vocab: byte [0-9]*: expected a number" \
	's/\["<unk>",0.0\]/["<unk>","x"]/'
bad "a piece twice: refused" \
	"^1 .*tokenizer.json: model.vocab: vocabulary: '<unk>' is there twice" \
	's/\["<pad>",0.0\]/["<unk>",0.0]/'
bad "a pre-tokenizer after Metaspace: refused" \
	"^1 .*pre_tokenizer.pretokenizers\\[1\\]: a pre-tokenizer after Metaspace is not supported" \
	's/"pre_tokenizer":\({[^}]*}\)/"pre_tokenizer":{"type":"Sequence","pretokenizers":[\1,\1]}/'
bad "byte_fallback with a ByteLevel pre-tokenizer: refused" \
	"^1 .*tokenizer.json: model.byte_fallback: true with a ByteLevel pre-tokenizer" \
	's/"pre_tokenizer":null/"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false}/' \
	llama-bpe
