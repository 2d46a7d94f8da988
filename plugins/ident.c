/*
 * ident.c - the identity of an embeddings stream and the model check (see ident.h).
 */
#include <stdio.h>
#include <string.h>

#include "ident.h"

static void meta_copy_str(const struct sb_frame *f, const char *key, char *dst, size_t size)
{
	const struct sb_meta *m = sb_frame_meta_get(f, key);

	dst[0] = '\0';
	if (m && m->type == SB_META_STR)
		snprintf(dst, size, "%s", m->v.s.p);
}

/* Reads the identity of an embeddings frame: meta and the tensor's dtype and width. */
int sb_ident_read(const struct sb_frame *f, struct sb_ident *id, struct sb_tensor **t,
		  struct sb_error *err)
{
	struct sb_tensor *e;

	if (f->kind != SB_KIND_EMBEDDINGS)
		return sb_error_set(err, SB_EFORMAT, "expected an embeddings frame, got %s",
				    sb_kind_name(f->kind));
	e = sb_frame_tensor(f, "sentence_embedding");
	if (!e)
		return sb_error_set(err, SB_EFORMAT,
				    "embeddings frame: no tensor "
				    "'sentence_embedding'");
	if (e->n_dims != 2 || e->shape[0] != f->rows || e->shape[1] == 0) {
		char b[96];
		return sb_error_set(err, SB_EFORMAT,
				    "tensor 'sentence_embedding': shape %s, "
				    "expected [%llu, D]",
				    sb_shape_str(e->n_dims, e->shape, b, sizeof b),
				    (unsigned long long)f->rows);
	}
	if (e->dtype != SB_DTYPE_F32 && e->dtype != SB_DTYPE_I8 && e->dtype != SB_DTYPE_U8)
		return sb_error_set(err, SB_EUNSUPPORTED,
				    "tensor 'sentence_embedding': dtype %s "
				    "(float32, int8 or uint8 expected)",
				    sb_dtype_name(e->dtype));
	memset(id, 0, sizeof *id);
	id->set = 1;
	meta_copy_str(f, "model_fingerprint", id->fingerprint, sizeof id->fingerprint);
	meta_copy_str(f, "model", id->model, sizeof id->model);
	meta_copy_str(f, "pooling", id->pooling, sizeof id->pooling);
	meta_copy_str(f, "precision", id->precision, sizeof id->precision);
	meta_copy_str(f, "encode_precision", id->encode_precision, sizeof id->encode_precision);
	id->dtype = e->dtype;
	id->width = e->shape[1];
	*t = e;
	return SB_OK;
}

/*
 * Refuses to compare rows of another model, pooling, precision, encoder arithmetic
 * (encode_precision) or width.  what names the
 * rows checked ("row 12", "corpus FILE"), other the rows they are compared with ("earlier
 * rows" of the input, or "the queries" when a corpus is checked).
 */
int sb_ident_check(int allow_mixed, const struct sb_ident *want, const struct sb_ident *got,
		   const char *what, const char *other, struct sb_error *err)
{
	if (got->width != want->width || got->dtype != want->dtype)
		return sb_error_set(err, SB_EMISMATCH,
				    "%s: embeddings of %zu x %s, %s "
				    "%zu x %s: dimension mismatch",
				    what, got->width, sb_dtype_name(got->dtype), other, want->width,
				    sb_dtype_name(want->dtype));
	if (got->precision[0] && want->precision[0] && strcmp(got->precision, want->precision) != 0)
		return sb_error_set(err, SB_EMISMATCH, "%s: precision '%s', %s '%s'", what,
				    got->precision, other, want->precision);
	if (allow_mixed)
		return SB_OK;
	/*
	 * Missing meta on one side proves nothing either way: only differing values refuse.
	 * Fingerprints decide when both sides have one (the same weights may sit in two
	 * folders); model names otherwise.
	 */
	if (got->fingerprint[0] && want->fingerprint[0]) {
		if (strcmp(got->fingerprint, want->fingerprint) != 0)
			return sb_error_set(err, SB_EMISMATCH,
					    "%s: embeddings of model '%s' (%s), %s of "
					    "'%s' (%s): scores across models are meaningless "
					    "(allow_mixed=1 / --allow-mixed to compare anyway)",
					    what, got->model, got->fingerprint, other, want->model,
					    want->fingerprint);
	} else if (got->model[0] && want->model[0] && strcmp(got->model, want->model) != 0)
		return sb_error_set(err, SB_EMISMATCH,
				    "%s: embeddings of model '%s', %s "
				    "of '%s': scores across models are meaningless "
				    "(allow_mixed=1 / --allow-mixed to compare anyway)",
				    what, got->model, other, want->model);
	if (got->encode_precision[0] && want->encode_precision[0] &&
	    strcmp(got->encode_precision, want->encode_precision) != 0)
		return sb_error_set(err, SB_EMISMATCH,
				    "%s: embeddings encoded in %s, %s in %s "
				    "(allow_mixed=1 / --allow-mixed to compare anyway)",
				    what, got->encode_precision, other, want->encode_precision);
	if (got->pooling[0] && want->pooling[0] && strcmp(got->pooling, want->pooling) != 0)
		return sb_error_set(err, SB_EMISMATCH,
				    "%s: embeddings pooled with '%s', %s with '%s' "
				    "(allow_mixed=1 / --allow-mixed to compare anyway)",
				    what, got->pooling, other, want->pooling);
	return SB_OK;
}
