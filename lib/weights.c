/*
 * weights.c - the float32 tensors of a model, from model.safetensors or
 * pytorch_model.bin, behind one interface (weights.h).
 *
 * The file is mapped read-only once.  Both parsers only describe tensors (name, dtype,
 * shape, absolute offset), so an F32 tensor whose address is 4-byte aligned becomes a
 * view into the mapping (no copy; pages are read on first use and shared with every
 * process mapping the same file).  Everything else that is a float type is converted
 * or copied into owned, 64-byte aligned F32 storage.  Integer tensors (position_ids
 * buffers in BERT checkpoints) are not weights: they are listed as skipped so that a
 * request for one says why it cannot be used.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

#include "checkpoint.h"
#include "internal.h"
#include "safetensors.h"
#include "weights.h"

struct w_entry {
	const char *name;               /* owned by st or ck below */
	const char *file_dtype;         /* "F32", "F16", "I64", ... */
	struct sb_tensor t;             /* F32; a view into the map or owned */
};

/* A tensor as either parser describes it. */
struct w_src {
	const char *name;
	const char *file_dtype;
	int dtype;
	int n_dims;
	const size_t *shape;
	size_t offset, nbytes;
};

struct sb_weights {
	void *map;                      /* NULL once no view points into it */
	size_t map_size;
	size_t file_bytes;
	struct sb_safetensors st;
	struct sb_checkpoint ck;
	struct w_entry *e;              /* file order */
	size_t n;
	size_t *by_name;                /* indexes into e, sorted by name */
	struct w_src *all;              /* every tensor of the file, floats or not */
	size_t *all_to_e;               /* index into e, or SIZE_MAX for non-float tensors */
	size_t n_all;
	char *label;                    /* the path, for messages */
	char source[192];
};

/* src: n little-endian IEEE halves -> dst: n floats (exact). */
static void f16_to_f32(float *dst, const unsigned char *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = sb_f16_to_f32(sb_le16(src + 2 * i));
}

#if defined(__x86_64__)
/* The same with the F16C instruction, 8 at a time: 265 MB of weights in a blink. */
__attribute__((target("avx,f16c"))) static void f16_to_f32_f16c(float *dst,
								  const unsigned char *src,
								  size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m128i h = _mm_loadu_si128((const __m128i *)(const void *)(src + 2 * i));
		_mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
	}
	f16_to_f32(dst + i, src + 2 * i, n - i);
}
#endif

/* bfloat16 is the top half of a float: a shift, which the compiler vectorizes. */
static void bf16_to_f32(float *dst, const unsigned char *src, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t u = (uint32_t)sb_le16(src + 2 * i) << 16;
		memcpy(&dst[i], &u, 4);
	}
}

static int is_float(int dtype)
{
	return dtype == SB_DTYPE_F32 || dtype == SB_DTYPE_F16 || dtype == SB_DTYPE_BF16;
}

/*
 * Gives back the resident pages of a source range that was just copied, so that loading
 * an F16 file peaks near its F32 size rather than both.  The mapping is private and
 * never written: its pages are file pages, read again from the cache if ever touched.
 */
static void drop_pages(const unsigned char *src, size_t n)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t lo = ((uintptr_t)src + page - 1) & ~(page - 1);
	uintptr_t hi = ((uintptr_t)src + n) & ~(page - 1);

	if (hi > lo)
		madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

void sb_weights_drop(struct sb_weights *w, const void *p, size_t bytes)
{
	const unsigned char *c = p, *m = w->map;

	if (m && c >= m && bytes <= w->map_size && (size_t)(c - m) <= w->map_size - bytes) {
		drop_pages(c, bytes);
		return;
	}
	/* A converted copy: free it whole; its entry keeps its name and shape. */
	for (size_t i = 0; i < w->n; i++) {
		struct sb_tensor *t = &w->e[i].t;
		if (t->owned && t->data == p && t->nbytes == bytes) {
			free(t->data);
			t->data = NULL;
			t->owned = 0;
			t->cap = 0;
			return;
		}
	}
}

#if defined(__x86_64__)
/* F16C and AVX from CPUID (clang's __builtin_cpu_supports does not know "f16c"). */
static int has_f16c(void)
{
	unsigned a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return 0;
	return (c & bit_F16C) && __builtin_cpu_supports("avx");
}
#endif

static int add_tensor(struct sb_weights *w, const struct w_src *s, int *n_views, int *n_copies,
		      struct sb_error *err)
{
	const unsigned char *src = (const unsigned char *)w->map + s->offset;
	struct w_entry *e = &w->e[w->n];
	size_t numel = s->nbytes / (s->dtype == SB_DTYPE_F32 ? 4 : 2);
	int rc;

	e->name = s->name;
	e->file_dtype = s->file_dtype;
	if (s->dtype == SB_DTYPE_F32 && ((uintptr_t)src & 3) == 0) {
		sb_tensor_view(&e->t, SB_DTYPE_F32, s->n_dims, s->shape, (void *)src);
		(*n_views)++;
		w->n++;
		return SB_OK;
	}
	rc = sb_tensor_alloc(&e->t, SB_DTYPE_F32, s->n_dims, s->shape, err);
	if (rc != SB_OK)
		return sb_error_prefix(err, "%s: tensor '%s': ", w->label, s->name);
	float *dst = e->t.data;
	if (s->dtype == SB_DTYPE_F32) {
		/*
		 * The format does not promise alignment (a header size that is not a
		 * multiple of 4, or odd-sized F16 tensors before this one): copy this
		 * tensor so that every float is naturally aligned for the math code.
		 */
		memcpy(dst, src, s->nbytes);
	} else if (s->dtype == SB_DTYPE_F16) {
#if defined(__x86_64__)
		if (has_f16c())
			f16_to_f32_f16c(dst, src, numel);
		else
#endif
			f16_to_f32(dst, src, numel);
	} else {
		bf16_to_f32(dst, src, numel);
	}
	drop_pages(src, s->nbytes);
	(*n_copies)++;
	w->n++;
	return SB_OK;
}

static int cmp_index_name(const void *a, const void *b, void *ctx)
{
	const struct sb_weights *w = ctx;
	return strcmp(w->e[*(const size_t *)a].name, w->e[*(const size_t *)b].name);
}

static int build_index(struct sb_weights *w, struct sb_error *err)
{
	if (!w->n)
		return SB_OK;
	w->by_name = malloc(w->n * sizeof(*w->by_name));
	if (!w->by_name)
		return sb_error_set(err, SB_ENOMEM, "%s: out of memory", w->label);
	for (size_t i = 0; i < w->n; i++)
		w->by_name[i] = i;
	qsort_r(w->by_name, w->n, sizeof(*w->by_name), cmp_index_name, w);
	for (size_t i = 1; i < w->n; i++) {
		const char *a = w->e[w->by_name[i - 1]].name, *b = w->e[w->by_name[i]].name;
		if (strcmp(a, b) == 0)
			return sb_error_set(err, SB_EFORMAT, "%s: tensor '%s' appears twice",
					    w->label, b);
	}
	return SB_OK;
}

static int load(struct sb_weights *w, int is_zip, struct sb_error *err)
{
	size_t n_all = is_zip ? w->ck.n_entries : w->st.n_entries;
	int n_views = 0, n_copies = 0, rc;
	unsigned seen = 0;
	const char *seen_names[3] = { NULL, NULL, NULL };

	if (n_all) {
		w->e = calloc(n_all, sizeof(*w->e));
		w->all = calloc(n_all, sizeof(*w->all));
		w->all_to_e = calloc(n_all, sizeof(*w->all_to_e));
		if (!w->e || !w->all || !w->all_to_e)
			return sb_error_set(err, SB_ENOMEM, "%s: out of memory", w->label);
	}
	for (size_t i = 0; i < n_all; i++) {
		struct w_src s;
		if (is_zip) {
			const struct sb_checkpoint_entry *c = &w->ck.entries[i];
			s = (struct w_src){ c->name, c->dtype_name, c->dtype, c->n_dims, c->shape,
					    c->offset, c->nbytes };
		} else {
			const struct sb_safetensors_entry *c = &w->st.entries[i];
			s = (struct w_src){ c->name, c->dtype_name, c->dtype, c->n_dims, c->shape,
					    c->offset, c->nbytes };
		}
		w->all[i] = s;
		w->n_all = i + 1;
		w->all_to_e[i] = SIZE_MAX;
		if (!is_float(s.dtype))
			continue;
		w->all_to_e[i] = w->n;
		int k = s.dtype == SB_DTYPE_F32 ? 0 : s.dtype == SB_DTYPE_F16 ? 1 : 2;
		if (!(seen & (1u << k))) {
			seen |= 1u << k;
			seen_names[k] = k == 0 ? "F32" : k == 1 ? "F16" : "BF16";
		}
		rc = add_tensor(w, &s, &n_views, &n_copies, err);
		if (rc != SB_OK)
			return rc;
	}
	rc = build_index(w, err);
	if (rc != SB_OK)
		return rc;

	const char *base = strrchr(w->label, '/');
	base = base ? base + 1 : w->label;
	char dts[32] = "";
	for (int k = 0; k < 3; k++) {
		if (!seen_names[k])
			continue;
		if (dts[0])
			strcat(dts, "+");
		strcat(dts, seen_names[k]);
	}
	if (!dts[0])
		strcpy(dts, "no float tensors");
	if (n_copies == 0)
		snprintf(w->source, sizeof(w->source), "%s (%s, mmap)", base, dts);
	else if (n_views == 0)
		snprintf(w->source, sizeof(w->source), "%s (%s, %s)", base, dts,
			 strcmp(dts, "F32") == 0 ? "copied: unaligned" : "converted to F32");
	else
		snprintf(w->source, sizeof(w->source), "%s (%s, mmap, %d tensors copied)", base,
			 dts, n_copies);
	if (n_views == 0) {
		/* Nothing points into the file any more: give the pages back now. */
		munmap(w->map, w->map_size);
		w->map = NULL;
	}
	return SB_OK;
}

int sb_weights_open_file(struct sb_weights **out, const char *path, struct sb_error *err)
{
	struct sb_weights *w;
	struct stat sb;
	int fd, rc;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w || !(w->label = sb_strdup(path))) {
		free(w);
		return sb_error_set(err, SB_ENOMEM, "%s: out of memory", path);
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = sb_error_sys(err, errno == ENOENT ? SB_ENOTFOUND : SB_EIO, errno, "%s", path);
		goto fail;
	}
	if (fstat(fd, &sb) < 0) {
		rc = sb_error_sys(err, SB_EIO, errno, "%s", path);
		close(fd);
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		rc = sb_error_set(err, SB_EINVAL, "%s: not a regular file", path);
		close(fd);
		goto fail;
	}
	if (sb.st_size < 8) {
		rc = sb_error_set(err, SB_ETRUNCATED, "%s: %lld bytes, too short for a weights "
				  "file", path, (long long)sb.st_size);
		close(fd);
		goto fail;
	}
	if ((uint64_t)sb.st_size > SIZE_MAX) {
		rc = sb_error_set(err, SB_ELIMIT, "%s: too large to map", path);
		close(fd);
		goto fail;
	}
	w->map_size = w->file_bytes = (size_t)sb.st_size;
	w->map = mmap(NULL, w->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (w->map == MAP_FAILED) {
		w->map = NULL;
		rc = sb_error_sys(err, SB_EIO, errno, "%s: mmap", path);
		goto fail;
	}
	const unsigned char *p = w->map;
	/* A zip archive, or (before torch 1.6) a pickled magic number: PROTO 2, LONG1. */
	int is_zip = memcmp(p, "PK\x03\x04", 4) == 0 || memcmp(p, "\x80\x02\x8a\x0a", 4) == 0;
	if (is_zip)
		rc = sb_checkpoint_parse(&w->ck, p, w->map_size, path, err);
	else
		rc = sb_safetensors_parse(&w->st, p, w->map_size, path, err);
	if (rc != SB_OK)
		goto fail;
	rc = load(w, is_zip, err);
	if (rc != SB_OK)
		goto fail;
	*out = w;
	return SB_OK;
fail:
	sb_weights_close(&w);
	return rc;
}

int sb_weights_open(struct sb_weights **out, const char *model_dir, struct sb_error *err)
{
	static const char *const names[] = { "model.safetensors", "pytorch_model.bin" };
	char *path;
	int rc;

	*out = NULL;
	for (size_t i = 0; i < 2; i++) {
		path = sb_path_join(model_dir, names[i]);
		if (!path)
			return sb_error_set(err, SB_ENOMEM, "%s: out of memory", model_dir);
		if (sb_file_exists(path)) {
			rc = sb_weights_open_file(out, path, err);
			free(path);
			return rc;
		}
		free(path);
	}
	path = sb_path_join(model_dir, "model.safetensors.index.json");
	if (path && sb_file_exists(path)) {
		free(path);
		return sb_error_set(err, SB_EUNSUPPORTED, "%s: sharded checkpoint "
				    "(model.safetensors.index.json) is not supported", model_dir);
	}
	free(path);
	return sb_error_set(err, SB_ENOTFOUND, "%s: no model.safetensors or pytorch_model.bin",
			    model_dir);
}

static const struct w_entry *lookup(const struct sb_weights *w, const char *name)
{
	size_t lo = 0, hi = w->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, w->e[w->by_name[mid]].name);
		if (c == 0)
			return &w->e[w->by_name[mid]];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const struct sb_tensor *sb_weights_get(const struct sb_weights *w, const char *name)
{
	const struct w_entry *e = w && name ? lookup(w, name) : NULL;
	return e ? &e->t : NULL;
}

size_t sb_weights_count(const struct sb_weights *w)
{
	return w ? w->n : 0;
}

const char *sb_weights_name(const struct sb_weights *w, size_t i)
{
	return w && i < w->n ? w->e[i].name : NULL;
}

const struct sb_tensor *sb_weights_at(const struct sb_weights *w, size_t i)
{
	return w && i < w->n ? &w->e[i].t : NULL;
}

size_t sb_weights_file_bytes(const struct sb_weights *w)
{
	return w ? w->file_bytes : 0;
}

const char *sb_weights_source(const struct sb_weights *w)
{
	return w ? w->source : "";
}

void sb_weights_close(struct sb_weights **wp)
{
	struct sb_weights *w;

	if (!wp || !*wp)
		return;
	w = *wp;
	for (size_t i = 0; i < w->n; i++)
		sb_tensor_destroy(&w->e[i].t);
	free(w->e);
	free(w->by_name);
	free(w->all);
	free(w->all_to_e);
	sb_safetensors_destroy(&w->st);
	sb_checkpoint_destroy(&w->ck);
	if (w->map)
		munmap(w->map, w->map_size);
	free(w->label);
	free(w);
	*wp = NULL;
}

/* ---- helpers for the model code (weights.h, second block) ---- */

/*
 * The spellings tried for a name, in order: as given, with the distilbert., bert. and
 * roberta. prefixes (or without, when the name has one), each also with the legacy
 * LayerNorm suffix (.gamma for .weight, .beta for .bias, and back).  Writes up to 8
 * candidates.
 */
static size_t candidates(const char *name, char out[][SB_WEIGHTS_NAME_MAX])
{
	static const char *const prefixes[] = { "", "distilbert.", "bert.", "roberta." };
	static const char *const swaps[][2] = {
		{ ".weight", ".gamma" }, { ".gamma", ".weight" },
		{ ".bias", ".beta" }, { ".beta", ".bias" },
	};
	const char *base = name;
	size_t n = 0;

	for (size_t i = 1; i < 4; i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			base = name + strlen(prefixes[i]);
	for (size_t i = 0; i < 4 && n < 8; i++) {
		int len = snprintf(out[n], SB_WEIGHTS_NAME_MAX, "%s%s", prefixes[i], base);
		if (len < 0 || len >= SB_WEIGHTS_NAME_MAX)
			continue;
		size_t l = (size_t)len;
		n++;
		for (size_t s = 0; s < 4; s++) {
			size_t from = strlen(swaps[s][0]);
			if (l < from || strcmp(out[n - 1] + l - from, swaps[s][0]) != 0)
				continue;
			if (l - from + strlen(swaps[s][1]) >= SB_WEIGHTS_NAME_MAX)
				break;
			memcpy(out[n], out[n - 1], l - from);
			strcpy(out[n] + l - from, swaps[s][1]);
			n++;
			break;
		}
	}
	return n;
}

const struct sb_tensor *sb_weights_find(const struct sb_weights *w, const char *name)
{
	char cand[8][SB_WEIGHTS_NAME_MAX];
	size_t n;

	if (!w || !name)
		return NULL;
	n = candidates(name, cand);
	for (size_t i = 0; i < n; i++) {
		const struct sb_tensor *t = sb_weights_get(w, cand[i]);
		if (t)
			return t;
	}
	return NULL;
}

int sb_weights_require(const struct sb_weights *w, const char *name, int n_dims,
		       const size_t *shape, const struct sb_tensor **out, struct sb_error *err)
{
	char cand[8][SB_WEIGHTS_NAME_MAX], a[160], b[160];
	const struct sb_tensor *t;
	size_t n;

	*out = NULL;
	t = sb_weights_find(w, name);
	if (!t) {
		n = candidates(name, cand);
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < w->n_all; j++)
				if (w->all_to_e[j] == SIZE_MAX &&
				    strcmp(cand[i], w->all[j].name) == 0)
					return sb_error_set(err, SB_EUNSUPPORTED, "%s: tensor '%s' "
							    "has dtype %s, expected a float type",
							    w->label, w->all[j].name,
							    w->all[j].file_dtype);
		return sb_error_set(err, SB_ENOTFOUND, "%s: tensor '%s' not found (also tried "
				    "the distilbert./bert./roberta. prefixes and gamma/beta "
				    "names)",
				    w->label, name);
	}
	if (n_dims >= 0) {
		int same = t->n_dims == n_dims;
		for (int i = 0; same && i < n_dims; i++)
			same = t->shape[i] == shape[i];
		if (!same)
			return sb_error_set(err, SB_EMISMATCH,
					    "%s: tensor '%s': shape %s, expected %s", w->label,
					    name,
					    sb_shape_str(t->n_dims, t->shape, a, sizeof(a)),
					    sb_shape_str(n_dims, shape, b, sizeof(b)));
	}
	*out = t;
	return SB_OK;
}

size_t sb_weights_count_all(const struct sb_weights *w)
{
	return w ? w->n_all : 0;
}

int sb_weights_item(const struct sb_weights *w, size_t i, struct sb_weights_item *out)
{
	if (!w || i >= w->n_all)
		return SB_EINVAL;
	out->name = w->all[i].name;
	out->file_dtype = w->all[i].file_dtype;
	out->n_dims = w->all[i].n_dims;
	out->shape = w->all[i].shape;
	out->file_offset = w->all[i].offset;
	out->file_nbytes = w->all[i].nbytes;
	out->tensor = w->all_to_e[i] == SIZE_MAX ? NULL : &w->e[w->all_to_e[i]].t;
	return SB_OK;
}
