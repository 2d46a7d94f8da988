#!/bin/sh
# The tokenizer cache (sb-tokenize(1), FILES): a BPE tokenizer.json opened twice writes
# its tables to the cache folder, then reads them, and the ids are the same as without
# a cache (the real Qwen3 file on STS-B and the BPE hard cases, the tiny file with
# every added-token flag); a changed tokenizer.json is parsed again; damaged cache files
# (cut, flipped, another version, offsets and ids out of range, a wrong fingerprint)
# are ignored and written again; the folder from SB_TOKENIZER_CACHE, XDG_CACHE_HOME,
# HOME; an unusable folder is not an error.  What happened is read from -v.
. ./tests/setup

G=$SB_SRCDIR/tests/golden/tokenize/bpe
T=$SB_TMP
require_shared data/tokenizers/qwen3/tokenizer.json
require_shared data/sts-b/sts-test.tsv
STS=$SB_SHARED/data/sts-b/sts-test.tsv
cd "$T" || exit 99

plan 61

mkdir qwen3 tiny llama
ln -s "$SB_SHARED/data/tokenizers/qwen3/tokenizer.json" qwen3/tokenizer.json
cp "$SB_SHARED/data/tokenizers/qwen3/tokenizer_config.json" qwen3/
cp "$G"/tiny-qwen/* tiny/
cp "$SB_SRCDIR"/tests/golden/tokenize/spm/llama-bpe/* llama/
# A file changed less than 2 s ago is not cached (its mtime could still hide a change).
touch -d '2020-01-01 00:00:00' tiny/tokenizer.json llama/tokenizer.json
{ cut -f6 "$STS"; cat "$G/hard-bpe.txt"; } > text.txt

# tok MODEL CACHE [ARGS]: frames of text.txt in $MODEL.CACHE.out, -v in $MODEL.CACHE.err.
tok() {
	_m=$1 _c=$2
	shift 2
	SB_TOKENIZER_CACHE=$_c sb-tokenize -v -m "$_m" --no-text "$@" < text.txt > "$_m.out" 2> "$_m.err"
}
# cache_line MODEL: the value of the cache setting that -v printed.
cache_line() {
	sed -n 's/^sb-tokenize: *cache  *\(.*\) from .*/\1/p' "$1.err" | sed 's/ *$//'
}

for m in qwen3 tiny llama; do
	tok "$m" 0 || not_ok "$m: no cache"
	mv "$m.out" "$m.plain"
	is "$m: SB_TOKENIZER_CACHE=0: no cache" "$(grep -c ' cache ' "$m.err")" 0
	tok "$m" "$T/cache"
	is "$m: cold: written" "$(cache_line "$m")" written
	check "$m: cold: same ids as without a cache" cmp -s "$m.out" "$m.plain"
	tok "$m" "$T/cache"
	is "$m: warm: read" "$(cache_line "$m")" read
	check "$m: warm: same ids as without a cache" cmp -s "$m.out" "$m.plain"
	tok "$m" "$T/cache" --pairs -l 16
	is "$m: warm, pairs at 16: read" "$(cache_line "$m")" read
	SB_TOKENIZER_CACHE=0 sb-tokenize -m "$m" --no-text --pairs -l 16 < text.txt > "$m.p16"
	check "$m: pairs at 16: same ids" cmp -s "$m.out" "$m.p16"
done
is "one cache file per tokenizer.json" "$(find cache -type f | wc -l | tr -d ' ')" 3
is "no temporary file left" "$(find cache -type f ! -name '*.sbtok' | wc -l | tr -d ' ')" 0

TINY=$(sed -n 's/.* from \(.*\.sbtok\)$/\1/p' tiny.err)
check "the tiny file's cache file is named in -v" test -f "$TINY"
cp "$TINY" tiny.good

# Damaged cache files: ignored (same ids), written again, then read.
for c in truncate:'file size' short:'short file' flip:checksum version:'another version' \
	 span:'offsets out of range' slot:'vocabulary slot out of range' \
	 merge:'merges out of range' fingerprint:fingerprint full:'merges out of range' \
	 entries:'its tables gave an error'; do
	name=${c%%:*} why=${c#*:}
	cp tiny.good "$TINY"
	"$PYTHON3" "$SB_SRCDIR/tests/tools/tokcache.py" "$TINY" "$name"
	if tok tiny "$T/cache" && cmp -s tiny.out tiny.plain; then
		ok "damaged ($name): same ids"
	else
		not_ok "damaged ($name): same ids"
		cat tiny.err
	fi
	is "damaged ($name): written again" "$(cache_line tiny)" "rewritten ($why)"
done
tok tiny "$T/cache"
is "the file written again is read" "$(cache_line tiny)" read
cp tiny.good same
"$PYTHON3" "$SB_SRCDIR/tests/tools/tokcache.py" same checksum
check "the test's checksum is the program's" cmp -s same tiny.good

# A changed tokenizer.json (same inode, same size, another mtime): parsed again.
"$PYTHON3" - tiny/tokenizer.json <<'EOF'
import json, sys
p = sys.argv[1]
text = open(p, encoding='utf-8').read()
d = json.loads(text)
m = d['model']['merges']
m[0], m[1] = m[1], m[0]
new = json.dumps(d, ensure_ascii=False, indent=2)
open(p, 'w', encoding='utf-8').write(new)
EOF
touch -d '2021-01-01 00:00:00' tiny/tokenizer.json
SB_TOKENIZER_CACHE=0 sb-tokenize -m tiny --no-text < text.txt > tiny.changed
tok tiny "$T/cache"
is "changed tokenizer.json: parsed again" "$(cache_line tiny)" "rewritten (tokenizer.json changed)"
check "changed tokenizer.json: its own ids" cmp -s tiny.out tiny.changed
tok tiny "$T/cache"
is "changed tokenizer.json: then read" "$(cache_line tiny)" read
check "changed tokenizer.json: same ids from the cache" cmp -s tiny.out tiny.changed

# A tokenizer.json changed just now is not kept.
touch tiny/tokenizer.json
tok tiny "$T/cache"
is "fresh tokenizer.json: not written" "$(cache_line tiny)" \
	"not written: tokenizer.json changed less than 2 s ago"
check "fresh tokenizer.json: same ids" cmp -s tiny.out tiny.changed
touch -d '2021-01-01 00:00:00' tiny/tokenizer.json

# An unusable folder: a file in the way.  Not an error.
: > afile
tok tiny "$T/afile/sub"
rc=$?
is "folder that cannot be made: exit 0" "$rc" 0
is "folder that cannot be made: said with -v" "$(cache_line tiny)" \
	"not written: cannot create the folder"
check "folder that cannot be made: same ids" cmp -s tiny.out tiny.changed

# The folder: XDG_CACHE_HOME, else HOME; never beside the model.
env -u SB_TOKENIZER_CACHE XDG_CACHE_HOME="$T/xdg" HOME="$T/home" \
	sb-tokenize -m tiny --no-text < text.txt > /dev/null
is "XDG_CACHE_HOME/sb/tokenizers" "$(find xdg/sb/tokenizers -name '*.sbtok' | wc -l | tr -d ' ')" 1
env -u SB_TOKENIZER_CACHE -u XDG_CACHE_HOME HOME="$T/home" \
	sb-tokenize -m tiny --no-text < text.txt > /dev/null
is "HOME/.cache/sb/tokenizers" \
	"$(find home/.cache/sb/tokenizers -name '*.sbtok' | wc -l | tr -d ' ')" 1
is "nothing beside the model" "$(ls tiny | wc -l | tr -d ' ')" 4

# Other tokenizers: not cached, said with -v.
for m in tiny-uni:"$SB_SRCDIR/tests/golden/tokenize/spm/tiny-uni" \
	 wordpiece:"$SB_SRCDIR/tests/models/tiny-distilbert-relu-cls"; do
	SB_TOKENIZER_CACHE=$T/cache2 sb-tokenize -v -m "${m#*:}" --no-text < text.txt \
		> /dev/null 2> other.err
	is "${m%%:*}: not used" "$(cache_line other)" "not used"
done
check "nothing written for them" test ! -e cache2

exit $((sb_failed > 0))
