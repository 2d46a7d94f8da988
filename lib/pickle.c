/*
 * pickle.c - the restricted pickle machine of checkpoint.c (see pickle.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pickle.h"
#include "pickle_ops.h"

const char *const sb_pickle_type_names[] = {
	"None", "bool", "int", "str", "tuple", "list", "dict", "global", "storage", "tensor"
};

enum pk_global {
	G_ORDERED_DICT, G_REBUILD_TENSOR_V2, G_REBUILD_PARAMETER, G_STORAGE /* + index */
};

static const struct sb_pickle_storage storage_types[] = {
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

enum {
#define X(name, byte) OP_##name = byte,
	SB_PICKLE_OPCODES(X)
#undef X
};

static const char *opcode_name(unsigned char op)
{
	switch (op) {
#define X(name, byte) case OP_##name: return #name;
	SB_PICKLE_OPCODES(X)
#undef X
	default: return "unknown";
	}
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
static struct sb_pickle_val *pk_new(struct sb_pickle *k, enum sb_pickle_type t)
{
	struct sb_pickle_val *v;

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

void sb_pickle_free(struct sb_pickle *k)
{
	struct sb_pickle_val *v = k->all;
	while (v) {
		struct sb_pickle_val *next = v->next;
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

static int pk_push(struct sb_pickle *k, struct sb_pickle_val *v)
{
	if (!v)
		return k->fail;
	if (k->sp == k->stack_cap) {
		size_t cap = k->stack_cap ? k->stack_cap * 2 : 64;
		struct sb_pickle_val **s;
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
static size_t pk_base(const struct sb_pickle *k)
{
	return k->n_marks ? k->marks[k->n_marks - 1] : 0;
}

static int pk_pop(struct sb_pickle *k, struct sb_pickle_val **out)
{
	if (k->sp <= pk_base(k))
		return PK_ERR(k, SB_EFORMAT, "%s on an empty stack", opcode_name(k->p[k->op_pos]));
	*out = k->stack[--k->sp];
	return SB_OK;
}

static int pk_top(struct sb_pickle *k, struct sb_pickle_val **out)
{
	if (k->sp <= pk_base(k))
		return PK_ERR(k, SB_EFORMAT, "%s on an empty stack", opcode_name(k->p[k->op_pos]));
	*out = k->stack[k->sp - 1];
	return SB_OK;
}

/* Ends the innermost mark frame: *first and *count describe the values above it. */
static int pk_pop_mark(struct sb_pickle *k, size_t *first, size_t *count)
{
	if (!k->n_marks)
		return PK_ERR(k, SB_EFORMAT, "%s without a MARK", opcode_name(k->p[k->op_pos]));
	*first = k->marks[--k->n_marks];
	*count = k->sp - *first;
	return SB_OK;
}

static struct sb_pickle_val *pk_tuple(struct sb_pickle *k, struct sb_pickle_val **items, size_t n)
{
	struct sb_pickle_val *t = pk_new(k, SB_PK_TUPLE);
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

static int pk_dict_set(struct sb_pickle *k, struct sb_pickle_val *d, struct sb_pickle_val *key,
		       struct sb_pickle_val *val)
{
	if (d->type != SB_PK_DICT)
		return PK_ERR(k, SB_EFORMAT, "%s on a %s, expected a dict",
			      opcode_name(k->p[k->op_pos]), sb_pickle_type_names[d->type]);
	if (d->len == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct sb_pickle_val **it = realloc(d->items, cap * 2 * sizeof(*it));
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

static int pk_list_append(struct sb_pickle *k, struct sb_pickle_val *l, struct sb_pickle_val *v)
{
	if (l->type != SB_PK_LIST)
		return PK_ERR(k, SB_EFORMAT, "%s on a %s, expected a list",
			      opcode_name(k->p[k->op_pos]), sb_pickle_type_names[l->type]);
	if (l->len == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct sb_pickle_val **it = realloc(l->items, cap * sizeof(*it));
		if (!it)
			return PK_ERR(k, SB_ENOMEM, "out of memory");
		l->items = it;
		l->cap = cap;
	}
	l->items[l->len++] = v;
	return SB_OK;
}

static int pk_need(struct sb_pickle *k, size_t n)
{
	if (k->n - k->pos < n)
		return sb_error_set(k->err, SB_ETRUNCATED, "%s: byte %zu: %s needs %zu bytes, %zu "
				    "remain", k->label, k->op_pos, opcode_name(k->p[k->op_pos]),
				    n, k->n - k->pos);
	return SB_OK;
}

static int pk_memo_put(struct sb_pickle *k, size_t idx)
{
	struct sb_pickle_val *v = NULL;
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
			struct sb_pickle_val **m = realloc(k->memo, cap * sizeof(*m));
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

static int pk_memo_get(struct sb_pickle *k, size_t idx)
{
	if (idx >= k->n_memo)
		return PK_ERR(k, SB_EFORMAT, "memo index %zu was never stored", idx);
	return pk_push(k, k->memo[idx]);
}

static int pk_global(struct sb_pickle *k, const char *mod, size_t ml, const char *name, size_t nl)
{
	struct sb_pickle_val *g;
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
	g = pk_new(k, SB_PK_GLOBAL);
	if (!g)
		return k->fail;
	g->i = id;
	return pk_push(k, g);
}

/* GLOBAL: "module\nname\n". */
static int op_global(struct sb_pickle *k, unsigned char op)
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

static int as_size(const struct sb_pickle_val *v, size_t *out)
{
	if (v->type != SB_PK_INT || v->i < 0 || (uint64_t)v->i > SIZE_MAX)
		return -1;
	*out = (size_t)v->i;
	return 0;
}

int sb_pickle_is_str(const struct sb_pickle_val *v, const char *lit)
{
	return v->type == SB_PK_STR && v->len == strlen(lit) && memcmp(v->s, lit, v->len) == 0;
}

/* BINPERSID: ('storage', torch.XStorage, key, location, numel) -> the storage's bytes. */
static int op_persid(struct sb_pickle *k, unsigned char op)
{
	struct sb_pickle_val *pid = NULL, *s = NULL;
	const struct sb_pickle_storage *st;
	const struct sb_zip_entry *e;
	size_t numel, nbytes, plen;
	char path[512];
	int rc = pk_pop(k, &pid);

	if (rc)
		return rc;
	/* The legacy format adds view_metadata, None unless a storage view was saved. */
	if (pid->type != SB_PK_TUPLE || pid->len != 5 + (size_t)k->legacy ||
	    !sb_pickle_is_str(pid->items[0], "storage") ||
	    pid->items[1]->type != SB_PK_GLOBAL || pid->items[1]->i < G_STORAGE ||
	    pid->items[2]->type != SB_PK_STR || pid->items[3]->type != SB_PK_STR ||
	    as_size(pid->items[4], &numel) < 0)
		return PK_ERR(k, SB_EFORMAT, "persistent id is not ('storage', type, key, "
			      "location, numel%s)", k->legacy ? ", view" : "");
	st = &storage_types[pid->items[1]->i - G_STORAGE];
	if (k->legacy) {
		if (pid->items[5]->type != SB_PK_NONE)
			return PK_ERR(k, SB_EUNSUPPORTED, "storage '%.*s': views of storages "
				      "(legacy format) are not supported",
				      (int)pid->items[2]->len, pid->items[2]->s);
		if (sb_size_mul(numel, st->itemsize, &nbytes) < 0)
			return PK_ERR(k, SB_ELIMIT, "storage '%.*s': %zu elements overflow",
				      (int)pid->items[2]->len, pid->items[2]->s, numel);
		if (!(s = pk_new(k, SB_PK_STORAGE)))
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
	e = sb_zip_find(k->zip, path, plen);
	if (!e)
		return PK_ERR(k, SB_EFORMAT, "storage '%.*s': no zip entry '%.*s'",
			      (int)pid->items[2]->len, pid->items[2]->s, (int)plen, path);
	if (sb_size_mul(numel, st->itemsize, &nbytes) < 0 || nbytes != e->size)
		return PK_ERR(k, SB_EFORMAT, "storage '%.*s': %zu x %s elements, zip entry holds "
			      "%zu bytes", (int)pid->items[2]->len, pid->items[2]->s, numel,
			      st->name, e->size);
	s = pk_new(k, SB_PK_STORAGE);
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
static int rebuild_tensor(struct sb_pickle *k, const struct sb_pickle_val *args,
			  struct sb_pickle_val **out)
{
	const struct sb_pickle_val *s, *size, *stride;
	/* (storage numel x itemsize was checked to fit when the storage was made) */
	struct sb_pickle_val *t;
	size_t offset, numel = 1, expect = 1, end, n;

	if (args->len != 6 && args->len != 7)
		return PK_ERR(k, SB_EFORMAT, "_rebuild_tensor_v2 with %zu arguments, expected 6 "
			      "or 7", args->len);
	s = args->items[0];
	size = args->items[2];
	stride = args->items[3];
	if (s->type != SB_PK_STORAGE || as_size(args->items[1], &offset) < 0 ||
	    size->type != SB_PK_TUPLE || stride->type != SB_PK_TUPLE ||
	    (args->items[4]->type != SB_PK_BOOL && args->items[4]->type != SB_PK_INT) ||
	    args->items[5]->type != SB_PK_DICT ||
	    (args->len == 7 && args->items[6]->type != SB_PK_DICT &&
						args->items[6]->type != SB_PK_NONE))
		return PK_ERR(k, SB_EFORMAT, "_rebuild_tensor_v2 arguments are not (storage, int, "
			      "tuple, tuple, bool, dict[, dict])");
	n = size->len;
	if (n > SB_TENSOR_MAX_DIMS)
		return PK_ERR(k, SB_EUNSUPPORTED, "tensor with %zu dimensions, at most %d "
			      "supported", n, SB_TENSOR_MAX_DIMS);
	if (stride->len != n)
		return PK_ERR(k, SB_EFORMAT, "tensor size has %zu dimensions, stride %zu", n,
			      stride->len);
	t = pk_new(k, SB_PK_TENSOR);
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
	t->storage = (struct sb_pickle_val *)s;
	t->offset = offset;
	*out = t;
	return SB_OK;
}

static int op_reduce(struct sb_pickle *k, unsigned char op)
{
	struct sb_pickle_val *f = NULL, *args = NULL, *r = NULL;
	int rc;

	if ((rc = pk_pop(k, &args)) || (rc = pk_pop(k, &f)))
		return rc;
	if (f->type != SB_PK_GLOBAL)
		return PK_ERR(k, SB_EFORMAT, "REDUCE on a %s, expected an allowed global",
			      sb_pickle_type_names[f->type]);
	if (args->type != SB_PK_TUPLE)
		return PK_ERR(k, SB_EFORMAT, "REDUCE of '%s' with a %s, expected a tuple",
			      global_name(f->i), sb_pickle_type_names[args->type]);
	switch (f->i) {
	case G_ORDERED_DICT:
		if (args->len != 0)
			return PK_ERR(k, SB_EFORMAT, "OrderedDict with %zu arguments, expected 0",
				      args->len);
		r = pk_new(k, SB_PK_DICT);
		break;
	case G_REBUILD_TENSOR_V2:
		rc = rebuild_tensor(k, args, &r);
		if (rc)
			return rc;
		break;
	case G_REBUILD_PARAMETER:
		/* _rebuild_parameter(data, requires_grad, backward_hooks): the tensor itself. */
		if (args->len != 3 || args->items[0]->type != SB_PK_TENSOR)
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

static int op_build(struct sb_pickle *k, unsigned char op)
{
	struct sb_pickle_val *state = NULL, *obj = NULL;
	int rc;

	if ((rc = pk_pop(k, &state)) || (rc = pk_top(k, &obj)))
		return rc;
	/* state_dict() is an OrderedDict whose __dict__ holds _metadata: kept as data, unused. */
	if (obj->type != SB_PK_DICT || (state->type != SB_PK_DICT && state->type != SB_PK_NONE))
		return PK_ERR(k, SB_EFORMAT, "BUILD of a %s with a %s state; only an OrderedDict's "
			      "attributes are allowed", sb_pickle_type_names[obj->type],
			      sb_pickle_type_names[state->type]);
	return SB_OK;
}

/*
 * The opcodes a state dict uses, one handler each (op is the opcode byte, k->pos
 * just past it).  A handler consumes its argument bytes and returns SB_OK or the
 * error it set.  STOP is the run loop's, since it ends the machine.
 */
typedef int (*op_fn)(struct sb_pickle *k, unsigned char op);

static int op_proto(struct sb_pickle *k, unsigned char op)
{
	int rc;

	if ((rc = pk_need(k, 1)))
		return rc;
	if (k->p[k->pos] < 2 || k->p[k->pos] > 5)
		return PK_ERR(k, SB_EUNSUPPORTED, "pickle protocol %u, expected 2 to 5",
			      k->p[k->pos]);
	k->pos++;
	return SB_OK;
}

/* FRAME: a length hint only. */
static int op_frame(struct sb_pickle *k, unsigned char op)
{
	int rc;

	if ((rc = pk_need(k, 8)))
		return rc;
	k->pos += 8;
	return SB_OK;
}

static int op_mark(struct sb_pickle *k, unsigned char op)
{
	if (k->n_marks == SB_CHECKPOINT_MAX_MARKS)
		return PK_ERR(k, SB_ELIMIT, "more than %d nested MARKs", SB_CHECKPOINT_MAX_MARKS);
	k->marks[k->n_marks++] = k->sp;
	return SB_OK;
}

/* EMPTY_DICT, EMPTY_LIST (the legacy format's list of storage keys), NONE. */
static int op_empty(struct sb_pickle *k, unsigned char op)
{
	enum sb_pickle_type t = op == OP_EMPTY_DICT ? SB_PK_DICT :
				op == OP_EMPTY_LIST ? SB_PK_LIST : SB_PK_NONE;

	return pk_push(k, pk_new(k, t));
}

static int op_empty_tuple(struct sb_pickle *k, unsigned char op)
{
	return pk_push(k, pk_tuple(k, NULL, 0));
}

static int op_append(struct sb_pickle *k, unsigned char op)
{
	struct sb_pickle_val *l = NULL, *v = NULL;
	int rc;

	if ((rc = pk_pop(k, &v)) || (rc = pk_top(k, &l)))
		return rc;
	return pk_list_append(k, l, v);
}

static int op_appends(struct sb_pickle *k, unsigned char op)
{
	size_t first, count;
	int rc;

	if ((rc = pk_pop_mark(k, &first, &count)))
		return rc;
	if (first <= pk_base(k))
		return PK_ERR(k, SB_EFORMAT, "APPENDS without a list below its MARK");
	for (size_t i = first; i < first + count && rc == SB_OK; i++)
		rc = pk_list_append(k, k->stack[first - 1], k->stack[i]);
	k->sp = first;
	return rc;
}

static int op_bool(struct sb_pickle *k, unsigned char op)
{
	struct sb_pickle_val *v = pk_new(k, SB_PK_BOOL);

	if (!v)
		return k->fail;
	v->i = op == OP_NEWTRUE;
	return pk_push(k, v);
}

/* BININT (int32), BININT1 (uint8), BININT2 (uint16). */
static int op_binint(struct sb_pickle *k, unsigned char op)
{
	size_t count = op == OP_BININT ? 4 : op == OP_BININT1 ? 1 : 2;
	struct sb_pickle_val *v;
	int rc;

	if ((rc = pk_need(k, count)))
		return rc;
	if (!(v = pk_new(k, SB_PK_INT)))
		return k->fail;
	v->i = op == OP_BININT ? (int64_t)(int32_t)sb_le32(k->p + k->pos) :
	       op == OP_BININT1 ? k->p[k->pos] : sb_le16(k->p + k->pos);
	k->pos += count;
	return pk_push(k, v);
}

/* LONG1: an n-byte two's complement integer, little-endian. */
static int op_long1(struct sb_pickle *k, unsigned char op)
{
	struct sb_pickle_val *v;
	uint64_t u = 0;
	size_t count;
	int rc;

	if ((rc = pk_need(k, 1)))
		return rc;
	count = k->p[k->pos++];
	if (count > 8)
		return PK_ERR(k, SB_ELIMIT, "LONG1 of %zu bytes does not fit 64 bits", count);
	if ((rc = pk_need(k, count)))
		return rc;
	if (!(v = pk_new(k, SB_PK_INT)))
		return k->fail;
	for (size_t i = 0; i < count; i++)
		u |= (uint64_t)k->p[k->pos + i] << (8 * i);
	if (count > 0 && count < 8 && (k->p[k->pos + count - 1] & 0x80))
		u |= ~(uint64_t)0 << (8 * count);
	v->i = (int64_t)u;
	k->pos += count;
	return pk_push(k, v);
}

/* BINUNICODE (uint32 length + UTF-8), SHORT_BINUNICODE (uint8 length). */
static int op_unicode(struct sb_pickle *k, unsigned char op)
{
	size_t count = op == OP_BINUNICODE ? 4 : 1, len;
	struct sb_pickle_val *v;
	int rc;

	if ((rc = pk_need(k, count)))
		return rc;
	len = op == OP_BINUNICODE ? sb_le32(k->p + k->pos) : k->p[k->pos];
	k->pos += count;
	if ((rc = pk_need(k, len)))
		return rc;
	if (!(v = pk_new(k, SB_PK_STR)))
		return k->fail;
	v->s = (const char *)k->p + k->pos;
	v->len = len;
	k->pos += len;
	return pk_push(k, v);
}

static int op_tuple(struct sb_pickle *k, unsigned char op)
{
	struct sb_pickle_val *v;
	size_t first, count;
	int rc;

	if ((rc = pk_pop_mark(k, &first, &count)))
		return rc;
	v = pk_tuple(k, count ? k->stack + first : NULL, count);
	k->sp = first;
	return pk_push(k, v);
}

/* TUPLE1, TUPLE2, TUPLE3. */
static int op_tuple_n(struct sb_pickle *k, unsigned char op)
{
	size_t count = (size_t)(op - OP_TUPLE1) + 1;
	struct sb_pickle_val *v;

	if (k->sp - pk_base(k) < count)
		return PK_ERR(k, SB_EFORMAT, "%s with %zu values on the stack", opcode_name(op),
			      k->sp - pk_base(k));
	v = pk_tuple(k, k->stack + k->sp - count, count);
	k->sp -= count;
	return pk_push(k, v);
}

/* The memo index of BINPUT, LONG_BINPUT, BINGET, LONG_BINGET (1 or 4 bytes). */
static int memo_index(struct sb_pickle *k, unsigned char op, size_t *idx)
{
	size_t n = op == OP_BINPUT || op == OP_BINGET ? 1 : 4;
	int rc;

	if ((rc = pk_need(k, n)))
		return rc;
	*idx = n == 1 ? k->p[k->pos] : sb_le32(k->p + k->pos);
	k->pos += n;
	return SB_OK;
}

static int op_put(struct sb_pickle *k, unsigned char op)
{
	size_t idx;
	int rc;

	if ((rc = memo_index(k, op, &idx)))
		return rc;
	return pk_memo_put(k, idx);
}

static int op_memoize(struct sb_pickle *k, unsigned char op)
{
	return pk_memo_put(k, k->n_memo);
}

static int op_get(struct sb_pickle *k, unsigned char op)
{
	size_t idx;
	int rc;

	if ((rc = memo_index(k, op, &idx)))
		return rc;
	return pk_memo_get(k, idx);
}

static int op_stack_global(struct sb_pickle *k, unsigned char op)
{
	struct sb_pickle_val *mod = NULL, *name = NULL;
	int rc;

	if ((rc = pk_pop(k, &name)) || (rc = pk_pop(k, &mod)))
		return rc;
	if (mod->type != SB_PK_STR || name->type != SB_PK_STR)
		return PK_ERR(k, SB_EFORMAT, "STACK_GLOBAL of a %s and a %s",
			      sb_pickle_type_names[mod->type], sb_pickle_type_names[name->type]);
	return pk_global(k, mod->s, mod->len, name->s, name->len);
}

static int op_setitem(struct sb_pickle *k, unsigned char op)
{
	struct sb_pickle_val *d = NULL, *key = NULL, *v = NULL;
	int rc;

	if ((rc = pk_pop(k, &v)) || (rc = pk_pop(k, &key)) || (rc = pk_top(k, &d)))
		return rc;
	return pk_dict_set(k, d, key, v);
}

static int op_setitems(struct sb_pickle *k, unsigned char op)
{
	size_t first, count;
	int rc;

	if ((rc = pk_pop_mark(k, &first, &count)))
		return rc;
	if (count % 2)
		return PK_ERR(k, SB_EFORMAT, "SETITEMS with an odd number (%zu) of values", count);
	if (first <= pk_base(k))
		return PK_ERR(k, SB_EFORMAT, "SETITEMS without a dict below its MARK");
	for (size_t i = first; i < first + count && rc == SB_OK; i += 2)
		rc = pk_dict_set(k, k->stack[first - 1], k->stack[i], k->stack[i + 1]);
	k->sp = first;
	return rc;
}


/* Every other opcode (NULL here) is refused by name. */
static const op_fn op_table[256] = {
	[OP_PROTO] = op_proto, [OP_FRAME] = op_frame, [OP_MARK] = op_mark,
	[OP_EMPTY_DICT] = op_empty, [OP_EMPTY_LIST] = op_empty, [OP_NONE] = op_empty,
	[OP_EMPTY_TUPLE] = op_empty_tuple, [OP_APPEND] = op_append, [OP_APPENDS] = op_appends,
	[OP_NEWTRUE] = op_bool, [OP_NEWFALSE] = op_bool,
	[OP_BININT] = op_binint, [OP_BININT1] = op_binint, [OP_BININT2] = op_binint,
	[OP_LONG1] = op_long1, [OP_BINUNICODE] = op_unicode, [OP_SHORT_BINUNICODE] = op_unicode,
	[OP_TUPLE] = op_tuple, [OP_TUPLE1] = op_tuple_n, [OP_TUPLE2] = op_tuple_n,
	[OP_TUPLE3] = op_tuple_n, [OP_BINPUT] = op_put, [OP_LONG_BINPUT] = op_put,
	[OP_MEMOIZE] = op_memoize, [OP_BINGET] = op_get, [OP_LONG_BINGET] = op_get,
	[OP_GLOBAL] = op_global, [OP_STACK_GLOBAL] = op_stack_global,
	[OP_BINPERSID] = op_persid, [OP_REDUCE] = op_reduce, [OP_BUILD] = op_build,
	[OP_SETITEM] = op_setitem, [OP_SETITEMS] = op_setitems,
};

/* STOP: the one value left on the stack is the result. */
static int op_stop(struct sb_pickle *k, struct sb_pickle_val **result)
{
	if (k->n_marks || k->sp != 1)
		return PK_ERR(k, SB_EFORMAT, "STOP with %zu values and %zu marks on the stack, "
			      "expected one value", k->sp, k->n_marks);
	if (k->pos != k->n && !k->trailing_ok)
		return PK_ERR(k, SB_EFORMAT, "%zu bytes after STOP", k->n - k->pos);
	*result = k->stack[0];
	return SB_OK;
}

int sb_pickle_run(struct sb_pickle *k, struct sb_pickle_val **result)
{
	size_t start = k->pos;
	int rc;

	while (k->pos < k->n) {
		unsigned char op = k->p[k->pos];

		k->op_pos = k->pos++;
		/* data.pkl is checked before; a legacy pickle's end is found by reading it. */
		if (k->op_pos - start >= SB_CHECKPOINT_MAX_PICKLE)
			return PK_ERR(k, SB_ELIMIT, "pickle longer than %zu bytes",
				      SB_CHECKPOINT_MAX_PICKLE);
		if (op == OP_STOP)
			return op_stop(k, result);
		if (!op_table[op])
			return PK_ERR(k, SB_EFORMAT, "opcode 0x%02x (%s) is not allowed in a state "
				      "dict", op, opcode_name(op));
		if ((rc = op_table[op](k, op)))
			return rc;
	}
	return sb_error_set(k->err, SB_ETRUNCATED, "%s: pickle ends at byte %zu without STOP",
			    k->label, k->n);
}
