#!/bin/sh
# run.sh - runs libFuzzer targets for a while each, one after the other.
#
#     tests/fuzz/run.sh [-t SECONDS] [-b BUILDDIR] [TARGET ...]
#
# BUILDDIR is a build configured with CC=clang --enable-fuzz --enable-asan --enable-ubsan
# (default: the current directory).  Each target runs for SECONDS (default 60) with one
# process, a 2 GB RSS limit and a 512 MB single-allocation limit, mutating a scratch copy of
# its committed corpus tests/fuzz/corpus/TARGET (new inputs land in
# BUILDDIR/fuzz-work/TARGET/corpus, crashes in BUILDDIR/fuzz-work/TARGET/).  The last
# status line (execs, cov, ft) of each run is printed.  Exit status 1 if a target
# crashed: minimize the input (fuzz_TARGET -minimize_crash=1 FILE), fix, and commit it
# to tests/fuzz/corpus/TARGET/ as crash-NAME so make check replays it.  Extra libFuzzer
# flags come from $FUZZ_ARGS (e.g. "-fork=1 -ignore_crashes=1" to go on past a known bug).
set -u
secs=60
build=.
while getopts t:b: o; do
	case $o in
	t) secs=$OPTARG ;;
	b) build=$OPTARG ;;
	*) echo "usage: $0 [-t SECONDS] [-b BUILDDIR] [TARGET ...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$build" && pwd)
targets=$*
if [ -z "$targets" ]; then
	for f in "$build"/tests/fuzz/fuzz_*; do
		case $f in *.o) continue ;; esac
		[ -x "$f" ] && targets="$targets ${f##*/fuzz_}"
	done
fi
if [ -z "$targets" ]; then
	echo "$0: no fuzz targets in $build/tests/fuzz: configure with CC=clang --enable-fuzz" >&2
	exit 2
fi
# Leaks are reported by libFuzzer's own leak check; UBSan aborts so it counts as a crash.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# The tokenizer and model-folder targets read the test model from the source tree.
export SB_SRCDIR=$src
status=0
for t in $targets; do
	bin=$build/tests/fuzz/fuzz_$t
	work=$build/fuzz-work/$t
	mkdir -p "$work/corpus"
	cp "$src/tests/fuzz/corpus/$t"/* "$work/corpus/" 2>/dev/null
	extra=""
	[ -f "$src/tests/fuzz/$t.dict" ] && extra="-dict=$src/tests/fuzz/$t.dict"
	echo "== $t: $secs s" >&2
	# One process, no -jobs: with -jobs libFuzzer forks and logs to fuzz-N.log.
	(cd "$work" && "$bin" -max_total_time="$secs" -rss_limit_mb=2048 \
		-malloc_limit_mb=512 -timeout=10 -max_len=65536 -print_final_stats=1 $extra \
		${FUZZ_ARGS:-} \
		corpus > log 2>&1)
	rc=$?
	grep -E '^#[0-9]+' "$work/log" | tail -1
	grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$work/log"
	if [ $rc -ne 0 ]; then
		echo "$t: exit $rc, see $work/log:" >&2
		grep -E 'ERROR|SUMMARY|Test unit written' "$work/log" >&2
		status=1
	fi
done
exit $status
