#!/bin/sh
# sb-encode refuses tokens made by another model's tokenizer: the tokens frames'
# tokenizer_fingerprint (written by sb-tokenize) must be that of the model folder's own
# tokenizer; --allow-mixed encodes them anyway; frames without a fingerprint (other
# producers) are accepted, and -v says so.
. ./tests/setup

MD=$SB_SRCDIR/tests/models
A=$MD/tiny-distilbert
S=$SB_SRCDIR/tests/sample.txt
plan 12

# B: the same model with one word of its vocabulary renamed, so its ids mean other words.
B=$SB_TMP/other
cp -r "$A" "$B"
sed 's/"world": /"wurld": /' "$A/tokenizer.json" > "$B/tokenizer.json"
sed 's/^world$/wurld/' "$A/vocab.txt" > "$B/vocab.txt"
fa=$(sb-tokenize -m "$A" < "$S" | pooldump meta | sed -n 's/^tokenizer_fingerprint=//p')
fb=$(sb-tokenize -m "$B" < "$S" | pooldump meta | sed -n 's/^tokenizer_fingerprint=//p')
check "the two tokenizers have different fingerprints" test -n "$fa" -a -n "$fb" -a "$fa" != "$fb"

sb-tokenize -m "$B" < "$S" > "$SB_TMP/b.tok"
run sb-encode -m "$A" -i "$SB_TMP/b.tok" -o "$SB_TMP/out.hid"
like "tokens of another tokenizer are refused, both models and fingerprints named" "$rc $err" \
	"^1 sb-encode: .*tokenizer_fingerprint $fb \(tokenizer of .*/other\) is not $fa, the fingerprint of .*tiny-distilbert's tokenizer: its ids index another vocabulary \((allow_mixed=1 / )?--allow-mixed to encode anyway\)$"
check "... and one line only" test "$(printf '%s\n' "$err" | wc -l)" = 1
check "... nothing is written: no frame, no end frame" test ! -s "$SB_TMP/out.hid"
run sb-encode -m "$A" --pool model -i "$SB_TMP/b.tok" -o /dev/null
like "... with --pool too" "$rc $err" "^1 sb-encode: .*tokenizer_fingerprint $fb"
run sb-encode -m "$A" --allow-mixed -i "$SB_TMP/b.tok" -o "$SB_TMP/out.hid"
check "--allow-mixed encodes them anyway" test "$rc" = 0 -a -s "$SB_TMP/out.hid"
sb-tokenize -m "$A" < "$S" | sb-encode -m "$A" --allow-mixed > "$SB_TMP/a1.hid"
sb-tokenize -m "$A" < "$S" | sb-encode -m "$A" > "$SB_TMP/a2.hid"
check "... and encodes as without it" cmp -s "$SB_TMP/a1.hid" "$SB_TMP/a2.hid"

# The same vocabulary in another folder (weights as pytorch_model.bin): accepted.
sb-tokenize -m "$A" < "$S" > "$SB_TMP/a.tok"
run sb-encode -m "$MD/tiny-distilbert-bin" -i "$SB_TMP/a.tok" -o /dev/null
check "another folder with the same tokenizer is accepted" test "$rc" = 0

# Frames without a fingerprint (enctool writes no meta): accepted, and -v says so.
printf '2 10 11 3\n2 12 3\n' > "$SB_TMP/ids.txt"
enctool frames -r 1 "$SB_TMP/ids.txt" > "$SB_TMP/bare.tok"
run sb-encode -m "$A" -v -i "$SB_TMP/bare.tok" -o /dev/null
like "frames without tokenizer_fingerprint are accepted, counted under -v" \
	"$rc $(printf '%s\n' "$err" | grep fingerprint)" \
	"^0 sb-encode: 2 tokens frames without a tokenizer_fingerprint accepted unchecked$"
# A model folder without a tokenizer: nothing to compare with.
mkdir "$SB_TMP/notok"
cp "$A/config.json" "$A/model.safetensors" "$SB_TMP/notok/"
run sb-encode -m "$SB_TMP/notok" -v -i "$SB_TMP/b.tok" -o /dev/null
like "a model without a tokenizer checks nothing, and -v says so" \
	"$rc $(printf '%s\n' "$err" | grep fingerprint)" \
	"^0 sb-encode: .*/notok has no tokenizer: tokenizer fingerprints not checked$"
# A broken tokenizer of the model is an error (--allow-mixed does not read it).
printf '{"model": ' > "$SB_TMP/other/tokenizer.json"
run sb-encode -m "$B" -i "$SB_TMP/a.tok" -o /dev/null
like "a model whose tokenizer cannot be read: the reason and the way out" "$rc $err" \
	"^1 sb-encode: encode: the model's tokenizer \(read to check the tokens' fingerprint; (allow_mixed=1 / )?--allow-mixed skips it\): .*tokenizer.json"
run sb-encode -m "$B" --allow-mixed -i "$SB_TMP/a.tok" -o /dev/null
check "... which --allow-mixed skips" test "$rc" = 0

exit $((sb_failed > 0))
