#!/bin/sh
# Regenerates the golden files of tests/10-tokenize.sh with Hugging Face tokenizers
# (its Node binding: ../shared/reference/hf_tokenize.js, set up by setup.sh there).
# usage, from the top of the source tree:   tests/tools/tokenize-goldens.sh
#
# Writes tests/golden/tokenize/:
#   NAME-LEN.gz        ids per row, one line a row ("101 7592 102"); pairs add " | "
#                      and the type ids.  NAME: sts1 / sts2 (columns 6 / 7 of
#                      sts-test.tsv), pairs (6 TAB 7), hard (hard.txt), hard-pairs
#                      (hard-pairs.txt), hard-cased (hard.txt with the cased model);
#                      LEN: --max-length 128 or 16.
#   model/             the small config files of the model folder the test builds
#                      around the real vocabulary (not committed: ../shared/data), and
#                      tokenizer.json.in, mkmodel.py's tokenizer.json with its vocab
#                      object replaced by @VOCAB@ (the test fills it in from vocab.txt).
#   hard-pairs.txt     consecutive lines of hard.txt without tabs, joined by a tab.
# The model folders come from ../shared/reference/mkmodel.py (real vocabulary
# bert-base-uncased-vocab.txt, uncased DistilBERT, and --cased).
set -eu
SHARED=${SB_SHARED:-../shared}
REF=$SHARED/reference
G=tests/golden/tokenize
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

/usr/bin/python3 "$REF/mkmodel.py" "$T/uncased" --arch distilbert > /dev/null
/usr/bin/python3 "$REF/mkmodel.py" "$T/cased" --arch distilbert --cased > /dev/null
cut -f6 "$SHARED/data/sts-b/sts-test.tsv" > "$T/sts1.txt"
cut -f7 "$SHARED/data/sts-b/sts-test.tsv" > "$T/sts2.txt"
cut -f6,7 "$SHARED/data/sts-b/sts-test.tsv" > "$T/pairs.txt"
grep -av "$(printf '\t')" "$G/hard.txt" | paste - - > "$G/hard-pairs.txt"

# hf MODEL INPUT ARGS...: the ids (and type ids with --pairs) of every line.
hf() {
	m=$1; shift
	in=$1; shift
	case " $* " in *" --pairs "*) p=1 ;; *) p=0 ;; esac
	node "$REF/hf_tokenize.js" "$m" "$in" "$@" | /usr/bin/python3 -c '
import json, sys
pairs = sys.argv[1] == "1"
for l in sys.stdin:
    d = json.loads(l)
    s = " ".join(map(str, d["ids"]))
    if pairs:
        s += " | " + " ".join(map(str, d["type_ids"]))
    print(s)' "$p"
}

for L in 128 16; do
	hf "$T/uncased" "$T/sts1.txt" --max-length $L | gzip -9n > "$G/sts1-$L.gz"
	hf "$T/uncased" "$T/sts2.txt" --max-length $L | gzip -9n > "$G/sts2-$L.gz"
	hf "$T/uncased" "$T/pairs.txt" --max-length $L --pairs | gzip -9n > "$G/pairs-$L.gz"
	hf "$T/uncased" "$G/hard.txt" --max-length $L | gzip -9n > "$G/hard-$L.gz"
	hf "$T/uncased" "$G/hard-pairs.txt" --max-length $L --pairs | gzip -9n > "$G/hard-pairs-$L.gz"
	hf "$T/cased" "$G/hard.txt" --max-length $L | gzip -9n > "$G/hard-cased-$L.gz"
done

mkdir -p "$G/model"
for f in config.json sentence_bert_config.json special_tokens_map.json tokenizer_config.json; do
	cp "$T/uncased/$f" "$G/model/$f"
done
cp "$T/cased/tokenizer_config.json" "$G/model/tokenizer_config-cased.json"
/usr/bin/python3 - "$T/uncased/tokenizer.json" "$G/model/tokenizer.json.in" <<'PY'
import json, sys
t = json.load(open(sys.argv[1], encoding="utf-8"))
t["model"]["vocab"] = "@VOCAB@"
s = json.dumps(t, indent=1, ensure_ascii=False)
open(sys.argv[2], "w", encoding="utf-8").write(s.replace('"@VOCAB@"', "@VOCAB@") + "\n")
PY
echo "goldens written to $G"
