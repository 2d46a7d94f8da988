/*
 * frame.c - the frame codec: encoding with msgpack-c's packer, decoding with a
 * schema-driven reader that bounds every length by the bytes that remain, and an
 * incremental delimiter for frames concatenated on a byte stream.
 *
 * msgpack-c's own unpacker is not used for decoding: it allocates whatever a length
 * field claims (an array32 header of 0xffffffff asks for ~96 GB) and nests without a
 * useful bound.  The frame schema is fixed and shallow, so a direct reader is both
 * safer and simpler.
 */
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "mpread.h"
#include "internal.h"

static const char *const kind_names[] = {
	[SB_KIND_TOKENS] = "tokens",
	[SB_KIND_HIDDEN] = "hidden",
	[SB_KIND_EMBEDDINGS] = "embeddings",
	[SB_KIND_SCORES] = "scores",
	[SB_KIND_END] = "end",
	[SB_KIND_TEXT] = "text",
};

const char *sb_kind_name(enum sb_kind k)
{
	return (unsigned)k <= SB_KIND_TEXT ? kind_names[k] : "invalid";
}

int sb_kind_parse(const char *s, size_t n, enum sb_kind *out)
{
	/* "text" is internal to a process and never accepted from the wire. */
	for (int k = SB_KIND_TOKENS; k <= SB_KIND_END; k++) {
		if (strlen(kind_names[k]) == n && memcmp(kind_names[k], s, n) == 0) {
			*out = (enum sb_kind)k;
			return SB_OK;
		}
	}
	return SB_EFORMAT;
}

void sb_frame_init(struct sb_frame *f)
{
	memset(f, 0, sizeof *f);
	f->version = SB_FRAME_VERSION;
	f->kind = SB_KIND_TOKENS;
}

static void free_text(struct sb_frame *f)
{
	if (f->text) {
		for (size_t i = 0; i < f->text_cap; i++) {
			free(f->text[i].p);
			f->text[i].p = NULL;
			f->text[i].n = 0;
		}
	}
	f->has_text = 0;
}

static void free_meta(struct sb_frame *f)
{
	for (size_t i = 0; i < f->n_meta; i++) {
		if (f->meta[i].type == SB_META_STR)
			free(f->meta[i].v.s.p);
	}
	f->n_meta = 0;
}

void sb_frame_reset(struct sb_frame *f)
{
	free_text(f);
	free_meta(f);
	/* Views are dropped; owned storage stays in its slot for reuse. */
	for (size_t i = 0; i < SB_FRAME_MAX_TENSORS; i++) {
		if (!f->tensors[i].t.owned)
			memset(&f->tensors[i].t, 0, sizeof f->tensors[i].t);
		f->tensors[i].name[0] = '\0';
	}
	f->n_tensors = 0;
	f->version = SB_FRAME_VERSION;
	f->seq = f->rows = f->rows_total = 0;
	f->text_continued = f->text_partial = 0;
}

void sb_frame_destroy(struct sb_frame *f)
{
	sb_frame_reset(f);
	for (size_t i = 0; i < SB_FRAME_MAX_TENSORS; i++)
		sb_tensor_destroy(&f->tensors[i].t);
	free(f->text);
	sb_frame_init(f);
}

struct sb_tensor *sb_frame_tensor(const struct sb_frame *f, const char *name)
{
	for (size_t i = 0; i < f->n_tensors; i++) {
		if (strcmp(f->tensors[i].name, name) == 0)
			return (struct sb_tensor *)&f->tensors[i].t;
	}
	return NULL;
}

/* Finds the slot for name: its current slot, else the next free one (with whatever
 * storage was cached there). */
static int slot_for(struct sb_frame *f, const char *name, size_t *slot, struct sb_error *err)
{
	if (strlen(name) >= SB_FRAME_NAME_MAX)
		return sb_error_set(err, SB_ELIMIT, "frame: tensor name '%.40s...' too long", name);
	for (size_t i = 0; i < f->n_tensors; i++) {
		if (strcmp(f->tensors[i].name, name) == 0) {
			*slot = i;
			return SB_OK;
		}
	}
	if (f->n_tensors >= SB_FRAME_MAX_TENSORS)
		return sb_error_set(err, SB_ELIMIT, "frame: more than %d tensors",
				    SB_FRAME_MAX_TENSORS);
	*slot = f->n_tensors++;
	strcpy(f->tensors[*slot].name, name);
	return SB_OK;
}

int sb_frame_tensor_resize(struct sb_frame *f, const char *name, enum sb_dtype dt, int n_dims,
			   const size_t *shape, struct sb_tensor **out, struct sb_error *err)
{
	size_t slot;
	int rc;

	rc = slot_for(f, name, &slot, err);
	if (rc)
		return rc;
	rc = sb_tensor_resize(&f->tensors[slot].t, dt, n_dims, shape, err);
	if (rc) {
		/* Leave no half-made tensor behind. */
		if (slot == f->n_tensors - 1)
			f->n_tensors--;
		return rc;
	}
	if (out)
		*out = &f->tensors[slot].t;
	return SB_OK;
}

int sb_frame_add_tensor(struct sb_frame *f, const char *name, struct sb_tensor *t,
			struct sb_error *err)
{
	size_t slot;
	int rc;

	rc = slot_for(f, name, &slot, err);
	if (rc)
		return rc;
	sb_tensor_destroy(&f->tensors[slot].t);
	f->tensors[slot].t = *t;
	memset(t, 0, sizeof *t);
	return SB_OK;
}

int sb_frame_text_alloc(struct sb_frame *f, size_t rows, struct sb_error *err)
{
	free_text(f);
	if (rows > f->text_cap) {
		struct sb_text *p = realloc(f->text, rows * sizeof *p);

		if (!p || rows > SIZE_MAX / sizeof *p)
			return sb_error_set(err, SB_ENOMEM, "frame: cannot allocate %zu texts", rows);
		memset(p + f->text_cap, 0, (rows - f->text_cap) * sizeof *p);
		f->text = p;
		f->text_cap = rows;
	}
	f->has_text = 1;
	return SB_OK;
}

int sb_frame_text_set(struct sb_frame *f, size_t i, const char *s, size_t n, struct sb_error *err)
{
	char *p;

	if (i >= f->text_cap)
		return sb_error_set(err, SB_EINVAL, "frame: text index %zu out of range", i);
	p = malloc(n + 1);
	if (!p)
		return sb_error_set(err, SB_ENOMEM, "frame: cannot allocate %zu bytes of text", n);
	if (n)
		memcpy(p, s, n);        /* s may be NULL when n is 0 */
	p[n] = '\0';
	free(f->text[i].p);
	f->text[i].p = p;
	f->text[i].n = n;
	return SB_OK;
}

static int meta_slot(struct sb_frame *f, const char *key, struct sb_meta **out,
		     struct sb_error *err)
{
	struct sb_meta *m;

	if (strlen(key) >= SB_FRAME_NAME_MAX)
		return sb_error_set(err, SB_ELIMIT, "frame: meta key '%.40s...' too long", key);
	for (size_t i = 0; i < f->n_meta; i++) {
		if (strcmp(f->meta[i].key, key) == 0) {
			m = &f->meta[i];
			if (m->type == SB_META_STR)
				free(m->v.s.p);
			m->type = SB_META_NIL;
			*out = m;
			return SB_OK;
		}
	}
	if (f->n_meta >= SB_FRAME_MAX_META)
		return sb_error_set(err, SB_ELIMIT, "frame: more than %d meta entries",
				    SB_FRAME_MAX_META);
	m = &f->meta[f->n_meta++];
	strcpy(m->key, key);
	m->type = SB_META_NIL;
	*out = m;
	return SB_OK;
}

static int meta_str_n(struct sb_frame *f, const char *key, const char *s, size_t n,
		      struct sb_error *err)
{
	struct sb_meta *m;
	char *p;
	int rc;

	p = malloc(n + 1);
	if (!p)
		return sb_error_set(err, SB_ENOMEM, "frame: cannot allocate meta string");
	if (n)
		memcpy(p, s, n);
	p[n] = '\0';
	rc = meta_slot(f, key, &m, err);
	if (rc) {
		free(p);
		return rc;
	}
	m->type = SB_META_STR;
	m->v.s.p = p;
	m->v.s.n = n;
	return SB_OK;
}

int sb_frame_meta_str(struct sb_frame *f, const char *key, const char *s, struct sb_error *err)
{
	return meta_str_n(f, key, s, strlen(s), err);
}

#define META_SETTER(fn, ctype, tag, field)                                              \
	int fn(struct sb_frame *f, const char *key, ctype v, struct sb_error *err)      \
	{                                                                               \
		struct sb_meta *m;                                                      \
		int rc = meta_slot(f, key, &m, err);                                    \
		if (rc)                                                                 \
			return rc;                                                      \
		m->type = tag;                                                          \
		m->v.field = v;                                                         \
		return SB_OK;                                                           \
	}

META_SETTER(sb_frame_meta_int, int64_t, SB_META_INT, i)
META_SETTER(sb_frame_meta_uint, uint64_t, SB_META_UINT, u)
META_SETTER(sb_frame_meta_float, double, SB_META_FLOAT, f)
META_SETTER(sb_frame_meta_bool, int, SB_META_BOOL, b)

const struct sb_meta *sb_frame_meta_get(const struct sb_frame *f, const char *key)
{
	for (size_t i = 0; i < f->n_meta; i++) {
		if (strcmp(f->meta[i].key, key) == 0)
			return &f->meta[i];
	}
	return NULL;
}

int sb_frame_meta_copy(struct sb_frame *dst, const struct sb_frame *src, struct sb_error *err)
{
	for (size_t i = 0; i < src->n_meta; i++) {
		const struct sb_meta *m = &src->meta[i];
		struct sb_meta *d;
		int rc;

		if (m->type == SB_META_STR) {
			rc = meta_str_n(dst, m->key, m->v.s.p, m->v.s.n, err);
		} else {
			rc = meta_slot(dst, m->key, &d, err);
			if (!rc) {
				d->type = m->type;
				d->v = m->v;
			}
		}
		if (rc)
			return rc;
	}
	return SB_OK;
}

int sb_frame_check_tensor(const struct sb_frame *f, const char *name, enum sb_dtype dt,
			  int n_dims, struct sb_tensor **out, struct sb_error *err)
{
	struct sb_tensor *t = sb_frame_tensor(f, name);
	char s[160];

	if (!t)
		return sb_error_set(err, SB_EFORMAT, "%s frame: no tensor '%s'",
				    sb_kind_name(f->kind), name);
	if (t->dtype != dt)
		return sb_error_set(err, SB_EFORMAT, "%s frame: tensor '%s': dtype %s, expected %s",
				    sb_kind_name(f->kind), name, sb_dtype_name(t->dtype),
				    sb_dtype_name(dt));
	if (t->n_dims != n_dims || t->shape[0] != f->rows)
		return sb_error_set(err, SB_EFORMAT,
				    "%s frame: tensor '%s': shape %s, expected %d dimensions "
				    "with %llu rows", sb_kind_name(f->kind), name,
				    sb_shape_str(t->n_dims, t->shape, s, sizeof s), n_dims,
				    (unsigned long long)f->rows);
	if (out)
		*out = t;
	return SB_OK;
}

/* ---- encoding ---- */

struct wctx {
	struct sb_buf *out;
	struct sb_error *err;
	int rc;
};

static int write_cb(void *data, const char *buf, size_t len)
{
	struct wctx *w = data;

	if (w->rc)
		return -1;
	w->rc = sb_buf_append(w->out, buf, len, w->err);
	return w->rc ? -1 : 0;
}

static void pack_cstr(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);

	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static int check_for_encode(const struct sb_frame *f, struct sb_error *err)
{
	char s[160];

	if (f->kind == SB_KIND_TEXT || (unsigned)f->kind > SB_KIND_TEXT)
		return sb_error_set(err, SB_EINVAL, "frame: kind %s cannot be written",
				    sb_kind_name(f->kind));
	if (f->kind == SB_KIND_END)
		return SB_OK;
	for (size_t i = 0; i < f->n_tensors; i++) {
		const struct sb_tensor *t = &f->tensors[i].t;
		size_t nbytes;
		int rc = sb_shape_size(t->dtype, t->n_dims, t->shape, NULL, &nbytes, err);

		if (rc)
			return rc;
		if (nbytes != t->nbytes || (nbytes && !t->data))
			return sb_error_set(err, SB_EINVAL, "frame: tensor '%s': %zu bytes for shape %s",
					    f->tensors[i].name, t->nbytes,
					    sb_shape_str(t->n_dims, t->shape, s, sizeof s));
		if (t->n_dims < 1 || t->shape[0] != f->rows)
			return sb_error_set(err, SB_EINVAL, "frame: tensor '%s': shape %s, "
					    "frame has %llu rows", f->tensors[i].name,
					    sb_shape_str(t->n_dims, t->shape, s, sizeof s),
					    (unsigned long long)f->rows);
	}
	return SB_OK;
}

int sb_frame_encode(const struct sb_frame *f, struct sb_buf *out, struct sb_error *err)
{
	struct wctx w = { out, err, SB_OK };
	msgpack_packer pk;
	size_t start = out->len, n_keys;
	int rc;

	rc = check_for_encode(f, err);
	if (rc)
		return rc;
	msgpack_packer_init(&pk, &w, write_cb);
	if (f->kind == SB_KIND_END) {
		msgpack_pack_map(&pk, 3);
		pack_cstr(&pk, "sb");
		msgpack_pack_uint32(&pk, f->version);
		pack_cstr(&pk, "kind");
		pack_cstr(&pk, "end");
		pack_cstr(&pk, "rows_total");
		msgpack_pack_uint64(&pk, f->rows_total);
		goto done;
	}
	n_keys = 5 + (f->has_text ? 1 : 0) + (f->n_meta ? 1 : 0);
	msgpack_pack_map(&pk, n_keys);
	pack_cstr(&pk, "sb");
	msgpack_pack_uint32(&pk, f->version);
	pack_cstr(&pk, "kind");
	pack_cstr(&pk, sb_kind_name(f->kind));
	pack_cstr(&pk, "seq");
	msgpack_pack_uint64(&pk, f->seq);
	pack_cstr(&pk, "rows");
	msgpack_pack_uint64(&pk, f->rows);
	pack_cstr(&pk, "tensors");
	msgpack_pack_map(&pk, f->n_tensors);
	for (size_t i = 0; i < f->n_tensors; i++) {
		const struct sb_tensor *t = &f->tensors[i].t;

		pack_cstr(&pk, f->tensors[i].name);
		msgpack_pack_map(&pk, 3);
		pack_cstr(&pk, "dtype");
		pack_cstr(&pk, sb_dtype_name(t->dtype));
		pack_cstr(&pk, "shape");
		msgpack_pack_array(&pk, (size_t)t->n_dims);
		for (int d = 0; d < t->n_dims; d++)
			msgpack_pack_uint64(&pk, t->shape[d]);
		pack_cstr(&pk, "data");
		msgpack_pack_bin(&pk, t->nbytes);
		msgpack_pack_bin_body(&pk, t->data, t->nbytes);
	}
	if (f->has_text) {
		pack_cstr(&pk, "text");
		msgpack_pack_array(&pk, f->rows);
		for (size_t i = 0; i < f->rows; i++) {
			const struct sb_text *t = &f->text[i];

			msgpack_pack_str(&pk, t->n);
			msgpack_pack_str_body(&pk, t->p ? t->p : "", t->n);
		}
	}
	if (f->n_meta) {
		pack_cstr(&pk, "meta");
		msgpack_pack_map(&pk, f->n_meta);
		for (size_t i = 0; i < f->n_meta; i++) {
			const struct sb_meta *m = &f->meta[i];

			pack_cstr(&pk, m->key);
			switch (m->type) {
			case SB_META_NIL: msgpack_pack_nil(&pk); break;
			case SB_META_BOOL:
				if (m->v.b)
					msgpack_pack_true(&pk);
				else
					msgpack_pack_false(&pk);
				break;
			case SB_META_INT: msgpack_pack_int64(&pk, m->v.i); break;
			case SB_META_UINT: msgpack_pack_uint64(&pk, m->v.u); break;
			case SB_META_FLOAT: msgpack_pack_double(&pk, m->v.f); break;
			case SB_META_STR:
				msgpack_pack_str(&pk, m->v.s.n);
				msgpack_pack_str_body(&pk, m->v.s.p, m->v.s.n);
				break;
			}
		}
	}
done:
	if (w.rc) {
		out->len = start;
		return w.rc;
	}
	return SB_OK;
}

/* ---- decoding ---- */

static int rd_tensor(struct sb_mpread *r, struct sb_frame *f, const unsigned char *name,
		     size_t name_len)
{
	uint64_t count, nd = 0, dim;
	const unsigned char *k, *dt_s = NULL, *data = NULL;
	size_t kn, dt_n = 0, data_n = 0, nbytes, shape[SB_TENSOR_MAX_DIMS];
	int have_shape = 0, rc;
	enum sb_dtype dt;
	char cname[SB_FRAME_NAME_MAX], what[128], s[160];
	struct sb_tensor *t;
	size_t at = r->pos;

	if (name_len >= SB_FRAME_NAME_MAX)
		return sb_mpread_fail(r, SB_EFORMAT, "tensor name too long");
	memcpy(cname, name, name_len);
	cname[name_len] = '\0';
	if (memchr(cname, '\0', name_len))
		return sb_mpread_fail(r, SB_EFORMAT, "tensor name contains NUL");
	snprintf(what, sizeof what, "tensor '%s'", cname);
	rc = sb_mpread_container(r, 'm', &count, what);
	if (rc)
		return rc;
	for (uint64_t i = 0; i < count; i++) {
		rc = sb_mpread_bytes(r, 's', &k, &kn, "tensor key");
		if (rc)
			return rc;
		if (sb_mpread_key_is(k, kn, "dtype")) {
			rc = sb_mpread_bytes(r, 's', &dt_s, &dt_n, what);
		} else if (sb_mpread_key_is(k, kn, "shape")) {
			rc = sb_mpread_container(r, 'a', &nd, what);
			if (rc)
				return rc;
			if (nd > SB_TENSOR_MAX_DIMS) {
				snprintf(s, sizeof s, "%s: %llu dimensions, at most %d", what,
					 (unsigned long long)nd, SB_TENSOR_MAX_DIMS);
				return sb_mpread_fail(r, SB_EFORMAT, s);
			}
			for (uint64_t d = 0; d < nd; d++) {
				rc = sb_mpread_uint(r, &dim, "tensor dimension");
				if (rc)
					return rc;
				if (dim > SIZE_MAX)
					return sb_mpread_fail(r, SB_ELIMIT, "tensor dimension too large");
				shape[d] = (size_t)dim;
			}
			have_shape = 1;
		} else if (sb_mpread_key_is(k, kn, "data")) {
			rc = sb_mpread_bytes(r, 'b', &data, &data_n, what);
		} else {
			rc = sb_mpread_skip(r);
		}
		if (rc)
			return rc;
	}
	if (!dt_s || !have_shape || !data) {
		r->pos = at;
		snprintf(s, sizeof s, "%s: missing '%s'", what,
			 !dt_s ? "dtype" : !have_shape ? "shape" : "data");
		return sb_mpread_fail(r, SB_EFORMAT, s);
	}
	if (sb_dtype_parse((const char *)dt_s, dt_n, &dt) != SB_OK) {
		r->pos = at;
		snprintf(s, sizeof s, "%s: unknown dtype '%.*s'", what, (int)(dt_n > 32 ? 32 : dt_n),
			 (const char *)dt_s);
		return sb_mpread_fail(r, SB_EUNSUPPORTED, s);
	}
	if (sb_shape_size(dt, (int)nd, shape, NULL, &nbytes, NULL) != SB_OK) {
		r->pos = at;
		snprintf(s, sizeof s, "%s: shape ", what);
		sb_shape_str((int)nd, shape, s + strlen(s), sizeof s - strlen(s));
		strncat(s, " overflows", sizeof s - strlen(s) - 1);
		return sb_mpread_fail(r, SB_ELIMIT, s);
	}
	if (nbytes != data_n) {
		char sh[100];

		r->pos = at;
		snprintf(s, sizeof s, "%s: %zu bytes of data, shape %s of %s needs %zu", what, data_n,
			 sb_shape_str((int)nd, shape, sh, sizeof sh), sb_dtype_name(dt), nbytes);
		return sb_mpread_fail(r, SB_EFORMAT, s);
	}
	if (sb_frame_tensor(f, cname)) {
		r->pos = at;
		snprintf(s, sizeof s, "%s: the name appears twice", what);
		return sb_mpread_fail(r, SB_EFORMAT, s);
	}
	/* Copy into aligned storage (reused across frames): the message bytes are not
	 * aligned for float or int64 access. */
	rc = sb_frame_tensor_resize(f, cname, dt, (int)nd, shape, &t, r->err);
	if (rc)
		return rc;
	if (nbytes)
		memcpy(t->data, data, nbytes);
	return SB_OK;
}

static int rd_meta_value(struct sb_mpread *r, struct sb_frame *f, const char *key)
{
	unsigned char b;
	const unsigned char *s;
	size_t sn;
	int rc;

	if (sb_mpread_need(r, 1))
		return SB_EFORMAT;
	b = r->p[r->pos];
	if ((b >= 0x80 && b <= 0x9f) || (b >= 0xdc && b <= 0xdf)) {
		char msg[SB_FRAME_NAME_MAX + 80];

		snprintf(msg, sizeof msg, "meta '%s': %s, expected nil, bool, number or string",
			 key, (b >= 0x80 && b <= 0x8f) || b >= 0xde ? "a map" : "an array");
		return sb_mpread_fail(r, SB_EFORMAT, msg);
	}
	if (b == 0xc0) {
		struct sb_meta *m;

		r->pos++;
		return meta_slot(f, key, &m, r->err);
	}
	if (b == 0xc2 || b == 0xc3) {
		r->pos++;
		return sb_frame_meta_bool(f, key, b == 0xc3, r->err);
	}
	if (b == 0xca || b == 0xcb) {
		int k = b == 0xca ? 4 : 8;
		uint64_t bits;
		double d;

		if (sb_mpread_need(r, 1 + (size_t)k))
			return SB_EFORMAT;
		bits = sb_mpread_be(r->p + r->pos + 1, k);
		if (k == 4) {
			uint32_t b32 = (uint32_t)bits;
			float fl;

			memcpy(&fl, &b32, 4);
			d = fl;
		} else {
			memcpy(&d, &bits, 8);
		}
		r->pos += 1 + (size_t)k;
		return sb_frame_meta_float(f, key, d, r->err);
	}
	if ((b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb)) {
		rc = sb_mpread_bytes(r, 's', &s, &sn, "meta value");
		if (rc)
			return rc;
		return meta_str_n(f, key, (const char *)s, sn, r->err);
	}
	{
		uint64_t u;
		int neg;

		rc = sb_mpread_int(r, &u, &neg, "meta value (nil, bool, number or string)");
		if (rc)
			return rc;
		return neg ? sb_frame_meta_int(f, key, (int64_t)u, r->err)
			   : sb_frame_meta_uint(f, key, u, r->err);
	}
}

/* The top-level keys of a frame: scalars, and where the containers start. */
struct head {
	struct sb_frame_head h;
	unsigned version;
	size_t tensors_at, text_at, meta_at;
	int have_sb, have_kind, have_seq, have_rows, have_total;
	int have_tensors, have_text, have_meta;
};

/* A key seen twice: the wire format has no use for it and a reader must not guess. */
static int key_twice(const struct head *hd, const unsigned char *k, size_t kn)
{
	return (sb_mpread_key_is(k, kn, "sb") && hd->have_sb) ||
	       (sb_mpread_key_is(k, kn, "kind") && hd->have_kind) ||
	       (sb_mpread_key_is(k, kn, "seq") && hd->have_seq) ||
	       (sb_mpread_key_is(k, kn, "rows") && hd->have_rows) ||
	       (sb_mpread_key_is(k, kn, "rows_total") && hd->have_total) ||
	       (sb_mpread_key_is(k, kn, "tensors") && hd->have_tensors) ||
	       (sb_mpread_key_is(k, kn, "text") && hd->have_text) ||
	       (sb_mpread_key_is(k, kn, "meta") && hd->have_meta);
}

/* Reads the value of top-level key k into hd (containers are skipped, their start kept). */
static int rd_head_value(struct sb_mpread *r, struct head *hd, const unsigned char *k, size_t kn)
{
	const unsigned char *s;
	size_t sn;
	uint64_t u;
	char msg[200];
	int rc;

	if (sb_mpread_key_is(k, kn, "sb")) {
		rc = sb_mpread_uint(r, &u, "'sb'");
		if (!rc && u != SB_FRAME_VERSION) {
			snprintf(msg, sizeof msg, "unknown sb version %llu (this program reads %d)",
				 (unsigned long long)u, SB_FRAME_VERSION);
			return sb_mpread_fail(r, SB_EUNSUPPORTED, msg);
		}
		hd->version = (unsigned)u;
		hd->have_sb = 1;
	} else if (sb_mpread_key_is(k, kn, "kind")) {
		rc = sb_mpread_bytes(r, 's', &s, &sn, "'kind'");
		if (!rc && sb_kind_parse((const char *)s, sn, &hd->h.kind) != SB_OK) {
			snprintf(msg, sizeof msg, "unknown kind '%.*s'", (int)(sn > 32 ? 32 : sn),
				 (const char *)s);
			return sb_mpread_fail(r, SB_EFORMAT, msg);
		}
		hd->have_kind = 1;
	} else if (sb_mpread_key_is(k, kn, "seq")) {
		rc = sb_mpread_uint(r, &hd->h.seq, "'seq'");
		hd->have_seq = 1;
	} else if (sb_mpread_key_is(k, kn, "rows")) {
		rc = sb_mpread_uint(r, &hd->h.rows, "'rows'");
		hd->have_rows = 1;
	} else if (sb_mpread_key_is(k, kn, "rows_total")) {
		rc = sb_mpread_uint(r, &hd->h.rows_total, "'rows_total'");
		hd->have_total = 1;
	} else if (sb_mpread_key_is(k, kn, "tensors")) {
		hd->tensors_at = r->pos;
		hd->have_tensors = 1;
		rc = sb_mpread_skip(r);
	} else if (sb_mpread_key_is(k, kn, "text")) {
		hd->text_at = r->pos;
		hd->have_text = 1;
		rc = sb_mpread_skip(r);
	} else if (sb_mpread_key_is(k, kn, "meta")) {
		hd->meta_at = r->pos;
		hd->have_meta = 1;
		rc = sb_mpread_skip(r);
	} else {
		rc = sb_mpread_skip(r);        /* unknown keys: ignored, for forward compatibility */
	}
	return rc;
}

/*
 * Pass 1 of a decode: the map's keys in any order, the scalars read, the containers
 * skipped (and so bounded) with their start kept, and the keys the frame's kind needs
 * checked.  r->pos is 0 again on success.
 */
static int rd_head(struct sb_mpread *r, struct head *hd)
{
	const unsigned char *k;
	uint64_t count;
	size_t kn;
	char msg[200];
	int rc;

	memset(hd, 0, sizeof *hd);
	rc = sb_mpread_container(r, 'm', &count, "frame");
	if (rc)
		return rc;
	for (uint64_t i = 0; i < count; i++) {
		size_t key_at = r->pos;

		rc = sb_mpread_bytes(r, 's', &k, &kn, "frame key");
		if (rc)
			return rc;
		if (key_twice(hd, k, kn)) {
			r->pos = key_at;
			snprintf(msg, sizeof msg, "key '%.*s' appears twice", (int)kn, (const char *)k);
			return sb_mpread_fail(r, SB_EFORMAT, msg);
		}
		rc = rd_head_value(r, hd, k, kn);
		if (rc)
			return rc;
	}
	if (r->pos != r->n) {
		snprintf(msg, sizeof msg, "%zu trailing bytes after the frame", r->n - r->pos);
		return sb_mpread_fail(r, SB_EFORMAT, msg);
	}
	r->pos = 0;
	if (!hd->have_sb)
		return sb_mpread_fail(r, SB_EFORMAT, "frame without 'sb' version");
	if (!hd->have_kind)
		return sb_mpread_fail(r, SB_EFORMAT, "frame without 'kind'");
	if (hd->h.kind == SB_KIND_END) {
		if (!hd->have_total)
			return sb_mpread_fail(r, SB_EFORMAT, "end frame without 'rows_total'");
		return SB_OK;
	}
	if (!hd->have_seq || !hd->have_rows || !hd->have_tensors) {
		snprintf(msg, sizeof msg, "%s frame without '%s'", sb_kind_name(hd->h.kind),
			 !hd->have_seq ? "seq" : !hd->have_rows ? "rows" : "tensors");
		return sb_mpread_fail(r, SB_EFORMAT, msg);
	}
	return SB_OK;
}

int sb_frame_peek(const void *p, size_t n, struct sb_frame_head *h, struct sb_error *err)
{
	struct sb_mpread r = { p, n, 0, err };
	struct head hd;
	int rc = rd_head(&r, &hd);

	memset(h, 0, sizeof *h);
	if (!rc)
		*h = hd.h;
	return rc;
}

int sb_frame_decode(const void *p, size_t n, struct sb_frame *f, struct sb_error *err)
{
	struct sb_mpread r = { p, n, 0, err };
	struct head hd;
	uint64_t count, text_n = 0;
	const unsigned char *k, *s;
	size_t kn, sn;
	int rc;
	char msg[200];

	sb_frame_reset(f);
	rc = rd_head(&r, &hd);
	if (rc)
		return rc;
	f->version = hd.version;
	f->kind = hd.h.kind;
	f->seq = hd.h.seq;
	f->rows = hd.h.rows;
	f->rows_total = hd.h.rows_total;
	if (f->kind == SB_KIND_END)
		return SB_OK;
	r.pos = hd.tensors_at;
	rc = sb_mpread_container(&r, 'm', &count, "'tensors'");
	if (rc)
		return rc;
	for (uint64_t i = 0; i < count; i++) {
		struct sb_tensor *t;

		rc = sb_mpread_bytes(&r, 's', &k, &kn, "tensor name");
		if (rc)
			return rc;
		rc = rd_tensor(&r, f, k, kn);
		if (rc)
			return rc;
		t = &f->tensors[f->n_tensors - 1].t;
		if (t->n_dims < 1 || t->shape[0] != f->rows) {
			char sh[100];

			snprintf(msg, sizeof msg, "tensor '%s': shape %s, frame has %llu rows",
				 f->tensors[f->n_tensors - 1].name,
				 sb_shape_str(t->n_dims, t->shape, sh, sizeof sh),
				 (unsigned long long)f->rows);
			return sb_mpread_fail(&r, SB_EFORMAT, msg);
		}
	}
	if (hd.have_text) {
		r.pos = hd.text_at;
		rc = sb_mpread_container(&r, 'a', &text_n, "'text'");
		if (rc)
			return rc;
		if (text_n != f->rows) {
			snprintf(msg, sizeof msg, "'text' has %llu entries, frame has %llu rows",
				 (unsigned long long)text_n, (unsigned long long)f->rows);
			return sb_mpread_fail(&r, SB_EFORMAT, msg);
		}
		rc = sb_frame_text_alloc(f, (size_t)text_n, err);
		if (rc)
			return rc;
		for (uint64_t i = 0; i < text_n; i++) {
			rc = sb_mpread_bytes(&r, 's', &s, &sn, "'text' entry");
			if (!rc)
				rc = sb_frame_text_set(f, (size_t)i, (const char *)s, sn, err);
			if (rc)
				return rc;
		}
	} else if (f->rows > SIZE_MAX / 2) {
		return sb_mpread_fail(&r, SB_ELIMIT, "row count too large");
	}
	if (hd.have_meta) {
		r.pos = hd.meta_at;
		rc = sb_mpread_container(&r, 'm', &count, "'meta'");
		if (rc)
			return rc;
		for (uint64_t i = 0; i < count; i++) {
			char key[SB_FRAME_NAME_MAX];

			rc = sb_mpread_bytes(&r, 's', &k, &kn, "meta key");
			if (rc)
				return rc;
			if (kn >= sizeof key || memchr(k, '\0', kn))
				return sb_mpread_fail(&r, SB_EFORMAT, "meta key too long or with NUL");
			memcpy(key, k, kn);
			key[kn] = '\0';
			rc = rd_meta_value(&r, f, key);
			if (rc)
				return rc;
		}
	}
	return SB_OK;
}

/* ---- delimiting ---- */

void sb_frame_scan_init(struct sb_frame_scan *s, size_t max_bytes)
{
	s->pos = 0;
	s->pending = 1;
	s->max_bytes = max_bytes ? max_bytes : SB_FRAME_DEFAULT_MAX_BYTES;
}

int sb_frame_scan(struct sb_frame_scan *s, const void *buf, size_t n, size_t *size,
		  struct sb_error *err)
{
	const unsigned char *p = buf;

	while (s->pending > 0) {
		unsigned char b;
		size_t hdr = 1;
		uint64_t payload = 0, children = 0, end;

		if (s->pos >= n)
			return SB_EAGAIN;
		b = p[s->pos];
		if (b <= 0x7f || b >= 0xe0 || (b >= 0xc0 && b <= 0xc3 && b != 0xc1)) {
			/* fixint, nil, bool */
		} else if (b <= 0x8f) {
			children = 2 * (uint64_t)(b & 0x0f);
		} else if (b <= 0x9f) {
			children = b & 0x0f;
		} else if (b <= 0xbf) {
			payload = b & 0x1f;
		} else if (b == 0xc1) {
			return sb_error_set(err, SB_EFORMAT, "byte %zu: 0xc1 is not MessagePack", s->pos);
		} else {
			int k = 0;      /* bytes of the length field */

			switch (b) {
			case 0xc4: case 0xd9: k = 1; break;     /* bin8, str8 */
			case 0xc5: case 0xda: k = 2; break;
			case 0xc6: case 0xdb: k = 4; break;
			case 0xc7: k = 1; payload = 1; break;   /* ext: type byte follows length */
			case 0xc8: k = 2; payload = 1; break;
			case 0xc9: k = 4; payload = 1; break;
			case 0xca: payload = 4; break;
			case 0xcb: payload = 8; break;
			case 0xcc: case 0xd0: payload = 1; break;
			case 0xcd: case 0xd1: payload = 2; break;
			case 0xce: case 0xd2: payload = 4; break;
			case 0xcf: case 0xd3: payload = 8; break;
			case 0xd4: payload = 2; break;
			case 0xd5: payload = 3; break;
			case 0xd6: payload = 5; break;
			case 0xd7: payload = 9; break;
			case 0xd8: payload = 17; break;
			case 0xdc: case 0xde: k = 2; break;
			case 0xdd: case 0xdf: k = 4; break;
			}
			if (k) {
				uint64_t len;

				if (n - s->pos < 1 + (size_t)k)
					return SB_EAGAIN;
				len = sb_mpread_be(p + s->pos + 1, k);
				hdr += (size_t)k;
				if (b == 0xdc || b == 0xdd)
					children = len;
				else if (b == 0xde || b == 0xdf)
					children = 2 * len;
				else
					payload += len;
			}
		}
		end = (uint64_t)s->pos + hdr + payload;
		/* Each pending item needs at least one more byte: refuse early what can
		 * never fit, without waiting for (or buffering) the bytes. */
		if (end > s->max_bytes || s->pending - 1 + children > s->max_bytes - end)
			return sb_error_set(err, SB_ELIMIT,
					    "byte %zu of the frame: a length field makes the frame at "
					    "least %llu bytes, over the limit of %zu bytes", s->pos,
					    (unsigned long long)(end > s->max_bytes ? end
					    : end + s->pending - 1 + children), s->max_bytes);
		s->pos = (size_t)end;
		s->pending = s->pending - 1 + children;
	}
	if (s->pos > n)
		return SB_EAGAIN;
	*size = s->pos;
	return SB_OK;
}

/* ---- streams that are not frames ---- */

#define SNIFF_TEXT_BYTES 512    /* how much of a stream is judged as text */

static const unsigned char npy_magic[6] = { 0x93, 'N', 'U', 'M', 'P', 'Y' };

/*
 * 1 if p[0..n) reads as text: well-formed UTF-8 without control characters other
 * than tab, line feed, vertical tab, form feed and carriage return.  A sequence cut
 * by the end of the bytes counts as well-formed when more may follow (cut_ok).
 */
static int looks_like_text(const unsigned char *p, size_t n, int cut_ok)
{
	size_t i = 0;

	if (n > SNIFF_TEXT_BYTES) {
		n = SNIFF_TEXT_BYTES;
		cut_ok = 1;
	}
	while (i < n) {
		int valid;
		size_t k;

		if (p[i] < 0x80) {
			if ((p[i] < 0x20 && (p[i] < '\t' || p[i] > '\r')) || p[i] == 0x7f)
				return 0;
			i++;
			continue;
		}
		k = sb_utf8_seq(p + i, n - i, &valid);
		if (!valid)
			return cut_ok && i + k == n;
		i += k;
	}
	return 1;
}

int sb_frame_sniff(const void *buf, size_t n, int at_eof, struct sb_error *err)
{
	const unsigned char *p = buf;
	size_t m = n < sizeof npy_magic ? n : sizeof npy_magic;

	if (n == 0)
		return at_eof ? SB_OK : SB_EAGAIN;
	/* A frame is a map: whatever else is wrong with it, the decoder says. */
	if ((p[0] >= 0x80 && p[0] <= 0x8f) || p[0] == 0xde || p[0] == 0xdf)
		return SB_OK;
	/* The stream is no frame stream anyway: a few bytes more tell .npy from text. */
	if (n < sizeof npy_magic && !at_eof)
		return SB_EAGAIN;
	if (m == sizeof npy_magic && memcmp(p, npy_magic, m) == 0)
		return sb_error_set(err, SB_EFORMAT,
				    "this looks like a .npy file, not sb frames: make frames of it "
				    "with sb-cat --from-npy FILE.npy");
	if (looks_like_text(p, n, !at_eof))
		return sb_error_set(err, SB_EFORMAT,
				    "this looks like text, not sb frames: run sb-tokenize -m MODEL "
				    "first");
	return SB_OK;
}

const char *sb_frame_msgpack_version(void)
{
	return msgpack_version();
}
