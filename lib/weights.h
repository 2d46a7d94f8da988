/*
 * weights.h - the named float32 tensors of a checkpoint, whatever file they came from.
 *
 * sb_weights_open() reads `model.safetensors` when the folder has one, else
 * `pytorch_model.bin`.  F32 safetensors data is used in place through mmap (no
 * copy); F16 / BF16 (and non-F32 .bin storages) are converted to F32 once at load.
 * Every tensor returned is SB_DTYPE_F32, 4-byte aligned, valid until sb_weights_close().
 */
#ifndef SB_WEIGHTS_H
#define SB_WEIGHTS_H

#include "api.h"

#include <stddef.h>

#include "errors.h"
#include "tensor.h"

struct sb_weights;

/* Opens the weights of a model folder.  Errors name the file and the offending tensor. */
SB_API int sb_weights_open(struct sb_weights **out, const char *model_dir, struct sb_error *err);

/* Opens one weights file explicitly (.safetensors or a torch.save zip). */
SB_API int sb_weights_open_file(struct sb_weights **out, const char *path, struct sb_error *err);

/* The tensor called name, or NULL. */
SB_API const struct sb_tensor *sb_weights_get(const struct sb_weights *w, const char *name);

/* Enumeration, in file order. */
SB_API size_t sb_weights_count(const struct sb_weights *w);
SB_API const char *sb_weights_name(const struct sb_weights *w, size_t i);
SB_API const struct sb_tensor *sb_weights_at(const struct sb_weights *w, size_t i);

/* Bytes of the weights file(s), and a short text like "model.safetensors (F32, mmap)". */
SB_API size_t sb_weights_file_bytes(const struct sb_weights *w);
SB_API const char *sb_weights_source(const struct sb_weights *w);

/* Unmaps/frees; sets *w to NULL.  No operation if *w is NULL. */
SB_API void sb_weights_close(struct sb_weights **w);

/*
 * Tells the weights that the caller copied the bytes of tensor data at p (e.g. into a
 * packed layout) and will not read them again, so that resident memory holds one copy.
 * When p lies in the file mapping its whole pages leave the resident set (a stray read
 * would still work: they come back from the page cache).  When p is the whole data of a
 * tensor converted to F32 at load (F16, BF16, unaligned), that copy is freed and the
 * tensor's data becomes NULL: no pointer to it may be used afterwards.
 */
SB_API void sb_weights_drop(struct sb_weights *w, const void *p, size_t bytes);

/* ---- added by the weights module (helpers for the model code) ---- */

/* Longest tensor name sb_weights_find() builds candidates for. */
#define SB_WEIGHTS_NAME_MAX 256

/*
 * The tensor called name as the model code spells it, or NULL: tries name, then
 * 'distilbert.' + name, 'bert.' + name and 'roberta.' + name (or name without such a
 * prefix), each also with the legacy LayerNorm spelling (".weight" <-> ".gamma",
 * ".bias" <-> ".beta").
 */
SB_API const struct sb_tensor *sb_weights_find(const struct sb_weights *w, const char *name);

/*
 * Like sb_weights_find() and checks the shape (n_dims < 0: any shape).  On success
 * *out is the tensor (borrowed, valid until sb_weights_close()).  Errors name the file
 * and the tensor: SB_ENOTFOUND when absent, SB_EUNSUPPORTED when present with a
 * non-float dtype (e.g. an I64 buffer), SB_EMISMATCH with both shapes
 * ("...: tensor 'x': shape [768, 384], expected [768, 768]").
 */
SB_API int sb_weights_require(const struct sb_weights *w, const char *name, int n_dims,
			      const size_t *shape, const struct sb_tensor **out,
			      struct sb_error *err);

/* Every tensor of the file as stored there, including those that are not weights. */
struct sb_weights_item {
	const char *name;
	const char *file_dtype;         /* safetensors spelling: "F32", "BF16", "I64", ... */
	int n_dims;
	const size_t *shape;
	size_t file_offset;             /* absolute offset of the data in the file */
	size_t file_nbytes;
	const struct sb_tensor *tensor; /* the F32 tensor, or NULL for non-float dtypes */
};

/* Number of tensors in the file (>= sb_weights_count()). */
SB_API size_t sb_weights_count_all(const struct sb_weights *w);

/* Describes tensor i (file order) into *out; SB_EINVAL if i is out of range. */
SB_API int sb_weights_item(const struct sb_weights *w, size_t i, struct sb_weights_item *out);

#endif
