/*
 * buf.h - growable byte buffers and overflow-checked size arithmetic.
 */
#ifndef SB_BUF_H
#define SB_BUF_H

#include "api.h"

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

struct sb_buf {
	unsigned char *data;    /* NULL until the first append */
	size_t len;             /* bytes in use */
	size_t cap;             /* bytes allocated */
};

/* Initializes caller storage to an empty buffer; never fails. */
SB_API void sb_buf_init(struct sb_buf *b);

/* Frees the storage and leaves the buffer empty and reusable. */
SB_API void sb_buf_destroy(struct sb_buf *b);

/* Ensures room for 'extra' more bytes past len.  SB_ENOMEM or SB_ELIMIT on failure. */
SB_API int sb_buf_reserve(struct sb_buf *b, size_t extra, struct sb_error *err);

/* Appends n bytes.  On failure the buffer is unchanged. */
SB_API int sb_buf_append(struct sb_buf *b, const void *p, size_t n, struct sb_error *err);

/* Drops the first n bytes (n <= len), moving the rest to the front. */
SB_API void sb_buf_consume(struct sb_buf *b, size_t n);

/* Sets len to 0, keeping the allocation. */
static inline void sb_buf_clear(struct sb_buf *b) { b->len = 0; }

/* a * b and a + b into *out; return 0 on success, -1 on overflow (out untouched). */
static inline int sb_size_mul(size_t a, size_t b, size_t *out)
{
	size_t r;
	if (__builtin_mul_overflow(a, b, &r))
		return -1;
	*out = r;
	return 0;
}

static inline int sb_size_add(size_t a, size_t b, size_t *out)
{
	size_t r;
	if (__builtin_add_overflow(a, b, &r))
		return -1;
	*out = r;
	return 0;
}

#endif
