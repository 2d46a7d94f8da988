/*
 * enctool - test helper for sb-encode (needs neither Python nor NumPy).
 *
 *   enctool frames [-r ROWS] [--int32] [--no-mask] [--text] IDS.txt
 *       Reads token ids, one row a line ("id id id ..." optionally followed by
 *       " | type type ..."), and writes tokens frames of ROWS rows (default 32) to
 *       stdout, each padded to its longest row with attention_mask, then an end frame.
 *
 *   enctool compare [--hidden] [--cos MIN] [--abs MAX] GOLDEN.txt
 *       Reads embeddings frames (sentence_embedding) or, with --hidden, hidden frames
 *       (last_hidden_state + attention_mask) from stdin and compares them with golden
 *       floats: one line per row ("v v v ..."), or with --hidden one line per real
 *       token ("ROW v v v ..."), rows absent from the golden are skipped.  Prints the
 *       minimum cosine and maximum absolute difference; exits 1 when a row is below
 *       MIN (default 0.99999) or above MAX (default 1e-4), or the counts differ.
 *
 * Not a mode of sb-cat: frames also writes int32 ids, frames without attention_mask
 * and token_type_ids, which sb-cat --from-tsv -k tokens does not build (its int64
 * frames are the same bytes); compare is an oracle of its own, not a conversion.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "frame.h"
#include "transport.h"

#define MAX_LINE (1 << 20)

static void die(const char *what, const struct sb_error *err)
{
	fprintf(stderr, "enctool: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
	exit(1);
}

static void usage(void)
{
	fprintf(stderr, "usage: enctool frames [-r ROWS] [--int32] [--no-mask] [--text] IDS.txt\n"
			"       enctool compare [--hidden] [--cos MIN] [--abs MAX] GOLDEN.txt\n");
	exit(2);
}

struct row {
	long long *ids, *types;
	size_t n;
	int has_types;
	char *line;
};

static int parse_row(char *line, struct row *r)
{
	char *p = line, *end;
	size_t cap = 16, tn = 0;
	int in_types = 0;

	memset(r, 0, sizeof(*r));
	r->line = strdup(line);
	r->ids = malloc(cap * sizeof(long long));
	r->types = calloc(cap, sizeof(long long));
	if (!r->ids || !r->types || !r->line)
		return -1;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '\n')
			break;
		if (*p == '|') {
			in_types = 1;
			r->has_types = 1;
			p++;
			continue;
		}
		long long v = strtoll(p, &end, 10);
		if (end == p)
			return -1;
		p = end;
		if (in_types) {
			if (tn >= r->n)
				return -1;
			r->types[tn++] = v;
			continue;
		}
		if (r->n == cap) {
			cap *= 2;
			r->ids = realloc(r->ids, cap * sizeof(long long));
			r->types = realloc(r->types, cap * sizeof(long long));
			if (!r->ids || !r->types)
				return -1;
		}
		r->types[r->n] = 0;
		r->ids[r->n++] = v;
	}
	return in_types && tn != r->n ? -1 : 0;
}

static void put_int(struct sb_tensor *t, size_t i, long long v)
{
	if (t->dtype == SB_DTYPE_I32)
		((int32_t *)t->data)[i] = (int32_t)v;
	else
		((int64_t *)t->data)[i] = v;
}

static void write_frame(const struct sb_frame *f)
{
	struct sb_buf b;
	struct sb_error err;
	size_t off = 0;

	sb_buf_init(&b);
	if (sb_frame_encode(f, &b, &err))
		die("encode", &err);
	while (off < b.len) {
		ssize_t n = write(1, b.data + off, b.len - off);
		if (n <= 0)
			die("write failed", NULL);
		off += (size_t)n;
	}
	sb_buf_destroy(&b);
}

static int cmd_frames(int argc, char **argv)
{
	size_t per = 32, n_rows = 0, cap = 0, seq_no = 0;
	int int32 = 0, no_mask = 0, text = 0, types = 0;
	const char *path = NULL;
	struct row *rows = NULL;
	char *line;
	FILE *fp;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-r") && i + 1 < argc)
			per = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--int32"))
			int32 = 1;
		else if (!strcmp(argv[i], "--no-mask"))
			no_mask = 1;
		else if (!strcmp(argv[i], "--text"))
			text = 1;
		else if (!path)
			path = argv[i];
		else
			usage();
	}
	if (!path || per == 0)
		usage();
	fp = fopen(path, "r");
	if (!fp)
		die("cannot open the ids file", NULL);
	line = malloc(MAX_LINE);
	while (line && fgets(line, MAX_LINE, fp)) {
		if (n_rows == cap) {
			cap = cap ? 2 * cap : 64;
			rows = realloc(rows, cap * sizeof(*rows));
			if (!rows)
				die("out of memory", NULL);
		}
		if (parse_row(line, &rows[n_rows]))
			die("bad ids line", NULL);
		types |= rows[n_rows].has_types;
		n_rows++;
	}
	fclose(fp);
	free(line);

	for (size_t r0 = 0; r0 < n_rows; r0 += per) {
		size_t r1 = r0 + per < n_rows ? r0 + per : n_rows, seq = 0, shape[2];
		struct sb_frame f;
		struct sb_tensor *ids, *mask = NULL, *tt = NULL;
		struct sb_error err;
		enum sb_dtype dt = int32 ? SB_DTYPE_I32 : SB_DTYPE_I64;

		for (size_t r = r0; r < r1; r++)
			seq = rows[r].n > seq ? rows[r].n : seq;
		sb_frame_init(&f);
		f.kind = SB_KIND_TOKENS;
		f.seq = r0;
		f.rows = r1 - r0;
		shape[0] = r1 - r0;
		shape[1] = seq;
		if (sb_frame_tensor_resize(&f, "input_ids", dt, 2, shape, &ids, &err) ||
		    (!no_mask && sb_frame_tensor_resize(&f, "attention_mask", dt, 2, shape, &mask,
							&err)) ||
		    (types && sb_frame_tensor_resize(&f, "token_type_ids", dt, 2, shape, &tt,
						     &err)))
			die("frame", &err);
		memset(ids->data, 0, ids->nbytes);
		if (mask)
			memset(mask->data, 0, mask->nbytes);
		if (tt)
			memset(tt->data, 0, tt->nbytes);
		for (size_t r = r0; r < r1; r++)
			for (size_t p = 0; p < rows[r].n; p++) {
				size_t i = (r - r0) * seq + p;
				put_int(ids, i, rows[r].ids[p]);
				if (mask)
					put_int(mask, i, 1);
				if (tt)
					put_int(tt, i, rows[r].types[p]);
			}
		if (text) {
			if (sb_frame_text_alloc(&f, r1 - r0, &err))
				die("text", &err);
			for (size_t r = r0; r < r1; r++) {
				size_t n = strcspn(rows[r].line, "\n");
				if (sb_frame_text_set(&f, r - r0, rows[r].line, n, &err))
					die("text", &err);
			}
		}
		write_frame(&f);
		sb_frame_destroy(&f);
		seq_no++;
	}
	{
		struct sb_frame f;
		sb_frame_init(&f);
		f.kind = SB_KIND_END;
		f.rows_total = n_rows;
		write_frame(&f);
		sb_frame_destroy(&f);
	}
	for (size_t r = 0; r < n_rows; r++) {
		free(rows[r].ids);
		free(rows[r].types);
		free(rows[r].line);
	}
	free(rows);
	(void)seq_no;
	return 0;
}

struct golden {
	FILE *fp;
	char *line;
	int have;               /* line holds an unread golden line */
	long row;               /* its row (hidden) */
	size_t lines;
};

/* Reads the next golden line into g->line; returns 0 at end. */
static int golden_next(struct golden *g, int hidden)
{
	if (!fgets(g->line, MAX_LINE, g->fp))
		return 0;
	g->have = 1;
	g->lines++;
	if (hidden)
		g->row = strtol(g->line, NULL, 10);
	return 1;
}

/* Parses dim floats from s (after the row number for hidden). */
static void golden_floats(const char *s, int hidden, size_t dim, double *out)
{
	char *end;

	if (hidden)
		strtol(s, &end, 10), s = end;
	for (size_t j = 0; j < dim; j++) {
		out[j] = strtod(s, &end);
		if (end == s)
			die("golden line has too few values", NULL);
		s = end;
	}
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s != '\n' && *s != '\0')
		die("golden line has too many values", NULL);
}

struct stats {
	double min_cos, max_abs;
	long cos_row, abs_row;
	size_t compared;
};

static void compare_vec(struct stats *st, long row, const float *v, const double *g, size_t dim)
{
	double dot = 0, na = 0, nb = 0, ma = 0;

	for (size_t j = 0; j < dim; j++) {
		double d = fabs((double)v[j] - g[j]);
		dot += v[j] * g[j];
		na += (double)v[j] * v[j];
		nb += g[j] * g[j];
		ma = d > ma ? d : ma;
		if (d != d)
			ma = INFINITY;
	}
	double cs = (na == 0 && nb == 0) ? 1.0 : dot / (sqrt(na) * sqrt(nb) + 1e-30);
	if (cs < st->min_cos || cs != cs) {
		st->min_cos = cs;
		st->cos_row = row;
	}
	if (ma > st->max_abs) {
		st->max_abs = ma;
		st->abs_row = row;
	}
	st->compared++;
}

static int cmd_compare(int argc, char **argv)
{
	double min_cos = 0.99999, max_abs = 1e-4, *gv = NULL;
	int hidden = 0, ended = 0;
	const char *path = NULL;
	struct golden g = { 0 };
	struct stats st = { 2.0, 0.0, -1, -1, 0 };
	struct sb_transport *in;
	struct sb_error err;
	struct sb_frame f;
	size_t rows_seen = 0;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--hidden"))
			hidden = 1;
		else if (!strcmp(argv[i], "--cos") && i + 1 < argc)
			min_cos = strtod(argv[++i], NULL);
		else if (!strcmp(argv[i], "--abs") && i + 1 < argc)
			max_abs = strtod(argv[++i], NULL);
		else if (!path)
			path = argv[i];
		else
			usage();
	}
	if (!path)
		usage();
	g.fp = fopen(path, "r");
	g.line = malloc(MAX_LINE);
	if (!g.fp || !g.line)
		die("cannot open the golden file", NULL);
	golden_next(&g, hidden);
	if (sb_transport_open_fd(&in, 0, 0, "stdin", SB_TRANSPORT_READ, NULL, &err))
		die("stdin", &err);
	sb_frame_init(&f);
	for (;;) {
		const unsigned char *msg;
		size_t len;
		int rc = sb_transport_recv(in, &msg, &len, &err);
		if (rc == SB_EOF)
			break;
		if (rc)
			die("read", &err);
		if (sb_frame_decode(msg, len, &f, &err))
			die("decode", &err);
		if (f.kind == SB_KIND_END) {
			ended = 1;
			continue;
		}
		if (!hidden) {
			struct sb_tensor *e = sb_frame_tensor(&f, "sentence_embedding");
			if (f.kind != SB_KIND_EMBEDDINGS || !e || e->dtype != SB_DTYPE_F32 ||
			    e->n_dims != 2)
				die("expected embeddings frames with float32 sentence_embedding",
				    NULL);
			size_t dim = e->shape[1];
			gv = realloc(gv, (dim ? dim : 1) * sizeof(double));
			for (size_t r = 0; r < e->shape[0]; r++) {
				if (!g.have)
					die("more rows than golden lines", NULL);
				golden_floats(g.line, 0, dim, gv);
				compare_vec(&st, (long)(rows_seen + r),
					    (const float *)e->data + r * dim, gv, dim);
				g.have = 0;
				golden_next(&g, 0);
			}
			rows_seen += e->shape[0];
			continue;
		}
		struct sb_tensor *h = sb_frame_tensor(&f, "last_hidden_state");
		struct sb_tensor *m = sb_frame_tensor(&f, "attention_mask");
		if (f.kind != SB_KIND_HIDDEN || !h || !m || h->dtype != SB_DTYPE_F32 ||
		    h->n_dims != 3 || m->dtype != SB_DTYPE_I64 || m->n_dims != 2 ||
		    m->shape[0] != h->shape[0] || m->shape[1] != h->shape[1])
			die("expected hidden frames with last_hidden_state and int64 "
			    "attention_mask", NULL);
		size_t rows = h->shape[0], seq = h->shape[1], dim = h->shape[2];
		gv = realloc(gv, (dim ? dim : 1) * sizeof(double));
		for (size_t r = 0; r < rows; r++) {
			long row = (long)(rows_seen + r);
			for (size_t p = 0; p < seq; p++) {
				const float *v = (const float *)h->data + (r * seq + p) * dim;
				if (((const int64_t *)m->data)[r * seq + p] == 0) {
					for (size_t j = 0; j < dim; j++)
						if (v[j] != 0.0f)
							die("padded position is not zero", NULL);
					continue;
				}
				if (!g.have || g.row != row)
					continue;
				golden_floats(g.line, 1, dim, gv);
				compare_vec(&st, row, v, gv, dim);
				g.have = 0;
				golden_next(&g, 1);
			}
			if (g.have && g.row == row)
				die("golden has more tokens than the row", NULL);
		}
		rows_seen += rows;
	}
	sb_frame_destroy(&f);
	sb_transport_close(&in);
	if (g.have)
		die("golden has more lines than the frames", NULL);
	if (!ended)
		die("input ended without an end frame", NULL);
	printf("compared %zu %s in %zu rows: min cosine %.8f (row %ld), max abs %.3g (row %ld)\n",
	       st.compared, hidden ? "tokens" : "rows", rows_seen, st.min_cos, st.cos_row,
	       st.max_abs, st.abs_row);
	fclose(g.fp);
	free(g.line);
	free(gv);
	if (st.compared == 0 || st.min_cos < min_cos || st.max_abs > max_abs) {
		fprintf(stderr, "enctool: outside tolerance (cosine >= %g, abs <= %g)\n", min_cos,
			max_abs);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "frames"))
		return cmd_frames(argc - 2, argv + 2);
	if (!strcmp(argv[1], "compare"))
		return cmd_compare(argc - 2, argv + 2);
	usage();
	return 2;
}
