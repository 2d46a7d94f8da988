#!/bin/sh
# encode-modernbert.sh - sb-encode on a full-size random gte-modernbert-base shape
# (model_type modernbert, 22 layers x 768, 12 heads, intermediate 1152 (Wi 2304 rows),
# local_attention 128, every third layer global, 8192 positions, the 50262 tokens of a
# byte-level BPE built from GPT-2's files by tests/tools/mkmodernbert.py, weights drawn as
# transformers initialises the architecture): agreement with
# the PyTorch port (tests/tools/modernbert-ref.py) on STS sentences and on documents of
# 512 and 2048 tokens, throughput side by side with the port on the same ids (rounds
# alternating A B A B), the same against ONNX Runtime on the port exported to ONNX
# (modernbert-ref.py --onnx, ../shared/reference/ort_bench.js), and sb-encode's peak
# resident memory and time per token on 24 rows of 512 tokens and one row of 2048 and of
# 8192 tokens.  Run by hand (not part of make check), from the top of the source tree:
#
#   bench/encode-modernbert.sh [BUILDDIR]
#
# BUILDDIR holds the built programs (default: .), after `make check` (for tests/enctool);
# build it without sanitizers for meaningful figures.  Environment: SHARED (default
# ../shared), WORK (default /tmp/sb-bench-modernbert-hf: the model, tokens and references
# are kept there between runs; "-hf" as the model follows transformers' initialisation),
# ROUNDS (default 3), THREADS (default 2), N (default 1000: the first N STS sentences for
# the throughput rounds), SKIP_REF=1, SKIP_ORT=1, SKIP_THROUGHPUT=1 (only the long
# rows).  Needs /usr/bin/python3 with torch and numpy,
# node with the reference packages (../shared/reference/setup.sh).
#
# The port (modernbert-ref.py --bench: transformers' eager attention, which, as its sdpa
# path, builds the full [L, L] mask and scores of every layer, local ones included) times
# its loop after loading, on ids tokenized beforehand, sorted by length and batched 32 a
# batch (8 for documents of 512 tokens, 2 of 2048) padded to the longest, as
# sentence-transformers' encode() does.
# sb's figures are sb-encode --pool mean on saved tokens frames, start-up included.
set -eu

W=${WORK:-/tmp/sb-bench-modernbert-hf}
N=${N:-1000}
. "$(dirname "$0")/lib.sh"
need "$STS" "$SHARED/data/tokenizers/gpt2/encoder.json" "$B/cmd/sb-encode" \
	"$B/cmd/sb-tokenize" "$B/tests/enctool" /usr/bin/time
mkdir -p "$W"

machine
echo "== model and tokens"
if [ ! -f "$M/model.safetensors" ]; then
	$PY "$TOOLS/mkmodernbert.py" "$SHARED/data/tokenizers/gpt2" "$M" --merges 50000 \
		--hidden 768 --layers 22 --heads 12 --ffn 1152 --window 128 --every 3 \
		--max-pos 8192 --seed 5 > /dev/null
fi
wbytes=$(stat -c %s "$M/model.safetensors")
echo "weights: $wbytes bytes"
sts_text
head -n "$N" "$W/sts.txt" > "$W/sts-n.txt"
# Documents: consecutive STS sentences joined, cut to 512 / 2048 / 8192 tokens.
join_rows 60 24 < "$W/sts.txt" > "$W/doc512.txt"
join_rows 240 8 < "$W/sts.txt" > "$W/doc2048.txt"
awk '{ s = s " " $0 } END { print substr(s, 2) }' "$W/sts.txt" > "$W/doc8192.txt"
for x in sts-n:512 doc512:512 doc2048:2048 doc8192:8192 doc8192:4096 doc8192:2048; do
	f=${x%:*} L=${x#*:}
	cached "$W/$f.$L.jsonl" node "$REF/hf_tokenize.js" "$M" "$W/$f.txt" --max-length "$L"
	sb-tokenize -m "$M" --max-length "$L" < "$W/$f.txt" > "$W/$f.$L.sbf"
	same_ids "$W/$f.$L.sbf" "$W/$f.$L.jsonl" ||
		{ echo "sb-tokenize: ids differ from Hugging Face tokenizers ($f, $L)" >&2; exit 1; }
	echo "$f cut to $L: $(wc -l < "$W/hf.ids") rows, $(awk '{ n += NF } END { print n }' \
		"$W/hf.ids") tokens, the same ids as Hugging Face tokenizers"
done

echo "== agreement with the PyTorch port (tests/tools/modernbert-ref.py)"
if [ "${SKIP_REF:-0}" != 1 ]; then
	head -n 200 "$W/sts-n.512.jsonl" > "$W/sts200.jsonl"
	head -n 4 "$W/doc512.512.jsonl" > "$W/doc512-4.jsonl"
	head -n 2 "$W/doc2048.2048.jsonl" > "$W/doc2048-2.jsonl"
	for x in sts200:sts-n:512:200 doc512-4:doc512:512:4 doc2048-2:doc2048:2048:2; do
		r=${x%%:*} rest=${x#*:}
		f=${rest%%:*} rest=${rest#*:}
		L=${rest%:*} n=${rest#*:}
		cached "$W/$r.ref" $PY "$TOOLS/modernbert-ref.py" "$M" "$W/$r.jsonl" --batch 8
		head -n "$n" "$W/$f.txt" | sb-tokenize -m "$M" --max-length "$L" |
			sb-encode -m "$M" -t "$THREADS" --pool mean |
			enctool compare "$W/$r.ref" > "$W/cmp" 2>&1 || true
		echo "$r: $(cat "$W/cmp")"
	done
fi

onnx_export "modernbert-ref.py --onnx" $PY "$TOOLS/modernbert-ref.py" "$M" --onnx
[ "${SKIP_THROUGHPUT:-0}" = 1 ] ||
echo "== throughput, $THREADS threads, $ROUNDS rounds (alternating sb, pytorch, onnxruntime)"
echo "(sb-encode: whole process, loading included; \"in stage\": its -v time in the stage;"
echo " PyTorch and ONNX Runtime: their loops after loading, on the same ids)"
for x in sts-n.512:32 doc512.512:8 doc2048.2048:2; do
	[ "${SKIP_THROUGHPUT:-0}" = 1 ] && break
	t=${x%:*} bs=${x#*:}
	: > "$W/r.sb"; : > "$W/r.stage"; : > "$W/r.torch"; : > "$W/r.ort"
	rows=$(wc -l < "$W/$t.jsonl")
	for r in $(seq "$ROUNDS"); do
		t0=$(now)
		sb-encode -m "$M" -t "$THREADS" --pool mean -v -i "$W/$t.sbf" > /dev/null \
			2> "$W/v"
		t1=$(now)
		rate "$rows" "$t0" "$t1" >> "$W/r.sb"
		stage_rate "$rows" >> "$W/r.stage"
		$PY "$TOOLS/modernbert-ref.py" "$M" "$W/$t.jsonl" --bench --threads "$THREADS" \
			--batch "$bs" | awk '{ print $1 }' >> "$W/r.torch"
		[ "${SKIP_ORT:-0}" = 1 ] ||
			node "$REF/ort_bench.js" "$W/model.onnx" "$W/$t.jsonl" --threads "$THREADS" \
				--batch "$bs" --mode st | awk '{ print $1 }' >> "$W/r.ort"
		echo "$t round $r: sb $(tail -n 1 "$W/r.sb") rows/s (in stage" \
		     "$(tail -n 1 "$W/r.stage"))  pytorch $(tail -n 1 "$W/r.torch")" \
		     " onnxruntime $(tail -n 1 "$W/r.ort" 2> /dev/null || echo -)"
	done
	sb=$(median < "$W/r.sb"); torch=$(median < "$W/r.torch")
	printf '%s: rows/s (median) sb %.2f, pytorch %.2f, ratio %.2f (per-round median %.2f)\n' \
		"$t" "$sb" "$torch" "$(echo "$sb $torch" | awk '{ print $1 / $2 }')" \
		"$(paste "$W/r.sb" "$W/r.torch" | awk '{ print $1 / $2 }' | median)"
	if [ -s "$W/r.ort" ]; then
		printf '%s: onnxruntime %.2f rows/s; sb / onnxruntime per-round median %.2f' \
			"$t" "$(median < "$W/r.ort")" \
			"$(paste "$W/r.sb" "$W/r.ort" | awk '{ print $1 / $2 }' | median)"
		printf ' (in stage %.2f)\n' \
			"$(paste "$W/r.stage" "$W/r.ort" | awk '{ print $1 / $2 }' | median)"
	fi
done

echo "== long rows: sb-encode peak resident memory and time per token, $THREADS threads"
echo "(rounds alternate: 24 rows of 512 tokens, one row of 2048, one of 8192; a one-token"
echo " row's time, the start-up, is taken off each)"
echo hello | sb-tokenize -m "$M" > "$W/one1.sbf"
ntok() { $PY -c 'import json, sys; print(sum(len(json.loads(l)["ids"]) for l in open(sys.argv[1])))' "$1"; }
set -- one1:1 doc512.512:"$(ntok "$W/doc512.512.jsonl")" \
	doc8192.2048:"$(ntok "$W/doc8192.2048.jsonl")" doc8192.8192:"$(ntok "$W/doc8192.8192.jsonl")"
for x in "$@"; do : > "$W/r.${x%:*}"; done
for r in $(seq "$ROUNDS"); do
	for x in "$@"; do
		f=${x%:*} n=${x#*:}
		/usr/bin/time -f '%M %e' -o "$W/time" sb-encode -m "$M" -t "$THREADS" \
			--pool mean -i "$W/$f.sbf" > /dev/null
		read -r kb s < "$W/time"
		echo "$s" >> "$W/r.$f"
		echo "round $r, $f ($n tokens): $s s, peak RSS $((kb / 1024)) MB (weights" \
		     "$((wbytes / 1048576)) MB, +$(((kb * 1024 - wbytes) / 1048576)) MB)"
	done
done
shift
for x in "$@"; do
	f=${x%:*} n=${x#*:}
	paste "$W/r.$f" "$W/r.one1" | awk -v n="$n" '{ print 1000 * ($1 - $2) / n }' \
		> "$W/r.per.$f"
done
for x in "$@"; do
	f=${x%:*}
	printf '%s: %.3f ms per token (median; start-up %.2f s taken off), %.2fx the time' \
		"$f" "$(median < "$W/r.per.$f")" "$(median < "$W/r.one1")" \
		"$(paste "$W/r.per.$f" "$W/r.per.doc512.512" | awk '{ print $1 / $2 }' | median)"
	printf ' per token at 512 (per-round median)\n'
done
