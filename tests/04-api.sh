#!/bin/sh
# The public boundary: libsb.so exports exactly the functions its installed headers
# declare with SB_API (lib/api.h), nothing that a private header declares (the farm's
# bookkeeping, key readers, the HTTP client); and a program that sees only the
# installed headers compiles, links libsb.so and runs.
. ./tests/setup

require_cmd nm
so=$SB_BUILDDIR/lib/.libs/libsb.so
plan 7

if [ -z "$SB_INSTALLED_HEADERS" ] || [ -z "$SB_CC" ]; then
	echo "Bail out! SB_INSTALLED_HEADERS and SB_CC are not set: run it through make check"
	exit 1
fi
check "libsb.so is built" test -f "$so"
nm -D --defined-only "$so" | awk '$2 == "T" || $2 == "D" || $2 == "B" || $2 == "R" { print $3 }' |
	sort > "$SB_TMP/exported"
mkdir -p "$SB_TMP/include/sb"
for h in $SB_INSTALLED_HEADERS; do cp "$SB_SRCDIR/$h" "$SB_TMP/include/sb/"; done
# Declarations marked SB_API: the name before the first "(" of each marked statement.
cat "$SB_TMP"/include/sb/*.h | awk '
	/^SB_API / { s = ""; on = 1 }
	on { s = s " " $0; if (index(s, "(")) { sub(/\(.*/, "", s); n = split(s, w, /[ *]+/);
		print w[n]; on = 0 } }' | sort > "$SB_TMP/declared"
is "exported functions: exactly the SB_API declarations of the installed headers" \
	"$(comm -3 "$SB_TMP/exported" "$SB_TMP/declared" | tr -s '\t\n' '  ')" ""
# A declaration at column 0 that names an sb_ function without the mark would be
# installed but not exported: a consumer could compile against it and not link.
is "every function the installed headers declare carries SB_API" \
	"$(cd "$SB_TMP/include/sb" && grep -nE '^[a-z_].*[^a-z0-9_]sb_[a-z0-9_]+\(' ./*.h |
		grep -vE '^[^:]+:[0-9]+:(static|typedef|SB_API|#)' | tr '\n' ' ')" ""
n_exp=$(grep -c . "$SB_TMP/exported")
check "exports: $n_exp symbols (more than 150: the marked API is there)" test "$n_exp" -gt 150
is "no private helper is exported (sb_http_, sb_farm_, sb_zmq_key_load, sb_strf, sb_tok_)" \
	"$(grep -E '^(sb_http_|sb_farm_|sb_zmq_key_load|sb_zmq_keyfile|sb_zmq_allow|sb_strf|sb_tok_|sb_pickle_|sb_zip_)' \
		"$SB_TMP/exported" | tr '\n' ' ')" ""

# A program outside the suite: only the installed headers, linked with libsb.so.
run sh -c "$SB_CC $SB_CONSUMER_CFLAGS -I'$SB_TMP/include/sb' -o '$SB_TMP/consumer' \
	'$SB_SRCDIR/tests/consumer/consumer.c' -L'$SB_BUILDDIR/lib/.libs' -lsb"
is "the consumer compiles against the installed headers alone: exit 0" "$rc" 0 || diag "$err"
run env LD_LIBRARY_PATH="$SB_BUILDDIR/lib/.libs" "$SB_TMP/consumer"
like "the consumer runs against libsb.so" "$rc $out" "^0 ok: [0-9]+ bytes, "
