/*
 * head.c - the sequence-classification head of BERT and RoBERTa cross-encoders (see
 * head.h): tensor binding with shape checks, num_labels from config.json, and the two
 * small products over the rows' first tokens.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "head.h"
#include "internal.h"
#include "json.h"
#include "ops.h"
#include "weights.h"

#define CONFIG_MAX_BYTES (1u << 20)
#define MAX_LABELS 65536

struct sb_head {
	size_t dim, n_labels;
	int sigmoid;                    /* CrossEncoder's activation for one label */
	const float *w1, *b1;           /* [D, D], [D]: pooler / classifier.dense */
	const float *w2, *b2;           /* [N, D], [N]: classifier / classifier.out_proj */
	float *x, *y;                   /* [rows, D] first tokens, then tanh(x W1^T + b1) */
	size_t cap;                     /* rows x and y hold */
};

/* The tensor name with shape [rows, cols] (rows 0: 1-d [cols]). */
static int bind(const struct sb_weights *w, const char *name, size_t rows, size_t cols,
		const float **out, struct sb_error *err)
{
	const struct sb_tensor *t;
	size_t shape[2] = { rows ? rows : cols, cols };
	int rc = sb_weights_require(w, name, rows ? 2 : 1, shape, &t, err);

	if (rc)
		return sb_error_prefix(err, "classification head: ");
	*out = t->data;
	return SB_OK;
}

/*
 * num_labels as transformers counts it: the entries of id2label, else num_labels, else
 * PretrainedConfig's default, 2.
 */
static int config_labels(const char *dir, size_t *out, struct sb_error *err)
{
	struct sb_json *cfg = NULL;
	const struct sb_json *ids;
	char *path = sb_path_join(dir, "config.json");
	int64_t v;
	int rc;

	if (!path)
		return sb_error_set(err, SB_ENOMEM, "classification head: out of memory");
	rc = sb_json_parse_file(path, 0, CONFIG_MAX_BYTES, &cfg, err);
	free(path);
	if (rc)
		return rc;
	*out = 2;
	ids = sb_json_get(cfg, "id2label");
	if (ids && ids->type == SB_JSON_OBJECT) {
		*out = ids->n_items;
	} else if ((rc = sb_json_get_int(cfg, "num_labels", &v, err)) == SB_OK) {
		if (v < 1 || v > MAX_LABELS)
			rc = sb_error_set(err, SB_EFORMAT, "config.json: 'num_labels' is %lld, "
					  "expected 1 to %d", (long long)v, MAX_LABELS);
		else
			*out = (size_t)v;
	} else if (rc == SB_ENOTFOUND) {
		rc = SB_OK;
	} else {
		sb_error_prefix(err, "config.json: ");
	}
	sb_json_free(&cfg);
	return rc;
}

int sb_head_open(struct sb_head **out, const struct sb_model *m, const char *dir, int logits,
		 struct sb_error *err)
{
	const struct sb_model_config *c = sb_model_config(m);
	const struct sb_weights *w = sb_model_weights(m);
	const struct sb_tensor *t;
	const char *n1, *n2;
	char n1b[64], n2b[64];
	struct sb_head *h;
	size_t D = c->dim, want;
	int rc;

	*out = NULL;
	if (c->arch == SB_ARCH_BERT) {
		n1 = "pooler.dense";
		n2 = "classifier";
	} else if (c->arch == SB_ARCH_ROBERTA) {
		n1 = "classifier.dense";
		n2 = "classifier.out_proj";
	} else {
		return sb_error_set(err, SB_EUNSUPPORTED, "classification head: model_type '%s' "
				    "is not supported (bert, roberta, xlm-roberta, camembert)",
				    c->model_type);
	}
	if ((rc = config_labels(dir, &want, err)))
		return rc;
	h = calloc(1, sizeof(*h));
	if (!h)
		return sb_error_set(err, SB_ENOMEM, "classification head: out of memory");
	h->dim = D;
	snprintf(n1b, sizeof(n1b), "%s.weight", n2);
	t = sb_weights_find(w, n1b);
	/* The classifier's rows say num_labels; config.json must agree. */
	h->n_labels = t && t->n_dims == 2 && t->shape[1] == D ? t->shape[0] : want;
	if (h->n_labels != want) {
		rc = sb_error_set(err, SB_EMISMATCH, "classification head: tensor '%s' gives "
				  "%zu labels (its rows), config.json %zu (id2label or "
				  "num_labels)", n1b, h->n_labels, want);
		goto fail;
	}
	snprintf(n1b, sizeof(n1b), "%s.weight", n1);
	snprintf(n2b, sizeof(n2b), "%s.bias", n1);
	if ((rc = bind(w, n1b, D, D, &h->w1, err)) || (rc = bind(w, n2b, 0, D, &h->b1, err)))
		goto fail;
	snprintf(n1b, sizeof(n1b), "%s.weight", n2);
	snprintf(n2b, sizeof(n2b), "%s.bias", n2);
	if ((rc = bind(w, n1b, h->n_labels, D, &h->w2, err)) ||
	    (rc = bind(w, n2b, 0, h->n_labels, &h->b2, err)))
		goto fail;
	h->sigmoid = !logits && h->n_labels == 1;
	*out = h;
	return SB_OK;
fail:
	sb_head_close(&h);
	return rc;
}

void sb_head_close(struct sb_head **hp)
{
	struct sb_head *h = hp ? *hp : NULL;

	if (!h)
		return;
	free(h->x);
	free(h->y);
	free(h);
	*hp = NULL;
}

size_t sb_head_labels(const struct sb_head *h)
{
	return h->n_labels;
}

const char *sb_head_activation(const struct sb_head *h)
{
	return h->sigmoid ? "sigmoid" : "none";
}

/* Makes x and y hold rows rows of D floats. */
static int reserve(struct sb_head *h, size_t rows, struct sb_error *err)
{
	size_t n;
	float *x, *y;

	if (rows <= h->cap)
		return SB_OK;
	if (sb_size_mul(rows, h->dim, &n) || n > SIZE_MAX / sizeof(float))
		return sb_error_set(err, SB_ELIMIT, "classification head: %zu rows", rows);
	x = realloc(h->x, n * sizeof(float));
	if (x)
		h->x = x;
	y = x ? realloc(h->y, n * sizeof(float)) : NULL;
	if (!y)
		return sb_error_set(err, SB_ENOMEM, "classification head: out of memory");
	h->y = y;
	h->cap = rows;
	return SB_OK;
}

int sb_head_forward(struct sb_head *h, const struct sb_model *m, float *out,
		    struct sb_error *err)
{
	size_t rows = sb_model_rows(m), D = h->dim, N = h->n_labels;
	int rc;

	if (rows == 0)
		return SB_OK;
	if ((rc = reserve(h, rows, err)))
		return rc;
	/* x[rows, D]: the hidden state at position 0 of every row. */
	for (size_t r = 0; r < rows; r++) {
		const size_t *pos;
		size_t n;
		const float *hs = sb_model_row(m, r, &n, &pos);
		if (n == 0 || pos[0] != 0)
			return sb_error_set(err, SB_EINVAL, "row %zu: position 0 is padding: the "
					    "classification head reads the first token "
					    "(left padding is not supported)", r);
		memcpy(h->x + r * D, hs, D * sizeof(float));
	}
	/* y[rows, D] = tanh(x W1^T + b1) */
	sb_ops_linear(rows, D, D, h->x, D, h->w1, h->y, D);
	for (size_t r = 0; r < rows; r++)
		for (size_t j = 0; j < D; j++)
			h->y[r * D + j] = tanhf(h->y[r * D + j] + h->b1[j]);
	/* out[rows, N] = y W2^T + b2, then the activation */
	sb_ops_linear(rows, N, D, h->y, D, h->w2, out, N);
	for (size_t r = 0; r < rows; r++) {
		for (size_t j = 0; j < N; j++) {
			float z = out[r * N + j] + h->b2[j];
			out[r * N + j] = h->sigmoid ? 1.0f / (1.0f + expf(-z)) : z;
		}
	}
	return SB_OK;
}
