/*
 * zip.h - a reader of zip archives whose entries are stored, not compressed, as
 * torch.save writes them (private to libsb; see checkpoint.h for how it is used).
 *
 * Byte layout read, all integers little-endian:
 *   1. Per entry a local header (signature 0x04034b50, 30 bytes, then the name and an
 *      extra field, which torch uses to pad the data to 64 bytes), then the data.
 *   2. The central directory: per entry 46 bytes (signature 0x02014b50: flags at 8,
 *      method at 10, crc32 at 16, sizes at 20 and 24, name/extra/comment lengths at
 *      28/30/32, local header offset at 42), then name, extra field and comment.
 *      Saturated sizes and offsets (0xffffffff) are in the ZIP64 extra field (id 1).
 *   3. Optionally the ZIP64 end record (0x06064b50, 56 bytes) and its locator
 *      (0x07064b50, 20 bytes); then the end record (0x06054b50, 22 bytes and a comment
 *      of up to 65535 bytes) with the entry count, directory size and offset.
 * Every offset and size is checked against the file before it is used; encrypted,
 * compressed or multi-disk archives and duplicate names are refused.
 */
#ifndef SB_ZIP_H
#define SB_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

struct sb_zip_entry {
	const char *name;       /* in the central directory, not NUL-terminated */
	size_t name_len;
	size_t data;            /* absolute offset of the entry's bytes */
	size_t size;
	uint32_t crc;
};

struct sb_zip {
	struct sb_zip_entry *ents;      /* sorted by name after sb_zip_read() */
	size_t n;
};

/*
 * Reads the central directory of the archive image p[0 .. size); label names it in
 * messages.  On success z->ents lists every entry, sorted by name, pointing into p
 * (valid while p is).  Free with sb_zip_destroy(), also after a failure.
 */
int sb_zip_read(struct sb_zip *z, const unsigned char *p, size_t size, const char *label,
		struct sb_error *err);

/* The entry named name[0 .. len), or NULL. */
const struct sb_zip_entry *sb_zip_find(const struct sb_zip *z, const char *name, size_t len);

/* zip's CRC-32 of p[0 .. n), continuing from crc (0 to start). */
uint32_t sb_zip_crc32(uint32_t crc, const unsigned char *p, size_t n);

/* Frees the entry list and zeroes *z; safe on a zeroed struct. */
void sb_zip_destroy(struct sb_zip *z);

#endif
