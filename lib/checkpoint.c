/*
 * checkpoint.c - torch.save zip archives read as data (see checkpoint.h for the layout).
 *
 * Two parts: a zip central-directory reader that checks every offset and size against
 * the file (stored entries only, ZIP64 records, data descriptors), and a restricted
 * pickle machine, also used for the five pickles of the legacy format.  The machine never calls anything: the few "callables" it accepts
 * (OrderedDict, _rebuild_tensor_v2, the storage classes) are recognized by name and
 * their effect is reproduced as data after the arguments are validated.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "checkpoint.h"
#include "internal.h"

/* ------------------------------------------------------------------------------------ */
/* zip                                                                                  */

#define ZIP_LOCAL_SIG 0x04034b50u
#define ZIP_CENTRAL_SIG 0x02014b50u
#define ZIP_EOCD_SIG 0x06054b50u
#define ZIP64_EOCD_SIG 0x06064b50u
#define ZIP64_LOCATOR_SIG 0x07064b50u
#define ZIP_EOCD_LEN 22
#define ZIP64_LOCATOR_LEN 20
#define ZIP64_EOCD_LEN 56
#define ZIP_CENTRAL_LEN 46
#define ZIP_LOCAL_LEN 30

struct zent {
	const char *name;       /* in the central directory, not NUL-terminated */
	size_t name_len;
	size_t data;            /* absolute offset of the entry's bytes */
	size_t size;
	uint32_t crc;
};

struct zip {
	struct zent *ents;      /* sorted by name after zip_read() */
	size_t n;
};

static int zent_cmp(const void *a, const void *b)
{
	const struct zent *x = a, *y = b;
	size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
	int c = memcmp(x->name, y->name, n);
	if (c)
		return c;
	return x->name_len < y->name_len ? -1 : x->name_len > y->name_len ? 1 : 0;
}

static const struct zent *zip_find(const struct zip *z, const char *name, size_t len)
{
	struct zent key = { .name = name, .name_len = len };
	return bsearch(&key, z->ents, z->n, sizeof(*z->ents), zent_cmp);
}

/* Reads the ZIP64 extended-information extra field for the saturated values. */
static int zip64_extra(const unsigned char *x, size_t xlen, uint64_t *usize, uint64_t *csize,
		       uint64_t *off, int need_u, int need_c, int need_o)
{
	while (xlen >= 4) {
		unsigned id = sb_le16(x), len = sb_le16(x + 2);
		if (len > xlen - 4)
			return -1;
		if (id == 0x0001) {
			const unsigned char *q = x + 4;
			size_t left = len;
			if (need_u) {
				if (left < 8)
					return -1;
				*usize = sb_le64(q), q += 8, left -= 8;
			}
			if (need_c) {
				if (left < 8)
					return -1;
				*csize = sb_le64(q), q += 8, left -= 8;
			}
			if (need_o) {
				if (left < 8)
					return -1;
				*off = sb_le64(q);
			}
			return 0;
		}
		x += 4 + len;
		xlen -= 4 + len;
	}
	return need_u || need_c || need_o ? -1 : 0;
}

static int zip_read(struct zip *z, const unsigned char *p, size_t size, const char *label,
		    struct sb_error *err)
{
	size_t eocd = SIZE_MAX, lo, dir_end;
	uint64_t n_ents, cd_size, cd_off;

	memset(z, 0, sizeof(*z));
	if (size < ZIP_EOCD_LEN)
		return sb_error_set(err, SB_EFORMAT, "%s: %zu bytes, too short for a zip archive",
				    label, size);
	/* The end record is in the last 22 + 65535 (comment) bytes. */
	lo = size - ZIP_EOCD_LEN > 65535 ? size - ZIP_EOCD_LEN - 65535 : 0;
	for (size_t i = size - ZIP_EOCD_LEN + 1; i-- > lo;) {
		if (sb_le32(p + i) == ZIP_EOCD_SIG &&
		    i + ZIP_EOCD_LEN + sb_le16(p + i + 20) <= size) {
			eocd = i;
			break;
		}
	}
	if (eocd == SIZE_MAX)
		return sb_error_set(err, SB_EFORMAT, "%s: not a zip archive (no end of central "
				    "directory record)", label);
	if (sb_le16(p + eocd + 4) != 0 || sb_le16(p + eocd + 6) != 0)
		return sb_error_set(err, SB_EUNSUPPORTED, "%s: multi-disk zip archive", label);
	n_ents = sb_le16(p + eocd + 10);
	cd_size = sb_le32(p + eocd + 12);
	cd_off = sb_le32(p + eocd + 16);
	dir_end = eocd;

	if (eocd >= ZIP64_LOCATOR_LEN &&
	    sb_le32(p + eocd - ZIP64_LOCATOR_LEN) == ZIP64_LOCATOR_SIG) {
		const unsigned char *loc = p + eocd - ZIP64_LOCATOR_LEN;
		uint64_t r = sb_le64(loc + 8);
		if (r > eocd - ZIP64_LOCATOR_LEN ||
		    eocd - ZIP64_LOCATOR_LEN - r < ZIP64_EOCD_LEN ||
		    sb_le32(p + r) != ZIP64_EOCD_SIG)
			return sb_error_set(err, SB_EFORMAT, "%s: zip64 end record offset %llu is "
					    "invalid", label, (unsigned long long)r);
		n_ents = sb_le64(p + r + 32);
		cd_size = sb_le64(p + r + 40);
		cd_off = sb_le64(p + r + 48);
		dir_end = (size_t)r;
	} else if (n_ents == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu) {
		return sb_error_set(err, SB_EFORMAT, "%s: zip end record needs a zip64 record, "
				    "none found", label);
	}
	if (cd_off > dir_end || cd_size > dir_end - cd_off)
		return sb_error_set(err, SB_EFORMAT, "%s: zip central directory [%llu, +%llu) "
				    "outside the file (%zu bytes)", label,
				    (unsigned long long)cd_off, (unsigned long long)cd_size, size);
	if (n_ents > cd_size / ZIP_CENTRAL_LEN)
		return sb_error_set(err, SB_EFORMAT, "%s: zip claims %llu entries in a %llu-byte "
				    "central directory", label, (unsigned long long)n_ents,
				    (unsigned long long)cd_size);
	if (n_ents == 0)
		return sb_error_set(err, SB_EFORMAT, "%s: empty zip archive", label);
	z->ents = calloc((size_t)n_ents, sizeof(*z->ents));
	if (!z->ents)
		return sb_error_set(err, SB_ENOMEM, "%s: out of memory", label);

	const unsigned char *c = p + cd_off, *cend = p + cd_off + cd_size;
	for (size_t i = 0; i < n_ents; i++) {
		struct zent *e = &z->ents[i];
		size_t nlen, xlen, clen, hdr;
		uint64_t usize, csize, loff;
		unsigned flags, method;

		if ((size_t)(cend - c) < ZIP_CENTRAL_LEN || sb_le32(c) != ZIP_CENTRAL_SIG)
			return sb_error_set(err, SB_EFORMAT, "%s: zip central directory entry %zu "
					    "of %llu is corrupt", label, i,
					    (unsigned long long)n_ents);
		flags = sb_le16(c + 8);
		method = sb_le16(c + 10);
		e->crc = sb_le32(c + 16);
		csize = sb_le32(c + 20);
		usize = sb_le32(c + 24);
		nlen = sb_le16(c + 28);
		xlen = sb_le16(c + 30);
		clen = sb_le16(c + 32);
		loff = sb_le32(c + 42);
		if ((size_t)(cend - c) - ZIP_CENTRAL_LEN < nlen + xlen + clen)
			return sb_error_set(err, SB_EFORMAT, "%s: zip central directory entry %zu "
					    "runs past the directory", label, i);
		e->name = (const char *)c + ZIP_CENTRAL_LEN;
		e->name_len = nlen;
		if (zip64_extra(c + ZIP_CENTRAL_LEN + nlen, xlen, &usize, &csize, &loff,
				usize == 0xffffffffu, csize == 0xffffffffu,
				loff == 0xffffffffu) < 0)
			return sb_error_set(err, SB_EFORMAT,
					    "%s: zip entry '%.*s': bad zip64 extra field", label,
					    (int)nlen, e->name);
		if (flags & 1)
			return sb_error_set(err, SB_EUNSUPPORTED, "%s: zip entry '%.*s' is "
					    "encrypted", label, (int)nlen, e->name);
		if (method != 0)
			return sb_error_set(err, SB_EUNSUPPORTED, "%s: zip entry '%.*s' is "
					    "compressed (method %u); torch.save stores entries",
					    label, (int)nlen, e->name, method);
		if (csize != usize)
			return sb_error_set(err, SB_EFORMAT, "%s: zip entry '%.*s': stored with "
					    "sizes %llu and %llu", label, (int)nlen, e->name,
					    (unsigned long long)csize, (unsigned long long)usize);
		/* The local header repeats the name and has its own extra field (padding). */
		if (loff > cd_off || cd_off - loff < ZIP_LOCAL_LEN ||
		    sb_le32(p + loff) != ZIP_LOCAL_SIG)
			return sb_error_set(err, SB_EFORMAT, "%s: zip entry '%.*s': local header "
					    "offset %llu is invalid", label, (int)nlen, e->name,
					    (unsigned long long)loff);
		hdr = ZIP_LOCAL_LEN + (size_t)sb_le16(p + loff + 26) + sb_le16(p + loff + 28);
		if (cd_off - loff < hdr || sb_le16(p + loff + 26) != nlen ||
		    memcmp(p + loff + ZIP_LOCAL_LEN, e->name, nlen) != 0)
			return sb_error_set(err, SB_EFORMAT, "%s: zip entry '%.*s': local header "
					    "does not match the central directory", label,
					    (int)nlen, e->name);
		e->data = (size_t)loff + hdr;
		if (usize > cd_off - e->data)
			return sb_error_set(err, SB_ETRUNCATED, "%s: zip entry '%.*s': %llu bytes "
					    "at offset %zu run past the data area (%llu bytes)",
					    label, (int)nlen, e->name, (unsigned long long)usize,
					    e->data, (unsigned long long)cd_off);
		e->size = (size_t)usize;
		c += ZIP_CENTRAL_LEN + nlen + xlen + clen;
	}
	z->n = (size_t)n_ents;
	qsort(z->ents, z->n, sizeof(*z->ents), zent_cmp);
	for (size_t i = 1; i < z->n; i++)
		if (zent_cmp(&z->ents[i - 1], &z->ents[i]) == 0)
			return sb_error_set(err, SB_EFORMAT, "%s: zip entry '%.*s' appears twice",
					    label, (int)z->ents[i].name_len, z->ents[i].name);
	return SB_OK;
}

/* CRC-32 (zip's); the table is built per call, which costs nothing next to a parse. */
static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n)
{
	uint32_t table[256];

	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		table[i] = c;
	}
	crc = ~crc;
	while (n--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ------------------------------------------------------------------------------------ */
/* pickle values                                                                        */

enum pk_type { PK_NONE, PK_BOOL, PK_INT, PK_STR, PK_TUPLE, PK_LIST, PK_DICT, PK_GLOBAL,
	       PK_STORAGE, PK_TENSOR };

static const char *const pk_type_names[] = {
	"None", "bool", "int", "str", "tuple", "list", "dict", "global", "storage", "tensor"
};

enum pk_global {
	G_ORDERED_DICT, G_REBUILD_TENSOR_V2, G_REBUILD_PARAMETER, G_STORAGE /* + index */
};

struct storage_type {
	const char *name;
	const char *dtype_name;         /* the safetensors spelling */
	int dtype;
	size_t itemsize;
};

static const struct storage_type storage_types[] = {
	{ "FloatStorage", "F32", SB_DTYPE_F32, 4 },
	{ "HalfStorage", "F16", SB_DTYPE_F16, 2 },
	{ "BFloat16Storage", "BF16", SB_DTYPE_BF16, 2 },
	{ "LongStorage", "I64", SB_DTYPE_I64, 8 },
	{ "IntStorage", "I32", SB_DTYPE_I32, 4 },
	{ "CharStorage", "I8", SB_DTYPE_I8, 1 },
	{ "ByteStorage", "U8", SB_DTYPE_U8, 1 },
	{ "DoubleStorage", "F64", -1, 8 },
	{ "ShortStorage", "I16", -1, 2 },
	{ "BoolStorage", "BOOL", -1, 1 },
};
#define N_STORAGE_TYPES (sizeof(storage_types) / sizeof(storage_types[0]))

struct pk_val {
	enum pk_type type;
	int64_t i;                      /* BOOL, INT; GLOBAL: enum pk_global */
	const char *s;                  /* STR: into the pickle, not NUL-terminated */
	size_t len;                     /* STR: bytes; TUPLE/LIST/DICT: items (DICT: pairs) */
	size_t cap;                     /* LIST/DICT: allocated items/pairs */
	struct pk_val **items;          /* TUPLE/LIST: len; DICT: 2 x len (key, value) */
	/* STORAGE and TENSOR */
	const struct storage_type *st;
	size_t data;                    /* STORAGE: absolute file offset, SIZE_MAX until known */
	size_t numel;
	struct pk_val *storage;         /* TENSOR: its storage */
	size_t offset;                  /* TENSOR: first element, in storage elements */
	int n_dims;                     /* TENSOR */
	size_t shape[SB_TENSOR_MAX_DIMS];
	struct pk_val *next;            /* every value, for freeing */
};

struct pk {
	const unsigned char *p;         /* the pickle */
	size_t n, pos, op_pos;
	const unsigned char *file;
	const struct zip *zip;
	const char *prefix;
	size_t prefix_len;
	const char *label;              /* "pytorch_model.bin: archive/data.pkl" */
	struct sb_error *err;
	int legacy;                     /* pre-1.6 format: storages located after the pickles */
	int trailing_ok;                /* more pickles or data follow STOP */

	struct pk_val **stack;
	size_t sp, stack_cap;
	size_t marks[SB_CHECKPOINT_MAX_MARKS];
	size_t n_marks;
	struct pk_val **memo;
	size_t n_memo, memo_cap;
	struct pk_val *all;             /* list of every allocated value */
	size_t n_values;
	int fail;                       /* status of the last failed pk_new() */
};

static const char *opcode_name(unsigned char op)
{
	static const struct { unsigned char op; const char *name; } names[] = {
		{ '(', "MARK" }, { '.', "STOP" }, { '0', "POP" }, { '1', "POP_MARK" },
		{ '2', "DUP" }, { 'F', "FLOAT" }, { 'I', "INT" }, { 'J', "BININT" },
		{ 'K', "BININT1" }, { 'L', "LONG" }, { 'M', "BININT2" }, { 'N', "NONE" },
		{ 'P', "PERSID" }, { 'Q', "BINPERSID" }, { 'R', "REDUCE" }, { 'S', "STRING" },
		{ 'T', "BINSTRING" }, { 'U', "SHORT_BINSTRING" }, { 'V', "UNICODE" },
		{ 'X', "BINUNICODE" }, { 'a', "APPEND" }, { 'b', "BUILD" }, { 'c', "GLOBAL" },
		{ 'd', "DICT" }, { '}', "EMPTY_DICT" }, { 'e', "APPENDS" }, { 'g', "GET" },
		{ 'h', "BINGET" }, { 'i', "INST" }, { 'j', "LONG_BINGET" }, { 'l', "LIST" },
		{ ']', "EMPTY_LIST" }, { 'o', "OBJ" }, { 'p', "PUT" }, { 'q', "BINPUT" },
		{ 'r', "LONG_BINPUT" }, { 's', "SETITEM" }, { 't', "TUPLE" },
		{ ')', "EMPTY_TUPLE" }, { 'u', "SETITEMS" }, { 'G', "BINFLOAT" },
		{ 'B', "BINBYTES" }, { 'C', "SHORT_BINBYTES" }, { 0x80, "PROTO" },
		{ 0x81, "NEWOBJ" }, { 0x82, "EXT1" }, { 0x83, "EXT2" }, { 0x84, "EXT4" },
		{ 0x85, "TUPLE1" }, { 0x86, "TUPLE2" }, { 0x87, "TUPLE3" }, { 0x88, "NEWTRUE" },
		{ 0x89, "NEWFALSE" }, { 0x8a, "LONG1" }, { 0x8b, "LONG4" },
		{ 0x8c, "SHORT_BINUNICODE" }, { 0x8d, "BINUNICODE8" }, { 0x8e, "BINBYTES8" },
		{ 0x8f, "EMPTY_SET" }, { 0x90, "ADDITEMS" }, { 0x91, "FROZENSET" },
		{ 0x92, "NEWOBJ_EX" }, { 0x93, "STACK_GLOBAL" }, { 0x94, "MEMOIZE" },
		{ 0x95, "FRAME" }, { 0x96, "BYTEARRAY8" }, { 0x97, "NEXT_BUFFER" },
		{ 0x98, "READONLY_BUFFER" },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].op == op)
			return names[i].name;
	return "unknown";
}

static const char *global_name(int64_t g)
{
	switch (g) {
	case G_ORDERED_DICT: return "collections OrderedDict";
	case G_REBUILD_TENSOR_V2: return "torch._utils _rebuild_tensor_v2";
	case G_REBUILD_PARAMETER: return "torch._utils _rebuild_parameter";
	default: return storage_types[g - G_STORAGE].name;
	}
}

/* Every message of the machine names the file, the pickle and the opcode's offset. */
#define PK_ERR(k, code, fmt, ...) \
	sb_error_set((k)->err, (code), "%s: byte %zu: " fmt, (k)->label, (k)->op_pos, \
		     ##__VA_ARGS__)

/*
 * A new value, or NULL with k->fail set.  The count is bounded: every opcode makes at
 * most one value, and a pickle that makes more than a state dict ever needs is refused
 * before its values add up to a large allocation.
 */
static struct pk_val *pk_new(struct pk *k, enum pk_type t)
{
	struct pk_val *v;

	if (k->n_values >= SB_CHECKPOINT_MAX_VALUES) {
		k->fail = PK_ERR(k, SB_ELIMIT, "more than %zu values", SB_CHECKPOINT_MAX_VALUES);
		return NULL;
	}
	v = calloc(1, sizeof(*v));
	if (!v) {
		k->fail = PK_ERR(k, SB_ENOMEM, "out of memory");
		return NULL;
	}
	k->n_values++;
	v->type = t;
	v->next = k->all;
	k->all = v;
	return v;
}

static void pk_free_all(struct pk *k)
{
	struct pk_val *v = k->all;
	while (v) {
		struct pk_val *next = v->next;
		free(v->items);
		free(v);
		v = next;
	}
	k->all = NULL;
	k->n_values = 0;
	free(k->stack);
	free(k->memo);
	k->stack = k->memo = NULL;
	k->sp = k->stack_cap = k->n_memo = k->memo_cap = 0;
}

static int pk_push(struct pk *k, struct pk_val *v)
{
	if (!v)
		return k->fail;
	if (k->sp == k->stack_cap) {
		size_t cap = k->stack_cap ? k->stack_cap * 2 : 64;
		struct pk_val **s;
		if (k->sp >= SB_CHECKPOINT_MAX_STACK)
			return PK_ERR(k, SB_ELIMIT, "more than %zu values on the stack",
				      SB_CHECKPOINT_MAX_STACK);
		s = realloc(k->stack, cap * sizeof(*s));
		if (!s)
			return PK_ERR(k, SB_ENOMEM, "out of memory");
		k->stack = s;
		k->stack_cap = cap;
	}
	k->stack[k->sp++] = v;
	return SB_OK;
}

/* The base of the current mark frame: values above it may be popped. */
static size_t pk_base(const struct pk *k)
{
	return k->n_marks ? k->marks[k->n_marks - 1] : 0;
}

static int pk_pop(struct pk *k, struct pk_val **out)
{
	if (k->sp <= pk_base(k))
		return PK_ERR(k, SB_EFORMAT, "%s on an empty stack", opcode_name(k->p[k->op_pos]));
	*out = k->stack[--k->sp];
	return SB_OK;
}

static int pk_top(struct pk *k, struct pk_val **out)
{
	if (k->sp <= pk_base(k))
		return PK_ERR(k, SB_EFORMAT, "%s on an empty stack", opcode_name(k->p[k->op_pos]));
	*out = k->stack[k->sp - 1];
	return SB_OK;
}

/* Ends the innermost mark frame: *first and *count describe the values above it. */
static int pk_pop_mark(struct pk *k, size_t *first, size_t *count)
{
	if (!k->n_marks)
		return PK_ERR(k, SB_EFORMAT, "%s without a MARK", opcode_name(k->p[k->op_pos]));
	*first = k->marks[--k->n_marks];
	*count = k->sp - *first;
	return SB_OK;
}

static struct pk_val *pk_tuple(struct pk *k, struct pk_val **items, size_t n)
{
	struct pk_val *t = pk_new(k, PK_TUPLE);
	if (!t)
		return NULL;
	if (n) {
		t->items = malloc(n * sizeof(*t->items));
		if (!t->items) {
			k->fail = PK_ERR(k, SB_ENOMEM, "out of memory");
			return NULL;
		}
		memcpy(t->items, items, n * sizeof(*t->items));
	}
	t->len = n;
	return t;
}

static int pk_dict_set(struct pk *k, struct pk_val *d, struct pk_val *key, struct pk_val *val)
{
	if (d->type != PK_DICT)
		return PK_ERR(k, SB_EFORMAT, "%s on a %s, expected a dict",
			      opcode_name(k->p[k->op_pos]), pk_type_names[d->type]);
	if (d->len == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct pk_val **it = realloc(d->items, cap * 2 * sizeof(*it));
		if (!it)
			return PK_ERR(k, SB_ENOMEM, "out of memory");
		d->items = it;
		d->cap = cap;
	}
	d->items[2 * d->len] = key;
	d->items[2 * d->len + 1] = val;
	d->len++;
	return SB_OK;
}

static int pk_list_append(struct pk *k, struct pk_val *l, struct pk_val *v)
{
	if (l->type != PK_LIST)
		return PK_ERR(k, SB_EFORMAT, "%s on a %s, expected a list",
			      opcode_name(k->p[k->op_pos]), pk_type_names[l->type]);
	if (l->len == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct pk_val **it = realloc(l->items, cap * sizeof(*it));
		if (!it)
			return PK_ERR(k, SB_ENOMEM, "out of memory");
		l->items = it;
		l->cap = cap;
	}
	l->items[l->len++] = v;
	return SB_OK;
}

static int pk_need(struct pk *k, size_t n)
{
	if (k->n - k->pos < n)
		return sb_error_set(k->err, SB_ETRUNCATED, "%s: byte %zu: %s needs %zu bytes, %zu "
				    "remain", k->label, k->op_pos, opcode_name(k->p[k->op_pos]),
				    n, k->n - k->pos);
	return SB_OK;
}

static int pk_memo_put(struct pk *k, size_t idx)
{
	struct pk_val *v = NULL;
	int rc = pk_top(k, &v);
	if (rc)
		return rc;
	/* Picklers number the memo 0, 1, 2...: refuse jumps so the table stays bounded. */
	if (idx > k->n_memo || idx >= SB_CHECKPOINT_MAX_MEMO)
		return PK_ERR(k, SB_ELIMIT, "memo index %zu out of order (%zu in use)", idx,
			      k->n_memo);
	if (idx == k->n_memo) {
		if (k->n_memo == k->memo_cap) {
			size_t cap = k->memo_cap ? k->memo_cap * 2 : 64;
			struct pk_val **m = realloc(k->memo, cap * sizeof(*m));
			if (!m)
				return PK_ERR(k, SB_ENOMEM, "out of memory");
			k->memo = m;
			k->memo_cap = cap;
		}
		k->n_memo++;
	}
	k->memo[idx] = v;
	return SB_OK;
}

static int pk_memo_get(struct pk *k, size_t idx)
{
	if (idx >= k->n_memo)
		return PK_ERR(k, SB_EFORMAT, "memo index %zu was never stored", idx);
	return pk_push(k, k->memo[idx]);
}

static int pk_global(struct pk *k, const char *mod, size_t ml, const char *name, size_t nl)
{
	struct pk_val *g;
	int64_t id = -1;

#define IS(s, l, lit) ((l) == sizeof(lit) - 1 && memcmp((s), (lit), (l)) == 0)
	if (IS(mod, ml, "collections") && IS(name, nl, "OrderedDict"))
		id = G_ORDERED_DICT;
	else if (IS(mod, ml, "torch._utils") && IS(name, nl, "_rebuild_tensor_v2"))
		id = G_REBUILD_TENSOR_V2;
	else if (IS(mod, ml, "torch._utils") && IS(name, nl, "_rebuild_parameter"))
		id = G_REBUILD_PARAMETER;
	else if (IS(mod, ml, "torch")) {
		for (size_t i = 0; i < N_STORAGE_TYPES; i++)
			if (strlen(storage_types[i].name) == nl &&
			    memcmp(storage_types[i].name, name, nl) == 0)
				id = G_STORAGE + (int64_t)i;
	}
#undef IS
	if (id < 0)
		return PK_ERR(k, SB_EFORMAT, "global '%.*s %.*s' is not allowed (a state dict "
			      "uses only collections.OrderedDict, torch._utils._rebuild_tensor_v2 "
			      "and torch storage types)", (int)(ml > 80 ? 80 : ml), mod,
			      (int)(nl > 80 ? 80 : nl), name);
	g = pk_new(k, PK_GLOBAL);
	if (!g)
		return k->fail;
	g->i = id;
	return pk_push(k, g);
}

/* GLOBAL: "module\nname\n". */
static int op_global(struct pk *k)
{
	const char *s = (const char *)k->p + k->pos, *nl1, *nl2;
	size_t left = k->n - k->pos;

	nl1 = memchr(s, '\n', left > 256 ? 256 : left);
	if (!nl1)
		return PK_ERR(k, SB_EFORMAT, "GLOBAL module name not terminated within 256 bytes");
	left -= (size_t)(nl1 + 1 - s);
	nl2 = memchr(nl1 + 1, '\n', left > 256 ? 256 : left);
	if (!nl2)
		return PK_ERR(k, SB_EFORMAT, "GLOBAL name not terminated within 256 bytes");
	k->pos += (size_t)(nl2 + 1 - s);
	return pk_global(k, s, (size_t)(nl1 - s), nl1 + 1, (size_t)(nl2 - nl1 - 1));
}

static int as_size(const struct pk_val *v, size_t *out)
{
	if (v->type != PK_INT || v->i < 0 || (uint64_t)v->i > SIZE_MAX)
		return -1;
	*out = (size_t)v->i;
	return 0;
}

static int is_str(const struct pk_val *v, const char *lit)
{
	return v->type == PK_STR && v->len == strlen(lit) && memcmp(v->s, lit, v->len) == 0;
}

/* BINPERSID: ('storage', torch.XStorage, key, location, numel) -> the storage's bytes. */
static int op_persid(struct pk *k)
{
	struct pk_val *pid = NULL, *s = NULL;
	const struct storage_type *st;
	const struct zent *e;
	size_t numel, nbytes, plen;
	char path[512];
	int rc = pk_pop(k, &pid);

	if (rc)
		return rc;
	/* The legacy format adds view_metadata, None unless a storage view was saved. */
	if (pid->type != PK_TUPLE || pid->len != 5 + (size_t)k->legacy ||
	    !is_str(pid->items[0], "storage") ||
	    pid->items[1]->type != PK_GLOBAL || pid->items[1]->i < G_STORAGE ||
	    pid->items[2]->type != PK_STR || pid->items[3]->type != PK_STR ||
	    as_size(pid->items[4], &numel) < 0)
		return PK_ERR(k, SB_EFORMAT, "persistent id is not ('storage', type, key, "
			      "location, numel%s)", k->legacy ? ", view" : "");
	st = &storage_types[pid->items[1]->i - G_STORAGE];
	if (k->legacy) {
		if (pid->items[5]->type != PK_NONE)
			return PK_ERR(k, SB_EUNSUPPORTED, "storage '%.*s': views of storages "
				      "(legacy format) are not supported",
				      (int)pid->items[2]->len, pid->items[2]->s);
		if (sb_size_mul(numel, st->itemsize, &nbytes) < 0)
			return PK_ERR(k, SB_ELIMIT, "storage '%.*s': %zu elements overflow",
				      (int)pid->items[2]->len, pid->items[2]->s, numel);
		if (!(s = pk_new(k, PK_STORAGE)))
			return k->fail;
		s->st = st;
		s->data = SIZE_MAX;     /* found after the last pickle, see read_legacy() */
		s->numel = numel;
		s->s = pid->items[2]->s;
		s->len = pid->items[2]->len;
		return pk_push(k, s);
	}
	plen = k->prefix_len + 5 + pid->items[2]->len;
	if (plen >= sizeof(path))
		return PK_ERR(k, SB_EFORMAT, "storage key of %zu bytes is too long",
			      pid->items[2]->len);
	memcpy(path, k->prefix, k->prefix_len);
	memcpy(path + k->prefix_len, "data/", 5);
	memcpy(path + k->prefix_len + 5, pid->items[2]->s, pid->items[2]->len);
	e = zip_find(k->zip, path, plen);
	if (!e)
		return PK_ERR(k, SB_EFORMAT, "storage '%.*s': no zip entry '%.*s'",
			      (int)pid->items[2]->len, pid->items[2]->s, (int)plen, path);
	if (sb_size_mul(numel, st->itemsize, &nbytes) < 0 || nbytes != e->size)
		return PK_ERR(k, SB_EFORMAT, "storage '%.*s': %zu x %s elements, zip entry holds "
			      "%zu bytes", (int)pid->items[2]->len, pid->items[2]->s, numel,
			      st->name, e->size);
	s = pk_new(k, PK_STORAGE);
	if (!s)
		return k->fail;
	s->st = st;
	s->data = e->data;
	s->numel = numel;
	s->s = pid->items[2]->s;
	s->len = pid->items[2]->len;
	return pk_push(k, s);
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]). */
static int rebuild_tensor(struct pk *k, const struct pk_val *args, struct pk_val **out)
{
	const struct pk_val *s, *size, *stride;
	/* (storage numel x itemsize was checked to fit when the storage was made) */
	struct pk_val *t;
	size_t offset, numel = 1, expect = 1, end, n;

	if (args->len != 6 && args->len != 7)
		return PK_ERR(k, SB_EFORMAT, "_rebuild_tensor_v2 with %zu arguments, expected 6 "
			      "or 7", args->len);
	s = args->items[0];
	size = args->items[2];
	stride = args->items[3];
	if (s->type != PK_STORAGE || as_size(args->items[1], &offset) < 0 ||
	    size->type != PK_TUPLE || stride->type != PK_TUPLE ||
	    (args->items[4]->type != PK_BOOL && args->items[4]->type != PK_INT) ||
	    args->items[5]->type != PK_DICT || (args->len == 7 && args->items[6]->type != PK_DICT &&
						args->items[6]->type != PK_NONE))
		return PK_ERR(k, SB_EFORMAT, "_rebuild_tensor_v2 arguments are not (storage, int, "
			      "tuple, tuple, bool, dict[, dict])");
	n = size->len;
	if (n > SB_TENSOR_MAX_DIMS)
		return PK_ERR(k, SB_EUNSUPPORTED, "tensor with %zu dimensions, at most %d "
			      "supported", n, SB_TENSOR_MAX_DIMS);
	if (stride->len != n)
		return PK_ERR(k, SB_EFORMAT, "tensor size has %zu dimensions, stride %zu", n,
			      stride->len);
	t = pk_new(k, PK_TENSOR);
	if (!t)
		return k->fail;
	t->n_dims = (int)n;
	for (size_t i = 0; i < n; i++) {
		if (as_size(size->items[i], &t->shape[i]) < 0)
			return PK_ERR(k, SB_EFORMAT, "tensor size[%zu] is not a non-negative "
				      "integer", i);
		/* Zeros aside, the product must fit (as in safetensors.c). */
		if (t->shape[i] && sb_size_mul(numel, t->shape[i], &numel) < 0)
			return PK_ERR(k, SB_ELIMIT, "tensor size overflows");
	}
	for (size_t i = 0; i < n; i++)
		if (t->shape[i] == 0)
			numel = 0;
	/* Row-major strides; dimensions of size 1 may carry any stride. */
	for (size_t i = n; i-- > 0;) {
		size_t st;
		if (as_size(stride->items[i], &st) < 0)
			return PK_ERR(k, SB_EFORMAT, "tensor stride[%zu] is not a non-negative "
				      "integer", i);
		if (numel > 0 && t->shape[i] != 1 && st != expect) {
			char sh[160];
			return PK_ERR(k, SB_EUNSUPPORTED,
				      "tensor of size %s has stride[%zu] = %zu, "
				      "expected %zu: only contiguous tensors are supported",
				      sb_shape_str(t->n_dims, t->shape, sh, sizeof(sh)), i, st,
				      expect);
		}
		expect *= t->shape[i];  /* <= numel: no overflow */
	}
	if (sb_size_add(offset, numel, &end) < 0 || end > s->numel)
		return PK_ERR(k, SB_EFORMAT, "tensor of %zu elements at offset %zu runs past its "
			      "storage '%.*s' of %zu elements", numel, offset, (int)s->len, s->s,
			      s->numel);
	t->st = s->st;
	t->numel = numel;
	t->storage = (struct pk_val *)s;
	t->offset = offset;
	*out = t;
	return SB_OK;
}

static int op_reduce(struct pk *k)
{
	struct pk_val *f = NULL, *args = NULL, *r = NULL;
	int rc;

	if ((rc = pk_pop(k, &args)) || (rc = pk_pop(k, &f)))
		return rc;
	if (f->type != PK_GLOBAL)
		return PK_ERR(k, SB_EFORMAT, "REDUCE on a %s, expected an allowed global",
			      pk_type_names[f->type]);
	if (args->type != PK_TUPLE)
		return PK_ERR(k, SB_EFORMAT, "REDUCE of '%s' with a %s, expected a tuple",
			      global_name(f->i), pk_type_names[args->type]);
	switch (f->i) {
	case G_ORDERED_DICT:
		if (args->len != 0)
			return PK_ERR(k, SB_EFORMAT, "OrderedDict with %zu arguments, expected 0",
				      args->len);
		r = pk_new(k, PK_DICT);
		break;
	case G_REBUILD_TENSOR_V2:
		rc = rebuild_tensor(k, args, &r);
		if (rc)
			return rc;
		break;
	case G_REBUILD_PARAMETER:
		/* _rebuild_parameter(data, requires_grad, backward_hooks): the tensor itself. */
		if (args->len != 3 || args->items[0]->type != PK_TENSOR)
			return PK_ERR(k, SB_EFORMAT, "_rebuild_parameter arguments are not "
				      "(tensor, bool, dict)");
		r = args->items[0];
		break;
	default:
		return PK_ERR(k, SB_EFORMAT, "REDUCE of global 'torch %s' is not allowed (storages "
			      "come only through persistent ids)", global_name(f->i));
	}
	return pk_push(k, r);
}

static int op_build(struct pk *k)
{
	struct pk_val *state = NULL, *obj = NULL;
	int rc;

	if ((rc = pk_pop(k, &state)) || (rc = pk_top(k, &obj)))
		return rc;
	/* state_dict() is an OrderedDict whose __dict__ holds _metadata: kept as data, unused. */
	if (obj->type != PK_DICT || (state->type != PK_DICT && state->type != PK_NONE))
		return PK_ERR(k, SB_EFORMAT, "BUILD of a %s with a %s state; only an OrderedDict's "
			      "attributes are allowed", pk_type_names[obj->type],
			      pk_type_names[state->type]);
	return SB_OK;
}

static int pk_run(struct pk *k, struct pk_val **result)
{
	size_t start = k->pos;
	int rc = SB_OK;

	while (k->pos < k->n) {
		unsigned char op = k->p[k->pos];
		struct pk_val *v = NULL, *a = NULL, *b = NULL;
		size_t first, count;

		k->op_pos = k->pos++;
		/* data.pkl is checked before; a legacy pickle's end is found by reading it. */
		if (k->op_pos - start >= SB_CHECKPOINT_MAX_PICKLE)
			return PK_ERR(k, SB_ELIMIT, "pickle longer than %zu bytes",
				      SB_CHECKPOINT_MAX_PICKLE);
		switch (op) {
		case 0x80: /* PROTO */
			if ((rc = pk_need(k, 1)))
				return rc;
			if (k->p[k->pos] < 2 || k->p[k->pos] > 5)
				return PK_ERR(k, SB_EUNSUPPORTED,
					      "pickle protocol %u, expected 2 to 5", k->p[k->pos]);
			k->pos++;
			break;
		case 0x95: /* FRAME: a length hint only */
			if ((rc = pk_need(k, 8)))
				return rc;
			k->pos += 8;
			break;
		case '(': /* MARK */
			if (k->n_marks == SB_CHECKPOINT_MAX_MARKS)
				return PK_ERR(k, SB_ELIMIT, "more than %d nested MARKs",
					      SB_CHECKPOINT_MAX_MARKS);
			k->marks[k->n_marks++] = k->sp;
			break;
		case '}': /* EMPTY_DICT */
			rc = pk_push(k, pk_new(k, PK_DICT));
			break;
		case ']': /* EMPTY_LIST: the legacy format's list of storage keys */
			rc = pk_push(k, pk_new(k, PK_LIST));
			break;
		case 'a': /* APPEND */
			if ((rc = pk_pop(k, &b)) || (rc = pk_top(k, &v)))
				return rc;
			rc = pk_list_append(k, v, b);
			break;
		case 'e': /* APPENDS */
			if ((rc = pk_pop_mark(k, &first, &count)))
				return rc;
			if (first <= pk_base(k))
				return PK_ERR(k, SB_EFORMAT, "APPENDS without a list below its MARK");
			v = k->stack[first - 1];
			for (size_t i = first; i < first + count && rc == SB_OK; i++)
				rc = pk_list_append(k, v, k->stack[i]);
			k->sp = first;
			break;
		case ')': /* EMPTY_TUPLE */
			rc = pk_push(k, pk_tuple(k, NULL, 0));
			break;
		case 'N': /* NONE */
			rc = pk_push(k, pk_new(k, PK_NONE));
			break;
		case 0x88: /* NEWTRUE */
		case 0x89: /* NEWFALSE */
			if (!(v = pk_new(k, PK_BOOL)))
				return k->fail;
			v->i = op == 0x88;
			rc = pk_push(k, v);
			break;
		case 'J': /* BININT: int32 */
		case 'K': /* BININT1: uint8 */
		case 'M': /* BININT2: uint16 */
			count = op == 'J' ? 4 : op == 'K' ? 1 : 2;
			if ((rc = pk_need(k, count)))
				return rc;
			if (!(v = pk_new(k, PK_INT)))
				return k->fail;
			v->i = op == 'J' ? (int64_t)(int32_t)sb_le32(k->p + k->pos) :
			       op == 'K' ? k->p[k->pos] : sb_le16(k->p + k->pos);
			k->pos += count;
			rc = pk_push(k, v);
			break;
		case 0x8a: /* LONG1: n-byte two's complement, little-endian */
			if ((rc = pk_need(k, 1)))
				return rc;
			count = k->p[k->pos++];
			if (count > 8)
				return PK_ERR(k, SB_ELIMIT,
					      "LONG1 of %zu bytes does not fit 64 bits", count);
			if ((rc = pk_need(k, count)))
				return rc;
			if (!(v = pk_new(k, PK_INT)))
				return k->fail;
			{
				uint64_t u = 0;
				for (size_t i = 0; i < count; i++)
					u |= (uint64_t)k->p[k->pos + i] << (8 * i);
				if (count > 0 && count < 8 && (k->p[k->pos + count - 1] & 0x80))
					u |= ~(uint64_t)0 << (8 * count);
				v->i = (int64_t)u;
			}
			k->pos += count;
			rc = pk_push(k, v);
			break;
		case 'X': /* BINUNICODE: uint32 length + UTF-8 */
		case 0x8c: /* SHORT_BINUNICODE: uint8 length */
			count = op == 'X' ? 4 : 1;
			if ((rc = pk_need(k, count)))
				return rc;
			first = op == 'X' ? sb_le32(k->p + k->pos) : k->p[k->pos];
			k->pos += count;
			if ((rc = pk_need(k, first)))
				return rc;
			if (!(v = pk_new(k, PK_STR)))
				return k->fail;
			v->s = (const char *)k->p + k->pos;
			v->len = first;
			k->pos += first;
			rc = pk_push(k, v);
			break;
		case 't': /* TUPLE */
			if ((rc = pk_pop_mark(k, &first, &count)))
				return rc;
			v = pk_tuple(k, count ? k->stack + first : NULL, count);
			k->sp = first;
			rc = pk_push(k, v);
			break;
		case 0x85: /* TUPLE1 */
		case 0x86: /* TUPLE2 */
		case 0x87: /* TUPLE3 */
			count = (size_t)(op - 0x84);
			if (k->sp - pk_base(k) < count)
				return PK_ERR(k, SB_EFORMAT, "%s with %zu values on the stack",
					      opcode_name(op), k->sp - pk_base(k));
			v = pk_tuple(k, k->stack + k->sp - count, count);
			k->sp -= count;
			rc = pk_push(k, v);
			break;
		case 'q': /* BINPUT */
			if ((rc = pk_need(k, 1)))
				return rc;
			rc = pk_memo_put(k, k->p[k->pos++]);
			break;
		case 'r': /* LONG_BINPUT */
			if ((rc = pk_need(k, 4)))
				return rc;
			rc = pk_memo_put(k, sb_le32(k->p + k->pos));
			k->pos += 4;
			break;
		case 0x94: /* MEMOIZE */
			rc = pk_memo_put(k, k->n_memo);
			break;
		case 'h': /* BINGET */
			if ((rc = pk_need(k, 1)))
				return rc;
			rc = pk_memo_get(k, k->p[k->pos++]);
			break;
		case 'j': /* LONG_BINGET */
			if ((rc = pk_need(k, 4)))
				return rc;
			rc = pk_memo_get(k, sb_le32(k->p + k->pos));
			k->pos += 4;
			break;
		case 'c': /* GLOBAL */
			rc = op_global(k);
			break;
		case 0x93: /* STACK_GLOBAL */
			if ((rc = pk_pop(k, &b)) || (rc = pk_pop(k, &a)))
				return rc;
			if (a->type != PK_STR || b->type != PK_STR)
				return PK_ERR(k, SB_EFORMAT, "STACK_GLOBAL of a %s and a %s",
					      pk_type_names[a->type], pk_type_names[b->type]);
			rc = pk_global(k, a->s, a->len, b->s, b->len);
			break;
		case 'Q': /* BINPERSID */
			rc = op_persid(k);
			break;
		case 'R': /* REDUCE */
			rc = op_reduce(k);
			break;
		case 'b': /* BUILD */
			rc = op_build(k);
			break;
		case 's': /* SETITEM */
			if ((rc = pk_pop(k, &b)) || (rc = pk_pop(k, &a)) || (rc = pk_top(k, &v)))
				return rc;
			rc = pk_dict_set(k, v, a, b);
			break;
		case 'u': /* SETITEMS */
			if ((rc = pk_pop_mark(k, &first, &count)))
				return rc;
			if (count % 2)
				return PK_ERR(k, SB_EFORMAT, "SETITEMS with an odd number (%zu) of "
					      "values", count);
			if (first <= pk_base(k))
				return PK_ERR(k, SB_EFORMAT,
					      "SETITEMS without a dict below its MARK");
			v = k->stack[first - 1];
			for (size_t i = first; i < first + count && rc == SB_OK; i += 2)
				rc = pk_dict_set(k, v, k->stack[i], k->stack[i + 1]);
			k->sp = first;
			break;
		case '.': /* STOP */
			if (k->n_marks || k->sp != 1)
				return PK_ERR(k, SB_EFORMAT,
					      "STOP with %zu values and %zu marks on the stack, "
					      "expected one value", k->sp, k->n_marks);
			if (k->pos != k->n && !k->trailing_ok)
				return PK_ERR(k, SB_EFORMAT, "%zu bytes after STOP", k->n - k->pos);
			*result = k->stack[0];
			return SB_OK;
		default:
			return PK_ERR(k, SB_EFORMAT, "opcode 0x%02x (%s) is not allowed in a state "
				      "dict", op, opcode_name(op));
		}
		if (rc)
			return rc;
	}
	return sb_error_set(k->err, SB_ETRUNCATED, "%s: pickle ends at byte %zu without STOP",
			    k->label, k->n);
}

/* ------------------------------------------------------------------------------------ */

static int collect(struct sb_checkpoint *ck, struct pk *k, const struct pk_val *root)
{
	if (root->type != PK_DICT)
		return sb_error_set(k->err, SB_EFORMAT, "%s: the pickle holds a %s, expected a "
				    "state dict", k->label, pk_type_names[root->type]);
	if (root->len) {
		ck->entries = calloc(root->len, sizeof(*ck->entries));
		if (!ck->entries)
			return sb_error_set(k->err, SB_ENOMEM, "%s: out of memory", k->label);
	}
	for (size_t i = 0; i < root->len; i++) {
		const struct pk_val *key = root->items[2 * i], *t = root->items[2 * i + 1];
		struct sb_checkpoint_entry *e = &ck->entries[i];

		if (key->type != PK_STR || memchr(key->s, 0, key->len))
			return sb_error_set(k->err, SB_EFORMAT, "%s: state dict key %zu is a %s, "
					    "expected a name", k->label, i,
					    key->type == PK_STR ? "str with a NUL byte" :
					    pk_type_names[key->type]);
		if (t->type != PK_TENSOR)
			return sb_error_set(k->err, SB_EFORMAT, "%s: '%.*s' is a %s, expected a "
					    "tensor", k->label, (int)key->len, key->s,
					    pk_type_names[t->type]);
		e->name = malloc(key->len + 1);
		if (!e->name)
			return sb_error_set(k->err, SB_ENOMEM, "%s: out of memory", k->label);
		memcpy(e->name, key->s, key->len);
		e->name[key->len] = 0;
		ck->n_entries = i + 1;
		e->storage_type = t->st->name;
		e->dtype_name = t->st->dtype_name;
		e->dtype = t->st->dtype;
		e->itemsize = t->st->itemsize;
		e->n_dims = t->n_dims;
		memcpy(e->shape, t->shape, sizeof(e->shape));
		if (t->storage->data == SIZE_MAX)
			return sb_error_set(k->err, SB_EFORMAT, "%s: '%.*s': storage '%.*s' is not "
					    "in the file", k->label, (int)key->len, key->s,
					    (int)t->storage->len, t->storage->s);
		/* Within the storage, itself within the file: no overflow. */
		e->offset = t->storage->data + t->offset * t->st->itemsize;
		e->nbytes = t->numel * t->st->itemsize;    /* within the storage: no overflow */
	}
	return SB_OK;
}

static int parse_zip(struct sb_checkpoint *ck, const unsigned char *p, size_t size,
		     const char *label, struct sb_error *err)
{
	const struct zent *pkl = NULL, *bo;
	struct zip z;
	struct pk k;
	struct pk_val *root = NULL;
	char plabel[SB_ERROR_MSG_MAX];
	int rc;

	memset(ck, 0, sizeof(*ck));
	memset(&k, 0, sizeof(k));
	rc = zip_read(&z, p, size, label, err);
	if (rc)
		goto out;
	for (size_t i = 0; i < z.n; i++) {
		const struct zent *e = &z.ents[i];
		if (e->name_len >= 8 && memcmp(e->name + e->name_len - 8, "data.pkl", 8) == 0 &&
		    (e->name_len == 8 || e->name[e->name_len - 9] == '/')) {
			if (pkl) {
				rc = sb_error_set(err, SB_EFORMAT, "%s: two pickles, '%.*s' and "
						  "'%.*s'", label, (int)pkl->name_len, pkl->name,
						  (int)e->name_len, e->name);
				goto out;
			}
			pkl = e;
		}
	}
	if (!pkl) {
		rc = sb_error_set(err, SB_EFORMAT, "%s: no data.pkl in the zip archive (not a "
				  "torch.save file?)", label);
		goto out;
	}
	if (pkl->name_len - 8 >= sizeof(ck->prefix) - 16) {
		rc = sb_error_set(err, SB_EFORMAT, "%s: archive folder name of %zu bytes is too "
				  "long", label, pkl->name_len - 8);
		goto out;
	}
	memcpy(ck->prefix, pkl->name, pkl->name_len - 8);
	ck->prefix[pkl->name_len - 8] = 0;

	snprintf(plabel, sizeof(plabel), "%s: %sbyteorder", label, ck->prefix);
	{
		char bname[sizeof(ck->prefix) + 16];
		size_t bl = (size_t)snprintf(bname, sizeof(bname), "%sbyteorder", ck->prefix);
		bo = zip_find(&z, bname, bl);
	}
	if (bo && !(bo->size == 6 && memcmp(p + bo->data, "little", 6) == 0)) {
		rc = sb_error_set(err, SB_EUNSUPPORTED, "%s: not 'little' (big-endian archives are "
				  "not supported)", plabel);
		goto out;
	}
	snprintf(plabel, sizeof(plabel), "%s: %.*s", label, (int)pkl->name_len, pkl->name);
	if (pkl->size > SB_CHECKPOINT_MAX_PICKLE) {
		rc = sb_error_set(err, SB_ELIMIT, "%s: %zu bytes, limit %zu", plabel, pkl->size,
				  SB_CHECKPOINT_MAX_PICKLE);
		goto out;
	}
	/* Only the pickle is checksummed: it is small, and the data is checked by use. */
	if (crc32_update(0, p + pkl->data, pkl->size) != pkl->crc) {
		rc = sb_error_set(err, SB_EFORMAT, "%s: crc32 mismatch (corrupt archive)", plabel);
		goto out;
	}
	k.p = p + pkl->data;
	k.n = pkl->size;
	k.file = p;
	k.zip = &z;
	k.prefix = ck->prefix;
	k.prefix_len = strlen(ck->prefix);
	k.label = plabel;
	k.err = err;
	rc = pk_run(&k, &root);
	if (rc)
		goto out;
	rc = collect(ck, &k, root);
out:
	pk_free_all(&k);
	free(z.ents);
	return rc;
}

/* ------------------------------------------------------------------------------------ */
/*
 * The legacy format (torch.save before 1.6, or _use_new_zipfile_serialization=False):
 * five pickles one after the other, then the storages.
 *   1. the magic number 0x1950a86a20f9469cfc6c     2. the protocol version, 1001
 *   3. sys_info {"protocol_version", "little_endian", "type_sizes"}
 *   4. the state dict, persistent ids ('storage', type, key, location, numel, view)
 *   5. the list of storage keys, in the order their data follows:
 *      for each, numel as 8 bytes little-endian, then numel x itemsize bytes.
 */
static const unsigned char legacy_magic[] = {
	0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.'
};

static void pk_init(struct pk *k, const unsigned char *p, size_t size, size_t pos,
		    const char *label, struct sb_error *err)
{
	memset(k, 0, sizeof(*k));
	k->p = p;       /* the whole file: offsets in messages are file offsets */
	k->n = size;
	k->pos = pos;
	k->file = p;
	k->prefix = "";
	k->label = label;
	k->err = err;
	k->legacy = 1;
	k->trailing_ok = 1;
}

static int storage_cmp(const void *a, const void *b)
{
	const struct pk_val *x = *(const struct pk_val *const *)a;
	const struct pk_val *y = *(const struct pk_val *const *)b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->s, y->s, n);
	if (c)
		return c;
	return x->len < y->len ? -1 : x->len > y->len ? 1 : 0;
}

/* Gives every storage of the main pickle its file offset, from the data after pickle 5. */
static int locate_storages(struct pk *main, const struct pk_val *keys, size_t *pos,
			   size_t size)
{
	struct pk_val **v = NULL;
	size_t n = 0, cap = 0;
	int rc = SB_OK;

	for (struct pk_val *s = main->all; s; s = s->next) {
		if (s->type != PK_STORAGE)
			continue;
		if (n == cap) {
			size_t c = cap ? cap * 2 : 64;
			struct pk_val **t = realloc(v, c * sizeof(*t));
			if (!t) {
				free(v);
				return sb_error_set(main->err, SB_ENOMEM, "%s: out of memory",
						    main->label);
			}
			v = t;
			cap = c;
		}
		v[n++] = s;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), storage_cmp);
	for (size_t i = 0; i < keys->len && rc == SB_OK; i++) {
		const struct pk_val *key = keys->items[i];
		struct pk_val probe = { .s = key->s, .len = key->len }, *pp = &probe, **hit;
		size_t lo, hi, numel;

		if (key->type != PK_STR) {
			rc = sb_error_set(main->err, SB_EFORMAT, "%s: storage key %zu is a %s",
					  main->label, i, pk_type_names[key->type]);
			break;
		}
		hit = n ? bsearch(&pp, v, n, sizeof(*v), storage_cmp) : NULL;
		if (!hit) {
			rc = sb_error_set(main->err, SB_EFORMAT, "%s: storage '%.*s' is listed but "
					  "no tensor uses it", main->label, (int)key->len, key->s);
			break;
		}
		lo = hi = (size_t)(hit - v);
		while (lo > 0 && storage_cmp(&v[lo - 1], &pp) == 0)
			lo--;
		while (hi + 1 < n && storage_cmp(&v[hi + 1], &pp) == 0)
			hi++;
		if (v[lo]->data != SIZE_MAX) {
			rc = sb_error_set(main->err, SB_EFORMAT, "%s: storage '%.*s' is listed twice",
					  main->label, (int)key->len, key->s);
			break;
		}
		if (size - *pos < 8) {
			rc = sb_error_set(main->err, SB_ETRUNCATED, "%s: byte %zu: file ends "
					  "before storage '%.*s'", main->label, *pos,
					  (int)key->len, key->s);
			break;
		}
		numel = sb_le64(main->p + *pos) > SIZE_MAX ? SIZE_MAX :
			(size_t)sb_le64(main->p + *pos);
		for (size_t j = lo; j <= hi && rc == SB_OK; j++)
			if (v[j]->numel != numel || v[j]->st->itemsize != v[lo]->st->itemsize)
				rc = sb_error_set(main->err, SB_EFORMAT, "%s: byte %zu: storage "
						  "'%.*s' holds %zu elements, the pickle says %zu "
						  "x %s", main->label, *pos, (int)key->len, key->s,
						  numel, v[j]->numel, v[j]->st->name);
		if (rc)
			break;
		/* numel x itemsize was checked for overflow when the storage was made. */
		if (numel * v[lo]->st->itemsize > size - *pos - 8) {
			rc = sb_error_set(main->err, SB_ETRUNCATED, "%s: byte %zu: storage '%.*s' "
					  "of %zu x %s runs past the end of the file",
					  main->label, *pos, (int)key->len, key->s, numel,
					  v[lo]->st->name);
			break;
		}
		for (size_t j = lo; j <= hi; j++)
			v[j]->data = *pos + 8;
		*pos += 8 + numel * v[lo]->st->itemsize;
	}
	free(v);
	if (rc == SB_OK && *pos != size)
		rc = sb_error_set(main->err, SB_EFORMAT, "%s: %zu bytes after the last storage",
				  main->label, size - *pos);
	return rc;
}

static int parse_legacy(struct sb_checkpoint *ck, const unsigned char *p, size_t size,
			const char *label, struct sb_error *err)
{
	struct pk hdr, main, keys;
	struct pk_val *v, *root, *list;
	char plabel[SB_ERROR_MSG_MAX];
	size_t pos = sizeof(legacy_magic);
	int rc;

	snprintf(plabel, sizeof(plabel), "%s: legacy format", label);
	pk_init(&hdr, p, size, pos, plabel, err);
	pk_init(&main, p, size, 0, plabel, err);
	pk_init(&keys, p, size, 0, plabel, err);
	/* 2: the protocol version. */
	rc = pk_run(&hdr, &v);
	if (rc)
		goto out;
	if (v->type != PK_INT || v->i != 1001) {
		rc = sb_error_set(err, SB_EUNSUPPORTED, "%s: protocol version is not 1001",
				  plabel);
		goto out;
	}
	pos = hdr.pos;
	pk_free_all(&hdr);
	/* 3: sys_info; refuse big-endian data. */
	pk_init(&hdr, p, size, pos, plabel, err);
	rc = pk_run(&hdr, &v);
	if (rc)
		goto out;
	if (v->type != PK_DICT) {
		rc = sb_error_set(err, SB_EFORMAT, "%s: sys_info is a %s, expected a dict", plabel,
				  pk_type_names[v->type]);
		goto out;
	}
	for (size_t i = 0; i < v->len; i++)
		if (is_str(v->items[2 * i], "little_endian") &&
		    v->items[2 * i + 1]->type == PK_BOOL && v->items[2 * i + 1]->i == 0) {
			rc = sb_error_set(err, SB_EUNSUPPORTED, "%s: big-endian data is not "
					  "supported", plabel);
			goto out;
		}
	/* 4: the state dict; 5: the storage keys. */
	main.pos = hdr.pos;
	rc = pk_run(&main, &root);
	if (rc)
		goto out;
	keys.pos = main.pos;
	rc = pk_run(&keys, &list);
	if (rc)
		goto out;
	if (list->type != PK_LIST) {
		rc = sb_error_set(err, SB_EFORMAT, "%s: the storage keys are a %s, expected a "
				  "list", plabel, pk_type_names[list->type]);
		goto out;
	}
	pos = keys.pos;
	rc = locate_storages(&main, list, &pos, size);
	if (rc)
		goto out;
	rc = collect(ck, &main, root);
out:
	pk_free_all(&hdr);
	pk_free_all(&main);
	pk_free_all(&keys);
	return rc;
}

int sb_checkpoint_parse(struct sb_checkpoint *ck, const void *file, size_t size,
			const char *label, struct sb_error *err)
{
	const unsigned char *p = file;
	int rc;

	memset(ck, 0, sizeof(*ck));
	if (size >= sizeof(legacy_magic) && memcmp(p, legacy_magic, sizeof(legacy_magic)) == 0)
		rc = parse_legacy(ck, p, size, label, err);
	else
		rc = parse_zip(ck, p, size, label, err);
	if (rc)
		sb_checkpoint_destroy(ck);
	return rc;
}

void sb_checkpoint_destroy(struct sb_checkpoint *ck)
{
	if (!ck)
		return;
	for (size_t i = 0; i < ck->n_entries; i++)
		free(ck->entries[i].name);
	free(ck->entries);
	memset(ck, 0, sizeof(*ck));
}
