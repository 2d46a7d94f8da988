/*
 * mpread.c - the MessagePack reader of sb's frames (frame.c) and of what the farm
 * reads in them (farm.c): a cursor over one message, whose failures name the byte
 * where they happen.  Containers and strings are bounded by the bytes that remain,
 * so a hostile length never allocates or reads past the message.
 */
#include <stdio.h>
#include <string.h>

#include "frame.h"
#include "mpread.h"

int sb_mpread_fail(struct sb_mpread *r, int code, const char *what)
{
	return sb_error_set(r->err, code, "byte %zu of the frame: %s", r->pos, what);
}

int sb_mpread_need(struct sb_mpread *r, size_t k)
{
	if (r->n - r->pos < k)
		return sb_error_set(r->err, SB_EFORMAT,
				    "byte %zu of the frame: %zu bytes needed, %zu remain",
				    r->pos, k, r->n - r->pos);
	return SB_OK;
}

/*
 * The length of a container, str or bin whose header byte is at r->pos: in the k bytes
 * after it (when k is 0, *c already holds it); *room is what remains after them.
 */
static int head_len(struct sb_mpread *r, int k, uint64_t *c, size_t *room)
{
	if (k) {
		if (sb_mpread_need(r, 1 + (size_t)k))
			return SB_EFORMAT;
		*c = sb_mpread_be(r->p + r->pos + 1, k);
	}
	*room = r->n - r->pos - 1 - (size_t)k;
	return SB_OK;
}

/* Reads a container header of the wanted kind ('m' map, 'a' array); the count is
 * bounded by the bytes that remain, since every element takes at least one byte. */
int sb_mpread_container(struct sb_mpread *r, int want, uint64_t *count, const char *what)
{
	unsigned char b;
	int k = 0;
	uint64_t c;
	size_t room;
	char msg[160];

	if (sb_mpread_need(r, 1))
		return SB_EFORMAT;
	b = r->p[r->pos];
	if (want == 'm' && b >= 0x80 && b <= 0x8f)
		c = b & 0x0f;
	else if (want == 'a' && b >= 0x90 && b <= 0x9f)
		c = b & 0x0f;
	else if ((want == 'm' && b == 0xde) || (want == 'a' && b == 0xdc))
		k = 2;
	else if ((want == 'm' && b == 0xdf) || (want == 'a' && b == 0xdd))
		k = 4;
	else {
		snprintf(msg, sizeof msg, "%s: expected %s", what, want == 'm' ? "a map" : "an array");
		return sb_mpread_fail(r, SB_EFORMAT, msg);
	}
	if (head_len(r, k, &c, &room))
		return SB_EFORMAT;
	if (c > room / (want == 'm' ? 2 : 1)) {
		snprintf(msg, sizeof msg, "%s: %s of %llu elements in %zu remaining bytes", what,
			 want == 'm' ? "map" : "array", (unsigned long long)c, room);
		return sb_mpread_fail(r, SB_EFORMAT, msg);
	}
	r->pos += 1 + (size_t)k;
	*count = c;
	return SB_OK;
}

/* Reads a str (want 's') or bin (want 'b'); *p points into the message. */
int sb_mpread_bytes(struct sb_mpread *r, int want, const unsigned char **p, size_t *len,
		    const char *what)
{
	unsigned char b;
	int k;
	uint64_t c;
	size_t room;
	char msg[160];

	if (sb_mpread_need(r, 1))
		return SB_EFORMAT;
	b = r->p[r->pos];
	if (want == 's' && b >= 0xa0 && b <= 0xbf) {
		k = 0;
		c = b & 0x1f;
	} else if ((want == 's' && b == 0xd9) || (want == 'b' && b == 0xc4)) {
		k = 1;
	} else if ((want == 's' && b == 0xda) || (want == 'b' && b == 0xc5)) {
		k = 2;
	} else if ((want == 's' && b == 0xdb) || (want == 'b' && b == 0xc6)) {
		k = 4;
	} else {
		snprintf(msg, sizeof msg, "%s: expected %s", what, want == 's' ? "a string" : "binary data");
		return sb_mpread_fail(r, SB_EFORMAT, msg);
	}
	if (head_len(r, k, &c, &room))
		return SB_EFORMAT;
	if (c > room) {
		snprintf(msg, sizeof msg, "%s: %llu bytes claimed, %zu remain", what,
			 (unsigned long long)c, room);
		return sb_mpread_fail(r, SB_EFORMAT, msg);
	}
	r->pos += 1 + (size_t)k;
	*p = r->p + r->pos;
	*len = (size_t)c;
	r->pos += (size_t)c;
	return SB_OK;
}

/* Reads an integer; *neg is set for negative values (held in *u as two's complement). */
int sb_mpread_int(struct sb_mpread *r, uint64_t *u, int *neg, const char *what)
{
	unsigned char b;
	char msg[160];
	int k;

	if (sb_mpread_need(r, 1))
		return SB_EFORMAT;
	b = r->p[r->pos];
	*neg = 0;
	if (b <= 0x7f) {
		*u = b;
		r->pos++;
		return SB_OK;
	}
	if (b >= 0xe0) {
		*u = (uint64_t)(int64_t)(int8_t)b;
		*neg = 1;
		r->pos++;
		return SB_OK;
	}
	switch (b) {
	case 0xcc: case 0xd0: k = 1; break;
	case 0xcd: case 0xd1: k = 2; break;
	case 0xce: case 0xd2: k = 4; break;
	case 0xcf: case 0xd3: k = 8; break;
	default:
		snprintf(msg, sizeof msg, "%s: expected an integer", what);
		return sb_mpread_fail(r, SB_EFORMAT, msg);
	}
	if (sb_mpread_need(r, 1 + (size_t)k))
		return SB_EFORMAT;
	*u = sb_mpread_be(r->p + r->pos + 1, k);
	if (b >= 0xd0) {
		/* Sign-extend the k-byte value. */
		int shift = 64 - 8 * k;
		int64_t s = (int64_t)(*u << shift) >> shift;

		*u = (uint64_t)s;
		*neg = s < 0;
	}
	r->pos += 1 + (size_t)k;
	return SB_OK;
}

int sb_mpread_uint(struct sb_mpread *r, uint64_t *u, const char *what)
{
	int neg, rc;
	size_t at = r->pos;
	char msg[160];

	rc = sb_mpread_int(r, u, &neg, what);
	if (rc)
		return rc;
	if (neg) {
		r->pos = at;
		snprintf(msg, sizeof msg, "%s: negative value %lld", what, (long long)(int64_t)*u);
		return sb_mpread_fail(r, SB_EFORMAT, msg);
	}
	return SB_OK;
}

/* Skips one object of any type without recursion. */
int sb_mpread_skip(struct sb_mpread *r)
{
	struct sb_frame_scan s;
	size_t size;

	sb_frame_scan_init(&s, r->n - r->pos);
	if (sb_frame_scan(&s, r->p + r->pos, r->n - r->pos, &size, NULL) != SB_OK)
		return sb_mpread_fail(r, SB_EFORMAT, "value malformed or cut short: it claims "
				      "more bytes than the frame has");
	r->pos += size;
	return SB_OK;
}

int sb_mpread_key_is(const unsigned char *k, size_t n, const char *s)
{
	return strlen(s) == n && memcmp(k, s, n) == 0;
}
