/*
 * checkpoint.c - torch.save files read as data (see checkpoint.h for the layout).
 *
 * The zip format: the archive's directory (zip.c) gives data.pkl, which the restricted
 * pickle machine (pickle.c) runs with the storages found as zip entries.  The legacy
 * format: five pickles in a row run by the same machine, then the storages, located
 * here.  Either way the state dict the machine leaves is collected into the entries
 * of struct sb_checkpoint: names, dtypes, shapes and file offsets, nothing copied.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "checkpoint.h"
#include "internal.h"
#include "pickle.h"
#include "zip.h"

/* ------------------------------------------------------------------------------------ */

static int collect(struct sb_checkpoint *ck, struct sb_pickle *k, const struct sb_pickle_val *root)
{
	if (root->type != SB_PK_DICT)
		return sb_error_set(k->err, SB_EFORMAT, "%s: the pickle holds a %s, expected a "
				    "state dict", k->label, sb_pickle_type_names[root->type]);
	if (root->len) {
		ck->entries = calloc(root->len, sizeof(*ck->entries));
		if (!ck->entries)
			return sb_error_set(k->err, SB_ENOMEM, "%s: out of memory", k->label);
	}
	for (size_t i = 0; i < root->len; i++) {
		const struct sb_pickle_val *key = root->items[2 * i], *t = root->items[2 * i + 1];
		struct sb_checkpoint_entry *e = &ck->entries[i];

		if (key->type != SB_PK_STR || memchr(key->s, 0, key->len))
			return sb_error_set(k->err, SB_EFORMAT, "%s: state dict key %zu is a %s, "
					    "expected a name", k->label, i,
					    key->type == SB_PK_STR ? "str with a NUL byte" :
					    sb_pickle_type_names[key->type]);
		if (t->type != SB_PK_TENSOR)
			return sb_error_set(k->err, SB_EFORMAT, "%s: '%.*s' is a %s, expected a "
					    "tensor", k->label, (int)key->len, key->s,
					    sb_pickle_type_names[t->type]);
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
	const struct sb_zip_entry *pkl = NULL, *bo;
	struct sb_zip z;
	struct sb_pickle k;
	struct sb_pickle_val *root = NULL;
	char plabel[SB_ERROR_MSG_MAX];
	int rc;

	memset(ck, 0, sizeof(*ck));
	memset(&k, 0, sizeof(k));
	rc = sb_zip_read(&z, p, size, label, err);
	if (rc)
		goto out;
	for (size_t i = 0; i < z.n; i++) {
		const struct sb_zip_entry *e = &z.ents[i];
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
		bo = sb_zip_find(&z, bname, bl);
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
	if (sb_zip_crc32(0, p + pkl->data, pkl->size) != pkl->crc) {
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
	rc = sb_pickle_run(&k, &root);
	if (rc)
		goto out;
	rc = collect(ck, &k, root);
out:
	sb_pickle_free(&k);
	sb_zip_destroy(&z);
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

static void pk_init(struct sb_pickle *k, const unsigned char *p, size_t size, size_t pos,
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
	const struct sb_pickle_val *x = *(const struct sb_pickle_val *const *)a;
	const struct sb_pickle_val *y = *(const struct sb_pickle_val *const *)b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->s, y->s, n);
	if (c)
		return c;
	return x->len < y->len ? -1 : x->len > y->len ? 1 : 0;
}

/* Gives every storage of the main pickle its file offset, from the data after pickle 5. */
static int locate_storages(struct sb_pickle *main, const struct sb_pickle_val *keys, size_t *pos,
			   size_t size)
{
	struct sb_pickle_val **v = NULL;
	size_t n = 0, cap = 0;
	int rc = SB_OK;

	for (struct sb_pickle_val *s = main->all; s; s = s->next) {
		if (s->type != SB_PK_STORAGE)
			continue;
		if (n == cap) {
			size_t c = cap ? cap * 2 : 64;
			struct sb_pickle_val **t = realloc(v, c * sizeof(*t));
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
		const struct sb_pickle_val *key = keys->items[i];
		struct sb_pickle_val probe = { .s = key->s, .len = key->len }, *pp = &probe, **hit;
		size_t lo, hi, numel;

		if (key->type != SB_PK_STR) {
			rc = sb_error_set(main->err, SB_EFORMAT, "%s: storage key %zu is a %s",
					  main->label, i, sb_pickle_type_names[key->type]);
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
	struct sb_pickle hdr, main, keys;
	struct sb_pickle_val *v, *root, *list;
	char plabel[SB_ERROR_MSG_MAX];
	size_t pos = sizeof(legacy_magic);
	int rc;

	snprintf(plabel, sizeof(plabel), "%s: legacy format", label);
	pk_init(&hdr, p, size, pos, plabel, err);
	pk_init(&main, p, size, 0, plabel, err);
	pk_init(&keys, p, size, 0, plabel, err);
	/* 2: the protocol version. */
	rc = sb_pickle_run(&hdr, &v);
	if (rc)
		goto out;
	if (v->type != SB_PK_INT || v->i != 1001) {
		rc = sb_error_set(err, SB_EUNSUPPORTED, "%s: protocol version is not 1001",
				  plabel);
		goto out;
	}
	pos = hdr.pos;
	sb_pickle_free(&hdr);
	/* 3: sys_info; refuse big-endian data. */
	pk_init(&hdr, p, size, pos, plabel, err);
	rc = sb_pickle_run(&hdr, &v);
	if (rc)
		goto out;
	if (v->type != SB_PK_DICT) {
		rc = sb_error_set(err, SB_EFORMAT, "%s: sys_info is a %s, expected a dict", plabel,
				  sb_pickle_type_names[v->type]);
		goto out;
	}
	for (size_t i = 0; i < v->len; i++)
		if (sb_pickle_is_str(v->items[2 * i], "little_endian") &&
		    v->items[2 * i + 1]->type == SB_PK_BOOL && v->items[2 * i + 1]->i == 0) {
			rc = sb_error_set(err, SB_EUNSUPPORTED, "%s: big-endian data is not "
					  "supported", plabel);
			goto out;
		}
	/* 4: the state dict; 5: the storage keys. */
	main.pos = hdr.pos;
	rc = sb_pickle_run(&main, &root);
	if (rc)
		goto out;
	keys.pos = main.pos;
	rc = sb_pickle_run(&keys, &list);
	if (rc)
		goto out;
	if (list->type != SB_PK_LIST) {
		rc = sb_error_set(err, SB_EFORMAT, "%s: the storage keys are a %s, expected a "
				  "list", plabel, sb_pickle_type_names[list->type]);
		goto out;
	}
	pos = keys.pos;
	rc = locate_storages(&main, list, &pos, size);
	if (rc)
		goto out;
	rc = collect(ck, &main, root);
out:
	sb_pickle_free(&hdr);
	sb_pickle_free(&main);
	sb_pickle_free(&keys);
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
