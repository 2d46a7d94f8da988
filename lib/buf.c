/*
 * buf.c - growable byte buffers.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void sb_buf_init(struct sb_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void sb_buf_destroy(struct sb_buf *b)
{
	free(b->data);
	sb_buf_init(b);
}

int sb_buf_reserve(struct sb_buf *b, size_t extra, struct sb_error *err)
{
	size_t need, cap;
	unsigned char *p;

	if (sb_size_add(b->len, extra, &need) < 0)
		return sb_error_set(err, SB_ELIMIT, "buffer: %zu + %zu bytes overflows", b->len, extra);
	if (need <= b->cap)
		return SB_OK;
	/* No object may exceed PTRDIFF_MAX bytes: refuse before asking the allocator. */
	if (need > PTRDIFF_MAX)
		return sb_error_set(err, SB_ELIMIT, "buffer: %zu bytes is too large", need);
	/* Grow geometrically so n appends cost O(n) copies in total. */
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->data, cap);
	if (!p)
		return sb_error_set(err, SB_ENOMEM, "buffer: cannot allocate %zu bytes", cap);
	b->data = p;
	b->cap = cap;
	return SB_OK;
}

int sb_buf_append(struct sb_buf *b, const void *p, size_t n, struct sb_error *err)
{
	int rc;

	if (n == 0)
		return SB_OK;
	rc = sb_buf_reserve(b, n, err);
	if (rc)
		return rc;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return SB_OK;
}

void sb_buf_consume(struct sb_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}
