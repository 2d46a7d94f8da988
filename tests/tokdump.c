/*
 * tokdump - test helper: prints a tokens frame stream as text, one row a line: the
 * ids of the row without padding ("101 7592 102"), and with -p " | " and its type
 * ids.  It checks what the tests rely on as it goes: attention_mask is ones then
 * zeros, padded ids are the pad id (-P, default 0), rows are in seq order, and an
 * end frame closes the stream.  -f prints one line per frame instead:
 * "seq rows width" (+ " types" when token_type_ids is present); -t prints each row's
 * truncated flag first; -x prints each row's text after a tab.
 *
 * Not sb-cat --tsv input_ids --unpad: that prints without checking the padding, the
 * order or the end frame that the tests rely on here.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "transport.h"

static int fail(const char *msg, unsigned long long a)
{
	fprintf(stderr, "tokdump: %s (%llu)\n", msg, a);
	return 1;
}

int main(int argc, char **argv)
{
	int opt, pairs = 0, frames = 0, trunc = 0, text = 0, ended = 0;
	long long pad = 0;
	struct sb_transport *in = NULL;
	struct sb_error err;
	struct sb_frame f;
	uint64_t next = 0;
	int rc;

	while ((opt = getopt(argc, argv, "pftxP:")) != -1) {
		switch (opt) {
		case 'p': pairs = 1; break;
		case 'f': frames = 1; break;
		case 't': trunc = 1; break;
		case 'x': text = 1; break;
		case 'P': pad = atoll(optarg); break;
		default:
			fprintf(stderr, "usage: tokdump [-p] [-f] [-t] [-x] [-P PAD] < frames\n");
			return 2;
		}
	}
	sb_frame_init(&f);
	if (sb_transport_open(&in, "-", SB_TRANSPORT_READ, NULL, &err)) {
		fprintf(stderr, "tokdump: %s\n", err.msg);
		return 1;
	}
	for (;;) {
		const unsigned char *msg;
		size_t len, width;
		const struct sb_tensor *ids, *mask, *types, *tr;

		rc = sb_transport_recv(in, &msg, &len, &err);
		if (rc == SB_EOF)
			break;
		if (rc || (rc = sb_frame_decode(msg, len, &f, &err))) {
			fprintf(stderr, "tokdump: %s\n", err.msg);
			return 1;
		}
		if (f.kind == SB_KIND_END) {
			if (f.rows_total != next)
				return fail("end frame rows_total differs from the rows seen", next);
			ended = 1;
			continue;
		}
		if (ended || f.kind != SB_KIND_TOKENS)
			return fail("unexpected frame", f.seq);
		if (f.seq != next)
			return fail("frame out of order at seq", f.seq);
		ids = sb_frame_tensor(&f, "input_ids");
		mask = sb_frame_tensor(&f, "attention_mask");
		types = sb_frame_tensor(&f, "token_type_ids");
		tr = sb_frame_tensor(&f, "truncated");
		if (!ids || !mask || ids->dtype != SB_DTYPE_I64 || mask->dtype != SB_DTYPE_I64 ||
		    ids->n_dims != 2 || mask->n_dims != 2 || ids->shape[0] != f.rows ||
		    memcmp(ids->shape, mask->shape, sizeof(size_t) * 2) ||
		    (types && (types->dtype != SB_DTYPE_I64 ||
			       memcmp(types->shape, ids->shape, sizeof(size_t) * 2))) ||
		    !tr || tr->dtype != SB_DTYPE_U8 || tr->shape[0] != f.rows)
			return fail("bad tensors in frame", f.seq);
		width = ids->shape[1];
		if (frames)
			printf("%llu %llu %zu%s\n", (unsigned long long)f.seq,
			       (unsigned long long)f.rows, width, types ? " types" : "");
		for (size_t r = 0; r < f.rows; r++) {
			const int64_t *pi = (const int64_t *)ids->data + r * width;
			const int64_t *pm = (const int64_t *)mask->data + r * width;
			const int64_t *pt = types ? (const int64_t *)types->data + r * width : NULL;
			size_t n = 0;

			while (n < width && pm[n] == 1)
				n++;
			for (size_t k = n; k < width; k++)
				if (pm[k] != 0 || pi[k] != pad || (pt && pt[k] != 0))
					return fail("bad padding in row", f.seq + r);
			if (frames)
				continue;
			if (trunc)
				printf("%u ", ((const uint8_t *)tr->data)[r]);
			for (size_t k = 0; k < n; k++)
				printf(k ? " %lld" : "%lld", (long long)pi[k]);
			if (pairs) {
				printf(" |");
				for (size_t k = 0; k < n; k++)
					printf(" %lld", pt ? (long long)pt[k] : 0LL);
			}
			if (text && f.has_text) {
				putchar('\t');
				fwrite(f.text[r].p, 1, f.text[r].n, stdout);
			}
			putchar('\n');
		}
		next += f.rows;
	}
	sb_transport_close(&in);
	sb_frame_destroy(&f);
	if (!ended)
		return fail("no end frame after rows", next);
	return 0;
}
