/*
 * cat_print.c - sb-cat's text output: a frame as one JSON line (its tensors summed up or
 * in full, token ids as the strings of -m MODEL) and one tensor as TSV rows.  Each frame
 * is formatted into a buffer (struct out) that the reader writes whole.
 */
#include <config.h>

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cat.h"
#include "internal.h"
#include "tokenizer.h"

#define HEAD_VALUES 4           /* values shown by the default summary */

/* -m MODEL: the tokenizer that turns ids into token strings, and its fingerprint as the
 * tokens frames' meta spells it. */
struct sb_tokenizer *tok;
const char *tok_name;    /* MODEL as given, for messages */
char tok_fingerprint[24];

/* ------------------------------------------------------------------ text output */

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

double get_f(const struct sb_tensor *t, size_t i)
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

void o_frame_json(struct out *o, const struct sb_frame *f, int full, const char *where)
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

/* ------------------------------------------------------------------ TSV */

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

const struct sb_tensor *want_tensor(const struct sb_frame *f, const char *name,
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

void tsv_frame(struct reader *r, const char *where)
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
