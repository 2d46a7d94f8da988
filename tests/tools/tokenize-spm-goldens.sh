#!/bin/sh
# Regenerates the golden files of tests/14-tokenize-spm.sh with Hugging Face tokenizers
# (its Node binding: ../shared/reference/hf_tokenize.js, set up by setup.sh there).
# usage, from the top of the source tree:   tests/tools/tokenize-spm-goldens.sh
#
# Models (committed, made by tests/tools/spm-fixtures.sh): tests/golden/tokenize/spm/
#   xlmr-uni      Unigram, Precompiled (nmt_nfkc) + Strip + Replace " {2,}", Metaspace
#   xlmr-uni-fb   Unigram with byte_fallback, Precompiled alone, Metaspace (older form)
#   llama-bpe     BPE with byte_fallback, Prepend + Replace normalizers (Llama, legacy)
#   llama-meta    the same BPE, Metaspace prepend_scheme first, split false
# Corpora: sts1 / sts2 / pairs (columns 6 / 7 / 6 TAB 7 of sts-test.tsv), hard and
# hard-pairs (tests/golden/tokenize), hard-bpe, hard-bpe-pairs and hard-bpe-invalid
# (read with --replace-invalid; tests/golden/tokenize/bpe), man (spm/man.txt: the
# man-page text the models were not trained on) and man-pairs (consecutive lines of
# man.txt joined by a tab), and allchars (tests/tools/tokenize-bpe-allchars.py).
#
# Writes tests/golden/tokenize/spm/:
#   MODEL-NAME-LEN.gz   ids per row, one line a row; pairs add " | " and the type ids;
#                       LEN 512 or 16
#   MODEL-NAME-len.gz   the length of each row without truncation (max length 1e6)
#   MODEL-allchars.sha256  sha256 of each block of 4096 rows of allchars' ids (512)
#   man-pairs.txt
set -eu
SHARED=${SB_SHARED:-../shared}
REF=$SHARED/reference
G=tests/golden/tokenize/spm
B=tests/golden/tokenize/bpe
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

cut -f6 "$SHARED/data/sts-b/sts-test.tsv" > "$T/sts1.txt"
cut -f7 "$SHARED/data/sts-b/sts-test.tsv" > "$T/sts2.txt"
cut -f6,7 "$SHARED/data/sts-b/sts-test.tsv" > "$T/pairs.txt"
cp tests/golden/tokenize/hard.txt tests/golden/tokenize/hard-pairs.txt "$T/"
cp "$B/hard-bpe.txt" "$B/hard-bpe-pairs.txt" "$B/hard-bpe-invalid.txt" "$T/"
cp "$G/man.txt" "$T/"
paste - - < "$G/man.txt" > "$G/man-pairs.txt"
cp "$G/man-pairs.txt" "$T/"
python3 tests/tools/tokenize-bpe-allchars.py > "$T/allchars.txt"

# hf MODEL INPUT ARGS...: the ids (and type ids with --pairs) of every line.
hf() {
	m=$1; shift
	in=$1; shift
	case " $* " in *" --pairs "*) p=1 ;; *) p=0 ;; esac
	node "$REF/hf_tokenize.js" "$G/$m" "$in" "$@" | python3 -c '
import json, sys
pairs = sys.argv[1] == "1"
for l in sys.stdin:
    d = json.loads(l)
    s = " ".join(map(str, d["ids"]))
    if pairs:
        s += " | " + " ".join(map(str, d["type_ids"]))
    print(s)' "$p"
}

for m in xlmr-uni xlmr-uni-fb llama-bpe llama-meta; do
	for name in sts1 sts2 hard hard-bpe hard-bpe-invalid man pairs hard-pairs \
		hard-bpe-pairs man-pairs; do
		case $name in *pairs) p=--pairs ;; *) p= ;; esac
		for L in 512 16; do
			hf $m "$T/$name.txt" --max-length $L $p | gzip -9n > "$G/$m-$name-$L.gz"
		done
		hf $m "$T/$name.txt" --max-length 1000000 $p |
			awk -F ' [|] ' '{ print split($1, a, " ") }' | gzip -9n > "$G/$m-$name-len.gz"
	done
done
for m in xlmr-uni llama-bpe; do
	# hf_tokenize.js holds its whole output in one string: feed it blocks.
	split -l 4096 -a 3 -d "$T/allchars.txt" "$T/ac."
	for f in "$T"/ac.[0-9][0-9][0-9]; do
		hf $m "$f" --max-length 512 | sha256sum | cut -d' ' -f1
	done > "$G/$m-allchars.sha256"
	rm -f "$T"/ac.[0-9][0-9][0-9]
done
echo "goldens written to $G"
