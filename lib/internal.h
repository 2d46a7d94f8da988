/*
 * internal.h - helpers shared by libsb modules; not installed, not public API.
 */
#ifndef SB_INTERNAL_H
#define SB_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "errors.h"

/* Reads a whole file into out (appending), refusing files over max_bytes. */
int sb_file_read(const char *path, size_t max_bytes, struct sb_buf *out, struct sb_error *err);

/* Returns 1 if path names an existing regular file (following links), else 0. */
int sb_file_exists(const char *path);

/* Returns 1 if path names an existing directory, else 0. */
int sb_dir_exists(const char *path);

/* Joins dir and name with one '/', into a malloc'd string (NULL on ENOMEM). */
char *sb_path_join(const char *dir, const char *name);

/* Monotonic clock in seconds. */
double sb_now(void);

/* strdup that returns NULL on NULL. */
char *sb_strdup(const char *s);

/*
 * The UTF-8 sequence at p (n >= 1 bytes remain), as RFC 3629 defines well-formed
 * UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).  Returns how
 * many bytes to consume and sets *valid.  An invalid sequence consumes its maximal
 * subpart (the lead byte and the continuation bytes that could still have completed
 * it), so replacing each with one U+FFFD matches the Unicode recommendation and
 * Python's errors="replace".  A sequence cut by the end of the n bytes is invalid.
 */
size_t sb_utf8_seq(const unsigned char *p, size_t n, int *valid);

/* Little-endian loads and stores, independent of alignment. */
static inline uint16_t sb_le16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t sb_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t sb_le64(const unsigned char *p)
{
	return (uint64_t)sb_le32(p) | ((uint64_t)sb_le32(p + 4) << 32);
}

#endif
