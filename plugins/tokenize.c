/*
 * tokenize.c - the tokenize stage: lines in (SB_KIND_TEXT frames from the runner),
 * `tokens` frames out, as Hugging Face's tokenizer(text, truncation=True,
 * max_length=..., padding=...) returns them.
 *
 * Options (key=value):
 *   model=DIR                 the model folder (required)
 *   max_length=N              tokens per row with [CLS]/[SEP] (default: the folder's)
 *   truncation=STRATEGY       longest_first (default), only_first, only_second, none
 *   pairs=0|1                 a line is "A<TAB>B" (B: everything after the first tab;
 *                             a line without a tab has an empty B)
 *   padding=longest|max_length|none
 *                             longest: each frame to its longest row (default);
 *                             max_length: every row to max_length; none: no pad
 *                             tokens at all, so consecutive rows of equal length
 *                             share a frame
 *   pad_to_multiple_of=N      round the padded length up to a multiple of N
 *   prompt=TEXT               prepended to every text (sentence-transformers prompts);
 *                             an empty TEXT means no prompt, not even the default
 *   prompt_name=NAME          the prompt called NAME in the model's
 *                             config_sentence_transformers.json ("prompts"); without
 *                             prompt or prompt_name, its default_prompt_name applies
 *   text=0|1                  carry each row's line in the frame (default 1)
 *   replace_invalid=0|1       replace invalid UTF-8 with U+FFFD (default 0: error)
 *   token_type_ids=auto|0|1   emit token_type_ids (auto: when the model has segment
 *                             embeddings, or for pairs)
 *
 * Every line is one row.  One trailing CR is removed (CRLF files), and a UTF-8 BOM
 * at the start of the first line.  Output tensors, all [rows, seq] int64 but the last:
 * input_ids, attention_mask, token_type_ids (see above), truncated uint8 [rows]
 * (1 when the row lost tokens to max_length).  Meta: model, tokenizer,
 * tokenizer_fingerprint, max_seq_length, truncation, padding, pairs, prompt_length
 * (with a prompt: the prompt's tokens with the template minus one, [CLS] + prompt
 * tokens for BERT, as sentence-transformers counts it) and
 * replaced_invalid (with replace_invalid=1: sequences replaced in the frame).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "internal.h"
#include "json.h"
#include "stage.h"
#include "tokenize.h"
#include "tokenizer.h"

enum padding { PAD_LONGEST, PAD_MAX_LENGTH, PAD_NONE };

struct tokenize {
	struct sb_tokenizer *tok;
	struct sb_tokenizer_enc enc;
	char *model_dir;
	char fingerprint[24];
	enum sb_trunc trunc;
	enum padding padding;
	size_t multiple;
	int pairs, carry_text, replace_invalid, token_types;
	char *prompt;
	size_t prompt_len;
	uint64_t prompt_tokens;         /* sentence-transformers' prompt_length */
	char *prompt_name;              /* its config_sentence_transformers.json name */
	int prompt_default;             /* ... applied as default_prompt_name */

	/* The rows of the current input frame, before padding. */
	int32_t *ids;                   /* all rows' ids, concatenated */
	uint8_t *types;
	size_t n_ids, cap_ids;
	size_t *off, *len;              /* [rows] */
	uint8_t *row_trunc;             /* [rows] */
	uint32_t *replaced;             /* [rows] */
	size_t cap_rows;

	struct sb_frame out;
	struct sb_tokenize_counts counts;

	/* A line longer than the runner's text chunk, fed to the encoder piece by piece
	 * across frames (text_partial / text_continued), so memory stays bounded. */
	int streaming;                  /* a row is in progress */
	int stream_in_b;                /* pairs: its tab was seen */
	uint64_t stream_fed;            /* bytes of the line seen so far */
	int stream_cr;                  /* a CR that ended the last piece, held back */
	struct sb_buf stream_text;      /* its first STREAM_TEXT_MAX bytes, for `text` */
};

/* The text carried for a line longer than this is cut to it. */
#define STREAM_TEXT_MAX ((size_t)1 << 20)

static void tokenize_close(void *state)
{
	struct tokenize *s = state;

	if (!s)
		return;
	sb_tokenizer_enc_destroy(&s->enc);
	sb_tokenizer_close(&s->tok);
	free(s->model_dir);
	free(s->prompt);
	free(s->prompt_name);
	free(s->ids);
	free(s->types);
	free(s->off);
	free(s->len);
	free(s->row_trunc);
	free(s->replaced);
	sb_frame_destroy(&s->out);
	sb_buf_destroy(&s->stream_text);
	free(s);
}

static void tokenize_report(void *state, void *out)
{
	const struct tokenize *s = state;
	struct sb_tokenize_report *r = out;

	r->counts = s->counts;
	r->prompt.text = s->prompt;
	r->prompt.len = s->prompt_len;
	r->prompt.name = s->prompt_name;
	r->prompt.is_default = s->prompt_default;
	r->prompt.prompt_length = s->prompt_tokens;
	r->info = sb_tokenizer_info(s->tok);
}

static int set_prompt(struct tokenize *s, const char *p, size_t n, struct sb_error *err)
{
	s->prompt = malloc(n + 1);
	if (!s->prompt)
		return sb_error_set(err, SB_ENOMEM, "tokenize: out of memory");
	memcpy(s->prompt, p, n);
	s->prompt[n] = '\0';
	s->prompt_len = n;
	return SB_OK;
}

/* "query, passage": the names of a prompts object, cut to fit buf. */
static const char *prompt_names(const struct sb_json *prompts, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; prompts && i < prompts->n_items && len + 1 < size; i++) {
		const struct sb_json *it = &prompts->items[i];
		char k[48];
		int n = snprintf(buf + len, size - len, "%s%s", i ? ", " : "",
				 sb_printable(it->key, it->key_len, k, sizeof(k)));
		if (n < 0)
			break;
		len += (size_t)n;
	}
	return buf;
}

/*
 * The prompt called name (or, when name is NULL, the default_prompt_name) of the
 * model's config_sentence_transformers.json, as SentenceTransformer.encode() picks
 * it: an unknown name is an error listing the known ones; no default, no prompt.
 */
static int named_prompt(struct tokenize *s, const char *dir, const char *name,
			struct sb_error *err)
{
	static const char file[] = "config_sentence_transformers.json";
	char *path = sb_path_join(dir, file), names[200], shown[72];
	const struct sb_json *prompts, *dflt, *p;
	struct sb_json *cfg = NULL;
	int rc = SB_OK;

	if (!path)
		return sb_error_set(err, SB_ENOMEM, "tokenize: out of memory");
	if (!sb_file_exists(path)) {
		if (name)
			rc = sb_error_set(err, SB_ENOTFOUND, "tokenize: prompt name '%s': %s has no "
					  "%s", sb_printable(name, strlen(name), shown, sizeof(shown)),
					  dir, file);
		goto out;
	}
	if ((rc = sb_json_parse_file(path, 0, (size_t)1 << 22, &cfg, err)))
		goto out;
	prompts = sb_json_get(cfg, "prompts");
	dflt = sb_json_get(cfg, "default_prompt_name");
	if (cfg->type != SB_JSON_OBJECT ||
	    (prompts && prompts->type != SB_JSON_OBJECT && prompts->type != SB_JSON_NULL) ||
	    (dflt && dflt->type != SB_JSON_STRING && dflt->type != SB_JSON_NULL)) {
		rc = sb_error_set(err, SB_EFORMAT, "%s: expected an object with a 'prompts' "
				  "object and a string or null 'default_prompt_name'", path);
		goto out;
	}
	if (prompts && prompts->type != SB_JSON_OBJECT)
		prompts = NULL;
	if (!name) {
		if (!dflt || dflt->type != SB_JSON_STRING)
			goto out;
		name = dflt->str;
		s->prompt_default = 1;
	}
	p = sb_json_get(prompts, name);
	sb_printable(name, strlen(name), shown, sizeof(shown));
	if (!p) {
		rc = sb_error_set(err, SB_EINVAL, "tokenize: %s '%s' is not in %s (prompts: %s)",
				  s->prompt_default ? "default_prompt_name" : "prompt name", shown, path,
				  prompts && prompts->n_items ? prompt_names(prompts, names,
									     sizeof(names))
							      : "none");
		goto out;
	}
	if (p->type != SB_JSON_STRING) {
		rc = sb_error_set(err, SB_EFORMAT, "%s: prompts.%s is not a string", path, shown);
		goto out;
	}
	if (!(s->prompt_name = strdup(name))) {
		rc = sb_error_set(err, SB_ENOMEM, "tokenize: out of memory");
		goto out;
	}
	/* An empty prompt is no prompt, as in encode() (len(prompt) > 0). */
	if (p->len)
		rc = set_prompt(s, p->str, p->len, err);
out:
	sb_json_free(&cfg);
	free(path);
	return rc;
}

/* max_length, truncation, pairs, text, replace_invalid, token_type_ids, padding,
 * pad_to_multiple_of. */
static int text_options(struct tokenize *s, struct sb_tokenizer_opts *to,
			const struct sb_kv *opts, size_t n_opts, struct sb_error *err)
{
	const char *v;
	int rc;

	if ((v = sb_kv_get(opts, n_opts, "max_length")) &&
	    (rc = sb_kv_count("tokenize", "max_length", v, 1, (size_t)1 << 24, &to->max_length,
			       err)))
		return rc;
	if ((v = sb_kv_get(opts, n_opts, "truncation")) && sb_trunc_parse(v, &s->trunc))
		return sb_error_set(err, SB_EINVAL, "tokenize: truncation: '%s' is not one of "
				    "longest_first, only_first, only_second, none", v);
	if ((v = sb_kv_get(opts, n_opts, "pairs")) &&
	    (rc = sb_kv_bool("tokenize", "pairs", v, &s->pairs, err)))
		return rc;
	if ((v = sb_kv_get(opts, n_opts, "text")) &&
	    (rc = sb_kv_bool("tokenize", "text", v, &s->carry_text, err)))
		return rc;
	if ((v = sb_kv_get(opts, n_opts, "replace_invalid")) &&
	    (rc = sb_kv_bool("tokenize", "replace_invalid", v, &s->replace_invalid, err)))
		return rc;
	if ((v = sb_kv_get(opts, n_opts, "token_type_ids")) && strcmp(v, "auto") &&
	    (rc = sb_kv_bool("tokenize", "token_type_ids", v, &s->token_types, err)))
		return rc;
	if ((v = sb_kv_get(opts, n_opts, "padding"))) {
		if (!strcmp(v, "longest"))
			s->padding = PAD_LONGEST;
		else if (!strcmp(v, "max_length"))
			s->padding = PAD_MAX_LENGTH;
		else if (!strcmp(v, "none"))
			s->padding = PAD_NONE;
		else
			return sb_error_set(err, SB_EINVAL, "tokenize: padding: '%s' is not one of "
					    "longest, max_length, none", v);
	}
	if ((v = sb_kv_get(opts, n_opts, "pad_to_multiple_of")) &&
	    (rc = sb_kv_count("tokenize", "pad_to_multiple_of", v, 1, 65536, &s->multiple, err)))
		return rc;
	return SB_OK;
}

/* prompt=TEXT or prompt_name=NAME (from the model's config_sentence_transformers.json). */
static int prompt_options(struct tokenize *s, const char *dir, const struct sb_kv *opts,
			  size_t n_opts, struct sb_error *err)
{
	const char *v = sb_kv_get(opts, n_opts, "prompt");
	int rc;

	if (v && sb_kv_get(opts, n_opts, "prompt_name"))
		return sb_error_set(err, SB_EINVAL, "tokenize: prompt and prompt_name exclude "
				    "each other");
	if (v && v[0] && (rc = set_prompt(s, v, strlen(v), err)))
		return rc;
	if (!v && (rc = named_prompt(s, dir, sb_kv_get(opts, n_opts, "prompt_name"), err)))
		return rc;
	return SB_OK;
}

/* The settings that need the tokenizer: room for the special tokens, token types, the
 * fingerprint, the prompt's length in tokens. */
static int tokenizer_settings(struct tokenize *s, struct sb_error *err)
{
	const struct sb_tokenizer_info *info = sb_tokenizer_info(s->tok);
	size_t n = s->pairs ? info->n_special_pair : info->n_special_single;
	uint64_t c = 0;
	int rc;

	if (s->trunc != SB_TRUNC_NONE && info->max_length <= n)
		return sb_error_set(err, SB_EINVAL, "tokenize: max length %zu leaves no room next "
				    "to the %zu special tokens", info->max_length, n);
	if (!s->pairs && (s->trunc == SB_TRUNC_ONLY_SECOND))
		return sb_error_set(err, SB_EINVAL, "tokenize: truncation only_second needs pairs");
	if (s->token_types < 0)
		s->token_types = info->has_token_types || s->pairs;
	snprintf(s->fingerprint, sizeof(s->fingerprint), "%016llx",
		 (unsigned long long)info->fingerprint);
	if (!s->prompt)
		return SB_OK;
	rc = sb_tokenizer_count(&s->enc, s->prompt, s->prompt_len, &c, err);
	if (rc) {
		sb_error_prefix(err, "tokenize: prompt: ");
		return rc;
	}
	/*
	 * sentence-transformers: len(tokenize([prompt])["input_ids"][0]) - 1, the prompt
	 * alone with the template, truncated to max_length like any text.
	 */
	c += info->n_special_single;
	if (s->trunc != SB_TRUNC_NONE && c > info->max_length)
		c = info->max_length;
	s->prompt_tokens = c ? c - 1 : 0;
	return SB_OK;
}

static int tokenize_open(void **state, const struct sb_kv *opts, size_t n_opts,
			 struct sb_error *err)
{
	static const char *const known[] = { "model", "max_length", "truncation", "pairs",
					     "padding", "pad_to_multiple_of", "prompt", "text",
					     "replace_invalid", "token_type_ids", "prompt_name",
					     "tokenizer_cache" };
	struct sb_tokenizer_opts to;
	struct tokenize *s;
	const char *dir;
	int rc;

	*state = NULL;
	rc = sb_kv_known("tokenize", opts, n_opts, known, sizeof(known) / sizeof(known[0]), err);
	if (rc != SB_OK)
		return rc;
	dir = sb_kv_get(opts, n_opts, "model");
	if (!dir || !dir[0])
		return sb_error_set(err, SB_EINVAL, "tokenize: no model given (model=DIR)");
	s = calloc(1, sizeof(*s));
	if (!s)
		return sb_error_set(err, SB_ENOMEM, "tokenize: out of memory");
	sb_frame_init(&s->out);
	s->carry_text = 1;
	s->token_types = -1;
	sb_tokenizer_opts_init(&to);
	to.cache_dir = sb_kv_get(opts, n_opts, "tokenizer_cache");
	if (to.cache_dir && !*to.cache_dir)
		to.cache_dir = NULL;
	if ((rc = text_options(s, &to, opts, n_opts, err)) ||
	    (rc = prompt_options(s, dir, opts, n_opts, err)))
		goto fail;
	s->model_dir = strdup(dir);
	if (!s->model_dir) {
		rc = sb_error_set(err, SB_ENOMEM, "tokenize: out of memory");
		goto fail;
	}
	if ((rc = sb_tokenizer_open(&s->tok, dir, &to, err)) ||
	    (rc = sb_tokenizer_enc_init(&s->enc, s->tok, err)) ||
	    (rc = tokenizer_settings(s, err)))
		goto fail;
	*state = s;
	return SB_OK;
fail:
	tokenize_close(s);
	return rc;
}

static int grow_rows(struct tokenize *s, size_t rows, struct sb_error *err)
{
	size_t nc = s->cap_rows ? s->cap_rows : 64;
	void *p;

	if (rows <= s->cap_rows)
		return SB_OK;
	while (nc < rows)
		nc *= 2;
	if ((p = realloc(s->off, nc * sizeof(size_t))) == NULL)
		goto oom;
	s->off = p;
	if ((p = realloc(s->len, nc * sizeof(size_t))) == NULL)
		goto oom;
	s->len = p;
	if ((p = realloc(s->row_trunc, nc)) == NULL)
		goto oom;
	s->row_trunc = p;
	if ((p = realloc(s->replaced, nc * sizeof(uint32_t))) == NULL)
		goto oom;
	s->replaced = p;
	s->cap_rows = nc;
	return SB_OK;
oom:
	return sb_error_set(err, SB_ENOMEM, "tokenize: out of memory (%zu rows)", rows);
}

static int grow_ids(struct tokenize *s, size_t n, struct sb_error *err)
{
	size_t nc = s->cap_ids ? s->cap_ids : 4096;
	void *p;

	if (n <= s->cap_ids)
		return SB_OK;
	while (nc < n) {
		if (nc > SIZE_MAX / 8)
			return sb_error_set(err, SB_ELIMIT, "tokenize: %zu tokens in a frame", n);
		nc *= 2;
	}
	if ((p = realloc(s->ids, nc * sizeof(int32_t))) == NULL)
		goto oom;
	s->ids = p;
	if ((p = realloc(s->types, nc)) == NULL)
		goto oom;
	s->types = p;
	s->cap_ids = nc;
	return SB_OK;
oom:
	return sb_error_set(err, SB_ENOMEM, "tokenize: out of memory (%zu tokens)", n);
}

/* The text of row r as the tokenizer sees it: no BOM on line 1, no trailing CR. */
static void row_text(const struct sb_frame *in, size_t r, const char **p, size_t *n,
		     size_t *skipped)
{
	const char *t = in->text[r].p;
	size_t len = in->text[r].n;

	*skipped = 0;
	if (in->seq + r == 0 && len >= 3 && memcmp(t, "\xEF\xBB\xBF", 3) == 0) {
		t += 3;
		len -= 3;
		*skipped = 3;
	}
	if (len && t[len - 1] == '\r')
		len--;
	*p = t;
	*n = len;
}

/* The carried text of row r: a streamed line's is kept in the state. */
static void carried_text(const struct tokenize *s, const struct sb_frame *in, size_t r,
			 const char **p, size_t *n)
{
	size_t skipped;

	if (r == 0 && in->text_continued) {
		*p = s->stream_text.len ? (const char *)s->stream_text.data : "";
		*n = s->stream_text.len;
		return;
	}
	row_text(in, r, p, n, &skipped);
}

/* Emits rows [lo, hi) of the input frame as one tokens frame. */
static int emit_rows(struct tokenize *s, const struct sb_frame *in, size_t lo, size_t hi,
		     struct sb_emit *out, struct sb_error *err)
{
	const struct sb_tokenizer_info *info = sb_tokenizer_info(s->tok);
	size_t rows = hi - lo, width = 0, shape[2];
	struct sb_tensor *ti, *tm, *tt = NULL, *tr;
	uint64_t replaced = 0;
	int rc;

	for (size_t r = lo; r < hi; r++) {
		if (s->len[r] > width)
			width = s->len[r];
		replaced += s->replaced[r];
	}
	if (s->padding == PAD_MAX_LENGTH && width < info->max_length)
		width = info->max_length;
	if (s->multiple && width % s->multiple)
		width += s->multiple - width % s->multiple;
	sb_frame_reset(&s->out);
	s->out.kind = SB_KIND_TOKENS;
	s->out.seq = in->seq + lo;
	s->out.rows = rows;
	shape[0] = rows;
	shape[1] = width;
	if ((rc = sb_frame_tensor_resize(&s->out, "input_ids", SB_DTYPE_I64, 2, shape, &ti, err)) ||
	    (rc = sb_frame_tensor_resize(&s->out, "attention_mask", SB_DTYPE_I64, 2, shape, &tm,
					 err)))
		return rc;
	if (s->token_types &&
	    (rc = sb_frame_tensor_resize(&s->out, "token_type_ids", SB_DTYPE_I64, 2, shape, &tt,
					 err)))
		return rc;
	if ((rc = sb_frame_tensor_resize(&s->out, "truncated", SB_DTYPE_U8, 1, shape, &tr, err)))
		return rc;
	for (size_t r = 0; r < rows; r++) {
		int64_t *pi = (int64_t *)ti->data + r * width;
		int64_t *pm = (int64_t *)tm->data + r * width;
		int64_t *pt = tt ? (int64_t *)tt->data + r * width : NULL;
		const int32_t *src = s->ids + s->off[lo + r];
		const uint8_t *ty = s->types + s->off[lo + r];
		size_t n = s->len[lo + r], k;

		for (k = 0; k < n; k++) {
			pi[k] = src[k];
			pm[k] = 1;
		}
		for (; k < width; k++) {
			pi[k] = info->pad_id;
			pm[k] = 0;
		}
		if (pt) {
			for (k = 0; k < n; k++)
				pt[k] = ty[k];
			for (; k < width; k++)
				pt[k] = 0;
		}
		((uint8_t *)tr->data)[r] = s->row_trunc[lo + r];
	}
	if (s->carry_text) {
		rc = sb_frame_text_alloc(&s->out, rows, err);
		for (size_t r = 0; !rc && r < rows; r++) {
			const char *p;
			size_t n;

			carried_text(s, in, lo + r, &p, &n);
			rc = sb_frame_text_set(&s->out, r, p, n, err);
		}
		if (rc)
			return rc;
	}
	if ((rc = sb_frame_meta_str(&s->out, "model", s->model_dir, err)) ||
	    (rc = sb_frame_meta_str(&s->out, "tokenizer", info->source, err)) ||
	    (rc = sb_frame_meta_str(&s->out, "tokenizer_fingerprint", s->fingerprint, err)) ||
	    (rc = sb_frame_meta_uint(&s->out, "max_seq_length", info->max_length, err)) ||
	    (rc = sb_frame_meta_str(&s->out, "truncation", sb_trunc_name(s->trunc), err)) ||
	    (rc = sb_frame_meta_str(&s->out, "padding", s->padding == PAD_LONGEST ? "longest" :
				    s->padding == PAD_MAX_LENGTH ? "max_length" : "none", err)) ||
	    (rc = sb_frame_meta_bool(&s->out, "pairs", s->pairs, err)))
		return rc;
	if (s->prompt && (rc = sb_frame_meta_uint(&s->out, "prompt_length", s->prompt_tokens, err)))
		return rc;
	if (s->replace_invalid &&
	    (rc = sb_frame_meta_uint(&s->out, "replaced_invalid", replaced, err)))
		return rc;
	for (size_t r = lo; r < hi; r++) {
		s->counts.rows_truncated += s->row_trunc[r];
		s->counts.rows_replaced += s->replaced[r] > 0;
		s->counts.n_replaced += s->replaced[r];
	}
	s->counts.rows += rows;
	return sb_emit_frame(out, &s->out, err);
}

/* Emits rows [0, n): one frame, or runs of equal length without padding. */
static int emit_all(struct tokenize *s, const struct sb_frame *in, size_t n, struct sb_emit *out,
		    struct sb_error *err)
{
	size_t lo = 0;

	if (s->padding != PAD_NONE)
		return n ? emit_rows(s, in, 0, n, out, err) : SB_OK;
	while (lo < n) {
		size_t hi = lo + 1;
		int rc;

		while (hi < n && s->len[hi] == s->len[lo])
			hi++;
		rc = emit_rows(s, in, lo, hi, out, err);
		if (rc)
			return rc;
		lo = hi;
	}
	return SB_OK;
}

/*
 * Feeds one piece of a long line (row r of in) to the encoder: begins the row on its
 * first piece, switches to text b at the first tab for pairs, keeps the start of the
 * text to carry, and ends the row on its last piece.  *done is set when it ended.
 */
static int feed_piece(struct tokenize *s, const struct sb_frame *in, size_t r, int first,
		      int last, int *done, struct sb_error *err)
{
	const char *p = in->text[r].p;
	size_t n = in->text[r].n, keep;
	unsigned flags = s->replace_invalid ? SB_TOKENIZER_REPLACE_INVALID : 0;
	int rc = SB_OK;

	*done = 0;
	if (first) {
		sb_tokenizer_begin(&s->enc, s->trunc, flags);
		s->streaming = 1;
		s->stream_in_b = 0;
		s->stream_fed = 0;
		s->stream_cr = 0;
		s->stream_text.len = 0;
		if (in->seq + r == 0 && n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
			p += 3;
			n -= 3;
			s->stream_fed = 3;
		}
		if (s->prompt_len)
			rc = sb_tokenizer_feed(&s->enc, s->prompt, s->prompt_len, err);
	}
	keep = STREAM_TEXT_MAX - s->stream_text.len;
	if (!rc && keep)
		rc = sb_buf_append(&s->stream_text, p, n < keep ? n : keep, err);
	/* A CR that ends a piece may end the line (CRLF), which is not text: it is held
	 * until more of the line comes (byte-level tokenizers would see it). */
	if (!rc && s->stream_cr && n) {
		rc = sb_tokenizer_feed(&s->enc, "\r", 1, err);
		s->stream_cr = 0;
	}
	if (last)
		s->stream_cr = 0;
	if (n && p[n - 1] == '\r') {
		s->stream_cr = !last;
		n--;
		s->stream_fed++;
	}
	if (!rc && s->pairs && !s->stream_in_b) {
		const char *tab = memchr(p, '\t', n);

		if (tab) {
			rc = sb_tokenizer_feed(&s->enc, p, (size_t)(tab - p), err);
			if (!rc)
				rc = sb_tokenizer_next(&s->enc, err);
			s->stream_in_b = 1;
			s->stream_fed += (size_t)(tab - p) + 1;
			n -= (size_t)(tab - p) + 1;
			p = tab + 1;
		}
	}
	if (!rc)
		rc = sb_tokenizer_feed(&s->enc, p, n, err);
	s->stream_fed += n;
	if (!rc && last) {
		if (s->pairs && !s->stream_in_b)
			rc = sb_tokenizer_next(&s->enc, err);
		if (!rc)
			rc = sb_tokenizer_end(&s->enc, err);
		s->streaming = 0;
		/* As for whole lines, a final CR is not part of the carried text. */
		if (s->stream_text.len < STREAM_TEXT_MAX && s->stream_text.len &&
		    s->stream_text.data[s->stream_text.len - 1] == '\r')
			s->stream_text.len--;
		*done = 1;
	}
	if (rc) {
		s->streaming = 0;
		return sb_error_prefix(err, "line %llu (%llu bytes in): ",
				       (unsigned long long)(in->seq + r + 1),
				       (unsigned long long)s->stream_fed);
	}
	return SB_OK;
}

static int tokenize_process(void *state, const struct sb_frame *in, struct sb_emit *out,
			    struct sb_error *err)
{
	struct tokenize *s = state;
	unsigned flags = s->replace_invalid ? SB_TOKENIZER_REPLACE_INVALID : 0;
	size_t rows;
	int rc;

	if (!in)
		return SB_OK;
	if (in->kind != SB_KIND_TEXT || !in->has_text)
		return sb_error_set(err, SB_EFORMAT, "tokenize: expected lines of text, got a %s "
				    "frame", sb_kind_name(in->kind));
	rows = (size_t)in->rows;
	rc = grow_rows(s, rows, err);
	if (rc)
		return rc;
	s->n_ids = 0;
	if (in->text_continued && !s->streaming)
		return sb_error_set(err, SB_EINVAL, "tokenize: a continued line without its start");
	for (size_t r = 0; r < rows; r++) {
		const char *p, *b = NULL;
		size_t n, na, nb = 0, skipped, need;
		struct sb_error e2;
		int first = !(r == 0 && in->text_continued);
		int last = !(r == rows - 1 && in->text_partial);

		if (!first || !last) {
			int done;

			rc = feed_piece(s, in, r, first, last, &done, err);
			if (rc) {
				int rc2 = emit_all(s, in, r, out, err);

				return rc2 ? rc2 : rc;
			}
			if (!done)
				return emit_all(s, in, r, out, err);    /* the rest comes later */
			goto store;
		}
		row_text(in, r, &p, &n, &skipped);
		na = n;
		if (s->pairs) {
			const char *tab = memchr(p, '\t', n);

			if (tab) {
				na = (size_t)(tab - p);
				b = tab + 1;
				nb = n - na - 1;
			} else {
				b = "";
			}
		}
		sb_error_clear(&e2);
		rc = sb_tokenizer_encode(&s->enc, s->prompt, s->prompt_len, p, na, b, nb, s->trunc,
					 flags, &e2);
		if (rc) {
			unsigned long long line = (unsigned long long)(in->seq + r + 1);
			int rc2;

			/* Rows before the bad one go out first, so the output stays a prefix. */
			rc2 = emit_all(s, in, r, out, err);
			if (rc2)
				return rc2;
			if (rc == SB_EFORMAT) {
				size_t at = s->enc.bad_offset + skipped + (s->enc.bad_in_b ? na + 1 : 0);

				return sb_error_set(err, rc, "line %llu, byte %zu: invalid UTF-8 "
						    "(0x%02x); --replace-invalid replaces it with "
						    "U+FFFD", line, at,
						    (unsigned char)in->text[r].p[at]);
			}
			return sb_error_set(err, rc, "line %llu: %s", line, e2.msg);
		}
store:
		need = s->n_ids + s->enc.n;
		rc = grow_ids(s, need, err);
		if (rc)
			return rc;
		memcpy(s->ids + s->n_ids, s->enc.ids, s->enc.n * sizeof(int32_t));
		memcpy(s->types + s->n_ids, s->enc.type_ids, s->enc.n);
		s->off[r] = s->n_ids;
		s->len[r] = s->enc.n;
		s->row_trunc[r] = (uint8_t)s->enc.truncated;
		s->replaced[r] = s->enc.n_replaced > UINT32_MAX ? UINT32_MAX :
				 (uint32_t)s->enc.n_replaced;
		s->n_ids = need;
	}
	return emit_all(s, in, rows, out, err);
}

const struct sb_stage sb_stage_tokenize = {
	.version = SB_STAGE_VERSION,
	.name = "tokenize",
	.input = SB_STAGE_IN_TEXT,
	.open = tokenize_open,
	.process = tokenize_process,
	.flush = NULL,
	.close = tokenize_close,
	.report = tokenize_report,
};
