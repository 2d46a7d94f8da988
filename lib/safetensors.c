/*
 * safetensors.c - validating safetensors reader (see safetensors.h for the layout).
 *
 * The rules follow huggingface/safetensors (safetensors/src/tensor.rs): header size
 * bounded, header JSON, known dtypes, offsets sorted, contiguous and covering the data
 * exactly, shape x itemsize == END - BEGIN; duplicate names are rejected explicitly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "internal.h"
#include "json.h"
#include "safetensors.h"

struct st_dtype {
	const char *name;
	int dtype;              /* enum sb_dtype or -1 */
	size_t itemsize;
};

/* Every dtype of the reference whose elements are whole bytes. */
static const struct st_dtype st_dtypes[] = {
	{ "F32", SB_DTYPE_F32, 4 },
	{ "F16", SB_DTYPE_F16, 2 },
	{ "BF16", SB_DTYPE_BF16, 2 },
	{ "I32", SB_DTYPE_I32, 4 },
	{ "I64", SB_DTYPE_I64, 8 },
	{ "I8", SB_DTYPE_I8, 1 },
	{ "U8", SB_DTYPE_U8, 1 },
	{ "F64", -1, 8 },
	{ "BOOL", -1, 1 },
	{ "I16", -1, 2 },
	{ "U16", -1, 2 },
	{ "U32", -1, 4 },
	{ "U64", -1, 8 },
	{ "F8_E4M3", -1, 1 },
	{ "F8_E5M2", -1, 1 },
};

static const struct st_dtype *find_dtype(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(st_dtypes) / sizeof(st_dtypes[0]); i++)
		if (strlen(st_dtypes[i].name) == n && memcmp(st_dtypes[i].name, s, n) == 0)
			return &st_dtypes[i];
	return NULL;
}

/* Reads a JSON number that must be an integer in [0, SIZE_MAX]. */
static int json_size(const struct sb_json *j, size_t *out)
{
	if (!j || j->type != SB_JSON_NUMBER || !j->is_int || j->i < 0)
		return -1;
	if ((uint64_t)j->i > SIZE_MAX)
		return -1;
	*out = (size_t)j->i;
	return 0;
}

static int parse_entry(const struct sb_json *m, size_t data_size,
		       struct sb_safetensors_entry *e, const char *label, struct sb_error *err)
{
	const struct sb_json *jd = NULL, *js = NULL, *jo = NULL;
	size_t begin, end, numel = 1, nbytes;

	if (strlen(m->key) != m->key_len)
		return sb_error_set(err, SB_EFORMAT, "%s: a tensor name contains a NUL byte",
				    label);
	e->name = m->key;
	if (m->type != SB_JSON_OBJECT)
		return sb_error_set(err, SB_EFORMAT, "%s: tensor '%s': entry is not an object",
				    label, m->key);
	for (size_t i = 0; i < m->n_items; i++) {
		const struct sb_json *f = &m->items[i];
		if (strcmp(f->key, "dtype") == 0)
			jd = f;
		else if (strcmp(f->key, "shape") == 0)
			js = f;
		else if (strcmp(f->key, "data_offsets") == 0)
			jo = f;
		/* Other members are ignored, as the reference does. */
	}
	if (!jd || !js || !jo)
		return sb_error_set(err, SB_EFORMAT, "%s: tensor '%s': missing '%s'", label, m->key,
				    !jd ? "dtype" : !js ? "shape" : "data_offsets");
	if (jd->type != SB_JSON_STRING)
		return sb_error_set(err, SB_EFORMAT, "%s: tensor '%s': dtype is not a string",
				    label, m->key);
	const struct st_dtype *dt = find_dtype(jd->str, jd->len);
	if (!dt)
		return sb_error_set(err, SB_EUNSUPPORTED, "%s: tensor '%s': unknown dtype '%.32s'",
				    label, m->key, jd->str);
	e->dtype_name = dt->name;
	e->dtype = dt->dtype;
	e->itemsize = dt->itemsize;

	if (js->type != SB_JSON_ARRAY)
		return sb_error_set(err, SB_EFORMAT, "%s: tensor '%s': shape is not an array",
				    label, m->key);
	if (js->n_items > SB_TENSOR_MAX_DIMS)
		return sb_error_set(err, SB_EUNSUPPORTED,
				    "%s: tensor '%s': %zu dimensions, at most %d supported",
				    label, m->key, js->n_items, SB_TENSOR_MAX_DIMS);
	e->n_dims = (int)js->n_items;
	for (size_t i = 0; i < js->n_items; i++) {
		if (json_size(&js->items[i], &e->shape[i]) < 0)
			return sb_error_set(err, SB_EFORMAT, "%s: tensor '%s': shape[%zu] is not a "
					    "non-negative integer", label, m->key, i);
	}
	/*
	 * A 0 anywhere makes an empty tensor, but the other dimensions must still have a
	 * representable product: code computing strides from this shape must not overflow.
	 */
	int overflow = 0, empty = 0;
	for (int i = 0; i < e->n_dims; i++) {
		if (e->shape[i] == 0)
			empty = 1;
		else if (sb_size_mul(numel, e->shape[i], &numel) < 0)
			overflow = 1;
	}
	if (empty)
		numel = 0;
	if (overflow || sb_size_mul(numel, e->itemsize, &nbytes) < 0) {
		char s[160];
		return sb_error_set(err, SB_ELIMIT, "%s: tensor '%s': shape %s x %zu bytes "
				    "overflows", label, m->key,
				    sb_shape_str(e->n_dims, e->shape, s, sizeof(s)), e->itemsize);
	}
	e->nbytes = nbytes;

	if (jo->type != SB_JSON_ARRAY || jo->n_items != 2 || json_size(&jo->items[0], &begin) < 0 ||
	    json_size(&jo->items[1], &end) < 0)
		return sb_error_set(err, SB_EFORMAT, "%s: tensor '%s': data_offsets is not a pair "
				    "of non-negative integers", label, m->key);
	if (end < begin)
		return sb_error_set(err, SB_EFORMAT, "%s: tensor '%s': data_offsets [%zu, %zu] end "
				    "before begin", label, m->key, begin, end);
	if (end > data_size)
		return sb_error_set(err, SB_ETRUNCATED, "%s: tensor '%s': data_offsets [%zu, %zu] "
				    "past the end of the data (%zu bytes)", label, m->key, begin,
				    end, data_size);
	if (end - begin != nbytes) {
		char s[160];
		return sb_error_set(err, SB_EFORMAT, "%s: tensor '%s': %s %s is %zu bytes, "
				    "data_offsets [%zu, %zu] hold %zu", label, m->key, dt->name,
				    sb_shape_str(e->n_dims, e->shape, s, sizeof(s)), nbytes, begin,
				    end, end - begin);
	}
	e->offset = begin;      /* made absolute by the caller once sorted */
	return SB_OK;
}

static int cmp_offset(const void *a, const void *b)
{
	const struct sb_safetensors_entry *x = a, *y = b;
	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	/* Empty tensors may share an offset; keep a total order for qsort. */
	if (x->nbytes != y->nbytes)
		return x->nbytes < y->nbytes ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int cmp_name(const void *a, const void *b)
{
	const struct sb_safetensors_entry *const *x = a, *const *y = b;
	return strcmp((*x)->name, (*y)->name);
}

/* The JSON parser rejects duplicates already; this keeps the rule independent of it. */
static int check_duplicates(struct sb_safetensors *st, const char *label, struct sb_error *err)
{
	const struct sb_safetensors_entry **v;
	int rc = SB_OK;

	if (st->n_entries < 2)
		return SB_OK;
	v = malloc(st->n_entries * sizeof(*v));
	if (!v)
		return sb_error_set(err, SB_ENOMEM, "%s: out of memory", label);
	for (size_t i = 0; i < st->n_entries; i++)
		v[i] = &st->entries[i];
	qsort(v, st->n_entries, sizeof(*v), cmp_name);
	for (size_t i = 1; i < st->n_entries; i++) {
		if (strcmp(v[i - 1]->name, v[i]->name) == 0) {
			rc = sb_error_set(err, SB_EFORMAT, "%s: tensor '%s' appears twice", label,
					  v[i]->name);
			break;
		}
	}
	free(v);
	return rc;
}

/*
 * An upper bound of the values in a JSON text: one per ',' ':' '[' '{' outside strings,
 * plus one.  A 100 MB header of "0,0,0,..." would otherwise become a tree of some 50
 * million nodes (gigabytes) before any rule could reject it.
 */
static size_t count_values(const char *s, size_t n)
{
	size_t count = 1;
	int in_str = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == ',' || c == ':' || c == '[' || c == '{') {
			count++;
		}
	}
	return count;
}

/* The 8-byte header size and the JSON header it announces (*root, an object). */
static int parse_header(const unsigned char *p, size_t size, const char *label, uint64_t *n,
			struct sb_json **root, struct sb_error *err)
{
	int rc;

	if (size < 8)
		return sb_error_set(err, SB_ETRUNCATED, "%s: %zu bytes, too short for the 8-byte "
				    "header size", label, size);
	*n = sb_le64(p);
	if (*n > SB_SAFETENSORS_MAX_HEADER)
		return sb_error_set(err, SB_ELIMIT,
				    "%s: header size %llu bytes exceeds the limit of %zu",
				    label, (unsigned long long)*n, SB_SAFETENSORS_MAX_HEADER);
	if (*n > size - 8)
		return sb_error_set(err, SB_ETRUNCATED, "%s: header size %llu bytes past the end "
				    "of the file (%zu bytes)", label, (unsigned long long)*n, size);
	if (*n < 2)
		return sb_error_set(err, SB_EFORMAT, "%s: header of %llu bytes cannot hold a JSON "
				    "object", label, (unsigned long long)*n);
	if (count_values((const char *)p + 8, (size_t)*n) > SB_SAFETENSORS_MAX_VALUES)
		return sb_error_set(err, SB_ELIMIT, "%s: header holds more than %zu JSON values",
				    label, SB_SAFETENSORS_MAX_VALUES);
	rc = sb_json_parse((const char *)p + 8, (size_t)*n, SB_JSON_NO_DUPLICATES, 0, root, err);
	if (rc != SB_OK) {
		sb_error_prefix(err, "%s: header: ", label);
		return err ? err->code : rc;
	}
	if ((*root)->type != SB_JSON_OBJECT) {
		sb_json_free(root);
		return sb_error_set(err, SB_EFORMAT, "%s: header is not a JSON object", label);
	}
	return SB_OK;
}

/* __metadata__ (an object of strings, counted) and the number of tensors. */
static int count_members(struct sb_safetensors *st, const struct sb_json *root,
			 const char *label, size_t *n_tensors, struct sb_error *err)
{
	for (size_t i = 0; i < root->n_items; i++) {
		const struct sb_json *m = &root->items[i];
		if (strcmp(m->key, "__metadata__") != 0) {
			(*n_tensors)++;
			continue;
		}
		if (m->type != SB_JSON_OBJECT)
			return sb_error_set(err, SB_EFORMAT, "%s: __metadata__ is not an object",
					    label);
		for (size_t j = 0; j < m->n_items; j++)
			if (m->items[j].type != SB_JSON_STRING)
				return sb_error_set(err, SB_EFORMAT,
						    "%s: __metadata__ member '%s' is not a string",
						    label, m->items[j].key);
		st->n_metadata = m->n_items;
	}
	return SB_OK;
}

/* Sorted by begin, each tensor must start where the previous one ended, and the last
 * end where the data does.  The offsets become offsets in the file. */
static int check_layout(struct sb_safetensors *st, size_t data_size, const char *label,
			struct sb_error *err)
{
	size_t pos = 0;

	if (st->n_entries > 1)
		qsort(st->entries, st->n_entries, sizeof(*st->entries), cmp_offset);
	for (size_t i = 0; i < st->n_entries; i++) {
		struct sb_safetensors_entry *e = &st->entries[i];

		if (e->offset < pos)
			return sb_error_set(err, SB_EFORMAT, "%s: tensor '%s': data_offsets [%zu, "
					    "%zu] overlap the previous tensor (ends at %zu)",
					    label, e->name, e->offset, e->offset + e->nbytes, pos);
		if (e->offset > pos)
			return sb_error_set(err, SB_EFORMAT, "%s: tensor '%s': data_offsets [%zu, "
					    "%zu] leave a gap after byte %zu", label, e->name,
					    e->offset, e->offset + e->nbytes, pos);
		pos = e->offset + e->nbytes;
		e->offset += st->data_start;
	}
	if (pos != data_size)
		return sb_error_set(err, SB_EFORMAT, "%s: %zu bytes of data after the last tensor "
				    "(data section %zu bytes, tensors %zu)", label, data_size - pos,
				    data_size, pos);
	return SB_OK;
}

int sb_safetensors_parse(struct sb_safetensors *st, const void *file, size_t size,
			 const char *label, struct sb_error *err)
{
	struct sb_json *root = NULL;
	uint64_t n = 0;
	size_t data_size, n_tensors = 0, k = 0;
	int rc;

	memset(st, 0, sizeof(*st));
	if ((rc = parse_header(file, size, label, &n, &root, err)))
		return rc;
	st->header = root;
	st->header_size = (size_t)n;
	st->data_start = 8 + (size_t)n;
	data_size = size - st->data_start;
	if ((rc = count_members(st, root, label, &n_tensors, err)))
		goto fail;
	if (n_tensors > 0) {
		/* n_tensors <= header bytes / 2, so this is bounded by the file size. */
		st->entries = calloc(n_tensors, sizeof(*st->entries));
		if (!st->entries) {
			rc = sb_error_set(err, SB_ENOMEM, "%s: out of memory for %zu tensors",
					  label, n_tensors);
			goto fail;
		}
	}
	for (size_t i = 0; i < root->n_items; i++) {
		const struct sb_json *m = &root->items[i];
		if (strcmp(m->key, "__metadata__") == 0)
			continue;
		rc = parse_entry(m, data_size, &st->entries[k], label, err);
		if (rc != SB_OK)
			goto fail;
		k++;
	}
	st->n_entries = k;
	if ((rc = check_duplicates(st, label, err)) ||
	    (rc = check_layout(st, data_size, label, err)))
		goto fail;
	return SB_OK;
fail:
	free(st->entries);
	sb_json_free(&root);
	memset(st, 0, sizeof(*st));
	return rc;
}

void sb_safetensors_destroy(struct sb_safetensors *st)
{
	if (!st)
		return;
	free(st->entries);
	sb_json_free(&st->header);
	memset(st, 0, sizeof(*st));
}
