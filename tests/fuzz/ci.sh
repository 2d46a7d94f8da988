#!/bin/sh
# ci.sh - CI's fuzz step: builds every libFuzzer target in a separate clang build and runs
# each one briefly, failing loudly on any crash, leak, timeout, out-of-memory or missing
# target.
#
#     sh tests/fuzz/ci.sh [-t SECONDS] [-j LANES] [WORKDIR]
#
# WORKDIR (default fuzz-ci under the current directory) gets a clean copy of the sources
# (`make distdir` when the tree is configured in place, as .ci/bootstrap does: automake
# refuses a second build of a configured tree) and a build configured with
# CC=clang --enable-fuzz --enable-asan --enable-ubsan.  Every target named by a
# tests/fuzz/fuzz_*.c runs for SECONDS (default 60) through run.sh (-rss_limit_mb=2048
# -malloc_limit_mb=512, -timeout=10 per input), LANES (default 2) at a time.  Exit
# status 0 only if every target ran its time without a finding; else each failure is
# named with the libFuzzer artifact (crash-*, leak-*, timeout-*, oom-*) and its log.
set -u
secs=60
lanes=2
while getopts t:j: o; do
	case $o in
	t) secs=$OPTARG ;;
	j) lanes=$OPTARG ;;
	*) echo "usage: $0 [-t SECONDS] [-j LANES] [WORKDIR]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
src=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-fuzz-ci}
mkdir -p "$work" && work=$(cd "$work" && pwd) || exit 2
t0=$(date +%s)

die() {
	echo "ci.sh: FAIL: $*" >&2
	exit 1
}

command -v clang > /dev/null || die "clang not found (.ci/bootstrap installs clang and libclang-rt-14-dev)"

# The targets the sources define: each must be built and run.
targets=""
for f in "$src"/tests/fuzz/fuzz_*.c; do
	t=${f##*/fuzz_}
	targets="$targets ${t%.c}"
done
[ -n "$targets" ] || die "no tests/fuzz/fuzz_*.c in $src"

# A clean source tree for the clang build.
if [ -f "$src/config.status" ]; then
	tree=$work/src
	rm -rf "$tree"
	echo "== ci.sh: copying the sources (make distdir) to $tree" >&2
	make -s -C "$src" distdir distdir="$tree" > "$work/distdir.log" 2>&1 ||
		{ tail -20 "$work/distdir.log" >&2; die "make distdir failed, see $work/distdir.log"; }
else
	tree=$src
fi
build=$work/build
mkdir -p "$build"
if [ ! -f "$build/Makefile" ]; then
	echo "== ci.sh: configuring $build (clang, fuzz, asan, ubsan)" >&2
	(cd "$build" && "$tree/configure" CC=clang --enable-fuzz --enable-asan --enable-ubsan) \
		> "$work/configure.log" 2>&1 ||
		{ tail -20 "$work/configure.log" >&2; die "configure failed, see $work/configure.log"; }
fi
bins=""
for t in $targets; do
	bins="$bins tests/fuzz/fuzz_$t"
done
echo "== ci.sh: building$bins" >&2
# shellcheck disable=SC2086
make -C "$build" -j2 $bins > "$work/build.log" 2>&1 ||
	{ tail -30 "$work/build.log" >&2; die "building the fuzz targets failed, see $work/build.log"; }
missing=""
for t in $targets; do
	[ -x "$build/tests/fuzz/fuzz_$t" ] || missing="$missing $t"
	[ -d "$tree/tests/fuzz/corpus/$t" ] || missing="$missing $t(corpus)"
done
[ -z "$missing" ] || die "fuzz targets missing after the build:$missing"
t1=$(date +%s)
echo "== ci.sh: built in $((t1 - t0)) s; running$targets for $secs s each, $lanes at a time" >&2

# Lanes: target i goes to lane i mod LANES; each lane runs its targets one after the other.
rm -rf "$build/fuzz-work"
mkdir -p "$work/lanes"
rm -f "$work/lanes/"*
i=0
for t in $targets; do
	echo "$t" >> "$work/lanes/$((i % lanes))"
	i=$((i + 1))
done
rm -f "$work/passed" "$work/failed"
: > "$work/passed"
pids=""
for lane in "$work/lanes/"*; do
	(
		while read -r t; do
			# libFuzzer ends by itself (-max_total_time, -timeout per input); the
			# outer limit only catches a fuzzer that cannot be stopped.
			if timeout -k 10 $((secs + 300)) sh "$tree/tests/fuzz/run.sh" -t "$secs" \
				-b "$build" "$t" > "$work/run-$t.log" 2>&1; then
				echo "$t" >> "$work/passed"
			else
				echo "$t" >> "$work/failed"
			fi
		done < "$lane"
	) &
	pids="$pids $!"
done
# shellcheck disable=SC2086
wait $pids

status=0
for t in $targets; do
	log=$build/fuzz-work/$t/log
	if grep -qx "$t" "$work/passed" 2>/dev/null; then
		printf '%-12s ok   %s\n' "$t" "$(grep -E '^#[0-9]+' "$log" | tail -1)"
		continue
	fi
	status=1
	art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" 2>/dev/null | tail -1)
	case $art in
	"") art="no input written (killed after $((secs + 300)) s?): see $work/run-$t.log" ;;
	/*) ;;
	*) art=$build/fuzz-work/$t/${art#./} ;;
	esac
	echo "ci.sh: FAIL: fuzz target $t: $art" >&2
	grep -E 'ERROR|SUMMARY|property violated' "$log" 2>/dev/null | head -5 | sed 's/^/    /' >&2
	echo "    log: $log; reproduce: $build/tests/fuzz/fuzz_$t $art" >&2
done
echo "== ci.sh: $(($(date +%s) - t0)) s in all" >&2
exit $status
