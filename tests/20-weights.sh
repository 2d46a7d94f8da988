#!/bin/sh
# sb-weights over the weights fixtures (tests/tools/mkweights.py): every good file lists
# its tensors, every broken or hostile file fails with exit 1 and the expected message,
# within a memory limit (ulimit -v, or ASan's allocation cap under --enable-asan) so a
# header claiming gigabytes cannot turn into a huge allocation; the man page examples.
. ./tests/setup

F=$SB_SRCDIR/tests/fixtures/weights
T=$SB_TMP
if [ ! -f "$F/bad/EXPECTED" ]; then
	echo "Bail out! $F is missing"
	exit 1
fi
require_cmd sb-weights

# Memory cap for every run below: 256 MB of allocations is far above what any fixture
# needs (a few KB) and far below what the broken headers claim (up to 100 GB).
if [ -n "${ASAN_OPTIONS:-}" ]; then
	ASAN_OPTIONS="$ASAN_OPTIONS:max_allocation_size_mb=256:allocator_may_return_null=0"
	export ASAN_OPTIONS
	limited() { "$@"; }
elif [ -n "${SB_VALGRIND:-}" ]; then
	limited() { "$@"; }
else
	limited() { (ulimit -v 1048576 && "$@"); }
fi

# ---- usage
run sb-weights -h
like "-h: usage on stdout, exit 0" "$rc:$out" "^0:usage: sb-weights list"
run sb-weights
like "no arguments: usage, exit 2" "$rc:$err" "^2:usage:"
run sb-weights frobnicate "$F/good/f32.safetensors"
like "unknown command: exit 2" "$rc:$err" "^2:sb-weights: unknown command 'frobnicate'"
run sb-weights list "$T/nothing-here.safetensors"
like "missing file: exit 1" "$rc:$err" "^1:sb-weights: .*nothing-here.safetensors: No such file"
mkdir "$T/empty"
run sb-weights list "$T/empty"
like "folder without weights: exit 1 naming both files" "$rc:$err" \
	"^1:sb-weights: .*empty: no model.safetensors or pytorch_model.bin"

# ---- good files: one line per tensor, as many as the file holds
for f in "$F"/good/*.safetensors "$F"/good/*.bin; do
	n=${f##*/}
	limited sb-weights list "$f" > "$T/list" 2> "$T/err"
	rc=$?
	lines=$(wc -l < "$T/list" | tr -d ' ')
	if [ "$rc" = 0 ] && [ "$lines" -gt 0 ] && [ ! -s "$T/err" ]; then
		ok "list $n ($lines tensors)"
	else
		not_ok "list $n"
		diag "exit $rc, $lines lines, stderr: $(head -c 500 "$T/err")"
	fi
done
run sb-weights list "$F/good/f32.safetensors"
is "f32.safetensors: 20 tensors" "$(printf '%s\n' "$out" | wc -l | tr -d ' ')" 20
run sb-weights list "$F/good/statedict.bin"
like "statedict.bin: the int64 buffer is listed, marked not a weight" "$out" \
	"$(printf '^position_ids\tI64\t\\[5\\]\t40\t-$')"
like "statedict.bin: views of one storage" "$out" "$(printf '^view.a\tF32\t\\[2, 3\\]\t24$')"
run sb-weights info "$F/good/unaligned.safetensors"
like "unaligned data is copied, the rest mapped" "$out" \
	"$(printf 'source\tunaligned.safetensors \\(F32\\+F16, mmap, 2 tensors copied\\)')"
run sb-weights info "$F/good/zip64.bin"
like "zip64 archive: parameters" "$out" "$(printf 'parameters\t2624')"

# ---- every broken or hostile file
grep -v '^#' "$F/bad/EXPECTED" | while read -r file status msg; do
	limited sb-weights list "$F/bad/$file" > "$T/out" 2> "$T/err"
	rc=$?
	if [ "$rc" = 1 ] && [ ! -s "$T/out" ] && grep -qF -- "$msg" "$T/err" &&
		grep -q "^sb-weights: .*$file" "$T/err" && [ "$(wc -l < "$T/err")" -eq 1 ]; then
		echo "ok - bad $file ($status): $(head -c 160 "$T/err")"
	else
		echo "not ok - bad $file: exit $rc, expected 1 and '$msg'"
		diag "stderr: $(head -c 1000 "$T/err")" "stdout: $(head -c 300 "$T/out")"
	fi
done > "$T/bad.tap"
while read -r line; do
	case $line in
	"ok - "*) ok "${line#ok - }" ;;
	"not ok - "*) not_ok "${line#not ok - }" ;;
	*) echo "$line" ;;
	esac
done < "$T/bad.tap"

# ---- the examples of sb-weights(1), run from the source tree
cd "$SB_SRCDIR" || exit 99
run sh -c 'sb-weights list tests/models/tiny-distilbert | head -n 2'
is "man example: list" "$out" "$(printf 'embeddings.word_embeddings.weight\tF32\t[914, 32]\t116992\nembeddings.position_embeddings.weight\tF32\t[128, 32]\t16384')"
run sh -c 'sb-weights info tests/fixtures/weights/good/f16.safetensors | head -n 1'
is "man example: info" "$out" "$(printf 'source\tf16.safetensors (F16, converted to F32)')"
run sb-weights list tests/fixtures/weights/bad/ck-os-system.bin
like "man example: os.system refused, nothing run" "$rc:$out:$err" \
	"^1::sb-weights: .*ck-os-system.bin: archive/data.pkl: byte 2: global 'os system' is not allowed"

plan "$sb_n"
