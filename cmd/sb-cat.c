/*
 * sb-cat - the frame inspector: prints a frame stream as JSON lines, one tensor as
 * TSV or a .npy file, validates a stream, joins streams (keeping the whole frames of
 * cut ones with --salvage), or builds a stream from .npy or TSV data.  See sb-cat(1).
 *
 * libsb decodes; this program only formats.  Output is produced one whole frame at
 * a time (formatted into a buffer, then written), so a stream that turns bad in its
 * middle leaves the lines of the complete frames before it and no partial line.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "common.h"
#include "errors.h"
#include "farm.h"
#include "frame.h"
#include "internal.h"
#include "npy.h"
#include "reader.h"
#include "tensor.h"
#include "tokenizer.h"
#include "transport.h"

/* Frame data is little-endian on the wire and read here with memcpy. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "sb-cat assumes a little-endian host"
#endif

#define PROG "sb-cat"
#define HEAD_VALUES 4           /* values shown by the default summary */
#define MAX_INPUTS 64

enum mode { M_JSON, M_TSV, M_NPY, M_CHECK, M_FRAMES, M_FROM_NPY, M_FROM_TSV };

struct npy_in {
	const char *name;       /* tensor name */
	const char *path;
	FILE *fp;
	enum sb_dtype dtype;    /* dtype in the frames */
	int f64;                /* file holds float64: converted to float32 */
	int n_dims;
	size_t shape[SB_TENSOR_MAX_DIMS];
	size_t row_bytes;       /* bytes of one row in the file */
};

struct opts {
	enum mode mode;
	const char *inputs[MAX_INPUTS];
	size_t n_inputs;
	const char *output;     /* NULL: stdout */
	int full;
	int with_text;
	int unpad;
	int quiet;
	const char *tensor;     /* --tsv / --npy NAME */
	struct npy_in npy[SB_FRAME_MAX_TENSORS];
	size_t n_npy;
	const char *from_tsv;
	const char *from_tsv_name;
	const char *text_file;
	enum sb_kind kind;
	size_t batch;
	const char *meta[SB_FRAME_MAX_META];
	size_t n_meta;
	struct sb_transport_opts topts; /* ZeroMQ keys, limits, timeout */
	int salvage;            /* -F: keep the whole frames of cut inputs */
	const char *model;      /* reading: token ids are shown as the model's tokens */
	size_t dim;             /* --npy: width of an empty array (0: unknown) */
};

/* -m MODEL: the tokenizer that turns ids into token strings, and its fingerprint as the
 * tokens frames' meta spells it. */
static struct sb_tokenizer *tok;
static const char *tok_name;    /* MODEL as given, for messages */
static char tok_fingerprint[24];

/* ------------------------------------------------------------------ reporting */

static const char *out_name = "stdout";
static const char *out_unlink;  /* a file to remove when we fail (partial .npy) */
static struct sb_transport *out_frames; /* --frames: whole frames are flushed on failure */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (out_unlink)
		unlink(out_unlink);
	if (out_frames) {
		/* The frames sent are whole: deliver them, without an end frame, as the
		 * runner does, so a cut input gives a cut output.  Closing lets a ZeroMQ
		 * socket hand its queued frames over before we exit. */
		struct sb_error e;

		sb_transport_flush(out_frames, &e);
		sb_transport_close(&out_frames);
	}
	exit(1);
}

static void die_err(const struct sb_error *err) __attribute__((noreturn));
static void die_err(const struct sb_error *err)
{
	die("%s", err->msg[0] ? err->msg : sb_strerror(err->code));
}

/* The reader of our output went away (`sb-cat ... | head -1`): end quietly, as a
 * writer killed by SIGPIPE would (the convention of every sb program). */
static void output_gone(void) __attribute__((noreturn));
static void output_gone(void)
{
	if (out_unlink)
		unlink(out_unlink);
	signal(SIGPIPE, SIG_DFL);
	raise(SIGPIPE);
	_exit(141);
}

static void write_error(int errnum) __attribute__((noreturn));
static void write_error(int errnum)
{
	if (errnum == EPIPE)
		output_gone();
	die("%s: write: %s", out_name, strerror(errnum));
}

/* Writes all of p to out; a full disk or any other write failure ends the program. */
static void put(FILE *out, const void *p, size_t n)
{
	if (n && fwrite(p, 1, n, out) != n)
		write_error(errno ? errno : EIO);
}

static void finish_output(FILE *out)
{
	if (fflush(out) != 0 || ferror(out))
		write_error(errno ? errno : EIO);
	if (out != stdout) {
		if (fclose(out) != 0)
			write_error(errno);
	} else if (fsync(STDOUT_FILENO) != 0 && errno != EINVAL && errno != EROFS &&
		   errno != ENOTSUP && errno != EBADF) {
		/* Pipes and terminals cannot be synced (EINVAL); real files report
		 * late write errors (NFS, quota) here. */
		write_error(errno);
	}
}

static void usage(FILE *fp)
{
	fputs("usage: sb-cat [-f] [-m MODEL] [-i SPEC] [-o FILE] [FILE...]\n"
	      "       sb-cat --tsv NAME [-t] [--unpad] [-m MODEL] [-i SPEC] [-o FILE] [FILE...]\n"
	      "       sb-cat --npy NAME [--dim D] -o FILE.npy [-i SPEC] [FILE...]\n"
	      "       sb-cat -c | -q [-i SPEC] [FILE...]\n"
	      "       sb-cat -F [--salvage] [-i SPEC] [-o SPEC] [FILE...]\n"
	      "       sb-cat --from-npy [NAME=]FILE.npy ... [-k KIND] [-b ROWS] [--text FILE]\n"
	      "              [-m KEY=VALUE]... [-o SPEC]\n"
	      "       sb-cat --from-tsv [NAME=]FILE [-t] [-k KIND] [-b ROWS] [--text FILE]\n"
	      "              [-m KEY=VALUE]... [-o SPEC]\n"
	      "\n"
	      "Prints a stream of sb frames as JSON lines (default), one tensor as TSV or .npy,\n"
	      "validates a stream, or builds one from .npy or TSV data.\n"
	      "\n"
	      "  -i, --input SPEC     read frames from SPEC: - (stdin, default), a file, a ZeroMQ\n"
	      "                       endpoint; file arguments are read one after another\n"
	      "  -o, --output SPEC    write to SPEC instead of stdout\n"
	      "  -f, --full           print every tensor value (default: dtype, shape, min, max,\n"
	      "                       mean and the first 4 values)\n"
	      "  -m, --model MODEL    JSON and TSV: show token ids as MODEL's token strings\n"
	      "      --tsv NAME       print tensor NAME as TSV, one line per row\n"
	      "  -t, --with-text      TSV: the row's text is the first column\n"
	      "      --unpad          TSV: drop the positions where attention_mask is 0\n"
	      "      --npy NAME       write tensor NAME of all frames, joined on axis 0, as .npy\n"
	      "      --dim D          --npy: the width of the (0, D) array of an empty stream\n"
	      "  -c, --check          only validate the stream; print a summary\n"
	      "  -q, --quiet          only validate the stream; the exit status tells\n"
	      "  -F, --frames         write the inputs' frames as one stream (seq renumbered,\n"
	      "                       one end frame): join files, save a socket's stream\n"
	      "      --salvage        -F: keep the whole frames of cut inputs, write a correct\n"
	      "                       end frame and say where to resume\n"
	      "      --from-npy [NAME=]FILE  build frames from a .npy array (repeatable)\n"
	      "      --from-tsv [NAME=]FILE  build frames from TSV lines of numbers\n"
	      "  -k, --kind KIND      kind of the frames built: embeddings (default), tokens,\n"
	      "                       hidden or scores\n"
	      "  -b, --batch ROWS     rows per frame built (default 32)\n"
	      "      --text FILE      attach FILE's lines as the rows' texts\n"
	      "  -m, --meta KEY=VALUE add a meta entry to the frames built\n"
	      "      --max-msg-bytes N   refuse frames larger than N bytes (default 2G)\n"
	      "      --timeout SECONDS   ZeroMQ: give up waiting for a frame (default: never)\n"
	      "      --curve-secret FILE, --curve-server FILE, --curve-allow FILE, --insecure\n"
	      "                       ZeroMQ security, as for every sb program (see sb(7))\n"
	      "  -h, --help           show this help\n"
	      "      --version        print the version; with -v the kernels, libraries, build\n",
	      fp);
}

static void bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void bad_usage(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	exit(2);
}

/* ------------------------------------------------------------------ text output */

/* Formatting appends to one buffer per frame; an allocation failure is recorded
 * and checked once the frame is formatted. */
struct out {
	struct sb_buf b;
	int failed;
};

static void o_add(struct out *o, const void *p, size_t n)
{
	if (!o->failed && sb_buf_append(&o->b, p, n, NULL) != SB_OK)
		o->failed = 1;
}

static void o_str(struct out *o, const char *s)
{
	o_add(o, s, strlen(s));
}

static void o_chr(struct out *o, char c)
{
	o_add(o, &c, 1);
}

static void o_fmt(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void o_fmt(struct out *o, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp)
		o->failed = 1;
	else
		o_add(o, tmp, (size_t)n);
}

/* A JSON string: UTF-8 passes through, control characters are escaped, bytes that
 * are not valid UTF-8 become U+FFFD (JSON text must be UTF-8). */
static void o_json_str(struct out *o, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	o_chr(o, '"');
	while (i < n) {
		unsigned c = p[i];
		size_t run = i;

		while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' &&
		       p[run] != '\\')
			run++;
		if (run > i) {
			o_add(o, p + i, run - i);
			i = run;
			continue;
		}
		switch (c) {
		case '"': o_str(o, "\\\""); i++; continue;
		case '\\': o_str(o, "\\\\"); i++; continue;
		case '\n': o_str(o, "\\n"); i++; continue;
		case '\r': o_str(o, "\\r"); i++; continue;
		case '\t': o_str(o, "\\t"); i++; continue;
		case '\b': o_str(o, "\\b"); i++; continue;
		case '\f': o_str(o, "\\f"); i++; continue;
		default: break;
		}
		if (c < 0x20) {
			o_fmt(o, "\\u%04x", c);
			i++;
		} else {
			int valid;
			size_t len = sb_utf8_seq(p + i, n - i, &valid);

			if (valid)
				o_add(o, p + i, len);
			else
				o_str(o, "\xef\xbf\xbd");     /* U+FFFD */
			i += len;
		}
	}
	o_chr(o, '"');
}

/* A TSV field: backslash, tab, newline, carriage return and NUL are escaped as
 * \\ \t \n \r \0 so that every row stays one line with a fixed number of fields. */
static void o_tsv_str(struct out *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case '\\': o_str(o, "\\\\"); break;
		case '\t': o_str(o, "\\t"); break;
		case '\n': o_str(o, "\\n"); break;
		case '\r': o_str(o, "\\r"); break;
		case '\0': o_str(o, "\\0"); break;
		default: o_chr(o, s[i]); break;
		}
	}
}

/* ------------------------------------------------------------------ tensor values */

static int dtype_is_float(enum sb_dtype dt)
{
	return dt == SB_DTYPE_F32 || dt == SB_DTYPE_F16 || dt == SB_DTYPE_BF16;
}

/* Significant digits that print every value of the dtype so it reads back exactly. */
static int dtype_digits(enum sb_dtype dt)
{
	return dt == SB_DTYPE_F32 ? 9 : dt == SB_DTYPE_F16 ? 5 : 4;
}

static double get_f(const struct sb_tensor *t, size_t i)
{
	const unsigned char *p = t->data;
	uint16_t h;
	float f;

	switch (t->dtype) {
	case SB_DTYPE_F32:
		memcpy(&f, p + 4 * i, 4);
		return f;
	case SB_DTYPE_F16:
		memcpy(&h, p + 2 * i, 2);
		return sb_f16_to_f32(h);
	case SB_DTYPE_BF16:
		memcpy(&h, p + 2 * i, 2);
		return sb_bf16_to_f32(h);
	default:
		break;
	}
	return NAN;
}

static int64_t get_i(const struct sb_tensor *t, size_t i)
{
	const unsigned char *p = t->data;
	int32_t i32;
	int64_t i64;

	switch (t->dtype) {
	case SB_DTYPE_I8:
		return (int8_t)p[i];
	case SB_DTYPE_U8:
		return p[i];
	case SB_DTYPE_I32:
		memcpy(&i32, p + 4 * i, 4);
		return i32;
	case SB_DTYPE_I64:
		memcpy(&i64, p + 8 * i, 8);
		return i64;
	default:
		break;
	}
	return (int64_t)get_f(t, i);
}

/* One value: floats with the digits their dtype needs; NaN and infinities, which
 * JSON cannot represent, as null (JSON) or nan/inf/-inf (TSV). */
static void o_value(struct out *o, const struct sb_tensor *t, size_t i, int tsv)
{
	if (dtype_is_float(t->dtype)) {
		double v = get_f(t, i);

		if (isnan(v))
			o_str(o, tsv ? "nan" : "null");
		else if (isinf(v))
			o_str(o, !tsv ? "null" : v > 0 ? "inf" : "-inf");
		else
			o_fmt(o, "%.*g", dtype_digits(t->dtype), v);
	} else {
		o_fmt(o, "%" PRId64, get_i(t, i));
	}
}

static void o_double(struct out *o, double v)
{
	if (isfinite(v))
		o_fmt(o, "%.9g", v);
	else
		o_str(o, "null");
}

static void o_shape(struct out *o, const struct sb_tensor *t)
{
	o_chr(o, '[');
	for (int d = 0; d < t->n_dims; d++)
		o_fmt(o, d ? ",%zu" : "%zu", t->shape[d]);
	o_chr(o, ']');
}

/* Nested lists as NumPy's tolist() gives them; depth is at most SB_TENSOR_MAX_DIMS. */
static void o_nested(struct out *o, const struct sb_tensor *t, int dim, size_t *i)
{
	if (dim == t->n_dims) {
		o_value(o, t, (*i)++, 0);
		return;
	}
	o_chr(o, '[');
	for (size_t k = 0; k < t->shape[dim]; k++) {
		if (k)
			o_chr(o, ',');
		o_nested(o, t, dim + 1, i);
	}
	o_chr(o, ']');
}

/* min and max skip NaN; mean is the plain double sum over numel (NaN if any is). */
static void o_summary(struct out *o, const struct sb_tensor *t)
{
	size_t n = sb_tensor_numel(t), i_min = 0, i_max = 0;
	int found = 0;
	double sum = 0;

	if (dtype_is_float(t->dtype)) {
		double mn = 0, mx = 0;

		for (size_t i = 0; i < n; i++) {
			double v = get_f(t, i);

			sum += v;
			if (isnan(v))
				continue;
			if (!found || v < mn) {
				mn = v;
				i_min = i;
			}
			if (!found || v > mx) {
				mx = v;
				i_max = i;
			}
			found = 1;
		}
	} else {
		int64_t mn = 0, mx = 0;

		for (size_t i = 0; i < n; i++) {
			int64_t v = get_i(t, i);

			sum += (double)v;
			if (!found || v < mn) {
				mn = v;
				i_min = i;
			}
			if (!found || v > mx) {
				mx = v;
				i_max = i;
			}
			found = 1;
		}
	}
	o_str(o, ",\"min\":");
	if (found)
		o_value(o, t, i_min, 0);
	else
		o_str(o, "null");
	o_str(o, ",\"max\":");
	if (found)
		o_value(o, t, i_max, 0);
	else
		o_str(o, "null");
	o_str(o, ",\"mean\":");
	if (n)
		o_double(o, sum / (double)n);
	else
		o_str(o, "null");
	o_str(o, ",\"head\":[");
	for (size_t i = 0; i < n && i < HEAD_VALUES; i++) {
		if (i)
			o_chr(o, ',');
		o_value(o, t, i, 0);
	}
	o_chr(o, ']');
}

static void o_meta_value(struct out *o, const struct sb_meta *m)
{
	char tmp[40];

	switch (m->type) {
	case SB_META_NIL: o_str(o, "null"); break;
	case SB_META_BOOL: o_str(o, m->v.b ? "true" : "false"); break;
	case SB_META_INT: o_fmt(o, "%" PRId64, m->v.i); break;
	case SB_META_UINT: o_fmt(o, "%" PRIu64, m->v.u); break;
	case SB_META_FLOAT:
		if (!isfinite(m->v.f)) {
			o_str(o, "null");
			break;
		}
		/* The shortest of 15..17 digits that reads back as the same double, with
		 * ".0" on integral values so that a float stays a float in JSON. */
		for (int p = 15; p <= 17; p++) {
			snprintf(tmp, sizeof tmp, "%.*g", p, m->v.f);
			if (strtod(tmp, NULL) == m->v.f)
				break;
		}
		o_str(o, tmp);
		if (strspn(tmp, "-0123456789") == strlen(tmp))
			o_str(o, ".0");
		break;
	case SB_META_STR: o_json_str(o, m->v.s.p, m->v.s.n); break;
	}
}

static void o_meta(struct out *o, const struct sb_frame *f)
{
	o_str(o, ",\"meta\":{");
	for (size_t i = 0; i < f->n_meta; i++) {
		if (i)
			o_chr(o, ',');
		o_json_str(o, f->meta[i].key, strlen(f->meta[i].key));
		o_chr(o, ':');
		o_meta_value(o, &f->meta[i]);
	}
	o_chr(o, '}');
}

/* ------------------------------------------------------------------ token strings */

/*
 * -m MODEL: the token string of ids[i] (convert_ids_to_tokens).  Dies naming where when the
 * id is not in the model's vocabulary: the frames come from another tokenizer.
 */
static const char *token_str(const struct sb_tensor *ids, size_t i, const char *where)
{
	int64_t id = get_i(ids, i);
	const char *s = id >= 0 && id <= INT32_MAX ? sb_tokenizer_id_token(tok, (int32_t)id) : NULL;

	if (!s)
		die("%s: token id %" PRId64 " is not in the vocabulary of %s (%zu tokens)", where,
		    id, tok_name, sb_tokenizer_info(tok)->vocab_size);
	return s;
}

/* -m MODEL and a frame's tokenizer_fingerprint meta must agree. */
static void check_fingerprint(const struct sb_frame *f, const char *where)
{
	const struct sb_meta *m = sb_frame_meta_get(f, "tokenizer_fingerprint");

	if (m && m->type == SB_META_STR && strcmp(m->v.s.p, tok_fingerprint) != 0)
		die("%s: the tokens come from tokenizer %s, %s has tokenizer %s: their strings "
		    "would be wrong", where, m->v.s.p, tok_name, tok_fingerprint);
}

/* With -m: a frame's input_ids as their token strings, "tokens":[["[CLS]",...],...], the
 * positions where attention_mask is 0 left out. */
static void o_tokens_json(struct out *o, const struct sb_frame *f, const char *where)
{
	const struct sb_tensor *ids = sb_frame_tensor(f, "input_ids");
	const struct sb_tensor *mask = sb_frame_tensor(f, "attention_mask");
	size_t rows, cols;

	if (!ids || ids->n_dims != 2 || dtype_is_float(ids->dtype))
		return;
	check_fingerprint(f, where);
	rows = ids->shape[0];
	cols = ids->shape[1];
	if (mask && (mask->n_dims != 2 || mask->shape[0] != rows || mask->shape[1] != cols ||
		     dtype_is_float(mask->dtype)))
		mask = NULL;
	o_str(o, ",\"tokens\":[");
	for (size_t r = 0; r < rows; r++) {
		int first = 1;

		o_str(o, r ? ",[" : "[");
		for (size_t c = 0; c < cols; c++) {
			const char *t;

			if (mask && get_i(mask, r * cols + c) == 0)
				continue;
			t = token_str(ids, r * cols + c, where);
			if (!first)
				o_chr(o, ',');
			o_json_str(o, t, strlen(t));
			first = 0;
		}
		o_chr(o, ']');
	}
	o_chr(o, ']');
}

static void o_frame_json(struct out *o, const struct sb_frame *f, int full, const char *where)
{
	o_fmt(o, "{\"sb\":%u,\"kind\":", f->version);
	o_json_str(o, sb_kind_name(f->kind), strlen(sb_kind_name(f->kind)));
	if (f->kind == SB_KIND_END) {
		o_fmt(o, ",\"rows_total\":%" PRIu64, f->rows_total);
		if (f->n_meta)
			o_meta(o, f);
		o_str(o, "}\n");
		return;
	}
	o_fmt(o, ",\"seq\":%" PRIu64 ",\"rows\":%" PRIu64, f->seq, f->rows);
	o_meta(o, f);
	if (f->has_text) {
		o_str(o, ",\"text\":[");
		for (uint64_t r = 0; r < f->rows; r++) {
			if (r)
				o_chr(o, ',');
			o_json_str(o, f->text[r].p, f->text[r].n);
		}
		o_chr(o, ']');
	}
	if (tok)
		o_tokens_json(o, f, where);
	o_str(o, ",\"tensors\":{");
	for (size_t k = 0; k < f->n_tensors; k++) {
		const struct sb_tensor *t = &f->tensors[k].t;

		if (k)
			o_chr(o, ',');
		o_json_str(o, f->tensors[k].name, strlen(f->tensors[k].name));
		o_str(o, ":{\"dtype\":\"");
		o_str(o, sb_dtype_name(t->dtype));
		o_str(o, "\",\"shape\":");
		o_shape(o, t);
		if (full) {
			size_t i = 0;

			o_str(o, ",\"data\":");
			o_nested(o, t, 0, &i);
		} else {
			o_summary(o, t);
		}
		o_chr(o, '}');
	}
	o_str(o, "}}\n");
}

/* ------------------------------------------------------------------ reading streams */

struct reader {
	const struct opts *o;
	FILE *out;
	struct out line;
	struct sb_frame *f;             /* the frame being shown: the stream reader's */
	/* --check: counts of the current input */
	uint64_t frames, rows;
	/* --npy */
	int npy_fd;
	int npy_seekable;
	int npy_started;
	enum sb_dtype npy_dtype;        /* dtype in the file (bfloat16 widened to float32) */
	enum sb_dtype npy_src;          /* dtype in the frames */
	int npy_dims;
	size_t npy_shape[SB_TENSOR_MAX_DIMS];
	uint64_t npy_rows;
	size_t npy_header;
	struct sb_buf npy_buf;          /* data, when the output cannot seek */
	/* --frames */
	struct sb_transport *fout;
	struct sb_buf enc;
	uint64_t out_rows;
	int out_kind;                   /* kind of the first data frame, or -1 */
};

/* --frames: sends f (re-encoded) to the output; a closed reader ends us quietly. */
static void frames_send(struct reader *r, const struct sb_frame *f)
{
	struct sb_error err;
	int rc;

	sb_error_clear(&err);
	sb_buf_clear(&r->enc);
	if (sb_frame_encode(f, &r->enc, &err) != SB_OK)
		die_err(&err);
	rc = sb_transport_send(r->fout, r->enc.data, r->enc.len, &err);
	if (rc == SB_EPIPE)
		output_gone();
	if (rc != SB_OK)
		die_err(&err);
}

/* "tensors: a, b" for messages about a missing tensor. */
static const char *tensor_list(const struct sb_frame *f, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t k = 0; k < f->n_tensors && used < size; k++) {
		int n = snprintf(buf + used, size - used, "%s'%s'", k ? ", " : "",
				 f->tensors[k].name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	if (f->n_tensors == 0)
		snprintf(buf, size, "none");
	return buf;
}

static const struct sb_tensor *want_tensor(const struct sb_frame *f, const char *name,
					   const char *where)
{
	const struct sb_tensor *t = sb_frame_tensor(f, name);
	char list[256];

	if (!t)
		die("%s: no tensor '%s' (the frame has %s)", where, name,
		    tensor_list(f, list, sizeof list));
	if (t->n_dims < 1)
		die("%s: tensor '%s' is a scalar: no rows to print", where, name);
	return t;
}

static void tsv_frame(struct reader *r, const char *where)
{
	const struct sb_frame *f = r->f;
	const struct sb_tensor *t = want_tensor(f, r->o->tensor, where);
	const struct sb_tensor *mask = NULL;
	size_t rows = t->shape[0], cols = rows ? sb_tensor_numel(t) / rows : 0;
	char s1[96], s2[96];

	if (tok) {
		if (dtype_is_float(t->dtype))
			die("%s: -m: tensor '%s' holds %s values, not token ids", where,
			    r->o->tensor, sb_dtype_name(t->dtype));
		check_fingerprint(f, where);
	}
	if (r->o->with_text && f->has_text && f->rows != rows)
		die("%s: tensor '%s': shape %s has %zu rows, the frame has %" PRIu64 " texts",
		    where, r->o->tensor, sb_shape_str(t->n_dims, t->shape, s1, sizeof s1), rows,
		    f->rows);
	if (r->o->unpad) {
		mask = sb_frame_tensor(f, "attention_mask");
		if (!mask)
			die("%s: --unpad: no tensor 'attention_mask'", where);
		if (t->n_dims != 2 || mask->n_dims != 2 || mask->shape[0] != t->shape[0] ||
		    mask->shape[1] != t->shape[1] || dtype_is_float(mask->dtype))
			die("%s: --unpad: tensor '%s' %s and integer attention_mask %s "
			    "must have the same 2-d shape", where, r->o->tensor,
			    sb_shape_str(t->n_dims, t->shape, s1, sizeof s1),
			    sb_shape_str(mask->n_dims, mask->shape, s2, sizeof s2));
	}
	for (size_t row = 0; row < rows; row++) {
		int first = 1;

		if (r->o->with_text) {
			if (f->has_text)
				o_tsv_str(&r->line, f->text[row].p, f->text[row].n);
			first = 0;
		}
		for (size_t c = 0; c < cols; c++) {
			size_t i = row * cols + c;

			if (mask && get_i(mask, i) == 0)
				continue;
			if (!first)
				o_chr(&r->line, '\t');
			if (tok) {
				const char *ts = token_str(t, i, where);
				o_tsv_str(&r->line, ts, strlen(ts));
			} else {
				o_value(&r->line, t, i, 1);
			}
			first = 0;
		}
		o_chr(&r->line, '\n');
	}
}

static void write_fd(int fd, const void *p, size_t n)
{
	const unsigned char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			write_error(errno);
		}
		c += w;
		n -= (size_t)w;
	}
}

static void npy_frame(struct reader *r, const char *where)
{
	const struct sb_tensor *t = want_tensor(r->f, r->o->tensor, where);
	char hdr[1024], s1[96], s2[96];
	unsigned char tmp[4096];
	size_t n = sb_tensor_numel(t);
	struct sb_error err;

	if (!r->npy_started) {
		if (r->o->dim && (t->n_dims != 2 || t->shape[1] != r->o->dim))
			die("%s: tensor '%s' is %s, --dim says %zu columns", where, r->o->tensor,
			    sb_shape_str(t->n_dims, t->shape, s1, sizeof s1), r->o->dim);
		r->npy_src = t->dtype;
		r->npy_dtype = t->dtype == SB_DTYPE_BF16 ? SB_DTYPE_F32 : t->dtype;
		r->npy_dims = t->n_dims;
		memcpy(r->npy_shape, t->shape, sizeof r->npy_shape);
		r->npy_header = sb_npy_header_write(hdr, sizeof hdr, r->npy_dtype, r->npy_dims,
					   r->npy_shape, 0);
		if (r->npy_header == 0)
			die("%s: tensor '%s': shape too long for a .npy header", where,
			    r->o->tensor);
		if (r->npy_seekable)
			write_fd(r->npy_fd, hdr, r->npy_header);
		r->npy_started = 1;
	} else if (t->dtype != r->npy_src || t->n_dims != r->npy_dims ||
		   memcmp(t->shape + 1, r->npy_shape + 1,
			  (size_t)(t->n_dims - 1) * sizeof t->shape[0]) != 0) {
		size_t want[SB_TENSOR_MAX_DIMS];

		memcpy(want, r->npy_shape, sizeof want);
		want[0] = t->shape[0];
		die("%s: tensor '%s': %s %s, expected %s %s to join the earlier frames on axis 0",
		    where, r->o->tensor, sb_dtype_name(t->dtype),
		    sb_shape_str(t->n_dims, t->shape, s1, sizeof s1), sb_dtype_name(r->npy_src),
		    sb_shape_str(r->npy_dims, want, s2, sizeof s2));
	}
	r->npy_rows += t->shape[0];
	if (t->dtype == SB_DTYPE_BF16) {
		/* .npy has no bfloat16: widen to float32 (exact) in small pieces. */
		for (size_t i = 0; i < n;) {
			size_t k = 0;

			for (; k < sizeof tmp / 4 && i < n; k++, i++) {
				float v = (float)get_f(t, i);

				memcpy(tmp + 4 * k, &v, 4);
			}
			if (r->npy_seekable)
				write_fd(r->npy_fd, tmp, 4 * k);
			else if (sb_buf_append(&r->npy_buf, tmp, 4 * k, &err))
				die_err(&err);
		}
	} else if (r->npy_seekable) {
		write_fd(r->npy_fd, t->data, t->nbytes);
	} else if (sb_buf_append(&r->npy_buf, t->data, t->nbytes, &err)) {
		die_err(&err);
	}
}

static void npy_finish(struct reader *r)
{
	char hdr[1024];
	size_t len;

	if (!r->npy_started) {
		/*
		 * No data frame at all: an empty run writes only its end frame, which says
		 * nothing of the width (a frame of 0 rows would: its tensor is [0, D]).  An
		 * empty float32 array of shape (0, D) when --dim gives D.
		 */
		if (r->o->dim == 0)
			die("tensor '%s': the input holds no frame, so the width of its rows is "
			    "unknown: give it with --dim D to write an empty (0, D) array",
			    r->o->tensor);
		r->npy_dtype = SB_DTYPE_F32;
		r->npy_dims = 2;
		r->npy_shape[1] = r->o->dim;
		r->npy_seekable = 0;    /* nothing written yet: header and (no) data at once */
	}
	len = sb_npy_header_write(hdr, sizeof hdr, r->npy_dtype, r->npy_dims, r->npy_shape,
				  r->npy_rows);
	if (len == 0)
		die("tensor '%s': shape too long for a .npy header", r->o->tensor);
	if (r->npy_seekable) {
		/* Same length as the placeholder: the row count was padded to 21 digits. */
		if (len != r->npy_header)
			die("tensor '%s': .npy header changed size", r->o->tensor);
		if (pwrite(r->npy_fd, hdr, len, 0) != (ssize_t)len)
			write_error(errno ? errno : EIO);
	} else {
		write_fd(r->npy_fd, hdr, len);
		write_fd(r->npy_fd, r->npy_buf.data, r->npy_buf.len);
	}
	if (r->npy_fd != STDOUT_FILENO) {
		if (fsync(r->npy_fd) != 0 && errno != EINVAL && errno != EROFS)
			write_error(errno);
		if (close(r->npy_fd) != 0)
			write_error(errno);
	}
}

/* --check: what a consumer relies on beyond the stream's rules (the reader checks
 * those) and a frame's own validity. */
static void check_frame(const struct sb_frame *f, int kind, const char *where)
{
	char s1[96];

	if (kind >= 0 && (int)f->kind != kind)
		die("%s: a frame of kind %s in a stream of kind %s", where, sb_kind_name(f->kind),
		    sb_kind_name((enum sb_kind)kind));
	for (size_t k = 0; k < f->n_tensors; k++) {
		const struct sb_tensor *x = &f->tensors[k].t;

		if (x->n_dims < 1 || x->shape[0] != f->rows)
			die("%s: tensor '%s': shape %s, expected %" PRIu64 " rows first", where,
			    f->tensors[k].name, sb_shape_str(x->n_dims, x->shape, s1, sizeof s1),
			    f->rows);
	}
}

/*
 * --salvage: says on stderr where input spec stopped being usable and what was kept of
 * it.  fault is the error that stopped it, or NULL when it just ended without an end
 * frame.
 */
static void salvage_report(const struct reader *r, const char *spec, const struct sb_error *fault,
			   uint64_t frames, unsigned long long n_msgs, unsigned long long at)
{
	const char *s = frames == 1 ? "" : "s";

	if (fault)
		fprintf(stderr, PROG ": salvage: %s: kept the %" PRIu64 " whole frame%s before it (%"
			PRIu64 " rows)\n", fault->msg[0] ? fault->msg : sb_strerror(fault->code),
			frames, s, r->rows);
	else if (n_msgs == 0)
		fprintf(stderr, PROG ": salvage: %s: empty input: nothing to keep\n", spec);
	else
		fprintf(stderr, PROG ": salvage: %s: no end frame after frame %llu at byte %llu: "
			"kept its %" PRIu64 " frame%s (%" PRIu64 " rows)\n", spec, n_msgs, at, frames,
			s, r->rows);
}

/* Prints or converts one frame of the input as the mode asks. */
static void show_frame(struct reader *r, const char *where)
{
	sb_buf_clear(&r->line.b);
	switch (r->o->mode) {
	case M_JSON:
		o_frame_json(&r->line, r->f, r->o->full, where);
		break;
	case M_TSV:
		if (r->f->kind != SB_KIND_END)
			tsv_frame(r, where);
		break;
	case M_NPY:
		if (r->f->kind != SB_KIND_END)
			npy_frame(r, where);
		break;
	case M_FRAMES:
		/* One output stream: rows renumbered across inputs, one end frame. */
		if (r->f->kind != SB_KIND_END) {
			if (r->out_kind < 0)
				r->out_kind = (int)r->f->kind;
			if ((int)r->f->kind != r->out_kind)
				die("%s: a frame of kind %s cannot join a stream "
				    "of kind %s", where, sb_kind_name(r->f->kind),
				    sb_kind_name((enum sb_kind)r->out_kind));
			r->f->seq = r->out_rows;
			frames_send(r, r->f);
			r->out_rows += r->f->rows;
		}
		break;
	default:
		break;
	}
	if (r->line.failed)
		die("%s: out of memory formatting the frame", where);
	put(r->out, r->line.b.data, r->line.b.len);
}

/* The input could not be read to a complete end: --salvage says what was kept, else
 * --check prints its cut summary and the error ends the run. */
static void stream_fault(struct reader *r, struct sb_reader *in, const struct sb_error *err)
{
	if (r->o->salvage) {
		salvage_report(r, in->t->spec, in->cut ? NULL : err, in->frames,
			       (unsigned long long)in->t->n_msgs,
			       (unsigned long long)in->t->n_bytes);
		sb_reader_close(in);
		return;
	}
	if (in->cut && r->o->mode == M_CHECK && !r->o->quiet) {
		printf("%s: %llu frames, %" PRIu64 " rows, cut (no end frame)\n", in->t->spec,
		       (unsigned long long)in->t->n_msgs, r->rows);
		fflush(stdout);
	}
	sb_reader_close(in);
	die_err(err);
}

/*
 * Reads one input stream.  Streams may follow one another (each closed by its own end
 * frame); ending anywhere else is an error, unless --salvage: then the input is read up
 * to its first fault (a cut frame, a bad frame, a gap in seq, a wrong end frame, no end
 * frame), its whole frames before it are kept and the next input is read.  The stream's
 * rules are checked by --check and --salvage; printing shows a stream as it is.
 */
static void read_stream(struct reader *r, const char *spec)
{
	int strict = r->o->salvage || r->o->mode == M_CHECK, stream_kind = -1;
	struct sb_reader in;
	struct sb_error err;
	char where[256];

	sb_error_clear(&err);
	if (sb_reader_open(&in, spec, &r->o->topts,
			   SB_READER_STREAMS | (strict ? 0 : SB_READER_NO_ORDER), &err) != SB_OK)
		die_err(&err);
	r->frames = r->rows = 0;
	for (;;) {
		int rc = sb_reader_next(&in, &err);

		if (rc == SB_EOF)
			break;
		if (rc != SB_OK) {
			stream_fault(r, &in, &err);
			return;
		}
		snprintf(where, sizeof where, "%s: frame %llu at byte %llu", in.t->spec,
			 (unsigned long long)in.fno, (unsigned long long)in.at);
		r->frames++;
		if (in.f.kind == SB_KIND_END) {
			stream_kind = -1;
		} else {
			if (r->o->mode == M_CHECK)
				check_frame(&in.f, stream_kind, where);
			if (stream_kind < 0)
				stream_kind = (int)in.f.kind;
			r->rows += in.f.rows;
		}
		/* --frames renumbers the reader's frame: the reader has checked it already. */
		r->f = &in.f;
		show_frame(r, where);
		r->f = NULL;
	}
	if (r->o->mode == M_CHECK && !r->o->quiet)
		printf("%s: %" PRIu64 " frames, %" PRIu64 " rows, complete\n", in.t->spec,
		       r->frames, r->rows);
	sb_reader_close(&in);
}

static void run_reader(const struct opts *o)
{
	struct reader r;

	memset(&r, 0, sizeof r);
	r.o = o;
	r.out = stdout;
	r.out_kind = -1;
	sb_buf_init(&r.line.b);
	sb_buf_init(&r.npy_buf);
	if (o->mode == M_NPY) {
		struct stat st;

		r.npy_fd = STDOUT_FILENO;
		if (o->output && strcmp(o->output, "-") != 0) {
			r.npy_fd = open(o->output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
			if (r.npy_fd < 0)
				die("%s: %s", o->output, strerror(errno));
			out_unlink = o->output;
		}
		r.npy_seekable = fstat(r.npy_fd, &st) == 0 && S_ISREG(st.st_mode) &&
				 lseek(r.npy_fd, 0, SEEK_CUR) == 0;
	} else if (o->mode == M_FRAMES) {
		struct sb_error err;

		sb_error_clear(&err);
		if (sb_transport_open(&r.fout, o->output ? o->output : "-", SB_TRANSPORT_WRITE,
				      &o->topts, &err) != SB_OK)
			die_err(&err);
		out_frames = r.fout;
	} else if (o->output && strcmp(o->output, "-") != 0) {
		r.out = fopen(o->output, "w");
		if (!r.out)
			die("%s: %s", o->output, strerror(errno));
	}
	for (size_t i = 0; i < o->n_inputs; i++)
		read_stream(&r, o->inputs[i]);
	if (o->mode == M_NPY) {
		npy_finish(&r);
	} else if (o->mode == M_FRAMES) {
		struct sb_error err;
		struct sb_frame end;

		sb_error_clear(&err);
		sb_frame_init(&end);
		end.kind = SB_KIND_END;
		end.rows_total = r.out_rows;
		frames_send(&r, &end);
		sb_frame_destroy(&end);
		out_frames = NULL;
		if (sb_transport_flush(r.fout, &err) != SB_OK) {
			if (err.code == SB_EPIPE)
				output_gone();
			die_err(&err);
		}
		sb_transport_close(&r.fout);
		if (o->salvage)
			fprintf(stderr,
				PROG ": salvage: wrote %" PRIu64 " rows and an end frame; a run over "
				"one input line per row resumes at line %" PRIu64 " (tail -n +%" PRIu64
				")\n", r.out_rows, r.out_rows + 1, r.out_rows + 1);
	} else {
		finish_output(r.out);
	}
	sb_buf_destroy(&r.line.b);
	sb_buf_destroy(&r.npy_buf);
	sb_buf_destroy(&r.enc);
}

/* ------------------------------------------------------------------ building streams */

struct writer {
	const struct opts *o;
	struct sb_transport *t;
	struct sb_frame f;
	struct sb_buf enc;
	struct sb_linereader *texts;
	uint64_t seq;
	struct sb_error err;
};

static const char *default_name(enum sb_kind k)
{
	switch (k) {
	case SB_KIND_TOKENS: return "input_ids";
	case SB_KIND_HIDDEN: return "last_hidden_state";
	case SB_KIND_SCORES: return "score";
	default: return "sentence_embedding";
	}
}

/* Splits "NAME=FILE" (NAME optional). */
static void split_named(const char *arg, enum sb_kind kind, const char **name, const char **path)
{
	const char *eq = strchr(arg, '=');
	static char names[SB_FRAME_MAX_TENSORS][SB_FRAME_NAME_MAX];
	static size_t n_names;

	if (!eq || eq == arg || memchr(arg, '/', (size_t)(eq - arg))) {
		*name = NULL;   /* filled in once --kind is known */
		*path = arg;
		return;
	}
	if ((size_t)(eq - arg) >= SB_FRAME_NAME_MAX || n_names == SB_FRAME_MAX_TENSORS)
		bad_usage("'%s': tensor name too long", arg);
	memcpy(names[n_names], arg, (size_t)(eq - arg));
	names[n_names][eq - arg] = '\0';
	*name = names[n_names++];
	*path = eq + 1;
	(void)kind;
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

static void writer_open(struct writer *w, const struct opts *o)
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

static void writer_send(struct writer *w)
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
static void writer_begin(struct writer *w, size_t n)
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

static void writer_end(struct writer *w)
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

static void run_from_npy(struct opts *o)
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

		d = (double)v;
		if (errno || *end || llabs(v) > (1LL << 53))
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

static void run_from_tsv(const struct opts *o)
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

/* ------------------------------------------------------------------ main */

static size_t parse_batch(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || s[0] == '-' || v == 0 || v > (1ULL << 24))
		bad_usage("--batch '%s': expected rows per frame, 1 to %llu", s, 1ULL << 24);
	return (size_t)v;
}

static void set_mode(struct opts *o, enum mode m, const char *flag)
{
	if (o->mode != M_JSON && o->mode != m)
		bad_usage("%s cannot be combined with another mode", flag);
	o->mode = m;
}

enum {
	O_TSV = SB_OPT_FIRST_PRIVATE, O_NPY, O_FROM_NPY, O_FROM_TSV, O_TEXT, O_UNPAD,
	O_TIMEOUT, O_SALVAGE, O_MODEL, O_DIM
};

static const struct option longopts[] = {
	{ "input", required_argument, NULL, 'i' },
	{ "output", required_argument, NULL, 'o' },
	{ "full", no_argument, NULL, 'f' },
	{ "tsv", required_argument, NULL, O_TSV },
	{ "with-text", no_argument, NULL, 't' },
	{ "unpad", no_argument, NULL, O_UNPAD },
	{ "npy", required_argument, NULL, O_NPY },
	{ "check", no_argument, NULL, 'c' },
	{ "frames", no_argument, NULL, 'F' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "from-npy", required_argument, NULL, O_FROM_NPY },
	{ "from-tsv", required_argument, NULL, O_FROM_TSV },
	{ "kind", required_argument, NULL, 'k' },
	{ "batch", required_argument, NULL, 'b' },
	{ "text", required_argument, NULL, O_TEXT },
	{ "meta", required_argument, NULL, 'm' },
	{ "help", no_argument, NULL, 'h' },
	{ "max-msg-bytes", required_argument, NULL, SB_OPT_MAX_MSG },
	{ "curve-secret", required_argument, NULL, SB_OPT_CURVE_SECRET },
	{ "curve-server", required_argument, NULL, SB_OPT_CURVE_SERVER },
	{ "curve-allow", required_argument, NULL, SB_OPT_CURVE_ALLOW },
	{ "insecure", no_argument, NULL, SB_OPT_INSECURE },
	{ "version", no_argument, NULL, SB_OPT_VERSION },
	{ "verbose", no_argument, NULL, 'v' },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "salvage", no_argument, NULL, O_SALVAGE },
	{ "model", required_argument, NULL, O_MODEL },
	{ "dim", required_argument, NULL, O_DIM },
	{ NULL, 0, NULL, 0 }
};

/* What the command line says beyond struct opts. */
struct cli {
	int kind_set, version, verbose;
};

/* --dim N: a width of 1 to 2^31. */
static size_t parse_dim(const char *arg)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || *end || arg[0] == '-' || v == 0 || v > (1ULL << 31))
		bad_usage("--dim '%s': expected a width, 1 to %llu", arg, 1ULL << 31);
	return (size_t)v;
}

/* --timeout SECONDS: 0 (none) is -1 ms. */
static int parse_timeout(const char *arg)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || *end || end == arg || v < 0 || v > INT_MAX / 1000)
		bad_usage("--timeout '%s': expected seconds", arg);
	return v ? (int)v * 1000 : -1;
}

/* The options that build frames (--from-npy, --from-tsv and their settings). */
static void parse_build_option(struct opts *o, struct cli *s, int c, const char *arg)
{
	switch (c) {
	case O_FROM_NPY:
		set_mode(o, M_FROM_NPY, "--from-npy");
		if (o->n_npy == SB_FRAME_MAX_TENSORS)
			bad_usage("more than %d --from-npy arrays", SB_FRAME_MAX_TENSORS);
		split_named(arg, o->kind, &o->npy[o->n_npy].name, &o->npy[o->n_npy].path);
		o->n_npy++;
		break;
	case O_FROM_TSV:
		if (o->from_tsv)
			bad_usage("--from-tsv given twice");
		set_mode(o, M_FROM_TSV, "--from-tsv");
		split_named(arg, o->kind, &o->from_tsv_name, &o->from_tsv);
		break;
	case 'k':
		if (sb_kind_parse(arg, strlen(arg), &o->kind) != SB_OK || o->kind == SB_KIND_END ||
		    o->kind == SB_KIND_TEXT)
			bad_usage("--kind '%s': expected embeddings, tokens, hidden or scores",
				  arg);
		s->kind_set = 1;
		break;
	case 'b': o->batch = parse_batch(arg); break;
	case O_TEXT: o->text_file = arg; break;
	case 'm':
		if (o->n_meta == SB_FRAME_MAX_META)
			bad_usage("more than %d --meta entries", SB_FRAME_MAX_META);
		o->meta[o->n_meta++] = arg;
		break;
	}
}

/* The transport options: --max-msg-bytes, the CurveZMQ keys, --timeout. */
static void parse_link_option(struct opts *o, int c, const char *arg)
{
	switch (c) {
	case SB_OPT_MAX_MSG:
		if (sb_cmd_parse_size(arg, &o->topts.max_msg_bytes) < 0 ||
		    o->topts.max_msg_bytes == 0)
			bad_usage("--max-msg-bytes: invalid size '%s'", arg);
		break;
	case SB_OPT_CURVE_SECRET: o->topts.curve_secret = arg; break;
	case SB_OPT_CURVE_SERVER: o->topts.curve_server = arg; break;
	case SB_OPT_CURVE_ALLOW: o->topts.allow_file = arg; break;
	case SB_OPT_INSECURE: o->topts.insecure = 1; break;
	case O_TIMEOUT: o->topts.timeout_ms = parse_timeout(arg); break;
	}
}

/* One option: -1 when taken, else the exit status (--help, an unknown option). */
static int parse_option(struct opts *o, struct cli *s, int c, const char *arg)
{
	switch (c) {
	case 'i':
		if (o->n_inputs == MAX_INPUTS)
			bad_usage("more than %d inputs", MAX_INPUTS);
		o->inputs[o->n_inputs++] = arg;
		break;
	case 'o': o->output = arg; break;
	case 'f': o->full = 1; break;
	case 't': o->with_text = 1; break;
	case O_UNPAD: o->unpad = 1; break;
	case O_TSV: set_mode(o, M_TSV, "--tsv"); o->tensor = arg; break;
	case O_NPY: set_mode(o, M_NPY, "--npy"); o->tensor = arg; break;
	case 'c': set_mode(o, M_CHECK, "--check"); break;
	case 'F': set_mode(o, M_FRAMES, "--frames"); break;
	case O_SALVAGE: set_mode(o, M_FRAMES, "--salvage"); o->salvage = 1; break;
	case O_MODEL: o->model = arg; break;
	case O_DIM: o->dim = parse_dim(arg); break;
	case 'q': set_mode(o, M_CHECK, "--quiet"); o->quiet = 1; break;
	case O_FROM_NPY: case O_FROM_TSV: case 'k': case 'b': case O_TEXT: case 'm':
		parse_build_option(o, s, c, arg);
		break;
	case SB_OPT_MAX_MSG: case SB_OPT_CURVE_SECRET: case SB_OPT_CURVE_SERVER:
	case SB_OPT_CURVE_ALLOW: case SB_OPT_INSECURE: case O_TIMEOUT:
		parse_link_option(o, c, arg);
		break;
	case 'h':
		usage(stdout);
		return fflush(stdout) == 0 ? 0 : 1;
	case SB_OPT_VERSION: s->version = 1; break;
	case 'v': s->verbose = 1; break;
	default:
		usage(stderr);
		return 2;
	}
	return -1;
}

/* Building frames: no frame inputs, no reading options. */
static void check_building(const struct opts *o, int argc, char **argv, int first_arg)
{
	if (first_arg < argc)
		bad_usage("unexpected argument '%s': --from-npy and --from-tsv take no frame "
			  "inputs", argv[first_arg]);
	if (o->n_inputs)
		bad_usage("--from-npy and --from-tsv take no frame inputs");
	if (o->full || o->unpad)
		bad_usage("--full and --unpad apply to reading frames");
	if (o->mode == M_FROM_NPY && o->with_text)
		bad_usage("-t applies to --tsv and --from-tsv; use --text FILE");
}

/* Reading frames: no building options, each option with its output. */
static void check_reading(struct opts *o, const struct cli *s)
{
	if (s->kind_set || o->text_file || o->n_meta || o->batch != 32)
		bad_usage("--kind, --batch, --text and --meta apply to --from-npy and --from-tsv");
	if ((o->with_text || o->unpad) && o->mode != M_TSV)
		bad_usage("-t and --unpad apply to --tsv");
	if (o->full && o->mode != M_JSON)
		bad_usage("--full applies to the JSON output");
	if (o->mode == M_CHECK && o->output)
		bad_usage("--check and --quiet write no output");
	if (o->n_inputs == 0)
		o->inputs[o->n_inputs++] = "-";
}

/* The options that depend on the mode, and the output.  -1 to go on, else 2. */
static int check_options(struct opts *o, const struct cli *s, int argc, char **argv,
			 int first_arg)
{
	/* -m is --meta KEY=VALUE when building frames and --model MODEL when reading them. */
	if (o->mode != M_FROM_NPY && o->mode != M_FROM_TSV && o->n_meta) {
		if (o->n_meta > 1 || o->model)
			bad_usage("-m MODEL given twice");
		o->model = o->meta[0];
		o->n_meta = 0;
	}
	if (o->model && o->mode != M_JSON && o->mode != M_TSV)
		bad_usage("-m MODEL (token strings) applies to the JSON and --tsv outputs");
	if (o->dim && o->mode != M_NPY)
		bad_usage("--dim applies to --npy");
	if (o->mode == M_FROM_NPY || o->mode == M_FROM_TSV)
		check_building(o, argc, argv, first_arg);
	else
		check_reading(o, s);
	if (o->output && strcmp(o->output, "-") != 0)
		out_name = o->output;
	/* Text and .npy go to files; only frames travel over ZeroMQ. */
	if ((o->mode == M_JSON || o->mode == M_TSV || o->mode == M_NPY) && o->output &&
	    (o->output[0] == '@' || o->output[0] == '>' || strstr(o->output, "://")))
		bad_usage("-o '%s': a ZeroMQ endpoint takes frames (-F, --from-npy, --from-tsv), "
			  "not text or .npy", o->output);
	/* As every program writing frames (cmd/common.c): -o - insists. */
	if ((o->mode == M_NPY || o->mode == M_FRAMES || o->mode == M_FROM_NPY ||
	     o->mode == M_FROM_TSV) &&
	    sb_cmd_no_tty(PROG, o->output, o->mode == M_NPY ? ".npy data" : "frames"))
		return 2;
	return -1;
}

/* -m MODEL: the tokenizer that names token ids.  0, or 1 when the model is not found. */
static int open_model(const struct opts *o)
{
	struct sb_tokenizer_opts topt;
	struct sb_error err;
	struct sb_cmd cmd;
	const char *dir;

	sb_cmd_init(&cmd, PROG);
	dir = sb_cmd_model(&cmd, o->model);
	if (!dir)
		return 1;
	sb_tokenizer_opts_init(&topt);
	if (sb_tokenizer_open(&tok, dir, &topt, &err) != SB_OK)
		die("%s: %s", o->model, err.msg);
	tok_name = o->model;
	snprintf(tok_fingerprint, sizeof tok_fingerprint, "%016llx",
		 (unsigned long long)sb_tokenizer_info(tok)->fingerprint);
	return 0;
}

int main(int argc, char **argv)
{
	static struct opts o;
	struct cli s = { 0 };
	int c, rc, first_arg;

	o.kind = SB_KIND_EMBEDDINGS;
	o.batch = 32;
	o.topts.timeout_ms = -1;
	sb_zmq_init();
	while ((c = getopt_long(argc, argv, "i:o:ftcFqk:b:m:hv", longopts, NULL)) != -1)
		if ((rc = parse_option(&o, &s, c, optarg)) >= 0)
			return rc;
	if (s.version)
		return sb_cmd_version(PROG, s.verbose);
	first_arg = optind;
	for (; optind < argc; optind++) {
		if (o.n_inputs == MAX_INPUTS)
			bad_usage("more than %d inputs", MAX_INPUTS);
		o.inputs[o.n_inputs++] = argv[optind];
	}
	if ((rc = check_options(&o, &s, argc, argv, first_arg)) >= 0)
		return rc;
	if (o.model && open_model(&o))
		return 1;
	/* A closed output pipe is seen as EPIPE and ends the run quietly, instead of a
	 * signal killing us half-way through a write. */
	signal(SIGPIPE, SIG_IGN);
	switch (o.mode) {
	case M_FROM_NPY: run_from_npy(&o); break;
	case M_FROM_TSV: run_from_tsv(&o); break;
	default: run_reader(&o); break;
	}
	sb_tokenizer_close(&tok);
	return 0;
}
