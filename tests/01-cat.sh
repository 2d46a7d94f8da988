#!/bin/sh
# sb-cat on good streams: frames written by hand with Python's msgpack
# (tests/tools/mkframes.py) print exactly as the golden files computed by Python say;
# .npy and TSV in and out; frames sb-cat writes read back by Python's msgpack + NumPy
# (tests/tools/readframes.py); the examples of sb-cat(1); closed pipes and full disks;
# token strings with -m MODEL against the ids of tokenizer.json; empty --npy arrays.
# (--salvage and the resume recipe of sb-cat(1): 58-salvage.sh.)
. ./tests/setup

F=$SB_SRCDIR/tests/fixtures/frames
G=$F/good
T=$SB_TMP
cd "$T" || exit 99

if [ ! -d "$G" ]; then
	echo "Bail out! $G is missing"
	exit 1
fi

# same DESC FILE CMD...: ok when CMD succeeds and its stdout equals FILE byte for byte.
same() {
	_d=$1 _f=$2
	shift 2
	"$@" > "$T/same.out" 2> "$T/same.err"
	_rc=$?
	if [ "$_rc" = 0 ] && cmp -s "$T/same.out" "$_f"; then
		ok "$_d"
	else
		not_ok "$_d"
		diag "exit $_rc; stderr: $(head -c 500 "$T/same.err")"
		diff "$_f" "$T/same.out" 2>&1 | head -c 1500 | sed 's/^/# /'
	fi
}

# ---- JSON lines, summaries and --full, for every good fixture
for s in "$G"/*.sbf; do
	n=${s##*/}
	n=${n%.sbf}
	same "json: $n" "$G/$n.jsonl" sb-cat "$s"
	if [ -f "$G/$n.full.jsonl" ]; then
		same "json --full: $n" "$G/$n.full.jsonl" sb-cat --full "$s"
	fi
done
same "json from stdin" "$G/tokens.jsonl" sb-cat < "$G/tokens.sbf"
same "json via -i" "$G/tokens.jsonl" sb-cat -i "$G/tokens.sbf"
# Short reads: the stream arrives a byte at a time.
dd if="$G/hidden.sbf" bs=1 2> /dev/null | sb-cat > "$T/slow.out" 2>&1
check "json from a stream written byte by byte" cmp -s "$T/slow.out" "$G/hidden.jsonl"
# Several inputs, and several streams one after the other in one input.
cat "$G/tokens.jsonl" "$G/meta.jsonl" > "$T/two.jsonl"
same "json: two file arguments" "$T/two.jsonl" sb-cat "$G/tokens.sbf" "$G/meta.sbf"
cat "$G/tokens.sbf" "$G/meta.sbf" > "$T/two.sbf"
same "json: two streams in one input" "$T/two.jsonl" sb-cat "$T/two.sbf"

# ---- TSV
for g in "$G"/*.tsv; do
	b=${g##*/}
	n=${b%%.*}
	t=${b#*.}
	t=${t%.tsv}
	case $n.$t in
	tokens.input_ids | scores.score | text.input_ids | utf8-invalid.*) same "tsv -t: $b" "$g" sb-cat --tsv "$t" -t "$G/$n.sbf" ;;
	*) same "tsv: $b" "$g" sb-cat --tsv "$t" "$G/$n.sbf" ;;
	esac
done
printf '101\t7592\t2088\t999\t102\n101\t2054\t1037\t2051\t2000\t102\n101\t102\n' > "$T/unpad.tsv"
same "tsv --unpad drops the padding" "$T/unpad.tsv" sb-cat --tsv input_ids --unpad "$G/tokens.sbf"
run sb-cat --tsv nosuch "$G/tokens.sbf"
like "tsv: a missing tensor is named, with the ones there are" "$rc:$err" \
	"^1:sb-cat: .*tokens.sbf: frame 1 at byte 0: no tensor 'nosuch' \(the frame has 'input_ids', 'attention_mask', 'token_type_ids'\)$"

# ---- .npy out: byte for byte what numpy.save writes, to a file and to a pipe
for g in "$G"/*.npy; do
	b=${g##*/}
	n=${b%%.*}
	t=${b#*.}
	t=${t%.npy}
	rm -f "$T/x.npy"
	run sb-cat --npy "$t" -o "$T/x.npy" "$G/$n.sbf"
	check "npy file: $b" test "$rc" = 0 -a -z "$err" -a -f "$T/x.npy"
	check "npy file: $b equals numpy.save's" cmp -s "$T/x.npy" "$g"
	same "npy pipe: $b" "$g" sb-cat --npy "$t" "$G/$n.sbf"
done
run sb-cat --npy input_ids -o "$T/ragged.npy" "$G/tokens.sbf"
like "npy: frames of different widths cannot be joined" "$rc:$err" \
	"^1:sb-cat: .*frame 2 at byte [0-9]+: tensor 'input_ids': int64 \[1, 2\], expected int64 \[1, 6\]"
check "npy: no partial file is left behind" test ! -e "$T/ragged.npy"

# ---- .npy in: --from-npy, then back out unchanged
N=$F/npy
for a in emb-f32 emb-f16 ids-i64 ids-i32; do
	sb-cat --from-npy "$N/$a.npy" -b 2 > "$T/$a.sbf"
	same "from-npy $a: the stream is complete" /dev/null sb-cat -q "$T/$a.sbf"
	same "from-npy $a: --npy gives the same file back" "$N/$a.npy" \
		sb-cat --npy sentence_embedding "$T/$a.sbf"
done
sb-cat --from-npy "$N/scores-1d.npy" -k scores > "$T/s.sbf"
same "from-npy -k scores: a 1-d score tensor" "$N/scores-1d.npy" sb-cat --npy score "$T/s.sbf"
printf '%s: 4 frames, 5 rows, complete\n' "$T/emb-f32.sbf" > "$T/check.txt"
same "check: summary of frames and rows" "$T/check.txt" sb-cat -c "$T/emb-f32.sbf"
sb-cat --from-npy input_ids="$N/ids-i64.npy" --from-npy mask="$N/ids-i64.npy" -k tokens \
	> "$T/two.sbf"
run sb-cat --tsv mask "$T/two.sbf"
is "from-npy: two named arrays in one frame" "$out" "$(printf '101\t7592\t102\t0\n101\t2054\t2088\t102')"
run sb-cat --from-npy a="$N/emb-f32.npy" --from-npy b="$N/ids-i64.npy"
like "from-npy: arrays with different row counts are refused" "$rc:$err" \
	"^1:sb-cat: .*ids-i64.npy: 2 rows, .*emb-f32.npy has 5"
printf 'just\nthree\nlines\n' > "$T/three.txt"
run sb-cat --from-npy "$N/emb-f32.npy" --text "$T/three.txt"
like "from-npy --text: too few lines" "$rc:$err" "^1:sb-cat: .*three.txt: 3 lines, fewer than the rows"
for c in "fortran:Fortran-order" "complex:dtype '<c8' not supported" "0d:0-d array" \
	"short:20 data bytes, the header's shape needs 24" "shape-overflow:overflows" \
	"bigendian:dtype '>f4' not supported"; do
	run sb-cat --from-npy "$N/bad-${c%%:*}.npy"
	like "from-npy refuses bad-${c%%:*}.npy" "$rc:$(printf '%s' "$err" | wc -l):$out:$err" \
		"^1:0::sb-cat: .*bad-${c%%:*}.npy: .*${c#*:}"
done
printf 'not numpy at all\n' > "$T/bad.npy"
run sb-cat --from-npy "$T/bad.npy"
like "from-npy: not a .npy file" "$rc:$err" "^1:sb-cat: .*bad.npy: not a .npy file"

# ---- frames sb writes, read back by Python's msgpack + NumPy into the same arrays
PY=${PYTHON3:-/usr/bin/python3}
if ! "$PY" -c 'import msgpack, numpy' 2> /dev/null; then
	echo "Bail out! $PY with msgpack and numpy is needed (Debian: python3-msgpack python3-numpy)"
	exit 1
fi
RF=$SB_SRCDIR/tests/tools/readframes.py
printf 'one\ntwo\nthree\nfour\nfive\n' > "$T/five.txt"
sb-cat --from-npy "$N/emb-f32.npy" -b 2 --text "$T/five.txt" -m model=demo -m dim=3 > "$T/p.sbf"
run "$PY" "$RF" "$T/p.sbf" --expect sentence_embedding="$N/emb-f32.npy" --batch 2 \
	--text "$T/five.txt" --meta model=demo --meta dim=3 --kind embeddings
is "python reads sb's float32 embeddings, texts and meta" "$rc:$out" "0:ok: 4 frames, 5 rows"
for a in emb-f16 ids-i64 ids-i32; do
	sb-cat --from-npy "$N/$a.npy" -b 1 > "$T/p.sbf"
	run "$PY" "$RF" "$T/p.sbf" --expect sentence_embedding="$N/$a.npy" --batch 1
	like "python reads sb's $a frames" "$rc:$out" "^0:ok: "
done
sb-cat --tsv input_ids --unpad "$G/tokens.sbf" > "$T/ids.tsv"
sb-cat --from-tsv "$T/ids.tsv" -k tokens -b 2 > "$T/p.sbf"
run "$PY" "$RF" "$T/p.sbf" --kind tokens --batch 2
like "python reads sb's padded tokens frames" "$rc:$out" "^0:ok: 3 frames, 3 rows"
sb-cat --tsv input_ids --unpad "$T/p.sbf" > "$T/ids.back"
check "from-tsv -k tokens: ids survive padding and unpadding" cmp -s "$T/ids.tsv" "$T/ids.back"

# The Python examples of sb-frame(5): the writer's frames pass sb-cat -c, and the
# reader reads them and a stream sb wrote.
awk -v want=1 '
	/^\.Sh EXAMPLES/ { ex = 1; next }
	/^\.Sh / { ex = 0 }
	ex && /^\.Bd -literal/ { n++; lit = 1; next }
	ex && /^\.Ed/ { lit = 0; next }
	ex && lit && n == want { gsub(/\\e/, "\\"); print }
' "$SB_SRCDIR/man/sb-frame.5" > "$T/read.py"
awk -v want=2 '
	/^\.Sh EXAMPLES/ { ex = 1; next }
	/^\.Sh / { ex = 0 }
	ex && /^\.Bd -literal/ { n++; lit = 1; next }
	ex && /^\.Ed/ { lit = 0; next }
	ex && lit && n == want { gsub(/\\e/, "\\"); print }
' "$SB_SRCDIR/man/sb-frame.5" > "$T/write.py"
"$PY" "$T/write.py" > "$T/py.sbf" 2> "$T/py.err"
run sb-cat -c "$T/py.sbf"
is "sb-frame(5): the Python writer's stream is valid" "$rc:$out" "0:$T/py.sbf: 2 frames, 2 rows, complete"
run sh -c '"$1" "$2" < "$3"' sh "$PY" "$T/read.py" "$T/py.sbf"
like "sb-frame(5): the Python reader reads it" "$rc:$(printf '%s' "$out" | tr '\n' '|')" \
	"^0:0 \(2, 768\) \['a cat', 'a dog'\]\|complete: 2 rows$"
sb-cat --from-npy "$N/emb-f32.npy" -b 2 > "$T/p.sbf"
run sh -c '"$1" "$2" < "$3"' sh "$PY" "$T/read.py" "$T/p.sbf"
like "sb-frame(5): the Python reader reads sb's frames" "$rc:$(printf '%s' "$out" | tr '\n' '|')" \
	"^0:0 \(2, 3\) None\|2 \(2, 3\) None\|4 \(1, 3\) None\|complete: 5 rows$"

# ---- TSV in
sb-cat --tsv sentence_embedding -t "$G/emb-f16.sbf" > /dev/null
sb-cat --tsv f32 "$G/dtypes.sbf" > "$T/f32.tsv"
sb-cat --from-tsv "$T/f32.tsv" -b 2 | sb-cat --tsv sentence_embedding > "$T/f32.back"
check "from-tsv: float32 values survive TSV out and in" cmp -s "$T/f32.tsv" "$T/f32.back"
sb-cat --from-tsv "$G/scores.score.tsv" -t -k scores | sb-cat --tsv score -t > "$T/sc.back"
check "from-tsv -t: texts with escapes survive TSV out and in" cmp -s "$G/scores.score.tsv" "$T/sc.back"
printf '1\t2\n3\n' > "$T/ragged.tsv"
run sb-cat --from-tsv "$T/ragged.tsv"
like "from-tsv: ragged embeddings are refused with the line number" "$rc:$err" \
	"^1:sb-cat: .*ragged.tsv: line 2: 1 values, expected 2$"
printf '1\tx\n' > "$T/nan.tsv"
run sb-cat --from-tsv "$T/nan.tsv"
like "from-tsv: a field that is not a number" "$rc:$err" "^1:sb-cat: .*nan.tsv: line 1: 'x' is not a number$"
printf -- '-9223372036854775808\n' > "$T/minid.tsv"
run sb-cat --from-tsv "$T/minid.tsv" -k tokens -o "$T/minid.sbf"
like "from-tsv -k tokens: the most negative 64-bit id is refused as beyond 2^53" "$rc:$err" \
	"^1:sb-cat: .*minid.tsv: line 1: '-9223372036854775808' is not a token id$"

# ---- the examples of sb-cat(1), run as written; shown output must match
mkdir "$T/ex" && cd "$T/ex" || exit 99
awk '
	/^\.Sh EXAMPLES/ { ex = 1; next }
	/^\.Sh / { ex = 0 }
	ex && /^\.Bd -literal/ { lit = 1; next }
	ex && /^\.Ed/ { lit = 0; print "@@"; next }
	ex && lit { gsub(/\\e/, "\\"); print }
' "$SB_SRCDIR/man/sb-cat.1" > "$T/examples.txt"
n_ex=0
cmd=
: > "$T/want"
flush_example() {
	[ -n "$cmd" ] || return 0
	n_ex=$((n_ex + 1))
	sh -c "$cmd" > "$T/got" 2> "$T/got.err"
	_rc=$?
	_desc="sb-cat(1) example $n_ex: $(printf '%s' "$cmd" | tr -d '\\' | cut -c1-60)"
	if [ "$_rc" = 0 ] && cmp -s "$T/want" "$T/got"; then
		ok "$_desc"
	else
		not_ok "$_desc"
		diag "exit $_rc: $(cat "$T/got.err")"
		diff "$T/want" "$T/got" | sed 's/^/# /'
	fi
	: > "$T/want"
	cmd=
}
while IFS= read -r line; do
	case $line in
	'$ '*)
		flush_example
		cmd=${line#\$ } ;;
	@@)
		flush_example ;;
	*)
		if [ -n "$cmd" ]; then printf '%s\n' "$line" >> "$T/want"; fi ;;
	esac
done < "$T/examples.txt"
flush_example
check "sb-cat(1) has at least 8 examples with a prompt" test "$n_ex" -ge 8

# The pipelines of sb(7) and sb-cat(1) (commands without a prompt, starting with sb-
# or tail; lines like "sb-cat: ..." are messages, not commands), with MODEL the tiny
# test model, RERANKER the tiny cross-encoder and a few sentences.
M=$SB_SRCDIR/tests/models/tiny-distilbert
if [ ! -d "$M" ]; then
	echo "Bail out! $M is missing"
	exit 1
fi
printf 'hello world\nwhat a time to be alive!\na cat sat on the mat\n' > sentences.txt
cp sentences.txt text.txt
cp sentences.txt passages.txt
echo 'a cat on a mat' > query.txt
R=$SB_SRCDIR/tests/models/tiny-xlmr-rerank
for page in sb.7 sb-cat.1; do
	awk '
		/^\.Sh EXAMPLES/ { ex = 1; next }
		/^\.Sh / { ex = 0 }
		ex && /^\.Bd -literal/ { lit = 1; next }
		ex && /^\.Ed/ { lit = 0; next }
		ex && lit {
			if (cont)
				line = line " " $0
			else if ($0 ~ /^(sb-|tail )/ && $0 !~ /^sb-[a-z]+: /)
				line = $0
			else
				next
			cont = $0 ~ /\|$/
			if (!cont)
				print line
		}
	' "$SB_SRCDIR/man/$page" > "$T/pipes.txt"
	while IFS= read -r cmd; do
		cmd=$(printf '%s' "$cmd" | sed "s|RERANKER|$R|g; s|MODEL|$M|g; s/|  */| /g")
		sh -c "$cmd" > "$T/pipe.out" 2> "$T/pipe.err" < /dev/null
		_rc=$?
		if [ "$_rc" = 0 ]; then
			ok "$page example: $(printf '%s' "$cmd" | sed "s|$R|RERANKER|g; s|$M|MODEL|g" | cut -c1-70)"
		else
			not_ok "$page example: $(printf '%s' "$cmd" | sed "s|$R|RERANKER|g; s|$M|MODEL|g" | cut -c1-70)"
			diag "exit $_rc: $(head -c 600 "$T/pipe.err")"
		fi
	done < "$T/pipes.txt"
done
run sb-cat -c emb.sbf
is "sb(7) example: the saved embeddings are complete" "$rc:$out" "0:emb.sbf: 2 frames, 3 rows, complete"
run "$PY" -c 'import numpy; print(numpy.load("emb.npy").shape)'
is "sb(7) example: emb.npy holds one vector per sentence" "$rc:$out" "0:(3, 32)"
cd "$T" || exit 99

# ---- -m MODEL: token ids as token strings, as convert_ids_to_tokens (the id -> token
# map of tokenizer.json's model.vocab and added_tokens)
printf 'hello world\nwhat a time to be alive!\n[CLS] tab\there, caf\303\251 na\303\257ve\n' > "$T/tok.txt"
sb-tokenize -m "$M" < "$T/tok.txt" > "$T/tok.sbf"
sb-cat --tsv input_ids --unpad "$T/tok.sbf" > "$T/tok.ids"
"$PY" -c '
import json, sys
t = json.load(open(sys.argv[1] + "/tokenizer.json"))
inv = {i: s for s, i in t["model"]["vocab"].items()}
inv.update({a["id"]: a["content"] for a in t["added_tokens"]})
esc = lambda s: s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
for line in open(sys.argv[2]):
    print("\t".join(esc(inv[int(i)]) for i in line.split()))
' "$M" "$T/tok.ids" > "$T/tok.want"
same "-m MODEL --tsv input_ids --unpad: the token strings of tokenizer.json" "$T/tok.want" \
	sb-cat --tsv input_ids --unpad -m "$M" "$T/tok.sbf"
same "--model MODEL is -m MODEL" "$T/tok.want" sb-cat --tsv input_ids --unpad --model "$M" "$T/tok.sbf"
sb-cat -m "$M" "$T/tok.sbf" > "$T/tok.jsonl"
run "$PY" -c '
import json, sys
rows = [r for f in map(json.loads, open(sys.argv[1])) if f["kind"] == "tokens" for r in f["tokens"]]
want = [l.rstrip("\n").split("\t") for l in open(sys.argv[2])]
want = [[w.replace("\\t", "\t") for w in r] for r in want]
print("same" if rows == want else "differ: %r %r" % (rows, want))
' "$T/tok.jsonl" "$T/tok.want"
is "-m MODEL: JSON lines carry each row's tokens, unpadded" "$rc:$out" "0:same"
sb-cat "$T/tok.sbf" > "$T/plain.jsonl"
run "$PY" -c '
import re, sys
a = [re.sub(r",\"tokens\":.*?(?=,\"tensors\":)", "", l) for l in open(sys.argv[1])]
print("same" if a == list(open(sys.argv[2])) else "differ")
' "$T/tok.jsonl" "$T/plain.jsonl"
is "-m MODEL: the JSON lines are the plain ones plus \"tokens\"" "$rc:$out" "0:same"
printf '5\t6\n' | sb-cat --from-tsv - -k tokens -m tokenizer_fingerprint=00000000deadbeef > "$T/other.sbf"
run sb-cat --tsv input_ids -m "$M" "$T/other.sbf"
like "-m: tokens of another tokenizer are refused by their fingerprint" "$rc:$err" \
	"^1:sb-cat: .*other.sbf: frame 1 at byte 0: the tokens come from tokenizer 00000000deadbeef, .*tiny-distilbert has tokenizer 362b918e6f1433ac: their strings would be wrong$"
printf '5\t1000000\n' | sb-cat --from-tsv - -k tokens > "$T/badid.sbf"
run sb-cat --tsv input_ids -m "$M" "$T/badid.sbf"
like "-m: an id outside the vocabulary is named" "$rc:$err" \
	"^1:sb-cat: .*badid.sbf: frame 1 at byte 0: token id 1000000 is not in the vocabulary of .*tiny-distilbert \([0-9]+ tokens\)$"
run sb-cat --tsv sentence_embedding -m "$M" "$G/meta.sbf"
like "-m on float values: refused" "$rc:$err" "^1:sb-cat: .*tensor 'sentence_embedding' holds float.* values, not token ids$"
run sb-cat -c -m "$M" "$T/tok.sbf"
like "-m with --check: usage" "$rc:$err" "^2:sb-cat: -m MODEL \(token strings\) applies to the JSON and --tsv outputs"

# ---- --npy on a stream without rows: an empty (0, D) array
printf '' | sb-cat --from-tsv - > "$T/empty.sbf"
run sb-cat --npy sentence_embedding -o "$T/e.npy" "$T/empty.sbf"
like "npy of an empty stream: says the width is unknown" "$rc:$err" \
	"^1:sb-cat: tensor 'sentence_embedding': the input holds no frame, so the width of its rows is unknown: give it with --dim D"
check "... and leaves no file" test ! -e "$T/e.npy"
sb-cat --npy sentence_embedding --dim 384 -o "$T/e.npy" "$T/empty.sbf"
run "$PY" -c 'import numpy, sys; a = numpy.load(sys.argv[1]); print(a.shape, a.dtype)' "$T/e.npy"
is "npy --dim 384 of an empty stream: numpy reads a (0, 384) float32 array" "$rc:$out" "0:(0, 384) float32"
sb-cat --npy sentence_embedding --dim 384 "$T/empty.sbf" > "$T/e2.npy"
check "... the same bytes through a pipe" cmp -s "$T/e.npy" "$T/e2.npy"
"$PY" -c 'import numpy; numpy.save("'"$T"'/np-empty.npy", numpy.zeros((0, 384), numpy.float32))'
check "... and the bytes numpy.save writes" cmp -s "$T/e.npy" "$T/np-empty.npy"
# Frames of 0 rows say the width themselves.
"$PY" -c '
import msgpack, sys
t = {"dtype": "float32", "shape": [0, 5], "data": b""}
for f in ({"sb": 1, "kind": "embeddings", "seq": 0, "rows": 0, "tensors": {"sentence_embedding": t}},
          {"sb": 1, "kind": "end", "rows_total": 0}):
    sys.stdout.buffer.write(msgpack.packb(f))
' > "$T/zero.sbf"
sb-cat --npy sentence_embedding -o "$T/e5.npy" "$T/zero.sbf"
run "$PY" -c 'import numpy, sys; a = numpy.load(sys.argv[1]); print(a.shape, a.dtype)' "$T/e5.npy"
is "npy of a stream of 0-row [0, 5] frames: a (0, 5) array" "$rc:$out" "0:(0, 5) float32"
run sb-cat --npy sentence_embedding --dim 3 -o "$T/x.npy" "$G/meta.sbf"
like "npy --dim that disagrees with the frames: refused" "$rc:$err" "^1:sb-cat: .*tensor 'sentence_embedding' is \[[0-9]+, [0-9]+\], --dim says 3 columns"
run sb-cat --dim 3 "$T/empty.sbf"
like "--dim without --npy: usage" "$rc:$err" "^2:sb-cat: --dim applies to --npy"

# ---- --frames: streams joined into one
cat "$G/tokens.input_ids.tsv" "$G/text.input_ids.tsv" > "$T/joined.tsv"
sb-cat -F "$G/tokens.sbf" "$G/text.sbf" > "$T/joined.sbf"
same "frames: two streams joined print as their rows" "$T/joined.tsv" sb-cat --tsv input_ids -t "$T/joined.sbf"
run sb-cat -c "$T/joined.sbf"
is "frames: the joined stream counts all rows" "$rc:$out" "0:$T/joined.sbf: 4 frames, 9 rows, complete"
cat "$G/tokens.sbf" "$G/text.sbf" | sb-cat -F | sb-cat -c > "$T/joined.out"
check "frames: two streams in one input joined" grep -q "^stdin: 4 frames, 9 rows, complete$" "$T/joined.out"
sb-cat -F "$G/tokens.sbf" "$SB_SRCDIR/tests/fixtures/frames/bad/truncated.sbf" > "$T/cut.sbf" 2> "$T/cut.err"
check "frames: a cut input fails" test "$?" = 1 -a "$(wc -l < "$T/cut.err")" = 1
run sb-cat -c "$T/cut.sbf"
is "frames: ... and the output holds the whole frames without an end frame" "$rc:$out" \
	"1:$T/cut.sbf: 3 frames, 5 rows, cut (no end frame)"
run sb-cat -F "$G/tokens.sbf" "$G/meta.sbf" -o "$T/mixed.sbf"
like "frames: kinds cannot be mixed" "$rc:$err" \
	"^1:sb-cat: .*meta.sbf: frame 1 at byte 0: a frame of kind embeddings cannot join a stream of kind tokens$"

# ---- ZeroMQ: a stream on a socket ends with its end frame
sb-cat --from-npy "$N/emb-f32.npy" -b 2 > "$T/z.sbf"
sb-cat "$T/z.sbf" > "$T/z.want"
sb-cat -i "@ipc://$T/z.sock" --timeout 30 > "$T/z.got" 2> "$T/z.err" &
zpid=$!
sb-cat --from-npy "$N/emb-f32.npy" -b 2 -o ">ipc://$T/z.sock" --timeout 30 2> "$T/zw.err"
zw=$?
wait "$zpid"
zr=$?
check "zeromq: reader and writer exit 0" test "$zr:$zw" = 0:0
check "zeromq: the frames printed equal those of a file" cmp -s "$T/z.got" "$T/z.want"
sb-cat -F -i "@ipc://$T/z2.sock" --timeout 30 -o "$T/z2.sbf" 2> "$T/z.err" &
zpid=$!
sb-cat --from-npy "$N/emb-f32.npy" -b 2 -o ">ipc://$T/z2.sock" --timeout 30 2> "$T/zw.err"
wait "$zpid"
check "zeromq: -F saves a socket's stream to a file" cmp -s "$T/z2.sbf" "$T/z.sbf"

# ---- output errors: a closed pipe ends quietly, a full disk is an error
for i in 1 2 3 4 5 6 7 8; do cat "$G/large.sbf"; done > "$T/big.sbf"
(sb-cat --full "$T/big.sbf" 2> "$T/pipe.err"; echo $? > "$T/pipe.rc") | head -1 > "$T/pipe.out"
check "closed pipe: one line was read" test "$(wc -l < "$T/pipe.out")" = 1
check "closed pipe: nothing on stderr" test ! -s "$T/pipe.err"
check "closed pipe: ends as a SIGPIPE'd writer (141)" test "$(cat "$T/pipe.rc")" = 141
(sb-cat --npy sentence_embedding "$T/big.sbf" 2> "$T/pipe.err"; echo $? > "$T/pipe.rc") | head -c 10 > /dev/null
check "closed pipe with --npy: quiet" test ! -s "$T/pipe.err" -a "$(cat "$T/pipe.rc")" = 141
if [ -w /dev/full ]; then
	run sb-cat "$G/tokens.sbf" -o /dev/full
	like "full disk with -o: error exit 1" "$rc:$err" "^1:sb-cat: /dev/full: write: No space left on device$"
	sb-cat "$G/large.sbf" > /dev/full 2> "$T/full.err"
	like "full disk on stdout: error exit 1" "$?:$(cat "$T/full.err")" "^1:sb-cat: stdout: write: No space left on device$"
	sb-cat --from-npy "$N/emb-f32.npy" > /dev/full 2> "$T/full.err"
	like "full disk writing frames: error exit 1" "$?:$(cat "$T/full.err")" "^1:sb-cat: .*No space left on device"
else
	not_ok "/dev/full is needed to test full-disk errors"
fi

# ---- usage
run sb-cat --tsv a --npy b
like "two modes at once: usage, exit 2" "$rc:$err" "^2:sb-cat: --npy cannot be combined"
run sb-cat -b 0 --from-npy x.npy
like "--batch 0: usage, exit 2" "$rc:$err" "^2:sb-cat: --batch '0'"
run sb-cat -k banana --from-npy x.npy
like "--kind banana: usage, exit 2" "$rc:$err" "^2:sb-cat: --kind 'banana'"
run sb-cat -t "$G/tokens.sbf"
like "-t without --tsv: usage, exit 2" "$rc:$err" "^2:sb-cat: -t and --unpad apply to --tsv"
run sb-cat -o '@tcp://127.0.0.1:1' "$G/tokens.sbf"
like "JSON to a ZeroMQ endpoint: usage, exit 2" "$rc:$err" "^2:sb-cat: -o '@tcp://127.0.0.1:1': a ZeroMQ endpoint takes frames"
run sb-cat "$T/no-such-file.sbf"
like "a missing input: exit 1 naming it" "$rc:$err" "^1:sb-cat: .*no-such-file.sbf: No such file or directory"

plan "$sb_n"
