/*
 * cat_build.c - sb-cat building a frame stream: the writer (kind, seq, --meta, --text,
 * the end frame) and --from-npy.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cat.h"
#include "npy.h"

const char *default_name(enum sb_kind k)
{
	switch (k) {
	case SB_KIND_TOKENS: return "input_ids";
	case SB_KIND_HIDDEN: return "last_hidden_state";
	case SB_KIND_SCORES: return "score";
	default: return "sentence_embedding";
	}
}

static int set_meta(struct sb_frame *f, const char *kv, struct sb_error *err)
{
	const char *eq = strchr(kv, '=');
	char key[SB_FRAME_NAME_MAX], *end;
	const char *v;
	long long i;
	double d;

	if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof key)
		return sb_error_set(err, SB_EINVAL, "--meta '%s': expected KEY=VALUE", kv);
	memcpy(key, kv, (size_t)(eq - kv));
	key[eq - kv] = '\0';
	v = eq + 1;
	if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
		return sb_frame_meta_bool(f, key, v[0] == 't', err);
	errno = 0;
	i = strtoll(v, &end, 10);
	if (*v && !*end && errno == 0)
		return sb_frame_meta_int(f, key, i, err);
	errno = 0;
	d = strtod(v, &end);
	if (*v && !*end && errno == 0 && isfinite(d))
		return sb_frame_meta_float(f, key, d, err);
	return sb_frame_meta_str(f, key, v, err);
}

void writer_open(struct writer *w, const struct opts *o)
{
	memset(w, 0, sizeof *w);
	w->o = o;
	sb_frame_init(&w->f);
	sb_buf_init(&w->enc);
	if (sb_transport_open(&w->t, o->output ? o->output : "-", SB_TRANSPORT_WRITE, &o->topts,
			      &w->err) != SB_OK)
		die_err(&w->err);
	if (o->text_file && sb_linereader_open(&w->texts, o->text_file, &w->err) != SB_OK)
		die_err(&w->err);
}

void writer_send(struct writer *w)
{
	int rc;

	sb_buf_clear(&w->enc);
	if (sb_frame_encode(&w->f, &w->enc, &w->err) != SB_OK)
		die_err(&w->err);
	rc = sb_transport_send(w->t, w->enc.data, w->enc.len, &w->err);
	if (rc == SB_EPIPE)
		output_gone();
	if (rc != SB_OK)
		die_err(&w->err);
}

/* Starts a data frame of n rows: kind, seq, meta, and texts from --text. */
void writer_begin(struct writer *w, size_t n)
{
	struct sb_frame *f = &w->f;

	sb_frame_reset(f);
	f->version = SB_FRAME_VERSION;
	f->kind = w->o->kind;
	f->seq = w->seq;
	f->rows = n;
	for (size_t i = 0; i < w->o->n_meta; i++)
		if (set_meta(f, w->o->meta[i], &w->err) != SB_OK)
			die_err(&w->err);
	if (w->texts) {
		if (sb_frame_text_alloc(f, n, &w->err) != SB_OK)
			die_err(&w->err);
		for (size_t r = 0; r < n; r++) {
			const char *line;
			size_t len;
			int rc = sb_linereader_next(w->texts, &line, &len, 0, &w->err);

			if (rc == SB_EOF)
				die("%s: %llu lines, fewer than the rows", w->o->text_file,
				    (unsigned long long)sb_linereader_lineno(w->texts));
			if (rc != SB_OK ||
			    sb_frame_text_set(f, r, line, len, &w->err) != SB_OK)
				die_err(&w->err);
		}
	}
}

void writer_end(struct writer *w)
{
	if (w->texts) {
		const char *line;
		size_t len;
		int rc = sb_linereader_next(w->texts, &line, &len, 0, &w->err);

		if (rc == SB_OK)
			die("%s: more lines than the %" PRIu64 " rows", w->o->text_file, w->seq);
		if (rc != SB_EOF)
			die_err(&w->err);
		sb_linereader_close(&w->texts);
	}
	sb_frame_reset(&w->f);
	w->f.version = SB_FRAME_VERSION;
	w->f.kind = SB_KIND_END;
	w->f.rows_total = w->seq;
	writer_send(w);
	if (sb_transport_flush(w->t, &w->err) != SB_OK) {
		if (w->err.code == SB_EPIPE)
			output_gone();
		die_err(&w->err);
	}
	sb_transport_close(&w->t);
	sb_frame_destroy(&w->f);
	sb_buf_destroy(&w->enc);
}

/* Opens a .npy file and reads its header (npy.c, shared with the fuzz target). */
static void npy_open(struct npy_in *in)
{
	struct sb_npy h;
	struct sb_error err;

	in->fp = fopen(in->path, "rb");
	if (!in->fp)
		die("%s: %s", in->path, strerror(errno));
	sb_error_clear(&err);
	if (sb_npy_header_read(in->fp, &h, &err) != SB_OK)
		die("%s: %s", in->path, err.msg);
	in->dtype = h.dtype;
	in->f64 = h.f64;
	in->n_dims = h.n_dims;
	memcpy(in->shape, h.shape, sizeof in->shape);
	in->row_bytes = h.row_bytes;
}

void run_from_npy(struct opts *o)
{
	struct writer w;
	struct npy_in *in = o->npy;
	size_t rows = 0;
	unsigned char *scratch = NULL;

	for (size_t k = 0; k < o->n_npy; k++) {
		if (!in[k].name)
			in[k].name = default_name(o->kind);
		for (size_t j = 0; j < k; j++)
			if (strcmp(in[j].name, in[k].name) == 0)
				bad_usage("tensor '%s' given twice", in[k].name);
		npy_open(&in[k]);
		if (k == 0)
			rows = in[k].shape[0];
		else if (in[k].shape[0] != rows)
			die("%s: %zu rows, %s has %zu", in[k].path, in[k].shape[0], in[0].path,
			    rows);
	}
	writer_open(&w, o);
	for (size_t done = 0; done < rows;) {
		size_t n = rows - done < o->batch ? rows - done : o->batch;

		writer_begin(&w, n);
		for (size_t k = 0; k < o->n_npy; k++) {
			struct sb_tensor *t;
			size_t shape[SB_TENSOR_MAX_DIMS], bytes = n * in[k].row_bytes;

			memcpy(shape, in[k].shape, sizeof shape);
			shape[0] = n;
			if (sb_frame_tensor_resize(&w.f, in[k].name, in[k].dtype, in[k].n_dims,
						   shape, &t, &w.err) != SB_OK)
				die_err(&w.err);
			if (!in[k].f64) {
				if (fread(t->data, 1, bytes, in[k].fp) != bytes)
					die("%s: truncated data", in[k].path);
				continue;
			}
			free(scratch);
			scratch = malloc(bytes ? bytes : 1);
			if (!scratch)
				die("%s: out of memory", in[k].path);
			if (fread(scratch, 1, bytes, in[k].fp) != bytes)
				die("%s: truncated data", in[k].path);
			for (size_t i = 0; i < bytes / 8; i++) {
				double d;
				float f;

				memcpy(&d, scratch + 8 * i, 8);
				f = (float)d;
				memcpy((unsigned char *)t->data + 4 * i, &f, 4);
			}
		}
		writer_send(&w);
		w.seq += n;
		done += n;
	}
	free(scratch);
	for (size_t k = 0; k < o->n_npy; k++)
		fclose(in[k].fp);
	writer_end(&w);
}
