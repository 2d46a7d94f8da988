#!/bin/sh
# Regenerates the golden files of tests/13-tokenize-bpe.sh with Hugging Face tokenizers
# (its Node binding: ../shared/reference/hf_tokenize.js, set up by setup.sh there).
# usage, from the top of the source tree:   tests/tools/tokenize-bpe-goldens.sh
#
# Models (built here as the test builds them; none is committed but the tiny ones):
#   qwen3     ../shared/data/tokenizers/qwen3 (the real Qwen3 tokenizer.json)
#   roberta   tests/tools/tokenize-mkbpe.py on ../shared/data/tokenizers/gpt2
#   tiny      tests/golden/tokenize/bpe/tiny-qwen (committed, every added-token flag)
# Corpora: sts1 / sts2 / pairs (columns 6 / 7 / 6 TAB 7 of sts-test.tsv), hard and
# hard-pairs (tests/golden/tokenize, shared with the WordPiece tests), hard-bpe and
# hard-bpe-pairs (tests/tools/tokenize-mkhard-bpe.py), hard-bpe-invalid (read with
# --replace-invalid), and allchars (tests/tools/tokenize-bpe-allchars.py: every code
# point of planes 0-3 and 14 in a few contexts).
#
# Writes tests/golden/tokenize/bpe/:
#   MODEL-NAME-LEN.gz   ids per row, one line a row; pairs add " | " and the type ids;
#                       LEN 512 or 16
#   MODEL-NAME-len.gz   the length of each row without truncation (max length 1e6):
#                       the truncated flags of the test are checked against it
#   MODEL-allchars.sha256  sha256 of each block of 4096 rows of allchars' ids (max
#                       length 512): the whole would be too big to commit
#   hard-bpe-pairs.txt  consecutive lines of hard-bpe.txt without tabs, joined by a tab
set -eu
SHARED=${SB_SHARED:-../shared}
REF=$SHARED/reference
G=tests/golden/tokenize/bpe
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

python3 tests/tools/tokenize-mkbpe.py "$SHARED/data/tokenizers/gpt2" "$T/roberta"
ln -s "$(cd "$SHARED/data/tokenizers/qwen3" && pwd)" "$T/qwen3"
ln -s "$(pwd)/$G/tiny-qwen" "$T/tiny"
cut -f6 "$SHARED/data/sts-b/sts-test.tsv" > "$T/sts1.txt"
cut -f7 "$SHARED/data/sts-b/sts-test.tsv" > "$T/sts2.txt"
cut -f6,7 "$SHARED/data/sts-b/sts-test.tsv" > "$T/pairs.txt"
cp tests/golden/tokenize/hard.txt tests/golden/tokenize/hard-pairs.txt "$T/"
cp "$G/hard-bpe.txt" "$G/hard-bpe-invalid.txt" "$T/"
grep -av "$(printf '\t')" "$G/hard-bpe.txt" | paste - - > "$G/hard-bpe-pairs.txt"
cp "$G/hard-bpe-pairs.txt" "$T/"
python3 tests/tools/tokenize-bpe-allchars.py > "$T/allchars.txt"

# hf MODEL INPUT ARGS...: the ids (and type ids with --pairs) of every line.
hf() {
	m=$1; shift
	in=$1; shift
	case " $* " in *" --pairs "*) p=1 ;; *) p=0 ;; esac
	node "$REF/hf_tokenize.js" "$T/$m" "$in" "$@" | python3 -c '
import json, sys
pairs = sys.argv[1] == "1"
for l in sys.stdin:
    d = json.loads(l)
    s = " ".join(map(str, d["ids"]))
    if pairs:
        s += " | " + " ".join(map(str, d["type_ids"]))
    print(s)' "$p"
}

for m in qwen3 roberta tiny; do
	for name in sts1 sts2 hard hard-bpe hard-bpe-invalid pairs hard-pairs hard-bpe-pairs; do
		case $name in *pairs) p=--pairs ;; *) p= ;; esac
		for L in 512 16; do
			hf $m "$T/$name.txt" --max-length $L $p | gzip -9n > "$G/$m-$name-$L.gz"
		done
		hf $m "$T/$name.txt" --max-length 1000000 $p |
			awk -F ' [|] ' '{ print split($1, a, " ") }' | gzip -9n > "$G/$m-$name-len.gz"
	done
done
for m in qwen3 roberta; do
	# hf_tokenize.js holds its whole output in one string: feed it blocks.
	split -l 4096 -a 3 -d "$T/allchars.txt" "$T/ac."
	for f in "$T"/ac.[0-9][0-9][0-9]; do
		hf $m "$f" --max-length 512 | sha256sum | cut -d' ' -f1
	done > "$G/$m-allchars.sha256"
	rm -f "$T"/ac.[0-9][0-9][0-9]
done
echo "goldens written to $G"
