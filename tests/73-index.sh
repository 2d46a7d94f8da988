#!/bin/sh
# sb-index (FAISS): a Flat index gives sb-cosine --corpus's rows (ids and order; printed
# scores within one unit of the sixth decimal: FAISS's float32 inner products against
# sb's double scores), HNSW and IVF indexes a recall@10 against the exact rows above
# stated bounds, queries of another model or width are refused, foreign, cut and damaged
# index files are refused with one line before any input is read, empty and cut input
# streams write no file, and Python's faiss.read_index opens the files sb-index writes.
. ./tests/setup

if [ "$SB_HAVE_FAISS" != yes ]; then
	echo "1..0 # SKIP configure found no FAISS (libfaiss-dev): sb-index is not built"
	exit 0
fi
T=$SB_TMP
GEN=$SB_SRCDIR/tests/tools/index-data.awk
REF=$SB_SRCDIR/tests/tools/index-ref.py
PY=/usr/bin/python3
# FAISS's OpenMP threads wait for work by spinning: on a machine busier than its cores
# that makes training 10-100 times slower.  Waiting passively changes no result.
OMP_WAIT_POLICY=passive
export OMP_WAIT_POLICY
plan 79

# data NAME ROWS DIM SEED [UNIT [META...]]: $T/NAME.txt (the matrix) and $T/NAME.sbf
# (frames of 50 rows, texts "row N", meta model=m1 model_fingerprint=f1 unless given).
data() {
	_n=$1 _r=$2 _d=$3 _s=$4 _u=${5:-0}
	shift 5 2> /dev/null || shift $#
	[ $# -gt 0 ] || set -- --meta model=m1 --meta model_fingerprint=f1
	[ "$_u" = 1 ] && set -- "$@" --meta normalized=1
	awk -v rows="$_r" -v dim="$_d" -v seed="$_s" -v unit="$_u" -f "$GEN" > "$T/$_n.txt" &&
		pooldump emb "$T/$_n.txt" --split 50 --text "$@" > "$T/$_n.sbf"
}
data corpus 600 32 3 0
data queries 40 32 9 0
data ucorpus 600 32 4 1
data uqueries 40 32 10 1
data big 3000 32 5 1
data bigq 100 32 11 1

# same_rows DESC A B TOL: TSV files A and B list the same (a, b) pairs in the same order
# with the same texts, and scores within TOL.
same_rows() {
	if [ -s "$2" ] && awk -F '\t' -v tol="$4" 'NR == FNR { k[FNR] = $1 "\t" $2 "\t" $4 "\t" $5; s[FNR] = $3; n = FNR; next }
		{ m = FNR; d = $3 - s[FNR]; if (d < 0) d = -d; if (d > max) max = d
		  if (k[FNR] != $1 "\t" $2 "\t" $4 "\t" $5) { print "line " FNR ": " $0; bad = 1; exit } }
		END { if (m != n) { print m " lines, expected " n; bad = 1 }
		      if (max > tol) { print "score difference " max; bad = 1 }
		      exit bad }' "$2" "$3" > "$T/why"; then
		ok "$1 ($(wc -l < "$3") lines)"
	else
		not_ok "$1"
		diag "$(cat "$T/why" "$T/err" 2> /dev/null)"
	fi
}

# recall DESC EXACT GOT BOUND: the share of EXACT's (a, b) pairs that GOT lists is >= BOUND.
recall() {
	_r=$(awk -F '\t' 'NR == FNR { want[$1 "\t" $2] = 1; n++; next }
		($1 "\t" $2) in want { hit++ } END { printf "%.4f", hit / n }' "$2" "$3")
	if awk -v r="$_r" -v b="$4" 'BEGIN { exit !(r >= b) }'; then
		ok "$1: recall@10 $_r >= $4"
	else
		not_ok "$1: recall@10 $_r, below $4"
		diag "$(cat "$T/err" 2> /dev/null)"
	fi
}

# ---- Flat against sb-cosine --corpus ----
for m in cosine dot euclidean; do
	tol=0.0000011 how="rows as they are"
	[ $m = euclidean ] && tol=0.00001
	[ $m = cosine ] && how="rows scaled to norm 1 by sb-index"
	sb-index build -o "$T/flat-$m.index" --metric $m < "$T/corpus.sbf" 2> "$T/err"
	sb-index query "$T/flat-$m.index" -k 10 < "$T/queries.sbf" > "$T/got" 2>> "$T/err"
	sb-cosine --corpus "$T/corpus.sbf" -k 10 --metric $m < "$T/queries.sbf" > "$T/want"
	same_rows "Flat, $m, $how: the rows of sb-cosine --corpus" \
		"$T/want" "$T/got" $tol
done
sb-index build -o "$T/uflat.index" < "$T/ucorpus.sbf" 2> "$T/err"
sb-index query "$T/uflat.index" -k 10 < "$T/uqueries.sbf" > "$T/got" 2>> "$T/err"
sb-cosine --corpus "$T/ucorpus.sbf" -k 10 < "$T/uqueries.sbf" > "$T/want"
same_rows "Flat, normalized rows as they are: the rows of sb-cosine --corpus" \
	"$T/want" "$T/got" 0.0000011
sb-index query "$T/uflat.index" -k 1000 < "$T/uqueries.sbf" > "$T/got" 2> "$T/err"
sb-cosine --corpus "$T/ucorpus.sbf" -k 1000 < "$T/uqueries.sbf" > "$T/want"
same_rows "Flat, k larger than the index: every row" "$T/want" "$T/got" 0.0000011
sb-index query "$T/uflat.index" -k 3 --query-batch 7 -t 1 < "$T/uqueries.sbf" > "$T/got" \
	2> "$T/err"
sb-cosine --corpus "$T/ucorpus.sbf" -k 3 < "$T/uqueries.sbf" > "$T/want"
same_rows "Flat, batches of 7 queries, one thread" "$T/want" "$T/got" 0.0000011
# Frames: the same scores frames as sb-cosine's (scores to float rounding), read back.
sb-index query "$T/uflat.index" -k 3 --frames < "$T/uqueries.sbf" > "$T/got.sbf" 2> "$T/err"
sb-cosine --corpus "$T/ucorpus.sbf" -k 3 --frames < "$T/uqueries.sbf" > "$T/want.sbf"
"$PY" "$SB_SRCDIR/tests/tools/readframes.py" "$T/got.sbf" --dump > "$T/gotf" 2>> "$T/err"
"$PY" "$SB_SRCDIR/tests/tools/readframes.py" "$T/want.sbf" --dump > "$T/wantf" 2>> "$T/err"
is "--frames: a complete scores stream, frames, tensors, texts and meta as sb-cosine's" \
	"$(cat "$T/gotf")" "$(cat "$T/wantf")"
sb-index query "$T/uflat.index" -k 3 -o "$T/o.tsv" < "$T/uqueries.sbf" 2> "$T/err"
sb-index query "$T/uflat.index" -k 3 < "$T/uqueries.sbf" > "$T/got" 2>> "$T/err"
check "-o FILE writes the TSV to FILE" cmp -s "$T/o.tsv" "$T/got"

# ---- approximate indexes: recall@10 against the exact rows ----
sb-cosine --corpus "$T/big.sbf" -k 10 < "$T/bigq.sbf" > "$T/exact"
# One thread: FAISS then builds the same graph every time (hnsw.index and hnsw10.index
# differ only in the efSearch written).
sb-index build -o "$T/hnsw.index" --factory HNSW32 -t 1 < "$T/big.sbf" 2> "$T/err"
sb-index query "$T/hnsw.index" -k 10 --ef-search 128 < "$T/bigq.sbf" > "$T/got" 2>> "$T/err"
recall "HNSW32, efSearch 128" "$T/exact" "$T/got" 0.95
sb-index query "$T/hnsw.index" -k 10 < "$T/bigq.sbf" > "$T/got2" 2>> "$T/err"
check "HNSW32 searches with efSearch 128 unless told (the build wrote it)" \
	cmp -s "$T/got" "$T/got2"
sb-index build -o "$T/hnsw10.index" --factory HNSW32 -t 1 --ef-search 10 < "$T/big.sbf" \
	2> "$T/err"
sb-index query "$T/hnsw10.index" -k 10 < "$T/bigq.sbf" > "$T/got" 2>> "$T/err"
sb-index query "$T/hnsw.index" -k 10 --ef-search 10 < "$T/bigq.sbf" > "$T/got2" 2>> "$T/err"
check "build --ef-search 10: queries search with 10 unless told" cmp -s "$T/got" "$T/got2"
sb-index query "$T/hnsw.index" -k 10 < "$T/bigq.sbf" > "$T/got128" 2>> "$T/err"
if cmp -s "$T/got" "$T/got128"; then
	not_ok "... which here finds other rows than efSearch 128 (else the check above says nothing)"
else
	ok "... which here finds other rows than efSearch 128"
fi
sb-index query "$T/hnsw10.index" -k 10 --ef-search 128 < "$T/bigq.sbf" > "$T/got" \
	2>> "$T/err"
check "... and query --ef-search overrides the file's" cmp -s "$T/got" "$T/got128"
sb-index build -o "$T/ivf.index" --factory IVF16,Flat -t 1 < "$T/big.sbf" 2> "$T/err"
sb-index query "$T/ivf.index" -k 10 --nprobe 16 < "$T/bigq.sbf" > "$T/got" 2>> "$T/err"
recall "IVF16,Flat visiting every list: exact" "$T/exact" "$T/got" 1
sb-index query "$T/ivf.index" -k 10 < "$T/bigq.sbf" > "$T/got2" 2>> "$T/err"
check "IVF16,Flat searches 16 lists unless told (the build wrote nprobe 16)" \
	cmp -s "$T/got" "$T/got2"
sb-index query "$T/ivf.index" -k 10 --nprobe 4 < "$T/bigq.sbf" > "$T/got" 2>> "$T/err"
recall "IVF16,Flat, nprobe 4" "$T/exact" "$T/got" 0.5
sb-index build -o "$T/ivf4.index" --factory IVF16,Flat -t 1 --nprobe 4 < "$T/big.sbf" 2> "$T/err"
sb-index query "$T/ivf4.index" -k 10 < "$T/bigq.sbf" > "$T/got2" 2>> "$T/err"
check "build --nprobe 4: queries visit 4 lists unless told" cmp -s "$T/got" "$T/got2"
sb-index build -o "$T/pq.index" --factory IVF8,PQ16np --train-sample 2000 < "$T/big.sbf" \
	2> "$T/err"
sb-index query "$T/pq.index" -k 10 --nprobe 8 < "$T/bigq.sbf" > "$T/got" 2>> "$T/err"
recall "IVF8,PQ16np (16 bytes a row), trained on 2000 rows, nprobe 8" "$T/exact" "$T/got" 0.3
like "a training sample smaller than FAISS wants: FAISS's warning" "$(cat "$T/err")" \
	"WARNING clustering"
run sb-index query "$T/hnsw.index" -k 1 -v < "$T/queries.sbf"
like "query -v: an HNSW index's efSearch in use" "$rc $err" \
	"^0 sb-index: index .*/hnsw.index \('HNSW32'\): efSearch 128$"
run sb-index query "$T/hnsw10.index" -k 1 -v --ef-search 77 < "$T/queries.sbf"
like "... the one given to query (efSearch 77)" "$rc $err" "^0 .*/hnsw10.index \('HNSW32'\): efSearch 77$"
run sb-index query "$T/ivf4.index" -k 1 -v < "$T/queries.sbf"
like "query -v: an IVF index's nprobe in use (the build's 4)" "$rc $err" \
	"^0 sb-index: index .*/ivf4.index \('IVF16,Flat'\): nprobe 4$"
run sb-index query "$T/uflat.index" -k 1 -v < "$T/queries.sbf"
like "query -v: a Flat index has neither" "$rc $err" \
	"^0 .*uflat.index \('Flat'\): exhaustive search \(no nprobe, no efSearch\)$"
sb-index build -o "$T/ivfh.index" --factory IVF16_HNSW8,Flat -t 1 < "$T/big.sbf" 2> "$T/err"
run sb-index query "$T/ivfh.index" -k 1 -v < "$T/queries.sbf"
like "build: an IVF index with an HNSW quantizer gets both defaults" "$rc $err" \
	"^0 .*ivfh.index \('IVF16_HNSW8,Flat'\): nprobe 16, efSearch 128$"
run sb-index query "$T/hnsw.index" --nprobe 4 < "$T/bigq.sbf"
like "--nprobe on an HNSW index is refused" "$rc $err" "^1 sb-index: --nprobe 4: index .*hnsw.index \('HNSW32'\) has no inverted lists"
run sb-index query "$T/ivf.index" --ef-search 4 < "$T/bigq.sbf"
like "--ef-search on an IVF index is refused" "$rc $err" "^1 sb-index: --ef-search 4: index .*ivf.index \('IVF16,Flat'\) is not an HNSW graph"
run sb-index build -o "$T/x.index" --ef-search 40 < "$T/big.sbf"
like "build --ef-search of a Flat index is refused" "$rc $err" "^1 sb-index: .*--ef-search 40: the index \('Flat'\) is not an HNSW graph"
check "... and no file is written" test ! -e "$T/x.index"
run sb-index build -o "$T/x.index" --factory HNSW16 --nprobe 4 < "$T/big.sbf"
like "build --nprobe of an HNSW index is refused" "$rc $err" "^1 sb-index: .*--nprobe 4: the index \('HNSW16'\) has no inverted lists"
run sb-index build -o "$T/x.index" --factory IVF4096,Flat < "$T/big.sbf"
like "fewer training rows than lists: refused" "$rc $err" "^1 .*training on 3000 rows"
check "... and no file is left" test ! -e "$T/x.index" -a -z "$(ls "$T" | grep tmp)"
run sb-index build -o "$T/x.index" --factory Nonsense7 < "$T/big.sbf"
like "an unknown factory string is refused" "$rc $err" "^1 .*factory 'Nonsense7'"

# ---- Python's FAISS reads the files ----
"$PY" -c 'import faiss, numpy' 2> /dev/null ||
	echo "Bail out! $PY has no faiss or numpy (Debian: python3-faiss, python3-numpy)"
"$PY" "$REF" search "$T/uflat.index" "$T/uqueries.txt" 10 > "$T/py" 2> "$T/err"
sb-index query "$T/uflat.index" -k 10 < "$T/uqueries.sbf" | cut -f 1,2 > "$T/got"
check "faiss.read_index opens a Flat file: the same rows" cmp -s "$T/py" "$T/got"
"$PY" "$REF" search "$T/hnsw.index" "$T/bigq.txt" 10 > "$T/py" 2> "$T/err"
sb-index query "$T/hnsw.index" -k 10 < "$T/bigq.sbf" | cut -f 1,2 > "$T/got"
check "faiss.read_index opens an HNSW file: the same rows" cmp -s "$T/py" "$T/got"
is "faiss.read_index finds the efSearch sb-index wrote" \
	"$("$PY" "$REF" params "$T/hnsw.index") $("$PY" "$REF" params "$T/hnsw10.index")" \
	"efSearch 128 efSearch 10"
is "faiss.read_index finds the nprobe sb-index wrote" \
	"$("$PY" "$REF" params "$T/ivf.index") $("$PY" "$REF" params "$T/ivf4.index")" \
	"nprobe 16 nprobe 4"
"$PY" "$REF" search "$T/pq.index" "$T/bigq.txt" 10 > "$T/py" 2> "$T/err"
sb-index query "$T/pq.index" -k 10 < "$T/bigq.sbf" | cut -f 1,2 > "$T/got"
check "faiss.read_index opens an IVF-PQ file: the same rows" cmp -s "$T/py" "$T/got"

# ---- provenance ----
data other 5 32 12 0 --meta model=m2 --meta model_fingerprint=f2
run sb-index query "$T/flat-cosine.index" < "$T/other.sbf"
like "queries of another model are refused" "$rc $err" \
	"^1 sb-index: .*index .*flat-cosine.index: embeddings of model 'm1' \(f1\), the queries of 'm2' \(f2\): scores across models are meaningless"
is "... with nothing on stdout" "$out" ""
run sb-index query "$T/flat-cosine.index" --allow-mixed < "$T/other.sbf"
is "--allow-mixed queries them anyway" "$rc $(printf '%s\n' "$out" | wc -l)" "0 50"
awk -v rows=5 -v dim=32 -v seed=1 -f "$GEN" > "$T/p.txt"
pooldump emb "$T/p.txt" --meta model=m1 --meta pooling=cls > "$T/cls.sbf"
pooldump emb "$T/p.txt" --meta model=m1 --meta pooling=mean > "$T/mean.sbf"
sb-index build -o "$T/mean.index" < "$T/mean.sbf" 2> /dev/null
run sb-index query "$T/mean.index" < "$T/cls.sbf"
like "queries of another pooling are refused" "$rc $err" "^1 .*pooled with 'mean', the queries with 'cls'"
data narrow 5 16 12 0
run sb-index query "$T/flat-cosine.index" < "$T/narrow.sbf"
like "queries of another width are refused" "$rc $err" "^1 .*index .*32 x float32, the queries 16 x float32: dimension mismatch"
awk 'NR == 1 { print; next } { for (i = 1; i <= NF; i++) $i = int($i * 100); print }' \
	"$T/p.txt" > "$T/i8.txt"
pooldump emb "$T/i8.txt" --dtype int8 > "$T/i8.sbf"
run sb-index build -o "$T/x.index" < "$T/i8.sbf"
like "build refuses int8 rows" "$rc $err" "^1 .*float32 embeddings; these are int8"
run sb-index build -o "$T/x.index" -i "$T/corpus.sbf"
is "-i FILE is read" "$rc" 0

# ---- bad index files: one line, exit 1, nothing on stdout ----
bad() {
	run sb-index query "$2" < "$T/queries.sbf"
	like "$1" "$rc $(printf '%s\n' "$err" | wc -l) [$out] $err" "^1 1 \[\] sb-index: .*$3"
}
cp "$T/flat-cosine.index" "$T/good.index"
bad "a missing file" "$T/none.index" "none.index: No such file"
: > "$T/empty.index"
bad "an empty file" "$T/empty.index" "not an sb-index file \(0 bytes\)"
"$PY" "$REF" strip "$T/good.index" "$T/plain.index"
bad "a FAISS file sb-index did not write" "$T/plain.index" "not an sb-index file \(no sb-index footer"
head -c 1000 "$T/good.index" > "$T/cut.index"
bad "a cut file" "$T/cut.index" "not an sb-index file"
cp "$T/good.index" "$T/short.index"
"$PY" - "$T/short.index" << 'PYEOF'
import sys
d = open(sys.argv[1], "rb").read()
open(sys.argv[1], "wb").write(d[:100] + d[200:])
PYEOF
bad "a file with bytes missing in the middle" "$T/short.index" "footer counts .* damaged"
cp "$T/good.index" "$T/flip.index" && "$PY" "$REF" flip "$T/flip.index" 100
bad "a damaged FAISS index" "$T/flip.index" "checksum of the FAISS index does not match"
cp "$T/good.index" "$T/flip2.index" && "$PY" "$REF" flip "$T/flip2.index" -70
bad "a damaged text" "$T/flip2.index" "checksum of info and texts does not match"
cp "$T/good.index" "$T/v2.index" && "$PY" "$REF" flip "$T/v2.index" -56
bad "a format version this sb does not read" "$T/v2.index" \
	"sb-index format 253 \(flags 0\), this sb reads formats 1 and 2"
"$PY" "$REF" footer "$T/good.index" "$T/huge.index"
bad "a footer claiming 2^63 bytes" "$T/huge.index" "footer counts 9223372036854775808 .* damaged"
"$PY" "$REF" pad "$T/good.index" "$T/pad.index"
bad "checksums right, FAISS's part longer than its index" "$T/pad.index" \
	"FAISS read [0-9]+ bytes of an index of [0-9]+: damaged"
# The checksum is the one index_file.h defines (computed here in Python), and a file of
# format 1 (FNV-1a 64 checksums) is still read, with the same answers.
"$PY" "$REF" strip "$T/good.index" "$T/payload.bin"
want=$(od -An -tx8 -j $(($(wc -c < "$T/good.index") - 16)) -N 8 "$T/good.index" | tr -d ' ')
is "the FAISS index's checksum follows its definition" "$("$PY" "$REF" hash "$T/payload.bin")" "$want"
"$PY" "$REF" v1 "$T/good.index" "$T/v1.index"
sb-index query "$T/good.index" < "$T/queries.sbf" > "$T/v2.tsv" 2> /dev/null
run sb-index query "$T/v1.index" < "$T/queries.sbf"
check "a format 1 file is read, with the same answers" \
	test "$rc" = 0 -a -s "$T/v2.tsv" -a "$out" = "$(cat "$T/v2.tsv")"
cp "$T/v1.index" "$T/v1flip.index" && "$PY" "$REF" flip "$T/v1flip.index" 100
bad "a damaged FAISS index of format 1" "$T/v1flip.index" "checksum of the FAISS index does not match"
bad "a folder" "$T" "not a regular file"
bad "an embeddings stream" "$T/corpus.sbf" "not an sb-index file"

# ---- empty and cut input ----
printf '' > "$T/nothing"
run sb-index build -o "$T/e.index" < "$T/nothing"
like "build: an empty stream is refused" "$rc $err" "^1 .*(empty|no )"
check "... and writes no file" test ! -e "$T/e.index"
run sb-index query "$T/good.index" < "$T/nothing"
like "query: an empty stream is refused" "$rc $err" "^1 .*(empty|no )"
head -c 20000 "$T/corpus.sbf" > "$T/cutin.sbf"
run sb-index build -o "$T/c.index" < "$T/cutin.sbf"
like "build: a cut stream is refused" "$rc $err" "^1 .*(without an end frame|ends inside the frame)"
check "... and writes no file (nor a temporary one)" test ! -e "$T/c.index" -a -z "$(ls "$T" | grep tmp)"
cp "$T/good.index" "$T/keep.index"
run sb-index build -o "$T/keep.index" < "$T/cutin.sbf"
check "... and leaves an existing index as it was" cmp -s "$T/keep.index" "$T/good.index"

# ---- usage ----
run sb-index
like "no subcommand: exit 2" "$rc $err" "^2 .*expected build or query"
run sb-index build < "$T/corpus.sbf"
like "build without -o: exit 2" "$rc $err" "^2 .*build needs -o FILE"
run sb-index build -o "$T/x.index" --query-batch 3 < "$T/corpus.sbf"
like "a query option given to build: exit 2" "$rc $err" "^2 .*--query-batch: an option of sb-index query"
run sb-index query "$T/good.index" --factory Flat < "$T/queries.sbf"
like "a build option given to query: exit 2" "$rc $err" "^2 sb-index: --factory: an option of sb-index build$"
run sb-index build -o "$T/x.index" -k 3 < "$T/corpus.sbf"
like "... by its short flag too" "$rc $err" "^2 sb-index: --top-k: an option of sb-index query$"
run sb-index frobnicate
like "an unknown subcommand: exit 2, named" "$rc $err" "^2 sb-index: expected build or query, not frobnicate"
run sb-index build -o "$T/x.index" --bogus < "$T/corpus.sbf"
like "an unknown option: exit 2, getopt's message naming sb-index, then the usage" \
	"$rc $(printf '%s\n' "$err" | head -2 | tr '\n' '|')" \
	"^2 sb-index: unrecognized option '--bogus'\|usage: sb-index build -o FILE .*\|$"
run sb-index query -h
help=$(sb-index --help)
check "query -h: the usage on stdout, exit 0, as sb-index --help" \
	test "$rc" = 0 -a -z "$err" -a "$out" = "$help"
is "... with a section per subcommand and one of the options both take" \
	"$(printf '%s\n' "$out" | grep -c '^[a-z]*:$') $(printf '%s\n' "$out" | grep '^[a-z]*:$' | tr '\n' ' ')" \
	"3 build: query: both: "
run sb-index build -h
is "build -h: the same usage, exit 0" "$rc $out" "0 $help"
run sb-index query < "$T/queries.sbf"
like "query without FILE: exit 2" "$rc $err" "^2 .*query needs the index FILE"
run sb-index query "$T/good.index" extra < "$T/queries.sbf"
like "a stray argument: exit 2, named" "$rc $err" "^2 sb-index: unexpected argument 'extra'"
run sb-index -v --version
like "-v --version: sb's libraries and FAISS's version" "$rc $(echo $out)" \
	"^0 sb-index [0-9.]+ kernels: .* faiss: [0-9]+\.[0-9]+\.[0-9]+$"
run sb-index query "$T/good.index" -k 0 < "$T/queries.sbf"
like "-k 0 is refused" "$rc $err" "^1 .*--top-k: '0' is not a number"
