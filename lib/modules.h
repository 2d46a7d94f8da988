/*
 * modules.h - the module list of a sentence-transformers model (modules.json) and
 * the modules that follow Pooling: Dense, LayerNorm and Normalize.
 *
 * modules.json lists the modules sentence-transformers runs, in order, each an object
 * {"idx", "name", "path", "type"}: an input module (Transformer), Pooling, then any
 * number of Dense, LayerNorm, Normalize and Dropout modules, each reading and
 * replacing the sentence embedding x:
 *
 *   Dense      x <- act(x W^T + b)  (+ x, or + x R^T, with use_residual)
 *              path/config.json: in_features, out_features, bias (default true),
 *              activation_function (default Tanh; one of torch.nn's Identity, Tanh,
 *              ReLU, GELU, Sigmoid, SiLU, by any module path starting "torch.nn."),
 *              use_residual (default false); weights linear.weight [out, in],
 *              linear.bias [out], residual.weight [out, in] (use_residual with
 *              in != out) from path/model.safetensors or path/pytorch_model.bin.
 *   LayerNorm  x <- (x - mean) / sqrt(var + 1e-5) * norm.weight + norm.bias, torch's
 *              nn.LayerNorm with its default eps; path/config.json: dimension.
 *   Normalize  x <- x / max(|x|, 1e-12).
 *   Dropout    the identity at inference.
 *
 * Any other type (CNN, LSTM, WordEmbeddings, WordWeights, WeightedLayerPooling,
 * StaticEmbedding, Asym, Router, ...), a Dense, LayerNorm or Normalize before Pooling,
 * or a Dense reading or writing another feature than sentence_embedding
 * (module_input_name / module_output_name) is refused with SB_EUNSUPPORTED naming the
 * entry and its type: sb does not compute what such a model computes.  Types are
 * matched by their last component, so "sentence_transformers.models.Dense" and the
 * v5.4 path "sentence_transformers.sentence_transformer.modules.dense.Dense" are one.
 */
#ifndef SB_MODULES_H
#define SB_MODULES_H

#include "api.h"

#include <stddef.h>

#include "errors.h"

enum sb_module_type {
	SB_MODULE_TRANSFORMER,
	SB_MODULE_POOLING,
	SB_MODULE_DENSE,
	SB_MODULE_LAYERNORM,
	SB_MODULE_NORMALIZE,
	SB_MODULE_DROPOUT
};

#define SB_MODULES_MAX 16      /* entries of modules.json */
#define SB_MODULE_PATH_MAX 256 /* bytes of an entry's path, with the NUL */

struct sb_module_entry {
	enum sb_module_type type;
	size_t index;		       /* position in modules.json, from 0 */
	char path[SB_MODULE_PATH_MAX]; /* relative to the model folder; "" is the folder */
};

struct sb_module_list {
	int found; /* the folder has a modules.json */
	size_t n;
	struct sb_module_entry items[SB_MODULES_MAX];
	size_t pooling; /* index into items of Pooling, or n when none */
	size_t n_steps; /* entries after Pooling up to the last Dense or
			 * LayerNorm: what sb_modules_open() loads */
	int normalize;	/* a Normalize follows the last Dense/LayerNorm */
};

/*
 * Reads and checks model_dir/modules.json into *l (caller storage).  A folder without
 * one gives found 0, n 0.  Errors: SB_EFORMAT for a malformed file (not a list, an
 * entry that is not an object or has no type, a path leaving the folder, more than
 * SB_MODULES_MAX entries); SB_EUNSUPPORTED for a module sb does not implement or one
 * out of place (see above), naming the entry: "modules.json: module 2 ('2_CNN'): type
 * 'sentence_transformers.models.CNN' is not implemented ...".
 */
SB_API int sb_module_list_read(struct sb_module_list *l, const char *model_dir,
			       struct sb_error *err);

/* The modules after Pooling, loaded with their weights. */
struct sb_modules;

/*
 * Loads the Dense, LayerNorm and Normalize modules of model_dir that follow Pooling,
 * up to the last Dense or LayerNorm (a Normalize after it is the pooling's normalize
 * flag, see pooling.h, so that --normalize / --no-normalize keep their meaning).  On
 * success *out is the chain (free with sb_modules_close), with 0 steps when the model
 * has none.  Errors name the module folder and the key or tensor:
 * "MODEL/2_Dense/config.json: in_features 0" or the weights' messages
 * ("...: tensor 'linear.weight': shape [64, 128], expected [64, 256]"), and
 * consecutive widths that do not chain ("3_LayerNorm: dimension 32, but 2_Dense
 * gives 64").
 */
SB_API int sb_modules_open(struct sb_modules **out, const char *model_dir, struct sb_error *err);

/* Frees the chain and sets *m to NULL.  No operation if *m is NULL. */
SB_API void sb_modules_close(struct sb_modules **m);

/* Number of steps (0: the chain is the identity). */
SB_API size_t sb_modules_count(const struct sb_modules *m);

/*
 * Checks that the chain takes vectors of width dim (the pooled width) and sets
 * *dim_out to the width it gives (dim itself for 0 steps).  SB_EMISMATCH names the
 * first module and both widths ("MODEL/2_Dense: Dense takes vectors of 768, the
 * pooling gives 1536").
 */
SB_API int sb_modules_check(const struct sb_modules *m, size_t dim, size_t *dim_out,
			    struct sb_error *err);

/*
 * Applies the chain to x [rows, dim] (dim as accepted by sb_modules_check).  *y gets
 * the result [rows, dim_out], in x itself for 0 steps, else in scratch owned by the
 * chain: valid until the next call or sb_modules_close().  Scratch grows to the
 * largest batch seen (SB_ENOMEM / SB_ELIMIT when it cannot), never per call.
 */
SB_API int sb_modules_apply(struct sb_modules *m, const float *x, size_t rows, size_t dim,
			    const float **y, struct sb_error *err);

/*
 * One line describing the steps for -v output, e.g.
 * "2_Dense (768 -> 256, tanh), 3_LayerNorm (256)"; "" for 0 steps.  Returns buf.
 */
SB_API const char *sb_modules_describe(const struct sb_modules *m, char *buf, size_t size);

#endif
