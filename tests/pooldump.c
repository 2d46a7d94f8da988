/*
 * pooldump - test tool for sb-pool and sb-cosine: text matrices to frames and back.
 *
 *   pooldump hidden FILE [--int32] [--no-mask] [--split N] [--text] [--meta K=V]...
 *       hidden.txt layout (ROWS SEQ DIM, ROWS mask lines, ROWS*SEQ lines of DIM floats)
 *       -> hidden frames (+ end frame) on stdout
 *   pooldump emb FILE [--dtype float32|int8|uint8] [--split N] [--text] [--meta K=V]...
 *       matrix (ROWS COLS, then ROWS lines) -> embeddings frames on stdout
 *   pooldump print
 *       embeddings frames on stdin -> one line of numbers per row on stdout
 *   pooldump meta
 *       frames on stdin -> the first frame's meta as KEY=VALUE lines
 *
 * Texts (--text) are "row N".  Meta values are strings.
 *
 * Not a mode of sb-cat: emb writes int8 and uint8 embeddings and hidden writes hidden
 * frames (int32 mask or none), which sb-cat --from-tsv does not build; print heads
 * each frame with its dtype ("# int8", which tests check) and meta prints KEY=VALUE
 * lines.  Its float32 emb frames are the bytes of sb-cat --from-tsv on the same rows
 * (but for meta values that read as numbers: sb-cat stores those as numbers).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "transport.h"

static void die(const char *msg, const struct sb_error *err)
{
	fprintf(stderr, "pooldump: %s%s%s\n", msg, err ? ": " : "", err ? err->msg : "");
	exit(1);
}

struct opts {
	int int32, no_mask, text;
	size_t split;
	enum sb_dtype dtype;
	const char *meta[16];
	size_t n_meta;
};

static void send_frame(struct sb_transport *t, struct sb_frame *f)
{
	struct sb_buf b;
	struct sb_error err;

	sb_buf_init(&b);
	if (sb_frame_encode(f, &b, &err) || sb_transport_send(t, b.data, b.len, &err))
		die("write", &err);
	sb_buf_destroy(&b);
}

static void finish(struct sb_transport *t, uint64_t rows)
{
	struct sb_frame end;
	struct sb_error err;

	sb_frame_init(&end);
	end.kind = SB_KIND_END;
	end.rows_total = rows;
	send_frame(t, &end);
	sb_frame_destroy(&end);
	if (sb_transport_flush(t, &err))
		die("flush", &err);
	sb_transport_close(&t);
}

static void common_meta(struct sb_frame *f, const struct opts *o, size_t r0, size_t n)
{
	struct sb_error err;

	for (size_t i = 0; i < o->n_meta; i++) {
		char key[64];
		const char *eq = strchr(o->meta[i], '=');
		if (!eq || (size_t)(eq - o->meta[i]) >= sizeof key)
			die("--meta: expected KEY=VALUE", NULL);
		memcpy(key, o->meta[i], (size_t)(eq - o->meta[i]));
		key[eq - o->meta[i]] = '\0';
		if (sb_frame_meta_str(f, key, eq + 1, &err))
			die("meta", &err);
	}
	if (o->text) {
		if (sb_frame_text_alloc(f, n, &err))
			die("text", &err);
		for (size_t i = 0; i < n; i++) {
			char s[32];
			snprintf(s, sizeof s, "row %zu", r0 + i);
			if (sb_frame_text_set(f, i, s, strlen(s), &err))
				die("text", &err);
		}
	}
}

static struct sb_transport *out_stdout(void)
{
	struct sb_transport *t;
	struct sb_transport_opts to;
	struct sb_error err;

	memset(&to, 0, sizeof to);
	if (sb_transport_open_fd(&t, 1, 0, "stdout", SB_TRANSPORT_WRITE, &to, &err))
		die("stdout", &err);
	return t;
}

static void cmd_hidden(const char *path, const struct opts *o)
{
	FILE *fp = fopen(path, "r");
	size_t rows, seq, dim;
	float *mask, *h;
	struct sb_transport *t;
	struct sb_error err;

	if (!fp || fscanf(fp, "%zu %zu %zu", &rows, &seq, &dim) != 3)
		die("cannot read the hidden file header", NULL);
	mask = malloc(rows * seq * sizeof *mask + 1);
	h = malloc(rows * seq * dim * sizeof *h + 1);
	for (size_t i = 0; i < rows * seq; i++)
		if (fscanf(fp, "%f", &mask[i]) != 1)
			die("short mask", NULL);
	for (size_t i = 0; i < rows * seq * dim; i++)
		if (fscanf(fp, "%f", &h[i]) != 1)
			die("short hidden values", NULL);
	fclose(fp);
	t = out_stdout();
	for (size_t r0 = 0; r0 < rows; r0 += o->split ? o->split : rows) {
		size_t n = o->split && rows - r0 > o->split ? o->split : rows - r0;
		size_t hs[3] = {n, seq, dim}, ms[2] = {n, seq};
		struct sb_tensor *th, *tm;
		struct sb_frame f;

		sb_frame_init(&f);
		f.kind = SB_KIND_HIDDEN;
		f.seq = r0;
		f.rows = n;
		if (sb_frame_tensor_resize(&f, "last_hidden_state", SB_DTYPE_F32, 3, hs, &th, &err))
			die("tensor", &err);
		memcpy(th->data, h + r0 * seq * dim, n * seq * dim * sizeof *h);
		if (!o->no_mask) {
			if (sb_frame_tensor_resize(&f, "attention_mask",
						   o->int32 ? SB_DTYPE_I32 : SB_DTYPE_I64, 2, ms,
						   &tm, &err))
				die("tensor", &err);
			for (size_t i = 0; i < n * seq; i++) {
				if (o->int32)
					((int32_t *)tm->data)[i] = (int32_t)mask[r0 * seq + i];
				else
					((int64_t *)tm->data)[i] = (int64_t)mask[r0 * seq + i];
			}
		}
		common_meta(&f, o, r0, n);
		send_frame(t, &f);
		sb_frame_destroy(&f);
	}
	finish(t, rows);
	free(mask);
	free(h);
}

static void cmd_emb(const char *path, const struct opts *o)
{
	FILE *fp = fopen(path, "r");
	size_t rows, cols;
	double *x;
	struct sb_transport *t;
	struct sb_error err;

	if (!fp || fscanf(fp, "%zu %zu", &rows, &cols) != 2)
		die("cannot read the matrix header", NULL);
	x = malloc(rows * cols * sizeof *x + 1);
	for (size_t i = 0; i < rows * cols; i++)
		if (fscanf(fp, "%lf", &x[i]) != 1)
			die("short matrix", NULL);
	fclose(fp);
	t = out_stdout();
	for (size_t r0 = 0; r0 < rows; r0 += o->split ? o->split : (rows ? rows : 1)) {
		size_t n = o->split && rows - r0 > o->split ? o->split : rows - r0;
		size_t shape[2] = {n, cols};
		struct sb_tensor *te;
		struct sb_frame f;

		sb_frame_init(&f);
		f.kind = SB_KIND_EMBEDDINGS;
		f.seq = r0;
		f.rows = n;
		if (sb_frame_tensor_resize(&f, "sentence_embedding", o->dtype, 2, shape, &te, &err))
			die("tensor", &err);
		for (size_t i = 0; i < n * cols; i++) {
			double v = x[r0 * cols + i];
			if (o->dtype == SB_DTYPE_F32)
				((float *)te->data)[i] = (float)v;
			else if (o->dtype == SB_DTYPE_I8)
				((int8_t *)te->data)[i] = (int8_t)v;
			else
				((uint8_t *)te->data)[i] = (uint8_t)v;
		}
		common_meta(&f, o, r0, n);
		send_frame(t, &f);
		sb_frame_destroy(&f);
	}
	finish(t, rows);
	free(x);
}

static void cmd_read(int meta)
{
	struct sb_transport *t;
	struct sb_transport_opts to;
	struct sb_error err;
	struct sb_frame f;
	const unsigned char *msg;
	size_t len;

	memset(&to, 0, sizeof to);
	if (sb_transport_open_fd(&t, 0, 0, "stdin", SB_TRANSPORT_READ, &to, &err))
		die("stdin", &err);
	sb_frame_init(&f);
	while (sb_transport_recv(t, &msg, &len, &err) == SB_OK) {
		struct sb_tensor *e;

		if (sb_frame_decode(msg, len, &f, &err))
			die("decode", &err);
		if (f.kind == SB_KIND_END)
			break;
		if (meta) {
			for (size_t i = 0; i < f.n_meta; i++) {
				const struct sb_meta *m = &f.meta[i];
				switch (m->type) {
				case SB_META_STR:
					printf("%s=%s\n", m->key, m->v.s.p);
					break;
				case SB_META_BOOL:
					printf("%s=%s\n", m->key, m->v.b ? "true" : "false");
					break;
				case SB_META_INT:
					printf("%s=%lld\n", m->key, (long long)m->v.i);
					break;
				case SB_META_UINT:
					printf("%s=%llu\n", m->key, (unsigned long long)m->v.u);
					break;
				case SB_META_FLOAT:
					printf("%s=%g\n", m->key, m->v.f);
					break;
				case SB_META_NIL:
					printf("%s=nil\n", m->key);
					break;
				}
			}
			break;
		}
		e = sb_frame_tensor(&f, "sentence_embedding");
		if (!e || e->n_dims != 2)
			die("no 2-d sentence_embedding", NULL);
		printf("# %s\n", sb_dtype_name(e->dtype));
		for (size_t r = 0; r < e->shape[0]; r++)
			for (size_t c = 0; c < e->shape[1]; c++) {
				size_t i = r * e->shape[1] + c;
				if (e->dtype == SB_DTYPE_F32)
					printf("%.9g", (double)((float *)e->data)[i]);
				else if (e->dtype == SB_DTYPE_I8)
					printf("%d", ((int8_t *)e->data)[i]);
				else
					printf("%u", ((uint8_t *)e->data)[i]);
				putchar(c + 1 < e->shape[1] ? ' ' : '\n');
			}
	}
	sb_frame_destroy(&f);
	sb_transport_close(&t);
}

int main(int argc, char **argv)
{
	struct opts o;

	memset(&o, 0, sizeof o);
	o.dtype = SB_DTYPE_F32;
	if (argc < 2)
		die("usage: pooldump hidden|emb FILE [options] | print | meta", NULL);
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--int32"))
			o.int32 = 1;
		else if (!strcmp(argv[i], "--no-mask"))
			o.no_mask = 1;
		else if (!strcmp(argv[i], "--text"))
			o.text = 1;
		else if (!strcmp(argv[i], "--split") && i + 1 < argc)
			o.split = (size_t)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--dtype") && i + 1 < argc) {
			i++;
			if (sb_dtype_parse(argv[i], strlen(argv[i]), &o.dtype))
				die("--dtype: unknown", NULL);
		} else if (!strcmp(argv[i], "--meta") && i + 1 < argc && o.n_meta < 16)
			o.meta[o.n_meta++] = argv[++i];
		else
			die("unknown option", NULL);
	}
	if (!strcmp(argv[1], "hidden") && argc >= 3)
		cmd_hidden(argv[2], &o);
	else if (!strcmp(argv[1], "emb") && argc >= 3)
		cmd_emb(argv[2], &o);
	else if (!strcmp(argv[1], "print"))
		cmd_read(0);
	else if (!strcmp(argv[1], "meta"))
		cmd_read(1);
	else
		die("usage: pooldump hidden|emb FILE [options] | print | meta", NULL);
	return 0;
}
