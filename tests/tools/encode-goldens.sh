#!/bin/sh
# encode-goldens.sh - regenerates tests/golden/encode from the reference implementations
# (Hugging Face tokenizers through node, PyTorch through /usr/bin/python3).  Run by hand
# from the top of the source tree; make check only reads the results.
#
#   tests/tools/encode-goldens.sh [SHARED]      (SHARED defaults to ../shared)
#
# Writes, for the STS benchmark test set (column 6 then column 7 of sts-test.tsv, 2758
# sentences; pairs are column 6 TAB column 7, 1379 pairs):
#   sts.ids.gz            token ids, one sentence a line (hf_tokenize.js, max length 128)
#   sts-pairs.ids.gz      "ids | type_ids" of the pairs, for BERT's token types
#   MODEL.pooled.gz       ref_forward.py's pooled output (the model's 1_Pooling mode),
#                         one row a line, "%.5f"
#   tiny-distilbert.cls.gz, .max.gz   cls and max pooling of the first 500 sentences
#   tiny-distilbert.hidden.gz         last_hidden_state of the first 16 sentences, one
#                                     real token a line: "ROW v v v ..."
# The test vocabulary and models are described in tests/models/README.
set -eu
OUT=tests/golden/encode
. tests/tools/goldens-lib.sh

mkdir -p "$OUT"
sts_split
hf_tok "$M/tiny-distilbert" "$T/sts.txt" > "$T/sts.jsonl"
hf_tok "$M/tiny-bert" "$T/pairs.txt" --pairs > "$T/pairs.jsonl"
head -n 500 "$T/sts.jsonl" > "$T/sts500.jsonl"

# ids.py JSONL: "ids | type_ids" lines.
cat > "$T/ids.py" <<'EOF'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    print(" ".join(map(str, r["ids"])), "|", " ".join(map(str, r["type_ids"])))
EOF
# rows.py NPZ KEY [--hidden N]: "%.5f" rows, or hidden states of the first N rows.
cat > "$T/rows.py" <<'EOF'
import sys
import numpy as np
z = np.load(sys.argv[1], allow_pickle=True)
if "--hidden" in sys.argv:
    n = int(sys.argv[sys.argv.index("--hidden") + 1])
    toks = [len(l.split()) for l in open(sys.argv[2])]
    for r in range(n):
        for t in range(toks[r]):
            print(r, " ".join("%.5f" % v for v in z["hidden"][r][t]))
else:
    for row in z[sys.argv[2]]:
        print(" ".join("%.5f" % v for v in row))
EOF
jsonl_field ids "$T/sts.jsonl" > "$T/sts.ids"
$PY "$T/ids.py" "$T/pairs.jsonl" > "$T/sts-pairs.ids"
gzip -9n -c "$T/sts.ids" > "$OUT/sts.ids.gz"
gzip -9n -c "$T/sts-pairs.ids" > "$OUT/sts-pairs.ids.gz"

for m in tiny-distilbert tiny-distilbert-f16 tiny-distilbert-bf16 tiny-distilbert-relu-cls \
	 tiny-bert-gelu-new; do
	$PY "$REF/ref_forward.py" "$M/$m" "$T/sts.jsonl" "$T/$m.npz"
	$PY "$T/rows.py" "$T/$m.npz" pooled | gzip -9n > "$OUT/$m.pooled.gz"
done
$PY "$REF/ref_forward.py" "$M/tiny-bert" "$T/pairs.jsonl" "$T/tiny-bert.npz"
$PY "$T/rows.py" "$T/tiny-bert.npz" pooled | gzip -9n > "$OUT/tiny-bert.pooled.gz"

$PY "$REF/ref_forward.py" "$M/tiny-distilbert" "$T/sts500.jsonl" "$T/d500.npz" --hidden
$PY "$T/rows.py" "$T/d500.npz" cls | gzip -9n > "$OUT/tiny-distilbert.cls.gz"
$PY "$T/rows.py" "$T/d500.npz" max | gzip -9n > "$OUT/tiny-distilbert.max.gz"
head -n 16 "$T/sts.ids" > "$T/sts16.ids"
$PY "$T/rows.py" "$T/d500.npz" "$T/sts16.ids" --hidden 16 |
	gzip -9n > "$OUT/tiny-distilbert.hidden.gz"
ls -l "$OUT"
