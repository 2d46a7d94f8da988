/*
 * zip.c - the central directory of a zip archive whose entries are stored, read with
 * every offset and size checked against the file (see zip.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "zip.h"

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

static int zent_cmp(const void *a, const void *b)
{
	const struct sb_zip_entry *x = a, *y = b;
	size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
	int c = memcmp(x->name, y->name, n);
	if (c)
		return c;
	return x->name_len < y->name_len ? -1 : x->name_len > y->name_len ? 1 : 0;
}

const struct sb_zip_entry *sb_zip_find(const struct sb_zip *z, const char *name, size_t len)
{
	struct sb_zip_entry key = { .name = name, .name_len = len };
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

/* Where the central directory is, from the end record (and its zip64 form). */
struct zip_dir {
	uint64_t n_ents, cd_size, cd_off;
	size_t dir_end;                 /* where the directory must end: the end record */
};

/* The end of central directory record: in the last 22 + 65535 (comment) bytes. */
static int find_end(const unsigned char *p, size_t size, const char *label, size_t *eocd,
		    struct sb_error *err)
{
	size_t lo;

	if (size < ZIP_EOCD_LEN)
		return sb_error_set(err, SB_EFORMAT, "%s: %zu bytes, too short for a zip archive",
				    label, size);
	lo = size - ZIP_EOCD_LEN > 65535 ? size - ZIP_EOCD_LEN - 65535 : 0;
	for (size_t i = size - ZIP_EOCD_LEN + 1; i-- > lo;) {
		if (sb_le32(p + i) == ZIP_EOCD_SIG &&
		    i + ZIP_EOCD_LEN + sb_le16(p + i + 20) <= size) {
			*eocd = i;
			return SB_OK;
		}
	}
	return sb_error_set(err, SB_EFORMAT, "%s: not a zip archive (no end of central "
			    "directory record)", label);
}

/* The central directory's place and size, checked against the file. */
static int read_dir(const unsigned char *p, size_t size, const char *label, struct zip_dir *d,
		    struct sb_error *err)
{
	size_t eocd = 0;
	int rc;

	if ((rc = find_end(p, size, label, &eocd, err)))
		return rc;
	if (sb_le16(p + eocd + 4) != 0 || sb_le16(p + eocd + 6) != 0)
		return sb_error_set(err, SB_EUNSUPPORTED, "%s: multi-disk zip archive", label);
	d->n_ents = sb_le16(p + eocd + 10);
	d->cd_size = sb_le32(p + eocd + 12);
	d->cd_off = sb_le32(p + eocd + 16);
	d->dir_end = eocd;
	if (eocd >= ZIP64_LOCATOR_LEN &&
	    sb_le32(p + eocd - ZIP64_LOCATOR_LEN) == ZIP64_LOCATOR_SIG) {
		const unsigned char *loc = p + eocd - ZIP64_LOCATOR_LEN;
		uint64_t r = sb_le64(loc + 8);
		if (r > eocd - ZIP64_LOCATOR_LEN ||
		    eocd - ZIP64_LOCATOR_LEN - r < ZIP64_EOCD_LEN ||
		    sb_le32(p + r) != ZIP64_EOCD_SIG)
			return sb_error_set(err, SB_EFORMAT, "%s: zip64 end record offset %llu is "
					    "invalid", label, (unsigned long long)r);
		d->n_ents = sb_le64(p + r + 32);
		d->cd_size = sb_le64(p + r + 40);
		d->cd_off = sb_le64(p + r + 48);
		d->dir_end = (size_t)r;
	} else if (d->n_ents == 0xffff || d->cd_size == 0xffffffffu || d->cd_off == 0xffffffffu) {
		return sb_error_set(err, SB_EFORMAT, "%s: zip end record needs a zip64 record, "
				    "none found", label);
	}
	if (d->cd_off > d->dir_end || d->cd_size > d->dir_end - d->cd_off)
		return sb_error_set(err, SB_EFORMAT, "%s: zip central directory [%llu, +%llu) "
				    "outside the file (%zu bytes)", label,
				    (unsigned long long)d->cd_off, (unsigned long long)d->cd_size,
				    size);
	if (d->n_ents > d->cd_size / ZIP_CENTRAL_LEN)
		return sb_error_set(err, SB_EFORMAT, "%s: zip claims %llu entries in a %llu-byte "
				    "central directory", label, (unsigned long long)d->n_ents,
				    (unsigned long long)d->cd_size);
	if (d->n_ents == 0)
		return sb_error_set(err, SB_EFORMAT, "%s: empty zip archive", label);
	return SB_OK;
}

/* An entry's local header: it must repeat the central directory's name; *hdr its size
 * (with its own extra field, padding). */
static int local_header(const unsigned char *p, const struct zip_dir *d, uint64_t loff,
			const struct sb_zip_entry *e, const char *label, size_t *hdr,
			struct sb_error *err)
{
	int nlen = (int)e->name_len;

	if (loff > d->cd_off || d->cd_off - loff < ZIP_LOCAL_LEN ||
	    sb_le32(p + loff) != ZIP_LOCAL_SIG)
		return sb_error_set(err, SB_EFORMAT, "%s: zip entry '%.*s': local header offset "
				    "%llu is invalid", label, nlen, e->name,
				    (unsigned long long)loff);
	*hdr = ZIP_LOCAL_LEN + (size_t)sb_le16(p + loff + 26) + sb_le16(p + loff + 28);
	if (d->cd_off - loff < *hdr || sb_le16(p + loff + 26) != e->name_len ||
	    memcmp(p + loff + ZIP_LOCAL_LEN, e->name, e->name_len) != 0)
		return sb_error_set(err, SB_EFORMAT, "%s: zip entry '%.*s': local header does not "
				    "match the central directory", label, nlen, e->name);
	return SB_OK;
}

/* Central directory entry i at c (*len: its length): a stored, unencrypted file whose
 * data lies before the directory. */
static int read_entry(const unsigned char *p, const unsigned char *c, const unsigned char *cend,
		      const struct zip_dir *d, size_t i, const char *label,
		      struct sb_zip_entry *e, size_t *len, struct sb_error *err)
{
	size_t nlen, xlen, clen, hdr = 0;
	uint64_t usize, csize, loff;
	unsigned flags, method;
	int rc;

	if ((size_t)(cend - c) < ZIP_CENTRAL_LEN || sb_le32(c) != ZIP_CENTRAL_SIG)
		return sb_error_set(err, SB_EFORMAT, "%s: zip central directory entry %zu of %llu "
				    "is corrupt", label, i, (unsigned long long)d->n_ents);
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
		return sb_error_set(err, SB_EFORMAT, "%s: zip central directory entry %zu runs "
				    "past the directory", label, i);
	e->name = (const char *)c + ZIP_CENTRAL_LEN;
	e->name_len = nlen;
	if (zip64_extra(c + ZIP_CENTRAL_LEN + nlen, xlen, &usize, &csize, &loff,
			usize == 0xffffffffu, csize == 0xffffffffu, loff == 0xffffffffu) < 0)
		return sb_error_set(err, SB_EFORMAT, "%s: zip entry '%.*s': bad zip64 extra field",
				    label, (int)nlen, e->name);
	if (flags & 1)
		return sb_error_set(err, SB_EUNSUPPORTED, "%s: zip entry '%.*s' is encrypted",
				    label, (int)nlen, e->name);
	if (method != 0)
		return sb_error_set(err, SB_EUNSUPPORTED, "%s: zip entry '%.*s' is compressed "
				    "(method %u); torch.save stores entries", label, (int)nlen,
				    e->name, method);
	if (csize != usize)
		return sb_error_set(err, SB_EFORMAT, "%s: zip entry '%.*s': stored with sizes %llu "
				    "and %llu", label, (int)nlen, e->name,
				    (unsigned long long)csize, (unsigned long long)usize);
	if ((rc = local_header(p, d, loff, e, label, &hdr, err)))
		return rc;
	e->data = (size_t)loff + hdr;
	if (usize > d->cd_off - e->data)
		return sb_error_set(err, SB_ETRUNCATED, "%s: zip entry '%.*s': %llu bytes at "
				    "offset %zu run past the data area (%llu bytes)", label,
				    (int)nlen, e->name, (unsigned long long)usize, e->data,
				    (unsigned long long)d->cd_off);
	e->size = (size_t)usize;
	*len = ZIP_CENTRAL_LEN + nlen + xlen + clen;
	return SB_OK;
}

int sb_zip_read(struct sb_zip *z, const unsigned char *p, size_t size, const char *label,
		struct sb_error *err)
{
	const unsigned char *c, *cend;
	struct zip_dir d = { 0 };
	size_t len = 0;
	int rc;

	memset(z, 0, sizeof(*z));
	if ((rc = read_dir(p, size, label, &d, err)))
		return rc;
	z->ents = calloc((size_t)d.n_ents, sizeof(*z->ents));
	if (!z->ents)
		return sb_error_set(err, SB_ENOMEM, "%s: out of memory", label);
	c = p + d.cd_off;
	cend = p + d.cd_off + d.cd_size;
	for (size_t i = 0; i < d.n_ents; i++, c += len)
		if ((rc = read_entry(p, c, cend, &d, i, label, &z->ents[i], &len, err)))
			return rc;
	z->n = (size_t)d.n_ents;
	qsort(z->ents, z->n, sizeof(*z->ents), zent_cmp);
	for (size_t i = 1; i < z->n; i++)
		if (zent_cmp(&z->ents[i - 1], &z->ents[i]) == 0)
			return sb_error_set(err, SB_EFORMAT, "%s: zip entry '%.*s' appears twice",
					    label, (int)z->ents[i].name_len, z->ents[i].name);
	return SB_OK;
}

/* The table is built per call, which costs nothing next to a parse. */
uint32_t sb_zip_crc32(uint32_t crc, const unsigned char *p, size_t n)
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

void sb_zip_destroy(struct sb_zip *z)
{
	if (!z)
		return;
	free(z->ents);
	z->ents = NULL;
	z->n = 0;
}
