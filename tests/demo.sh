#!/bin/sh
# tests/demo.sh - the main job: sentences -> tokens -> hidden states -> sentence
# embeddings -> cosine similarities, one sb program per step:
#
#     sb-tokenize -m M < tests/sample.txt | sb-encode -m M | sb-pool -m M | sb-cosine
#
# usage: tests/demo.sh [SENTENCES]     (run by `make demo` against the build tree)
#
# M is sentence-transformers/stsb-distilbert-base when it is here: the folder named by
# $SB_MODEL, else the Hugging Face cache (sb-fetch finds it, and downloads it unless
# HF_HUB_OFFLINE=1 or no network).  Otherwise the demo says so and runs on the small
# random model the project makes itself (tests/models/tiny-distilbert), whose scores
# mean nothing semantically.
set -u
srcdir=$(cd "$(dirname "$0")/.." && pwd)
builddir=${SB_BUILDDIR:-$srcdir}
PATH=$builddir/cmd:$PATH
export PATH
input=${1:-$srcdir/tests/sample.txt}
REAL=sentence-transformers/stsb-distilbert-base

for p in sb-tokenize sb-encode sb-pool sb-cosine; do
	if ! command -v "$p" > /dev/null 2>&1; then
		echo "demo: $p is missing from $builddir/cmd: build it first (make), or it has" \
		     "not been written yet" >&2
		exit 1
	fi
done
if [ ! -r "$input" ]; then
	echo "demo: cannot read $input" >&2
	exit 1
fi

M=
if [ -n "${SB_MODEL:-}" ]; then
	if [ ! -f "$SB_MODEL/config.json" ]; then
		echo "demo: SB_MODEL=$SB_MODEL is not a model folder (no config.json)" >&2
		exit 1
	fi
	M=$SB_MODEL
elif command -v sb-fetch > /dev/null 2>&1; then
	# The cache first, quietly; then a download when allowed.
	M=$(sb-fetch --offline "$REAL" 2> /dev/null) ||
	M=$( [ "${HF_HUB_OFFLINE:-0}" != 1 ] && sb-fetch "$REAL" 2> "${TMPDIR:-/tmp}/sb-demo-fetch.$$") || M=
	why=$(tail -1 "${TMPDIR:-/tmp}/sb-demo-fetch.$$" 2> /dev/null)
	rm -f "${TMPDIR:-/tmp}/sb-demo-fetch.$$"
else
	why="sb-fetch is not built"
fi
if [ -n "$M" ]; then
	echo "model: $REAL ($M)"
else
	M=$srcdir/tests/models/tiny-distilbert
	echo "NOTE: the real model $REAL is not available here"
	[ -n "${why:-}" ] && echo "      (${why})"
	echo "      (set SB_MODEL=FOLDER, or put it in the Hugging Face cache with sb-fetch)."
	echo "      Running on the project's small random test model instead:"
	echo "      $M"
	echo "      Its scores show the pipeline works; they mean NOTHING semantically."
fi
echo

# The seed notebook's shape: the first sentence against every other one.
sb-tokenize -m "$M" < "$input" | sb-encode -m "$M" | sb-pool -m "$M" | sb-cosine > \
	"${TMPDIR:-/tmp}/sb-demo.$$"
rc=$?
if [ $rc != 0 ]; then
	rm -f "${TMPDIR:-/tmp}/sb-demo.$$"
	echo "demo: the pipeline failed (exit $rc)" >&2
	exit 1
fi
awk -F '\t' 'NR == 1 { printf "cosine similarity with \"%s\":\n", $4 }
	{ printf "  %8.4f  %s\n", $3, $5 }' "${TMPDIR:-/tmp}/sb-demo.$$"
rm -f "${TMPDIR:-/tmp}/sb-demo.$$"
