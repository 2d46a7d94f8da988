/*
 * tsv.c - scores frames printed as TSV (see tsv.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>

#include "frame.h"
#include "tsv.h"

/* fprintf that counts what it printed into o->bytes. */
static void out_printf(struct sb_tsv *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void out_printf(struct sb_tsv *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vfprintf(o->fp, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->bytes += (uint64_t)n;
}

int sb_tsv_frame(void *ctx, const struct sb_frame *f, struct sb_error *err)
{
	struct sb_tsv *o = ctx;
	const struct sb_tensor *sc, *a, *b;

	if (f->kind == SB_KIND_END)
		return SB_OK;
	sc = sb_frame_tensor(f, "score");
	a = sb_frame_tensor(f, "a");
	b = sb_frame_tensor(f, "b");
	if (!sc || !a)
		return sb_error_set(err, SB_EINVAL, "scores frame without 'score' or 'a'");
	if (sc->n_dims == 2) {
		const float *x = sc->data;
		for (size_t i = 0; i < sc->shape[0]; i++)
			for (size_t j = 0; j < sc->shape[1]; j++)
				out_printf(o, "%.6f%c", (double)x[i * sc->shape[1] + j],
					   j + 1 < sc->shape[1] ? '\t' : '\n');
	} else if (o->gold) {
		if (o->n + f->rows > o->cap) {
			size_t cap = (o->n + f->rows) * 2;
			double *p = realloc(o->scores, cap * sizeof *p);
			if (!p)
				return sb_error_set(err, SB_ENOMEM, "out of memory");
			o->scores = p;
			o->cap = cap;
		}
		for (size_t i = 0; i < f->rows; i++)
			o->scores[o->n++] = ((const float *)sc->data)[i];
	} else {
		for (size_t i = 0; i < f->rows; i++) {
			out_printf(o, "%lld\t%lld\t%.6f", (long long)((const int64_t *)a->data)[i],
				   b ? (long long)((const int64_t *)b->data)[i] : -1LL,
				   (double)((const float *)sc->data)[i]);
			if (f->has_text)
				out_printf(o, "\t%s", f->text[i].p);
			out_printf(o, "\n");
		}
	}
	if (ferror(o->fp)) {
		if (errno == EPIPE)
			return SB_EPIPE;
		return sb_error_sys(err, SB_EIO, errno, "write");
	}
	return SB_OK;
}
