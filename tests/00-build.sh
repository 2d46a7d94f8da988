#!/bin/sh
# The programs exist, answer --help with exit 0 and a bad option with usage and exit 2.
. ./tests/setup

progs=$(cd "$SB_BUILDDIR/cmd" && ls sb-* 2>/dev/null | grep -v '\.o$' | grep -v '\.' | sort)
count=$(printf '%s\n' $progs | wc -l)
plan $((count * 2))
for p in $progs; do
	run "$p" --help
	check "$p --help exits 0 with usage" test "$rc" = 0 -a -n "$out"
	run "$p" --no-such-option
	check "$p --no-such-option exits 2 with usage on stderr" test "$rc" = 2 -a -n "$err"
done
