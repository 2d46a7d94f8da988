/*
 * modules.c - modules.json and the Dense, LayerNorm and Normalize modules after
 * Pooling (see modules.h).
 *
 * The math follows sentence-transformers (models/Dense.py, LayerNorm.py,
 * Normalize.py; v5.4: sentence_transformer/modules/dense.py, layer_norm.py):
 *   Dense      features["sentence_embedding"] = act(linear(x)) [+ residual]
 *   LayerNorm  nn.LayerNorm(dimension): eps 1e-5, biased variance
 *   Normalize  F.normalize(x, p=2, dim=1): x / max(|x|, 1e-12)
 * in float32 as PyTorch computes them; the products go through sb_ops_linear.
 */
#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "json.h"
#include "modules.h"
#include "ops.h"
#include "weights.h"

/* ---- modules.json ---- */

static const struct {
	const char *name;
	enum sb_module_type type;
} type_names[] = {
    {"Transformer", SB_MODULE_TRANSFORMER},
    {"Pooling", SB_MODULE_POOLING},
    {"Dense", SB_MODULE_DENSE},
    {"LayerNorm", SB_MODULE_LAYERNORM},
    {"Normalize", SB_MODULE_NORMALIZE},
    {"Dropout", SB_MODULE_DROPOUT},
};

static const char *type_name(enum sb_module_type t)
{
	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (type_names[i].type == t)
			return type_names[i].name;
	return "?";
}

/* The class name is the last dotted component of the type. */
static int classify(const char *type, size_t len, enum sb_module_type *out)
{
	const char *dot = memrchr(type, '.', len);
	const char *cls = dot ? dot + 1 : type;
	size_t n = len - (size_t)(cls - type);

	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (strlen(type_names[i].name) == n && memcmp(cls, type_names[i].name, n) == 0) {
			*out = type_names[i].type;
			return 0;
		}
	return -1;
}

/* "module 2 ('2_CNN')": how messages name an entry. */
static const char *entry_name(size_t index, const char *path, size_t len, char *buf, size_t size)
{
	char p[80];

	snprintf(buf, size, "module %zu ('%s')", index, sb_printable(path, len, p, sizeof(p)));
	return buf;
}

/* Checks one entry's place in the list: Transformer, Pooling, then the rest. */
static int check_order(const struct sb_module_list *l, int after_pooling,
		       const struct sb_module_entry *e, const char *file, const char *what,
		       struct sb_error *err)
{
	switch (e->type) {
	case SB_MODULE_TRANSFORMER:
		if (after_pooling)
			return sb_error_set(err, SB_EUNSUPPORTED,
					    "%s: %s: Transformer after "
					    "Pooling is not implemented",
					    file, what);
		for (size_t i = 0; i < l->n; i++)
			if (l->items[i].type == SB_MODULE_TRANSFORMER)
				return sb_error_set(err, SB_EUNSUPPORTED,
						    "%s: %s: a second "
						    "input module is not implemented",
						    file, what);
		return SB_OK;
	case SB_MODULE_POOLING:
		if (after_pooling)
			return sb_error_set(err, SB_EUNSUPPORTED,
					    "%s: %s: a second Pooling "
					    "is not implemented",
					    file, what);
		return SB_OK;
	default:
		if (!after_pooling)
			return sb_error_set(err, SB_EUNSUPPORTED,
					    "%s: %s: %s before Pooling "
					    "(on token embeddings) is not implemented",
					    file, what, type_name(e->type));
		return SB_OK;
	}
}

int sb_module_list_read(struct sb_module_list *l, const char *model_dir, struct sb_error *err)
{
	char *path = sb_path_join(model_dir, "modules.json");
	struct sb_json *j = NULL;
	size_t last = 0;
	int rc = SB_OK, have_last = 0, seen_pooling = 0;

	memset(l, 0, sizeof(*l));
	if (!path)
		return sb_error_set(err, SB_ENOMEM, "%s: out of memory", model_dir);
	if (!sb_file_exists(path))
		goto out;
	l->found = 1;
	rc = sb_json_parse_file(path, 0, (size_t)1 << 20, &j, err);
	if (rc)
		goto out;
	if (j->type != SB_JSON_ARRAY) {
		rc = sb_error_set(err, SB_EFORMAT, "%s: expected a list of modules", path);
		goto out;
	}
	if (j->n_items > SB_MODULES_MAX) {
		rc = sb_error_set(err, SB_EFORMAT, "%s: %zu modules, at most %d are read", path,
				  j->n_items, SB_MODULES_MAX);
		goto out;
	}
	for (size_t i = 0; i < j->n_items; i++) {
		const struct sb_json *m = &j->items[i], *t = sb_json_get(m, "type");
		const struct sb_json *p = sb_json_get(m, "path");
		struct sb_module_entry *e = &l->items[l->n];
		const char *ps = p && p->type == SB_JSON_STRING ? p->str : "";
		size_t pn = p && p->type == SB_JSON_STRING ? p->len : 0;
		char what[120], tb[80];

		if (m->type != SB_JSON_OBJECT || !t || t->type != SB_JSON_STRING) {
			rc = sb_error_set(err, SB_EFORMAT,
					  "%s: module %zu: expected an object "
					  "with a string 'type'",
					  path, i);
			goto out;
		}
		entry_name(i, ps, pn, what, sizeof(what));
		if (p && p->type != SB_JSON_STRING && p->type != SB_JSON_NULL) {
			rc = sb_error_set(err, SB_EFORMAT, "%s: module %zu: 'path' is not a string",
					  path, i);
			goto out;
		}
		if (pn >= SB_MODULE_PATH_MAX || memchr(ps, '\0', pn) || strstr(ps, "..") ||
		    ps[0] == '/') {
			rc = sb_error_set(err, SB_EFORMAT,
					  "%s: %s: module path leaves the model "
					  "folder or is not a plain relative path",
					  path, what);
			goto out;
		}
		if (classify(t->str, t->len, &e->type) < 0) {
			rc = sb_error_set(err, SB_EUNSUPPORTED,
					  "%s: %s: type '%s' is not "
					  "implemented (sb runs Transformer, Pooling, Dense, "
					  "LayerNorm, Normalize, Dropout)",
					  path, what, sb_printable(t->str, t->len, tb, sizeof(tb)));
			goto out;
		}
		if ((rc = check_order(l, seen_pooling, e, path, what, err)))
			goto out;
		e->index = i;
		memcpy(e->path, ps, pn);
		e->path[pn] = '\0';
		if (e->type == SB_MODULE_POOLING) {
			l->pooling = l->n;
			seen_pooling = 1;
		}
		if (e->type == SB_MODULE_DENSE || e->type == SB_MODULE_LAYERNORM) {
			last = l->n;
			have_last = 1;
		}
		l->n++;
	}
out:
	if (rc) {
		l->n = 0;
	} else if (seen_pooling) {
		/* Everything after Pooling is Dense, LayerNorm, Normalize or Dropout. */
		for (size_t i = l->pooling + 1; i < l->n; i++) {
			enum sb_module_type t = l->items[i].type;

			if (have_last && i <= last && t != SB_MODULE_DROPOUT)
				l->n_steps++;
			else if (t == SB_MODULE_NORMALIZE)
				l->normalize = 1;
		}
	}
	if (!seen_pooling)
		l->pooling = l->n;
	sb_json_free(&j);
	free(path);
	return rc;
}

/* ---- the chain after Pooling ---- */

enum act { ACT_IDENTITY, ACT_TANH, ACT_RELU, ACT_GELU, ACT_SIGMOID, ACT_SILU };

static const struct {
	const char *cls;  /* torch.nn class */
	const char *name; /* for -v */
	enum act act;
} act_names[] = {
    {"Identity", "identity", ACT_IDENTITY},
    {"Tanh", "tanh", ACT_TANH},
    {"ReLU", "relu", ACT_RELU},
    {"GELU", "gelu", ACT_GELU},
    {"Sigmoid", "sigmoid", ACT_SIGMOID},
    {"SiLU", "silu", ACT_SILU},
};
#define N_ACTS (sizeof(act_names) / sizeof(act_names[0]))

struct step {
	enum sb_module_type type;   /* DENSE, LAYERNORM or NORMALIZE */
	const char *path;	    /* the entry's path, in the chain's list */
	size_t in, out;		    /* widths (in == out but for Dense) */
	size_t act;		    /* Dense: index into act_names */
	int residual;		    /* Dense: use_residual */
	const float *w;		    /* Dense: linear.weight [out, in] */
	const float *b;		    /* Dense: linear.bias [out], or NULL */
	const float *r;		    /* Dense: residual.weight [out, in], or NULL
				     * (with use_residual and in == out: x itself) */
	const float *gamma, *beta;  /* LayerNorm: norm.weight, norm.bias [in] */
	struct sb_weights *weights; /* owns w, b, r, gamma, beta */
};

struct sb_modules {
	char *dir; /* the model folder, for messages */
	struct sb_module_list list;
	size_t n;
	struct step steps[SB_MODULES_MAX];
	size_t max_width; /* widest vector along the chain */
	float *buf[3];	  /* [cap] each: two for the steps, one for residuals */
	size_t cap;	  /* floats in each buffer */
};

void sb_modules_close(struct sb_modules **mp)
{
	struct sb_modules *m;

	if (!mp || !*mp)
		return;
	m = *mp;
	for (size_t i = 0; i < m->n; i++)
		sb_weights_close(&m->steps[i].weights);
	for (size_t i = 0; i < 3; i++)
		free(m->buf[i]);
	free(m->dir);
	free(m);
	*mp = NULL;
}

size_t sb_modules_count(const struct sb_modules *m)
{
	return m ? m->n : 0;
}

/* A width from a module's config.json: present, an integer from 1 to 2^20. */
static int get_width(const struct sb_json *cfg, const char *key, const char *file, size_t *out,
		     struct sb_error *err)
{
	int64_t v = 0;
	int rc = sb_json_get_int(cfg, key, &v, err);

	if (rc == SB_ENOTFOUND)
		return sb_error_set(err, SB_EFORMAT, "%s: no '%s'", file, key);
	if (rc)
		return sb_error_prefix(err, "%s: ", file);
	if (v < 1 || v > ((int64_t)1 << 20))
		return sb_error_set(err, SB_EFORMAT, "%s: %s %lld, expected 1 to 1048576", file,
				    key, (long long)v);
	*out = (size_t)v;
	return SB_OK;
}

/* activation_function: a torch.nn class by any module path, e.g. torch.nn.Tanh. */
static int parse_act(const struct sb_json *cfg, const char *file, size_t *out, struct sb_error *err)
{
	const struct sb_json *a = sb_json_get(cfg, "activation_function");
	const char *dot;
	char buf[80];

	if (!a) {
		*out = ACT_TANH; /* Dense's default */
		return SB_OK;
	}
	if (a->type == SB_JSON_STRING && a->len > 9 && memcmp(a->str, "torch.nn.", 9) == 0 &&
	    !memchr(a->str, '\0', a->len)) {
		dot = strrchr(a->str, '.') + 1;
		for (size_t i = 0; i < N_ACTS; i++)
			if (strcmp(dot, act_names[i].cls) == 0) {
				*out = i;
				return SB_OK;
			}
	}
	if (a->type != SB_JSON_STRING)
		return sb_error_set(err, SB_EFORMAT, "%s: activation_function is not a string",
				    file);
	return sb_error_set(err, SB_EUNSUPPORTED,
			    "%s: activation_function '%s' is not "
			    "implemented (torch.nn Identity, Tanh, ReLU, GELU, Sigmoid, SiLU)",
			    file, sb_printable(a->str, a->len, buf, sizeof(buf)));
}

/* module_input_name / module_output_name, when given, must be sentence_embedding. */
static int check_feature(const struct sb_json *cfg, const char *key, const char *file,
			 struct sb_error *err)
{
	const struct sb_json *v = sb_json_get(cfg, key);
	char buf[80];

	if (!v || v->type == SB_JSON_NULL ||
	    (v->type == SB_JSON_STRING && strcmp(v->str, "sentence_embedding") == 0))
		return SB_OK;
	if (v->type != SB_JSON_STRING)
		return sb_error_set(err, SB_EFORMAT, "%s: %s is not a string", file, key);
	return sb_error_set(err, SB_EUNSUPPORTED,
			    "%s: %s '%s': only sentence_embedding is "
			    "implemented",
			    file, key, sb_printable(v->str, v->len, buf, sizeof(buf)));
}

/* The F32 data of a tensor of the given shape (n_dims 1 or 2). */
static int tensor(const struct sb_weights *w, const char *name, size_t d0, size_t d1,
		  const float **out, struct sb_error *err)
{
	const struct sb_tensor *t;
	size_t shape[2] = {d0, d1};
	int rc = sb_weights_require(w, name, d1 ? 2 : 1, shape, &t, err);

	if (!rc)
		*out = t->data;
	return rc;
}

static int load_dense(struct step *s, const struct sb_json *cfg, const char *dir, const char *file,
		      struct sb_error *err)
{
	int rc, bias = 1;

	if ((rc = get_width(cfg, "in_features", file, &s->in, err)) ||
	    (rc = get_width(cfg, "out_features", file, &s->out, err)) ||
	    (rc = parse_act(cfg, file, &s->act, err)) ||
	    (rc = check_feature(cfg, "module_input_name", file, err)) ||
	    (rc = check_feature(cfg, "module_output_name", file, err)))
		return rc;
	/* Both flags are optional (absent or null: the defaults). */
	rc = sb_json_get_bool(cfg, "bias", &bias, err);
	if (rc == SB_ENOTFOUND)
		rc = SB_OK;
	if (!rc && (rc = sb_json_get_bool(cfg, "use_residual", &s->residual, err)) == SB_ENOTFOUND)
		rc = SB_OK;
	if (rc)
		return sb_error_prefix(err, "%s: ", file);
	if ((rc = sb_weights_open(&s->weights, dir, err)) ||
	    (rc = tensor(s->weights, "linear.weight", s->out, s->in, &s->w, err)) ||
	    (bias && (rc = tensor(s->weights, "linear.bias", s->out, 0, &s->b, err))) ||
	    (s->residual && s->in != s->out &&
	     (rc = tensor(s->weights, "residual.weight", s->out, s->in, &s->r, err))))
		return rc;
	return SB_OK;
}

static int load_layernorm(struct step *s, const struct sb_json *cfg, const char *dir,
			  const char *file, struct sb_error *err)
{
	int rc;

	if ((rc = get_width(cfg, "dimension", file, &s->in, err)))
		return rc;
	s->out = s->in;
	if ((rc = sb_weights_open(&s->weights, dir, err)) ||
	    (rc = tensor(s->weights, "norm.weight", s->in, 0, &s->gamma, err)) ||
	    (rc = tensor(s->weights, "norm.bias", s->in, 0, &s->beta, err)))
		return rc;
	return SB_OK;
}

/* Reads module e's config.json and weights into s. */
static int load_step(struct step *s, const struct sb_module_entry *e, const char *model_dir,
		     struct sb_error *err)
{
	char *dir = sb_path_join(model_dir, e->path), *file = NULL;
	struct sb_json *cfg = NULL;
	int rc;

	s->type = e->type;
	s->path = e->path;
	if (e->type == SB_MODULE_NORMALIZE) {
		free(dir);
		return SB_OK;
	}
	if (!dir || !(file = sb_path_join(dir, "config.json"))) {
		rc = sb_error_set(err, SB_ENOMEM, "%s: out of memory", model_dir);
		goto out;
	}
	if (!sb_file_exists(file)) {
		rc = sb_error_set(err, SB_ENOTFOUND, "%s: no such file (%s module %zu)", file,
				  type_name(e->type), e->index);
		goto out;
	}
	if ((rc = sb_json_parse_file(file, 0, (size_t)1 << 20, &cfg, err)))
		goto out;
	if (cfg->type != SB_JSON_OBJECT) {
		rc = sb_error_set(err, SB_EFORMAT, "%s: expected an object", file);
		goto out;
	}
	rc = e->type == SB_MODULE_DENSE ? load_dense(s, cfg, dir, file, err)
					: load_layernorm(s, cfg, dir, file, err);
out:
	sb_json_free(&cfg);
	free(file);
	free(dir);
	return rc;
}

int sb_modules_open(struct sb_modules **out, const char *model_dir, struct sb_error *err)
{
	struct sb_modules *m;
	size_t width = 0;
	int rc;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return sb_error_set(err, SB_ENOMEM, "%s: out of memory (modules)", model_dir);
	if (!(m->dir = strdup(model_dir))) {
		rc = sb_error_set(err, SB_ENOMEM, "%s: out of memory (modules)", model_dir);
		goto fail;
	}
	if ((rc = sb_module_list_read(&m->list, model_dir, err)))
		goto fail;
	for (size_t i = m->list.pooling + 1; i < m->list.n && m->n < m->list.n_steps; i++) {
		const struct sb_module_entry *e = &m->list.items[i];
		struct step *s = &m->steps[m->n];

		if (e->type == SB_MODULE_DROPOUT)
			continue;
		m->n++;
		if ((rc = load_step(s, e, model_dir, err)))
			goto fail;
		if (s->type == SB_MODULE_NORMALIZE) {
			s->in = s->out = width; /* 0 before the first width is known */
			continue;
		}
		if (width && s->in != width) {
			const struct step *p = s - 1;

			while (p > m->steps && p->type == SB_MODULE_NORMALIZE)
				p--;
			rc = sb_error_set(err, SB_EMISMATCH, "%s/%s: %s %zu, but %s gives %zu",
					  model_dir, s->path,
					  s->type == SB_MODULE_DENSE ? "in_features" : "dimension",
					  s->in, p->path, width);
			goto fail;
		}
		width = s->out;
		if (s->in > m->max_width)
			m->max_width = s->in;
		if (s->out > m->max_width)
			m->max_width = s->out;
	}
	*out = m;
	return SB_OK;
fail:
	sb_modules_close(&m);
	return rc;
}

/* The width the chain takes: that of its first Dense or LayerNorm, or 0 (any). */
static size_t first_width(const struct sb_modules *m)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->steps[i].type != SB_MODULE_NORMALIZE)
			return m->steps[i].in;
	return 0;
}

int sb_modules_check(const struct sb_modules *m, size_t dim, size_t *dim_out, struct sb_error *err)
{
	size_t w = first_width(m);

	*dim_out = dim;
	if (!w)
		return SB_OK;
	if (w != dim) {
		const struct step *s = m->steps;

		while (s->type == SB_MODULE_NORMALIZE)
			s++;
		return sb_error_set(err, SB_EMISMATCH,
				    "%s/%s: %s takes vectors of %zu, the "
				    "pooling gives %zu",
				    m->dir, s->path,
				    s->type == SB_MODULE_DENSE ? "Dense" : "LayerNorm", w, dim);
	}
	for (size_t i = m->n; i-- > 0;)
		if (m->steps[i].type != SB_MODULE_NORMALIZE) {
			*dim_out = m->steps[i].out;
			break;
		}
	return SB_OK;
}

const char *sb_modules_describe(const struct sb_modules *m, char *buf, size_t size)
{
	size_t len = 0;

	if (size == 0)
		return buf;
	buf[0] = '\0';
	for (size_t i = 0; m && i < m->n && len < size; i++) {
		const struct step *s = &m->steps[i];
		int n;

		if (s->type == SB_MODULE_DENSE)
			n = snprintf(buf + len, size - len, "%s%s (Dense %zu -> %zu, %s%s%s)",
				     i ? ", " : "", s->path, s->in, s->out, act_names[s->act].name,
				     s->b ? "" : ", no bias", s->residual ? ", residual" : "");
		else if (s->type == SB_MODULE_LAYERNORM)
			n = snprintf(buf + len, size - len, "%s%s (LayerNorm %zu)", i ? ", " : "",
				     s->path, s->in);
		else
			n = snprintf(buf + len, size - len, "%s%s (Normalize)", i ? ", " : "",
				     s->path);
		if (n < 0)
			break;
		len += (size_t)n;
	}
	return buf;
}

/* ---- the math ---- */

static float act_one(enum act a, float x)
{
	switch (a) {
	case ACT_TANH:
		return tanhf(x);
	case ACT_RELU:
		return x > 0.0f ? x : 0.0f;
	case ACT_GELU:
		return 0.5f * x * (1.0f + erff(x * (float)M_SQRT1_2));
	case ACT_SIGMOID:
		return 1.0f / (1.0f + expf(-x));
	case ACT_SILU:
		return x / (1.0f + expf(-x));
	case ACT_IDENTITY:
		break;
	}
	return x;
}

/* y [rows, out] = act(x W^T + b) (+ x or + x R^T, the latter computed into t). */
static void dense(const struct step *s, const float *x, size_t rows, float *y, float *t)
{
	enum act a = act_names[s->act].act;

	sb_ops_linear(rows, s->out, s->in, x, s->in, s->w, y, s->out);
	if (s->residual && s->r)
		sb_ops_linear(rows, s->out, s->in, x, s->in, s->r, t, s->out);
	for (size_t r = 0; r < rows; r++) {
		float *yr = y + r * s->out;

		for (size_t o = 0; o < s->out; o++) {
			float v = yr[o] + (s->b ? s->b[o] : 0.0f);

			v = act_one(a, v);
			if (s->residual)
				v += s->r ? t[r * s->out + o] : x[r * s->in + o];
			yr[o] = v;
		}
	}
}

/* y = x / max(|x|, 1e-12) per row, the norm summed in double. */
static void normalize(const float *x, size_t rows, size_t dim, float *y)
{
	for (size_t r = 0; r < rows; r++) {
		const float *xr = x + r * dim;
		double sum = 0.0;

		for (size_t d = 0; d < dim; d++)
			sum += (double)xr[d] * (double)xr[d];
		sum = sqrt(sum);
		sum = sum > 1e-12 ? sum : 1e-12;
		for (size_t d = 0; d < dim; d++)
			y[r * dim + d] = (float)((double)xr[d] / sum);
	}
}

static int grow(struct sb_modules *m, size_t rows, struct sb_error *err)
{
	size_t need;

	if (rows > SIZE_MAX / sizeof(float) / (m->max_width ? m->max_width : 1))
		return sb_error_set(err, SB_ELIMIT, "modules: %zu rows of %zu floats", rows,
				    m->max_width);
	need = rows * (m->max_width ? m->max_width : 1);
	if (need <= m->cap)
		return SB_OK;
	for (size_t i = 0; i < 3; i++) {
		float *p = realloc(m->buf[i], need * sizeof(float));

		if (!p)
			return sb_error_set(err, SB_ENOMEM, "modules: cannot allocate %zu floats",
					    need);
		m->buf[i] = p;
	}
	m->cap = need;
	return SB_OK;
}

int sb_modules_apply(struct sb_modules *m, const float *x, size_t rows, size_t dim, const float **y,
		     struct sb_error *err)
{
	const float *cur = x;
	size_t width = dim;
	int rc;

	*y = x;
	if (m->n == 0 || rows == 0)
		return SB_OK;
	assert(first_width(m) == dim);
	if ((rc = grow(m, rows, err)))
		return rc;
	for (size_t i = 0; i < m->n; i++) {
		const struct step *s = &m->steps[i];
		float *dst = m->buf[i % 2];

		switch (s->type) {
		case SB_MODULE_DENSE:
			dense(s, cur, rows, dst, m->buf[2]);
			width = s->out;
			break;
		case SB_MODULE_LAYERNORM:
			sb_ops_layernorm(dst, cur, rows, width, s->gamma, s->beta, 1e-5f);
			break;
		default:
			normalize(cur, rows, width, dst);
			break;
		}
		cur = dst;
	}
	*y = cur;
	return SB_OK;
}
