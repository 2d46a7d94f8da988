/*
 * mpread.h - a cursor over one MessagePack message (private to libsb): the reader of
 * frame.c's decoder and peek and of the farm's provenance check.  Every function reads
 * at r->pos and moves it past what it read; on failure r->pos stays where the value
 * began and r->err (which may be NULL) says "byte N of the frame: WHAT: why".
 */
#ifndef SB_MPREAD_H
#define SB_MPREAD_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

struct sb_mpread {
	const unsigned char *p;
	size_t n, pos;
	struct sb_error *err;
};

/* The k-byte big-endian unsigned integer at p. */
static inline uint64_t sb_mpread_be(const unsigned char *p, int k)
{
	uint64_t v = 0;

	for (int i = 0; i < k; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Sets r->err to "byte POS of the frame: WHAT" and returns code. */
int sb_mpread_fail(struct sb_mpread *r, int code, const char *what);
/* SB_OK when k bytes remain, else SB_EFORMAT. */
int sb_mpread_need(struct sb_mpread *r, size_t k);
/* A container header: want 'm' (map) or 'a' (array); the count is bounded by the
 * bytes that remain, every element taking at least one. */
int sb_mpread_container(struct sb_mpread *r, int want, uint64_t *count, const char *what);
/* A str (want 's') or bin (want 'b'); *p points into the message. */
int sb_mpread_bytes(struct sb_mpread *r, int want, const unsigned char **p, size_t *len,
		    const char *what);
/* An integer of any encoding; *neg set for a negative one (*u its two's complement). */
int sb_mpread_int(struct sb_mpread *r, uint64_t *u, int *neg, const char *what);
/* A non-negative integer. */
int sb_mpread_uint(struct sb_mpread *r, uint64_t *u, const char *what);
/* Skips one object of any type, without recursion. */
int sb_mpread_skip(struct sb_mpread *r);
/* Whether the n bytes at k are the string s. */
int sb_mpread_key_is(const unsigned char *k, size_t n, const char *s);

#endif
