#!/bin/sh
# tests/sts-eval.sh - STS benchmark evaluation, as sentence-transformers'
# EmbeddingSimilarityEvaluator reports it: the Spearman rank correlation between the
# similarity of each sentence pair and its gold score (column 5 of sts-test.tsv).
#
# usage: tests/sts-eval.sh [-m MODEL] [-n PAIRS] [STS_TSV]
#
# MODEL defaults to $SB_MODEL, else sentence-transformers/stsb-distilbert-base from the
# Hugging Face cache (sb-fetch --offline).  STS_TSV defaults to
# ../shared/data/sts-b/sts-test.tsv beside the source tree.  Prints two lines per metric
# (cosine, manhattan, euclidean, dot), e.g. `spearman 0.8xxx pairs 1379 metric cosine`
# and the Pearson correlation, `pearson 0.8xxx pairs 1379 metric cosine`.
# The published figure for stsb-distilbert-base is about 0.85 (cosine).
# Needs only the sb programs, cut, tr and head: no Python.
set -u
srcdir=$(cd "$(dirname "$0")/.." && pwd)
builddir=${SB_BUILDDIR:-$srcdir}
PATH=$builddir/cmd:$PATH
REAL=sentence-transformers/stsb-distilbert-base
M=${SB_MODEL:-}
n=
while getopts m:n: opt; do
	case $opt in
	m) M=$OPTARG ;;
	n) n=$OPTARG ;;
	*) echo "usage: $0 [-m MODEL] [-n PAIRS] [STS_TSV]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
sts=${1:-${SB_SHARED:-$srcdir/../shared}/data/sts-b/sts-test.tsv}
for p in sb-tokenize sb-encode sb-pool sb-cosine; do
	command -v "$p" > /dev/null 2>&1 || { echo "sts-eval: $p is missing (build it first)" >&2; exit 1; }
done
[ -r "$sts" ] || { echo "sts-eval: cannot read $sts" >&2; exit 1; }
if [ -z "$M" ]; then
	M=$(sb-fetch --offline "$REAL" 2> /dev/null) || {
		echo "sts-eval: $REAL is not in the Hugging Face cache: give -m MODEL or SB_MODEL" >&2
		exit 1
	}
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sb-sts.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
if [ -n "$n" ]; then head -n "$n" "$sts"; else cat "$sts"; fi > "$tmp/gold.tsv"
# Sentence 1 and sentence 2 of each pair on consecutive lines: rows 2k and 2k+1.
cut -f 6,7 "$tmp/gold.tsv" | tr '\t' '\n' > "$tmp/sentences.txt"
sb-tokenize -m "$M" < "$tmp/sentences.txt" | sb-encode -m "$M" | sb-pool -m "$M" \
	> "$tmp/emb.sbf" || { echo "sts-eval: the pipeline failed" >&2; exit 1; }
echo "model: $M"
for metric in cosine manhattan euclidean dot; do
	sb-cosine --pairs --metric $metric --gold "$tmp/gold.tsv" < "$tmp/emb.sbf" || exit 1
done
