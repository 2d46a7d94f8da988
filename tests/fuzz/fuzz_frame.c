/*
 * fuzz_frame.c - fuzz target for the frame codec: sb_frame_scan() and sb_frame_decode().
 *
 * Input: one byte that seeds the read sizes, then a byte stream as it would arrive on a
 * pipe (concatenated MessagePack objects).  The stream is delimited by sb_frame_scan()
 * fed in pseudo-random chunk sizes (1 to 64 bytes more per call, as short reads give),
 * and each delimited message is decoded.  Properties checked besides the sanitizers:
 *   - chunked scanning finds the same object size as scanning the whole rest at once;
 *   - a frame that decodes re-encodes, the encoding decodes again and re-encodes to the
 *     same bytes (encode is a fixed point after one round trip).
 * A violated property aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "frame.h"

/* Small enough that a fuzzer input cannot make the decoder allocate much. */
#define FUZZ_MAX_BYTES ((size_t)1 << 20)

static void fail(const char *what, const struct sb_error *err)
{
	fprintf(stderr, "fuzz_frame: property violated: %s (%s)\n", what, err ? err->msg : "");
	abort();
}

static void roundtrip(const struct sb_frame *f)
{
	struct sb_buf a, b;
	struct sb_frame g;
	struct sb_error err;

	sb_buf_init(&a);
	sb_buf_init(&b);
	sb_frame_init(&g);
	/* The decoder accepts what the encoder may refuse (e.g. a frame whose meta has
	 * no room left), so only a successful encoding must round-trip. */
	if (sb_frame_encode(f, &a, &err) == SB_OK) {
		if (sb_frame_decode(a.data, a.len, &g, &err) != SB_OK)
			fail("re-decoding an encoded frame failed", &err);
		if (sb_frame_encode(&g, &b, &err) != SB_OK)
			fail("re-encoding a decoded frame failed", &err);
		if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
			fail("encode(decode(encode(x))) differs from encode(x)", NULL);
	}
	sb_frame_destroy(&g);
	sb_buf_destroy(&a);
	sb_buf_destroy(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sb_frame f;
	struct sb_error err;
	uint32_t rng;
	size_t pos;

	if (size < 1)
		return 0;
	rng = 0x9e3779b9u ^ data[0];
	data++;
	size--;
	sb_frame_init(&f);
	for (pos = 0; pos < size;) {
		struct sb_frame_scan sc, whole;
		size_t have = 0, obj = 0, obj2 = 0;
		int rc, rc2;

		sb_frame_scan_init(&sc, FUZZ_MAX_BYTES);
		do {
			rng = rng * 1103515245u + 12345u;
			have += 1 + ((rng >> 16) & 63);
			if (have > size - pos)
				have = size - pos;
			rc = sb_frame_scan(&sc, data + pos, have, &obj, &err);
		} while (rc == SB_EAGAIN && have < size - pos);
		sb_frame_scan_init(&whole, FUZZ_MAX_BYTES);
		rc2 = sb_frame_scan(&whole, data + pos, size - pos, &obj2, &err);
		if (rc != rc2 || (rc == SB_OK && obj != obj2))
			fail("chunked and whole scans disagree", NULL);
		if (rc != SB_OK)
			break;
		if (obj == 0 || obj > size - pos)
			fail("scan returned a size outside the buffer", NULL);
		if (sb_frame_decode(data + pos, obj, &f, &err) == SB_OK)
			roundtrip(&f);
		pos += obj;
	}
	sb_frame_destroy(&f);
	return 0;
}
