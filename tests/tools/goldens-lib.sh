# goldens-lib.sh - what the encoder families' golden makers (encode-, roberta-, rerank-,
# mpnet- and modernbert-goldens.sh) share.  Sourced, after `set -eu`, by a script run from
# the top of the source tree with its own arguments: $1 is SHARED (default ../shared).
#
# Sets SHARED, REF (the reference tools), GPT2 (GPT-2's tokenizer files), M (tests/models),
# PY (/usr/bin/python3, with torch) and T (a scratch folder, removed on exit), and defines:
#   mkm MAKER SRC NAME [ARGS]   a fresh model folder $M/NAME: tests/tools/MAKER SRC $M/NAME ARGS
#   sts_split                   $T/s1, $T/s2 (columns 6 and 7 of sts-test.tsv), $T/sts.txt
#                               (s1 then s2) and $T/pairs.txt (s1 TAB s2)
#   join_rows K N < IN          rows of K consecutive lines joined by a space, N rows at most
#   pad_quirks FILE             rows with <pad> and <s> among the words
#   hf_tok MODEL IN [ARGS]      Hugging Face tokenizers' JSON lines (hf_tokenize.js)
#   jsonl_field KEY [JSONL]     that field of every line, space-separated ints, one a line
#   max_pos MODEL               max_position_embeddings of MODEL/config.json
#   pooled REFPY MODEL JSONL OUT [ARGS]   tests/tools/REFPY's rows, "%.6f", gzipped to OUT
#   hidden REFPY MODEL JSONL N OUT        its last_hidden_state of the first N rows,
#                               "ROW v v ...", gzipped to OUT
#   sts_long REFPY NAME L IN    $OUT/NAME.pooled.gz from IN and $OUT/NAME.long.gz from
#                               $OUT/long.txt, both tokenized to L tokens; keeps IN's tokens
#                               in $T/NAME.jsonl
SHARED=${1:-../shared}
REF=$SHARED/reference
GPT2=$SHARED/data/tokenizers/gpt2
M=tests/models
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

mkm() {
	_mk=$1 _src=$2 _n=$3
	shift 3
	rm -rf "${M:?}/$_n"
	$PY "tests/tools/$_mk" "$_src" "$M/$_n" "$@"
}

sts_split() {
	cut -f6 "$SHARED/data/sts-b/sts-test.tsv" > "$T/s1"
	cut -f7 "$SHARED/data/sts-b/sts-test.tsv" > "$T/s2"
	cat "$T/s1" "$T/s2" > "$T/sts.txt"
	paste "$T/s1" "$T/s2" > "$T/pairs.txt"
}

join_rows() {
	awk -v k="$1" -v n="$2" '{ s = s " " $0 }
		NR % k == 0 { print substr(s, 2); s = ""; if (NR == k * n) exit }'
}

pad_quirks() {
	printf 'hello <pad> world\n<pad>\nA man <pad><pad> is playing a flute.\n%s\n' \
		'<s> two starts </s> and ends' > "$1"
}

hf_tok() {
	node "$REF/hf_tokenize.js" "$@"
}

jsonl_field() {
	$PY -c 'import json, sys
for l in open(sys.argv[2]) if len(sys.argv) > 2 else sys.stdin:
    print(" ".join(map(str, json.loads(l)[sys.argv[1]])))' "$@"
}

max_pos() {
	$PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["max_position_embeddings"])' \
		"$1/config.json"
}

pooled() {
	_ref=$1 _m=$2 _in=$3 _out=$4
	shift 4
	$PY "tests/tools/$_ref" "$_m" "$_in" "$@" |
		$PY -c 'import sys
for l in sys.stdin: print(" ".join("%.6f" % float(v) for v in l.split()))' |
		gzip -9n > "$_out"
}

hidden() {
	$PY "tests/tools/$1" "$2" "$3" --hidden "$4" |
		$PY -c 'import sys
for l in sys.stdin:
    f = l.split()
    print(f[0], " ".join("%.6f" % float(v) for v in f[1:]))' |
		gzip -9n > "$5"
}

sts_long() {
	hf_tok "$M/$2" "$4" --max-length "$3" > "$T/$2.jsonl"
	pooled "$1" "$M/$2" "$T/$2.jsonl" "$OUT/$2.pooled.gz"
	hf_tok "$M/$2" "$OUT/long.txt" --max-length "$3" > "$T/$2.long.jsonl"
	pooled "$1" "$M/$2" "$T/$2.long.jsonl" "$OUT/$2.long.gz"
}
