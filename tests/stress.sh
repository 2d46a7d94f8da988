#!/bin/sh
# tests/stress.sh N [MAKE ARGUMENTS]: runs `make -j2 check` N times in the current
# build folder while two CPU-burning processes (at the priority of this script) load
# the machine, then prints per test file "NAME: P passed, F failed" and the totals.
# Not part of make check: the suite's answer to "does any test depend on timing?".
#
#     cd BUILD && sh SRCDIR/tests/stress.sh 5
#     sh SRCDIR/tests/stress.sh 20 TESTS='tests/62-farm-faults.sh tests/65-farm-encode.sh'
#
# A test file fails a run when its .trs holds a FAIL, XPASS or ERROR, or when it left
# no .trs although the run's build succeeded.  A run whose build failed (no test ran)
# is reported and not counted.  The logs of every failure are kept in
# stress/run-I/ (STRESS_DIR overrides the folder); stress/summary is the table.
set -u
if [ $# -lt 1 ] || ! [ "$1" -ge 1 ] 2> /dev/null; then
	echo "usage: $0 N [MAKE ARGUMENTS]  (from a configured build folder)" >&2
	exit 2
fi
n=$1
shift
if [ ! -f Makefile ] || ! grep -q '^check-TESTS:' Makefile; then
	echo "stress.sh: $(pwd) is not a configured sb build folder (no Makefile with check-TESTS)" >&2
	exit 2
fi
src=$(sed -n 's/^abs_top_srcdir = //p' Makefile)
dir=${STRESS_DIR:-stress}
rm -rf "$dir"
mkdir -p "$dir" || exit 1
results=$dir/results
: > "$results"

burners=
stop_burners() {
	for b in $burners; do kill "$b" 2> /dev/null; done
	wait $burners 2> /dev/null
	burners=
}
trap 'stop_burners' EXIT
trap 'exit 130' INT TERM
for i in 1 2; do
	sh -c 'while :; do :; done' &
	burners="$burners $!"
done

t0=$(date +%s)
builds_failed=0
i=1
while [ "$i" -le "$n" ]; do
	r0=$(date +%s)
	find . -name '*.trs' -path '*tests*' -exec rm -f {} + 2> /dev/null
	${MAKE:-make} -j2 check "$@" > "$dir/run-$i.out" 2>&1
	rc=$?
	trs=$(find . -name '*.trs' -path '*tests*' | sed 's|^\./||' | sort)
	secs=$(($(date +%s) - r0))
	if [ -z "$trs" ]; then
		builds_failed=$((builds_failed + 1))
		echo "run $i: no test ran (make exit $rc: the build failed?), not counted; see $dir/run-$i.out"
		i=$((i + 1))
		continue
	fi
	failed_here=0
	for t in $trs; do
		name=${t%.trs}
		[ -f "$src/$name.sh" ] && name=$name.sh
		if grep -Eq '^:test-result: (FAIL|XPASS|ERROR)' "$t"; then
			echo "$name fail" >> "$results"
			mkdir -p "$dir/run-$i"
			cp "${t%.trs}.log" "$dir/run-$i/$(echo "$name" | tr / _).log" 2> /dev/null
			failed_here=$((failed_here + 1))
		else
			echo "$name pass" >> "$results"
		fi
	done
	echo "run $i: $(echo "$trs" | wc -l) test files, $failed_here failed, make exit $rc, $secs s"
	i=$((i + 1))
done
stop_burners

# A test file seen in some counted run but without a result in another failed there.
counted=$((n - builds_failed))
awk -v runs="$counted" '
	{ seen[$1]++; if ($2 == "pass") p[$1]++; else f[$1]++ }
	END {
		for (t in seen) {
			missing = runs - seen[t]
			printf "%s: %d passed, %d failed%s\n", t, p[t] + 0, f[t] + missing,
				missing ? " (" missing " runs without a result)" : ""
			tp += p[t]; tf += f[t] + missing; nt++
		}
		printf "TOTAL\t%d test files, %d counted runs: %d passed, %d failed\n", nt, runs, tp, tf
	}' "$results" | sort > "$dir/summary"
grep -v '^TOTAL' "$dir/summary"
sed -n 's/^TOTAL\t//p' "$dir/summary"
echo "runs whose build failed (not counted): $builds_failed; time: $(($(date +%s) - t0)) s with 2 CPU burners"
[ "$builds_failed" = 0 ] && ! grep -v '^TOTAL' "$dir/summary" | grep -vq ' 0 failed'
