# index-data.awk - random embeddings for sb-index's tests (tests/73-index.sh): a matrix
# (ROWS COLS line, then one row per line) for `pooldump emb`, the same for every awk (a
# Park-Miller generator, exact in doubles).
#
#   awk -v rows=N -v dim=D -v seed=S [-v unit=1] -f index-data.awk
#
# Components are sums of three uniform draws in [-1, 1) (roughly normal); with unit=1
# each row is scaled to norm 1.  No ties: scores of distinct random rows differ far
# beyond float32 rounding, so exact and FAISS Flat rankings agree.
function rnd() { state = (state * 16807) % 2147483647; return state / 2147483647 }
BEGIN {
	state = seed > 0 ? seed : 1
	printf "%d %d\n", rows, dim
	for (i = 0; i < rows; i++) {
		n = 0
		for (j = 0; j < dim; j++) {
			v[j] = (rnd() + rnd() + rnd()) * 2 / 3 - 1
			n += v[j] * v[j]
		}
		n = unit ? sqrt(n) : 1
		for (j = 0; j < dim; j++)
			printf "%.9g%s", v[j] / n, j + 1 < dim ? " " : "\n"
	}
}
