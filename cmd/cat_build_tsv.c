/*
 * cat_build_tsv.c - sb-cat --from-tsv: frames built from lines of numbers (embeddings,
 * scores) or of token ids (tokens, padded, with their attention_mask), -t taking the
 * row's text from the first field.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cat.h"

/* Reverses o_tsv_str's escapes in place; returns the new length. */
static size_t tsv_unescape(char *s, size_t n)
{
	size_t j = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n) {
			char c = s[++i];

			s[j++] = c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' :
				 c == '0' ? '\0' : c;
		} else {
			s[j++] = s[i];
		}
	}
	return j;
}

/* One parsed TSV line: optional text and its numbers. */
struct tsv_row {
	size_t text_off;        /* in the texts buffer */
	size_t text_len;
	size_t n, first;        /* numbers: vals[first .. first + n) */
};

/* --from-tsv: the lines read so far for one frame. */
struct tsv_in {
	const struct opts *o;
	struct sb_linereader *lr;
	struct sb_buf vals, texts;      /* doubles; text bytes */
	struct tsv_row *rows;
	size_t cap, width;              /* rows allocated; the width of float rows */
	int is_int;                     /* token ids, not floats */
};

/* -t: the line's first field is the row's text; *p is set past it. */
static void tsv_text(struct tsv_in *in, struct tsv_row *row, const char *line, size_t len,
		     size_t *p)
{
	const char *tab = memchr(line, '\t', len);
	size_t tl = tab ? (size_t)(tab - line) : len;
	struct sb_error err;

	row->text_off = in->texts.len;
	if (sb_buf_append(&in->texts, line, tl, &err))
		die_err(&err);
	row->text_len = tsv_unescape((char *)in->texts.data + in->texts.len - tl, tl);
	in->texts.len -= tl - row->text_len;
	*p = tab ? tl + 1 : len;
}

/* One field, line[p..q), as a token id or a number. */
static double tsv_field(const struct tsv_in *in, const char *line, size_t p, size_t q,
			unsigned long long lineno, size_t field)
{
	const char *file = in->o->from_tsv;
	char num[64], *end;
	double d;

	if (q - p == 0 || q - p >= sizeof num)
		die("%s: line %llu: field %zu: not a number", file, lineno, field);
	memcpy(num, line + p, q - p);
	num[q - p] = '\0';
	errno = 0;
	if (in->is_int) {
		long long v = strtoll(num, &end, 10);

		/* Ids travel as doubles here: beyond 2^53 they would change.  Both bounds
		 * are compared: llabs() of LLONG_MIN overflows. */
		d = (double)v;
		if (errno || *end || v > (1LL << 53) || v < -(1LL << 53))
			die("%s: line %llu: '%s' is not a token id", file, lineno, num);
	} else {
		d = strtod(num, &end);
		if (*end)
			die("%s: line %llu: '%s' is not a number", file, lineno, num);
	}
	return d;
}

/* The numbers of line[p..len) into vals, counted in row->n, and their count checked. */
static void tsv_numbers(struct tsv_in *in, struct tsv_row *row, const char *line, size_t len,
			size_t p, unsigned long long lineno)
{
	const char *file = in->o->from_tsv;
	struct sb_error err;

	while (p < len) {
		size_t q = p;
		double d;

		while (q < len && line[q] != '\t')
			q++;
		d = tsv_field(in, line, p, q, lineno, row->n + 1);
		if (sb_buf_append(&in->vals, &d, sizeof d, &err))
			die_err(&err);
		row->n++;
		p = q + 1;
		if (q == len - 1 && line[q] == '\t')
			die("%s: line %llu: empty last field", file, lineno);
	}
	if (in->o->kind == SB_KIND_SCORES && row->n != 1)
		die("%s: line %llu: %zu values, a score is one", file, lineno, row->n);
	if (!in->is_int) {
		if (in->width == 0)
			in->width = row->n;
		if (row->n != in->width || in->width == 0)
			die("%s: line %llu: %zu values, expected %zu", file, lineno, row->n,
			    in->width ? in->width : 1);
	}
}

/* Reads up to --batch lines into rows; the number read (0 at the end), *maxw their widest
 * row, *eof set at the end of the input. */
static size_t tsv_read_batch(struct tsv_in *in, size_t *maxw, int *eof)
{
	struct sb_error err;
	size_t n = 0;

	sb_error_clear(&err);
	sb_buf_clear(&in->vals);
	sb_buf_clear(&in->texts);
	*maxw = 0;
	while (n < in->o->batch) {
		const char *line;
		size_t len, p = 0;
		int rc = sb_linereader_next(in->lr, &line, &len, 0, &err);
		unsigned long long lineno = sb_linereader_lineno(in->lr);

		if (rc == SB_EOF) {
			*eof = 1;
			break;
		}
		if (rc != SB_OK)
			die_err(&err);
		if (len && line[len - 1] == '\r')
			len--;
		if (n == in->cap) {
			size_t ncap = in->cap ? 2 * in->cap : 64;
			struct tsv_row *nr = realloc(in->rows, ncap * sizeof *nr);

			if (!nr)
				die("%s: out of memory", in->o->from_tsv);
			in->rows = nr;
			in->cap = ncap;
		}
		memset(&in->rows[n], 0, sizeof in->rows[n]);
		in->rows[n].first = in->vals.len / sizeof(double);
		if (in->o->with_text)
			tsv_text(in, &in->rows[n], line, len, &p);
		tsv_numbers(in, &in->rows[n], line, len, p, lineno);
		if (in->rows[n].n > *maxw)
			*maxw = in->rows[n].n;
		n++;
	}
	return n;
}

/* Token rows have their own lengths: pad with 0 and mark the real positions in
 * attention_mask. */
static void tsv_tokens(struct writer *w, const struct tsv_in *in, const char *name, size_t n,
		       size_t maxw)
{
	const double *v = (const double *)in->vals.data;
	size_t shape[2] = { n, maxw };
	struct sb_tensor *t, *m = NULL;
	struct sb_error err;

	if (sb_frame_tensor_resize(&w->f, name, SB_DTYPE_I64, 2, shape, &t, &err) != SB_OK ||
	    sb_frame_tensor_resize(&w->f, "attention_mask", SB_DTYPE_I64, 2, shape, &m,
				   &err) != SB_OK)
		die_err(&err);
	t = sb_frame_tensor(&w->f, name);
	for (size_t r = 0; r < n; r++)
		for (size_t c = 0; c < maxw; c++) {
			int64_t id = c < in->rows[r].n ? (int64_t)v[in->rows[r].first + c] : 0;
			int64_t one = c < in->rows[r].n;

			memcpy((int64_t *)t->data + r * maxw + c, &id, 8);
			memcpy((int64_t *)m->data + r * maxw + c, &one, 8);
		}
}

/* The n rows read as the frame's texts and tensor. */
static void tsv_fill(struct writer *w, const struct tsv_in *in, const char *name, size_t n,
		     size_t maxw)
{
	const double *v = (const double *)in->vals.data;
	size_t shape[2] = { n, maxw };
	int nd = in->o->kind == SB_KIND_SCORES ? 1 : 2;
	struct sb_tensor *t;
	struct sb_error err;

	if (in->o->with_text) {
		if (sb_frame_text_alloc(&w->f, n, &err) != SB_OK)
			die_err(&err);
		for (size_t r = 0; r < n; r++)
			if (sb_frame_text_set(&w->f, r,
					      (char *)in->texts.data + in->rows[r].text_off,
					      in->rows[r].text_len, &err) != SB_OK)
				die_err(&err);
	}
	if (in->is_int) {
		tsv_tokens(w, in, name, n, maxw);
		return;
	}
	if (sb_frame_tensor_resize(&w->f, name, SB_DTYPE_F32, nd, shape, &t, &err) != SB_OK)
		die_err(&err);
	for (size_t i = 0; i < n * maxw; i++) {
		float f = (float)v[i];

		memcpy((float *)t->data + i, &f, 4);
	}
}

void run_from_tsv(const struct opts *o)
{
	struct tsv_in in = { .o = o, .is_int = o->kind == SB_KIND_TOKENS };
	const char *name = o->from_tsv_name ? o->from_tsv_name : default_name(o->kind);
	struct sb_error err;
	struct writer w;
	size_t n, maxw;
	int eof = 0;

	sb_error_clear(&err);
	if (o->kind == SB_KIND_HIDDEN)
		bad_usage("--from-tsv builds embeddings, tokens or scores frames, not hidden");
	if (sb_linereader_open(&in.lr, o->from_tsv, &err) != SB_OK)
		die_err(&err);
	sb_buf_init(&in.vals);
	sb_buf_init(&in.texts);
	writer_open(&w, o);
	if (o->with_text && o->text_file)
		bad_usage("-t and --text both give texts");
	while (!eof && (n = tsv_read_batch(&in, &maxw, &eof)) > 0) {
		writer_begin(&w, n);
		tsv_fill(&w, &in, name, n, maxw);
		writer_send(&w);
		w.seq += n;
	}
	free(in.rows);
	sb_buf_destroy(&in.vals);
	sb_buf_destroy(&in.texts);
	sb_linereader_close(&in.lr);
	writer_end(&w);
}
