/*
 * consumer.c - a program outside the suite, built against the installed headers and
 * libsb.so only (pkg-config sb): a frame with a tensor, text and meta, encoded and
 * decoded again, and an error message.  Prints "ok" and exits 0 when all holds.
 */
#include <sb.h>

#include <stdio.h>
#include <string.h>

static int fail(const char *what, const struct sb_error *err)
{
	fprintf(stderr, "consumer: %s: %s\n", what, err ? err->msg : "mismatch");
	return 1;
}

int main(void)
{
	struct sb_error err = { 0 };
	struct sb_frame f, g;
	struct sb_buf wire;
	struct sb_tensor *t;
	size_t shape[2] = { 2, 3 };
	int rc = 1;

	sb_frame_init(&f);
	sb_frame_init(&g);
	sb_buf_init(&wire);
	if (sb_frame_tensor_resize(&f, "sentence_embedding", SB_DTYPE_F32, 2, shape, &t, &err))
		goto out_err;
	for (size_t i = 0; i < 6; i++)
		((float *)t->data)[i] = (float)i / 2;
	f.kind = SB_KIND_EMBEDDINGS;
	f.rows = 2;
	if (sb_frame_text_alloc(&f, 2, &err) || sb_frame_text_set(&f, 0, "a", 1, &err) ||
	    sb_frame_text_set(&f, 1, "bc", 2, &err) ||
	    sb_frame_meta_str(&f, "model", "consumer", &err))
		goto out_err;
	if (sb_frame_encode(&f, &wire, &err) || sb_frame_decode(wire.data, wire.len, &g, &err))
		goto out_err;
	t = sb_frame_tensor(&g, "sentence_embedding");
	if (!t || sb_tensor_numel(t) != 6 || ((float *)t->data)[5] != 2.5f || g.rows != 2 ||
	    strcmp(g.text[1].p, "bc") != 0 || !sb_frame_meta_get(&g, "model")) {
		rc = fail("decoded frame", NULL);
		goto out;
	}
	if (sb_frame_decode(wire.data, wire.len - 1, &g, &err) == SB_OK || !err.msg[0]) {
		rc = fail("a cut frame is refused with a message", NULL);
		goto out;
	}
	printf("ok: %zu bytes, %s\n", wire.len, sb_strerror(SB_EFORMAT));
	rc = 0;
	goto out;
out_err:
	rc = fail("frame", &err);
out:
	sb_frame_destroy(&f);
	sb_frame_destroy(&g);
	sb_buf_destroy(&wire);
	return rc;
}
