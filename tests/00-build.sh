#!/bin/sh
# The build is of one configuration: every program, libsb, the check programs and the
# test stage carry AddressSanitizer (__asan_init) and UndefinedBehaviorSanitizer
# (__ubsan_handle_*) exactly when configure was told so (tests/setup: SB_ENABLE_ASAN,
# SB_ENABLE_UBSAN), never a plain program beside a sanitized library left from another
# configuration.  Then the programs exist, answer --help with exit 0 and a bad option
# with usage and exit 2.
. ./tests/setup

require_cmd nm
progs=$(cd "$SB_BUILDDIR/cmd" && ls sb-* 2>/dev/null | grep -v '\.o$' | grep -v '\.' | sort)
count=$(printf '%s\n' $progs | wc -l)

# elf FILE: FILE is an ELF object (not a script, a libtool wrapper or a source).
elf() {
	[ -f "$1" ] && [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]
}
# The objects to inspect: programs, libsb, the stage sb-run loads in 03-run.sh, the
# Check units and test helpers, the fuzz corpus replayers.
objs=
for f in "$SB_BUILDDIR"/cmd/sb-* "$SB_BUILDDIR"/lib/.libs/libsb.so* \
	"$SB_BUILDDIR"/tests/.libs/stage_scale.so "$SB_BUILDDIR"/tests/* \
	"$SB_BUILDDIR"/tests/fuzz/regress_*; do
	case $f in *.o | *.lo | *.a | *.la) continue ;; esac
	[ -L "$f" ] && continue
	elf "$f" && objs="$objs $f"
done
n_objs=$(printf '%s\n' $objs | grep -c .)
plan $((4 + count * 2))

is "config.h's SB_BUILD_FLAGS names this configuration" \
	"$(sed -n 's/^#define SB_BUILD_FLAGS ".*\(asan=[a-z]*\) \(ubsan=[a-z]*\).*/\1 \2/p' \
		"$SB_BUILDDIR/config.h")" "asan=$SB_ENABLE_ASAN ubsan=$SB_ENABLE_UBSAN"
# At least the programs, libsb and the stage: a listing that found nothing proves nothing.
check "objects to inspect: $n_objs (programs, libsb, stage_scale.so, test programs)" \
	test "$n_objs" -ge $((count + 2))
# carriers SYMBOL-PATTERN: the objects whose dynamic symbols (defined or not) match.
carriers() {
	for f in $objs; do
		if nm -D "$f" 2> /dev/null | grep -Eq " $1"; then echo "${f#"$SB_BUILDDIR"/}"; fi
	done
}
for san in asan ubsan; do
	case $san in
	asan) want=$SB_ENABLE_ASAN sym='__asan_init$' ;;
	ubsan) want=$SB_ENABLE_UBSAN sym='__ubsan_handle_' ;;
	esac
	carriers "$sym" | sort > "$SB_TMP/have"
	if [ "$want" = yes ]; then
		for f in $objs; do echo "${f#"$SB_BUILDDIR"/}"; done | sort > "$SB_TMP/all"
		is "configured with $san: every object carries it" \
			"$(comm -23 "$SB_TMP/all" "$SB_TMP/have" | tr '\n' ' ')" ""
	else
		is "configured without $san: no object carries it" \
			"$(tr '\n' ' ' < "$SB_TMP/have")" ""
	fi
done

for p in $progs; do
	run "$p" --help
	check "$p --help exits 0 with usage" test "$rc" = 0 -a -n "$out"
	run "$p" --no-such-option
	check "$p --no-such-option exits 2 with usage on stderr" test "$rc" = 2 -a -n "$err"
done
