/*
 * stage_scale.c - an example stage built as a shared object for sb-run(1): multiplies
 * the float32 tensor of `embeddings` frames by the option scale=X (default 2).
 *
 *     cc -shared -fPIC -o scale.so stage_scale.c $(pkg-config --cflags sb)
 *     sb-run ./scale.so scale=0.5 < in.sbf > out.sbf
 */
#include <stdlib.h>
#include <string.h>

#include "sb.h"

struct scale {
	float k;
	struct sb_frame out;
};

static int scale_open(void **state, const struct sb_kv *opts, size_t n, struct sb_error *err)
{
	struct scale *s;
	float k = 2;

	for (size_t i = 0; i < n; i++) {
		char *end;

		if (strcmp(opts[i].key, "scale") != 0)
			return sb_error_set(err, SB_EINVAL, "scale: unknown option '%s'", opts[i].key);
		k = strtof(opts[i].value, &end);
		if (end == opts[i].value || *end)
			return sb_error_set(err, SB_EINVAL, "scale: '%s' is not a number",
					    opts[i].value);
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return sb_error_set(err, SB_ENOMEM, "scale: out of memory");
	s->k = k;
	sb_frame_init(&s->out);
	*state = s;
	return SB_OK;
}

static int scale_process(void *state, const struct sb_frame *in, struct sb_emit *em,
			 struct sb_error *err)
{
	struct scale *s = state;
	struct sb_tensor *x, *y;
	int rc;

	rc = sb_frame_check_tensor(in, "sentence_embedding", SB_DTYPE_F32, 2, &x, err);
	if (rc)
		return rc;
	sb_frame_reset(&s->out);
	s->out.kind = in->kind;
	s->out.seq = in->seq;
	s->out.rows = in->rows;
	rc = sb_frame_tensor_resize(&s->out, "sentence_embedding", SB_DTYPE_F32, 2, x->shape, &y,
				    err);
	if (!rc)
		rc = sb_frame_meta_copy(&s->out, in, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < sb_tensor_numel(x); i++)
		((float *)y->data)[i] = s->k * ((const float *)x->data)[i];
	return sb_emit_frame(em, &s->out, err);
}

static void scale_close(void *state)
{
	struct scale *s = state;

	if (!s)
		return;
	sb_frame_destroy(&s->out);
	free(s);
}

/* Version 1, as a stage written before report and set_io were added: sb-run still
 * loads such tables (tests/03-run.sh). */
const struct sb_stage sb_stage = {
	.version = 1,
	.name = "scale",
	.input = SB_STAGE_IN_FRAMES,
	.open = scale_open,
	.process = scale_process,
	.close = scale_close,
};
