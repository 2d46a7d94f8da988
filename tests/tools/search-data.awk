# search-data.awk - adversarial embeddings for the blocked search (tests/54-search.sh):
# a matrix (ROWS COLS line, then one row per line) for `pooldump emb`, the same for every
# awk (a Park-Miller generator, exact in doubles).
#
#   awk -v rows=N -v dim=D -v seed=S [-v kind=float|int8|uint8] -f search-data.awk
#
# Rows come in groups of 8: three fresh random rows, then a copy of a row (exact ties),
# twice a row (cosine ties), a row with one component moved by 2^-22 up and another
# down (near ties float32 cannot resolve), and a zero vector or half a row.  Float
# components are multiples of 2^-10 in [-1, 1), so every double score is exact; int8 and
# uint8 kinds draw whole numbers in their range and repeat rows instead of scaling them.
function rnd() { state = (state * 16807) % 2147483647; return state / 2147483647 }
function fresh(i,   j, v) {
	for (j = 0; j < dim; j++) {
		if (kind == "int8") v = int(rnd() * 256) - 128
		else if (kind == "uint8") v = int(rnd() * 256)
		else { v = int(rnd() * 2048) - 1024; v = (rnd() < 0.1) ? 0 : v / 1024 }
		m[i, j] = v
	}
}
function copy(i, from, scale,   j) {
	for (j = 0; j < dim; j++) m[i, j] = m[from, j] * scale
}
BEGIN {
	if (!kind) kind = "float"
	state = seed > 0 ? seed : 1
	printf "%d %d\n", rows, dim
	for (i = 0; i < rows; i++) {
		g = i % 8
		if (g < 3 || i < 8) fresh(i)
		else if (g == 3) copy(i, i - 3, 1)
		else if (g == 4) copy(i, i - 4, kind == "float" ? 2 : 1)
		else if (g == 5 || g == 6) {
			copy(i, i - g, 1)
			if (kind == "float") {
				m[i, i % dim] += 1 / 4194304
				m[i, (i + 1) % dim] -= 1 / 4194304
			}
		} else copy(i, i - 7, (i % 16 == 7 || kind != "float") ? 0 : 0.5)
		line = ""
		for (j = 0; j < dim; j++) line = line (j ? " " : "") sprintf("%.17g", m[i, j])
		print line
	}
}
