/*
 * tokenizer_load.c - builds a tokenizer from a model folder (see tokenizer.h): the
 * vocabulary hash table, added tokens, the post-processor template and the settings,
 * from tokenizer.json (load_tokenizer_json) or from vocab.txt with
 * tokenizer_config.json and special_tokens_map.json (load_vocab_txt), then the
 * maximum length and token types from the sentence-transformers and model configs.
 * Every file is untrusted: sizes, ids and counts are bounded before use, and a
 * component sb does not implement is refused by name.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "internal.h"
#include "json.h"
#include "tok_gen.h"
#include "tokenizer.h"
#include "tokenizer_impl.h"

void sb_tokenizer_opts_init(struct sb_tokenizer_opts *o)
{
	memset(o, 0, sizeof(*o));
}

void sb_tok_setting(struct sb_tokenizer *t, const char *name, const char *source,
		    const char *fmt, ...)
{
	struct setting_store *s;
	va_list ap;

	if (t->info.n_settings >= MAX_SETTINGS)
		return;
	s = &t->store[t->info.n_settings];
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->source, sizeof(s->source), "%s", source);
	va_start(ap, fmt);
	vsnprintf(s->value, sizeof(s->value), fmt, ap);
	va_end(ap);
	t->settings[t->info.n_settings].name = s->name;
	t->settings[t->info.n_settings].value = s->value;
	t->settings[t->info.n_settings].source = s->source;
	t->info.n_settings++;
}

int sb_tok_list_add(struct tok_list *l, const char *s, size_t n, int64_t id, const char *file,
		   struct sb_error *err)
{
	if (n > MAX_TOKEN_BYTES)
		return sb_error_set(err, SB_ELIMIT, "%s: token %lld: %zu bytes, limit %zu", file,
				    (long long)id, n, (size_t)MAX_TOKEN_BYTES);
	if (id < 0 || (uint64_t)id >= MAX_VOCAB)
		return sb_error_set(err, SB_ELIMIT, "%s: token id %lld out of range [0, %zu)",
				    file, (long long)id, MAX_VOCAB);
	if (l->n == l->cap) {
		if (l->cap >= MAX_VOCAB)
			return sb_error_set(err, SB_ELIMIT, "%s: more than %zu tokens", file,
					    MAX_VOCAB);
		if (sb_tok_list_reserve(l, l->cap ? l->cap : 1024, 0, err))
			return sb_error_prefix(err, "%s: ", file);
	}
	if (l->pool.cap - l->pool.len < n + 1 && sb_buf_reserve(&l->pool, n + 1, err))
		return sb_error_prefix(err, "%s: ", file);
	l->e[l->n].off = l->pool.len;
	l->e[l->n].len = n;
	l->e[l->n].id = (int32_t)id;
	l->n++;
	memcpy(l->pool.data + l->pool.len, s, n);
	l->pool.data[l->pool.len + n] = 0;
	l->pool.len += n + 1;
	return SB_OK;
}

int sb_tok_list_reserve(struct tok_list *l, size_t entries, size_t bytes, struct sb_error *err)
{
	if (entries > MAX_VOCAB - l->n)
		entries = MAX_VOCAB - l->n;
	if (l->cap - l->n < entries) {
		void *p = realloc(l->e, (l->n + entries) * sizeof(*l->e));

		if (!p)
			return sb_error_set(err, SB_ENOMEM, "out of memory");
		l->e = p;
		l->cap = l->n + entries;
	}
	return bytes ? sb_buf_reserve(&l->pool, bytes, err) : SB_OK;
}

#define VOCAB_AHEAD 8

/* The hash of entry k of l, its slot fetched for writing. */
static uint32_t entry_ahead(const struct sb_tokenizer *t, const struct tok_list *l, size_t k)
{
	uint32_t h = text_hash(t->pool + l->e[k].off, l->e[k].len);

	__builtin_prefetch(&t->slots[h & t->mask], 1);
	return h;
}

/* Builds the hash table; a later duplicate overrides an earlier one (as a HashMap). */
int sb_tok_vocab_build(struct sb_tokenizer *t, struct tok_list *l, struct sb_error *err)
{
	size_t cap = 1024, max_id = 0, distinct = 0, texts = 0;
	uint32_t ring[VOCAB_AHEAD];

	while (cap < l->n * 2)
		cap *= 2;
	t->slots = sb_table_alloc(cap * sizeof(*t->slots), 0);
	if (!t->slots)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	t->mask = cap - 1;
	t->pool = (char *)l->pool.data;
	t->pool_len = l->pool.len;
	l->pool.data = NULL;
	sb_buf_destroy(&l->pool);
	/* A big table is beyond the caches: the entry VOCAB_AHEAD ahead is hashed and its
	 * slot fetched while this one goes in; its hash waits in ring. */
	for (size_t k = 0; k < l->n && k < VOCAB_AHEAD; k++)
		ring[k] = entry_ahead(t, l, k);
	for (size_t k = 0; k < l->n; k++) {
		const char *s = t->pool + l->e[k].off;
		size_t n = l->e[k].len;
		uint32_t h = ring[k % VOCAB_AHEAD];
		size_t i;

		if (k + VOCAB_AHEAD < l->n)
			ring[k % VOCAB_AHEAD] = entry_ahead(t, l, k + VOCAB_AHEAD);
		/* Every entry gets its slot in the id table, an empty line's too. */
		if ((size_t)l->e[k].id > max_id)
			max_id = (size_t)l->e[k].id;
		if (!n)
			continue;       /* never looked up: words are not empty */
		texts++;
		t->nul_text |= strlen(s) != n;
		i = h & t->mask;
		while (t->slots[i].len) {
			struct slot *sl = &t->slots[i];

			if (sl->hash == h && sl->len == n && memcmp(t->pool + sl->off, s, n) == 0)
				break;
			i = (i + 1) & t->mask;
		}
		if (!t->slots[i].len)
			distinct++;
		t->slots[i].hash = h;
		t->slots[i].len = (uint32_t)n;
		t->slots[i].off = (uint32_t)l->e[k].off;
		t->slots[i].id = l->e[k].id;
		if (n >= t->cont_len && memcmp(s, t->cont_prefix, t->cont_len) == 0) {
			if (n - t->cont_len > t->max_cont_bytes)
				t->max_cont_bytes = n - t->cont_len;
		}
		if (n > t->max_word_bytes)
			t->max_word_bytes = n;
	}
	t->info.vocab_size = distinct;
	t->dup_text = distinct != texts;
	/* Ids index an array: refuse sparse ones that would make it huge for nothing. */
	if (max_id >= 2 * l->n + 1024)
		return sb_error_set(err, SB_ELIMIT, "vocabulary: id %zu for %zu tokens: ids must be "
				    "dense", max_id, l->n);
	t->n_ids = max_id + 1;
	t->id_tok = calloc(t->n_ids, sizeof(*t->id_tok));
	if (!t->id_tok)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	for (size_t k = 0; k < l->n; k++)
		t->id_tok[l->e[k].id] = t->pool + l->e[k].off;
	t->cont_hash = hash_step(HASH_INIT, (const unsigned char *)t->cont_prefix, t->cont_len);
	return SB_OK;
}

static int read_vocab_txt(const char *path, struct tok_list *l, struct sb_error *err)
{
	struct sb_buf b;
	size_t i = 0, line = 0;
	int rc;

	sb_buf_init(&b);
	rc = sb_file_read(path, MAX_VOCAB_TXT, &b, err);
	if (rc) {
		sb_buf_destroy(&b);
		return rc;
	}
	while (i < b.len) {
		const char *s = (const char *)b.data + i;
		const char *nl = memchr(s, '\n', b.len - i);
		size_t n = nl ? (size_t)(nl - s) : b.len - i;
		size_t adv = nl ? n + 1 : n;

		if (n && s[n - 1] == '\r')
			n--;
		rc = sb_tok_list_add(l, s, n, (int64_t)line, "vocab.txt", err);
		if (rc)
			break;
		line++;
		i += adv;
	}
	sb_buf_destroy(&b);
	return rc;
}

/* A special token written as "[UNK]" or {"content": "[UNK]", ...}. */
static const char *special_name(const struct sb_json *cfg, const char *key)
{
	const struct sb_json *m = sb_json_get(cfg, key);

	if (!m)
		return NULL;
	if (m->type == SB_JSON_STRING)
		return m->str;
	if (m->type == SB_JSON_OBJECT) {
		const struct sb_json *c = sb_json_get(m, "content");

		if (c && c->type == SB_JSON_STRING)
			return c->str;
	}
	return NULL;
}

int sb_tok_add_added(struct sb_tokenizer *t, const char *s, size_t n, int32_t id, int single_word,
		     int normalized, const char *file, struct sb_error *err)
{
	struct added *a;

	if (!n)
		return SB_OK;
	for (size_t k = 0; k < t->n_added; k++)
		if (t->added[k].n == n && memcmp(t->added[k].s, s, n) == 0)
			return SB_OK;
	if (t->n_added >= MAX_ADDED)
		return sb_error_set(err, SB_ELIMIT, "%s: more than %d added tokens", file,
				    MAX_ADDED);
	if (normalized) {
		for (size_t k = 0; k < n; k++)
			if ((unsigned char)s[k] >= 0x80)
				return sb_error_set(err, SB_EUNSUPPORTED,
						    "%s: added token '%s': normalized non-ASCII "
						    "added tokens are not supported", file, s);
	}
	a = realloc(t->added, (t->n_added + 1) * sizeof(*a));
	if (!a)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	t->added = a;
	a = &t->added[t->n_added];
	a->s = malloc(n + 1);
	if (!a->s)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	memcpy(a->s, s, n);
	a->s[n] = 0;
	a->n = n;
	a->id = id;
	a->single_word = single_word;
	a->normalized = normalized;
	if (normalized && t->info.lowercase)
		for (size_t k = 0; k < n; k++)
			if (a->s[k] >= 'A' && a->s[k] <= 'Z')
				a->s[k] = (char)(a->s[k] + 32);
	t->n_added++;
	t->added_first[(unsigned char)a->s[0]] = 1;
	if (normalized && t->info.lowercase && a->s[0] >= 'a' && a->s[0] <= 'z')
		t->added_first[(unsigned char)a->s[0] - 32] = 1;
	return SB_OK;
}

int sb_tok_tpl_id(struct tpl *tp, int32_t id, uint8_t type_id, const char *file,
		  struct sb_error *err)
{
	struct tpl_item *it;

	if (tp->n >= MAX_TEMPLATE)
		return sb_error_set(err, SB_ELIMIT, "%s: template too long", file);
	it = &tp->items[tp->n++];
	it->kind = TPL_SPECIAL;
	it->type_id = type_id;
	it->n_ids = 1;
	it->ids = malloc(sizeof(int32_t));
	if (!it->ids)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	it->ids[0] = id;
	tp->n_special++;
	return SB_OK;
}

static int tpl_special(struct sb_tokenizer *t, struct tpl *tp, const char *name, uint8_t type_id,
		       const char *file, struct sb_error *err)
{
	int32_t id = sb_tokenizer_token_id(t, name, strlen(name));

	if (id < 0)
		return sb_error_set(err, SB_EFORMAT, "%s: special token '%s' is not in the "
				    "vocabulary", file, name);
	return sb_tok_tpl_id(tp, id, type_id, file, err);
}

int sb_tok_tpl_seq(struct tpl *tp, enum tpl_kind k, uint8_t type_id, const char *file,
		   struct sb_error *err)
{
	if (tp->n >= MAX_TEMPLATE)
		return sb_error_set(err, SB_ELIMIT, "%s: template too long", file);
	tp->items[tp->n].kind = k;
	tp->items[tp->n].type_id = type_id;
	tp->items[tp->n].n_ids = 0;
	tp->items[tp->n].ids = NULL;
	tp->n++;
	return SB_OK;
}

/* [CLS] A [SEP] and [CLS] A [SEP] B [SEP] (BertProcessing, and the vocab.txt case). */
static int bert_template(struct sb_tokenizer *t, const char *cls, const char *sep,
			 const char *file, struct sb_error *err)
{
	int rc;

	if ((rc = tpl_special(t, &t->single, cls, 0, file, err)) ||
	    (rc = sb_tok_tpl_seq(&t->single, TPL_A, 0, file, err)) ||
	    (rc = tpl_special(t, &t->single, sep, 0, file, err)) ||
	    (rc = tpl_special(t, &t->pair, cls, 0, file, err)) ||
	    (rc = sb_tok_tpl_seq(&t->pair, TPL_A, 0, file, err)) ||
	    (rc = tpl_special(t, &t->pair, sep, 0, file, err)) ||
	    (rc = sb_tok_tpl_seq(&t->pair, TPL_B, 1, file, err)) ||
	    (rc = tpl_special(t, &t->pair, sep, 1, file, err)))
		return rc;
	return SB_OK;
}

/* TemplateProcessing: "single"/"pair" lists of SpecialToken / Sequence items. */
int sb_tok_tpl_parse(struct tpl *tp, const struct sb_json *list, const struct sb_json *specials,
		     const char *what, struct sb_error *err)
{
	const char *file = "tokenizer.json";

	if (!list || list->type != SB_JSON_ARRAY)
		return sb_error_set(err, SB_EFORMAT, "%s: %s: expected an array", file, what);
	for (size_t i = 0; i < list->n_items; i++) {
		const struct sb_json *it = &list->items[i];
		const struct sb_json *sp = sb_json_get(it, "SpecialToken");
		const struct sb_json *sq = sb_json_get(it, "Sequence");
		int64_t ty = 0;
		const char *id = NULL;
		struct tpl_item *ti;

		if (tp->n >= MAX_TEMPLATE)
			return sb_error_set(err, SB_ELIMIT, "%s: template too long", file);
		if (sq) {
			if (sb_json_get_str(sq, "id", &id, err))
				return sb_error_set(err, SB_EFORMAT, "%s: %s[%zu]: "
						    "bad Sequence", file, what, i);
			sb_json_get_int(sq, "type_id", &ty, NULL);
			if (ty < 0 || ty > 255)
				return sb_error_set(err, SB_EFORMAT, "%s: type_id %lld", file,
						    (long long)ty);
			if (strcmp(id, "A") && strcmp(id, "B"))
				return sb_error_set(err, SB_EFORMAT, "%s: %s[%zu]: "
						    "sequence '%s'", file, what, i, id);
			sb_tok_tpl_seq(tp, id[0] == 'A' ? TPL_A : TPL_B, (uint8_t)ty, file, err);
		} else if (sp) {
			const struct sb_json *def, *ids;

			if (sb_json_get_str(sp, "id", &id, err))
				return sb_error_set(err, SB_EFORMAT, "%s: %s[%zu]: "
						    "bad SpecialToken", file, what, i);
			sb_json_get_int(sp, "type_id", &ty, NULL);
			if (ty < 0 || ty > 255)
				return sb_error_set(err, SB_EFORMAT, "%s: type_id %lld", file,
						    (long long)ty);
			def = sb_json_get(specials, id);
			ids = def ? sb_json_get(def, "ids") : NULL;
			if (!ids || ids->type != SB_JSON_ARRAY || ids->n_items > 64)
				return sb_error_set(err, SB_EFORMAT, "%s: %s[%zu]: special "
						    "token '%s' has no ids", file, what, i, id);
			ti = &tp->items[tp->n];
			ti->kind = TPL_SPECIAL;
			ti->type_id = (uint8_t)ty;
			ti->n_ids = ids->n_items;
			ti->ids = calloc(ids->n_items ? ids->n_items : 1, sizeof(int32_t));
			if (!ti->ids)
				return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
			tp->n++;
			for (size_t k = 0; k < ids->n_items; k++) {
				const struct sb_json *v = &ids->items[k];

				if (v->type != SB_JSON_NUMBER || !v->is_int || v->i < 0 ||
				    v->i >= (int64_t)MAX_VOCAB)
					return sb_error_set(err, SB_EFORMAT, "%s: special token "
							    "'%s': bad id", file, id);
				ti->ids[k] = (int32_t)v->i;
			}
			tp->n_special += ids->n_items;
		} else {
			return sb_error_set(err, SB_EFORMAT, "%s: %s[%zu]: expected "
					    "SpecialToken or Sequence", file, what, i);
		}
	}
	return SB_OK;
}

/* A tri-state json bool: 1/0, or -1 when absent or null. */
int sb_tok_json_bool(const struct sb_json *o, const char *key)
{
	const struct sb_json *m = sb_json_get(o, key);

	if (!m || m->type == SB_JSON_NULL)
		return -1;
	if (m->type == SB_JSON_TRUE)
		return 1;
	if (m->type == SB_JSON_FALSE)
		return 0;
	return -2;
}

/* WordPiece's model: continuing_subword_prefix, max_input_chars_per_word, vocab into l. */
static int wordpiece_model(struct sb_tokenizer *t, const struct tok_doc *doc,
			   const struct sb_json *model, struct tok_list *l, struct sb_error *err)
{
	const char *file = "tokenizer.json";
	const struct sb_json *vocab;
	const char *s;
	int64_t mi;
	int rc;

	if (sb_json_get_str(model, "continuing_subword_prefix", &s, NULL) == SB_OK) {
		if (strlen(s) >= sizeof(t->cont_prefix))
			return sb_error_set(err, SB_ELIMIT,
					    "%s: continuing_subword_prefix too long", file);
		snprintf(t->cont_prefix, sizeof(t->cont_prefix), "%s", s);
		t->cont_len = strlen(s);
	}
	if (sb_json_get_int(model, "max_input_chars_per_word", &mi, NULL) == SB_OK) {
		if (mi < 1 || mi > 100000)
			return sb_error_set(err, SB_EFORMAT, "%s: max_input_chars_per_word %lld",
					    file, (long long)mi);
		t->info.max_input_chars_per_word = (size_t)mi;
	}
	vocab = sb_json_get(model, "vocab");
	if (!vocab || vocab->type != SB_JSON_OBJECT)
		return sb_error_set(err, SB_EFORMAT, "%s: model.vocab: expected an object", file);
	if ((rc = sb_tok_doc_vocab(doc, l, "tokenizer.json: model.vocab", err)))
		return rc;
	for (size_t i = 0; i < vocab->n_items; i++) {
		const struct sb_json *e = &vocab->items[i];

		if (e->type != SB_JSON_NUMBER || !e->is_int)
			return sb_error_set(err, SB_EFORMAT, "%s: model.vocab['%s']: expected an "
					    "integer id", file, e->key);
		rc = sb_tok_list_add(l, e->key, e->key_len, e->i, file, err);
		if (rc)
			return rc;
	}
	return SB_OK;
}

/* The normalizer: BertNormalizer's four switches, or none. */
static int bert_normalizer(struct sb_tokenizer *t, const struct sb_json *root,
			   struct sb_error *err)
{
	const struct sb_json *norm = sb_json_get(root, "normalizer");
	const char *s = NULL;
	int v;

	if (!norm || norm->type != SB_JSON_OBJECT) {
		t->info.clean_text = t->info.handle_chinese_chars = 0;
		t->info.lowercase = t->info.strip_accents = 0;
		sb_tok_setting(t, "normalizer", "tokenizer.json (normalizer null)", "none");
		return SB_OK;
	}
	if (sb_json_get_str(norm, "type", &s, NULL) != SB_OK || strcmp(s, "BertNormalizer"))
		return sb_error_set(err, SB_EUNSUPPORTED, "tokenizer.json: normalizer '%s': only "
				    "BertNormalizer is supported", s ? s : "?");
	v = sb_tok_json_bool(norm, "clean_text");
	t->info.clean_text = v < 0 ? 1 : v;
	v = sb_tok_json_bool(norm, "handle_chinese_chars");
	t->info.handle_chinese_chars = v < 0 ? 1 : v;
	v = sb_tok_json_bool(norm, "lowercase");
	t->info.lowercase = v < 0 ? 1 : v;
	v = sb_tok_json_bool(norm, "strip_accents");
	t->info.strip_accents = v < 0 ? t->info.lowercase : v;
	sb_tok_setting(t, "lowercase", "tokenizer.json (normalizer.lowercase)", "%s",
		    t->info.lowercase ? "true" : "false");
	sb_tok_setting(t, "strip_accents", v < 0 ? "tokenizer.json (normalizer.strip_accents "
		    "null: follows lowercase)" : "tokenizer.json (normalizer.strip_accents)",
		    "%s", t->info.strip_accents ? "true" : "false");
	sb_tok_setting(t, "clean_text", "tokenizer.json (normalizer.clean_text)", "%s",
		    t->info.clean_text ? "true" : "false");
	sb_tok_setting(t, "handle_chinese_chars",
		    "tokenizer.json (normalizer.handle_chinese_chars)", "%s",
		    t->info.handle_chinese_chars ? "true" : "false");
	return SB_OK;
}

/* added_tokens: each one's id and content, matched before the model. */
static int added_tokens(struct sb_tokenizer *t, const struct sb_json *root, struct sb_error *err)
{
	const struct sb_json *added = sb_json_get(root, "added_tokens");
	int rc;

	if (!added || added->type != SB_JSON_ARRAY)
		return SB_OK;
	for (size_t i = 0; i < added->n_items; i++) {
		const struct sb_json *a = &added->items[i];
		int64_t id;
		int sw = sb_tok_json_bool(a, "single_word") == 1;
		int nz = sb_tok_json_bool(a, "normalized") == 1;
		const struct sb_json *cm = sb_json_get(a, "content");

		if (sb_json_get_int(a, "id", &id, NULL) != SB_OK || !cm ||
		    cm->type != SB_JSON_STRING || id < 0 || id >= (int64_t)MAX_VOCAB)
			return sb_error_set(err, SB_EFORMAT, "tokenizer.json: added_tokens[%zu]: "
					    "needs id and content", i);
		rc = sb_tok_add_added(t, cm->str, cm->len, (int32_t)id, sw, nz, "tokenizer.json",
				      err);
		if (rc)
			return rc;
	}
	return SB_OK;
}

/* BertProcessing's cls and sep: [token, id] pairs. */
static int bert_processing(struct sb_tokenizer *t, const struct sb_json *post,
			   struct sb_error *err)
{
	const struct sb_json *cls = sb_json_get(post, "cls");
	const struct sb_json *sep = sb_json_get(post, "sep");
	int rc;

	if (!cls || cls->type != SB_JSON_ARRAY || cls->n_items != 2 ||
	    cls->items[0].type != SB_JSON_STRING || !sep || sep->type != SB_JSON_ARRAY ||
	    sep->n_items != 2 || sep->items[0].type != SB_JSON_STRING)
		return sb_error_set(err, SB_EFORMAT, "tokenizer.json: BertProcessing: bad cls/sep");
	rc = bert_template(t, cls->items[0].str, sep->items[0].str, "tokenizer.json", err);
	if (rc)
		return rc;
	sb_tok_setting(t, "post_processor", "tokenizer.json", "BertProcessing");
	return SB_OK;
}

/* The post_processor: TemplateProcessing, BertProcessing or none. */
static int post_processor(struct sb_tokenizer *t, const struct sb_json *root,
			  struct sb_error *err)
{
	const struct sb_json *post = sb_json_get(root, "post_processor"), *sp;
	const char *s = NULL;
	int rc;

	if (!post || post->type != SB_JSON_OBJECT) {
		sb_tok_setting(t, "post_processor", "tokenizer.json (null)", "none");
		return SB_OK;
	}
	sb_json_get_str(post, "type", &s, NULL);
	if (s && strcmp(s, "BertProcessing") == 0)
		return bert_processing(t, post, err);
	if (!s || strcmp(s, "TemplateProcessing") != 0)
		return sb_error_set(err, SB_EUNSUPPORTED, "tokenizer.json: post_processor '%s': "
				    "only TemplateProcessing and BertProcessing are supported",
				    s ? s : "?");
	sp = sb_json_get(post, "special_tokens");
	rc = sb_tok_tpl_parse(&t->single, sb_json_get(post, "single"), sp,
			      "post_processor.single", err);
	if (!rc)
		rc = sb_tok_tpl_parse(&t->pair, sb_json_get(post, "pair"), sp,
				      "post_processor.pair", err);
	if (rc)
		return rc;
	sb_tok_setting(t, "post_processor", "tokenizer.json", "TemplateProcessing");
	return SB_OK;
}

/* padding.pad_id, and model.unk_token ("[UNK]" when absent), which must be a token. */
static int pad_and_unk(struct sb_tokenizer *t, const struct sb_json *root,
		       const struct sb_json *model, struct sb_error *err)
{
	const struct sb_json *m = sb_json_get(root, "padding");
	const char *unk = NULL;
	int64_t mi;

	if (m && m->type == SB_JSON_OBJECT && sb_json_get_int(m, "pad_id", &mi, NULL) == SB_OK &&
	    mi >= 0 && mi < (int64_t)MAX_VOCAB)
		t->info.pad_id = (int32_t)mi;
	if (sb_json_get_str(model, "unk_token", &unk, NULL) != SB_OK)
		unk = "[UNK]";
	t->info.unk_id = sb_tokenizer_token_id(t, unk, strlen(unk));
	if (t->info.unk_id < 0)
		return sb_error_set(err, SB_EFORMAT, "tokenizer.json: unk_token '%s' is not in the "
				    "vocabulary", unk);
	return SB_OK;
}

/* A WordPiece tokenizer.json (BPE and Unigram go to sb_tok_load_json()). */
static int load_tokenizer_json(struct sb_tokenizer *t, const char *path, struct tok_list *l,
			       struct sb_error *err)
{
	const char *file = "tokenizer.json";
	const struct sb_json *root, *model, *pre;
	struct tok_doc doc;
	const char *s;
	int rc;

	rc = t->cache_dir ? sb_tok_store_doc(t, path, &doc, err) : sb_tok_doc_read(&doc, path, err);
	root = doc.root;
	if (rc)
		goto out;
	model = sb_json_get(root, "model");
	if (!model || model->type != SB_JSON_OBJECT) {
		rc = sb_error_set(err, SB_EFORMAT, "%s: no model", file);
		goto out;
	}
	if (sb_json_get_str(model, "type", &s, NULL) == SB_OK &&
	    (strcmp(s, "BPE") == 0 || strcmp(s, "Unigram") == 0)) {
		rc = sb_tok_load_json(t, &doc, l, err);
		goto out;
	}
	if (sb_json_get_str(model, "type", &s, NULL) == SB_OK && strcmp(s, "WordPiece")) {
		rc = sb_error_set(err, SB_EUNSUPPORTED, "%s: model.type '%s': only WordPiece, "
				  "BPE and Unigram are supported", file, s);
		goto out;
	}
	if ((rc = wordpiece_model(t, &doc, model, l, err)) || (rc = bert_normalizer(t, root, err)))
		goto out;
	pre = sb_json_get(root, "pre_tokenizer");
	s = NULL;
	if (!pre || pre->type != SB_JSON_OBJECT ||
	    sb_json_get_str(pre, "type", &s, NULL) != SB_OK || strcmp(s, "BertPreTokenizer")) {
		rc = sb_error_set(err, SB_EUNSUPPORTED, "%s: pre_tokenizer '%s': only "
				  "BertPreTokenizer is supported", file, s ? s : "null");
		goto out;
	}
	if ((rc = sb_tok_vocab_build(t, l, err)) || (rc = added_tokens(t, root, err)) ||
	    (rc = post_processor(t, root, err)))
		goto out;
	rc = pad_and_unk(t, root, model, err);
out:
	sb_tok_doc_free(&doc);
	return rc;
}

/* Reads an optional small json file; SB_ENOTFOUND (no error set) when absent. */
static int read_cfg(const char *dir, const char *name, struct sb_json **out, struct sb_error *err)
{
	char *p = sb_path_join(dir, name);
	int rc;

	*out = NULL;
	if (!p)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	if (!sb_file_exists(p)) {
		free(p);
		return SB_ENOTFOUND;
	}
	rc = sb_json_parse_file(p, 0, MAX_CONFIG_BYTES, out, err);
	free(p);
	return rc;
}

static void free_tpl(struct tpl *tp)
{
	for (size_t i = 0; i < tp->n; i++)
		free(tp->items[i].ids);
	tp->n = 0;
}

void sb_tokenizer_close(struct sb_tokenizer **tp)
{
	struct sb_tokenizer *t;

	if (!tp || !*tp)
		return;
	t = *tp;
	if (!t->tables.map) {
		free(t->pool);
		free(t->slots);
	}
	free(t->id_tok);
	for (size_t k = 0; k < t->n_added; k++)
		free(t->added[k].s);
	free(t->added);
	free_tpl(&t->single);
	free_tpl(&t->pair);
	if (t->gen) {
		sb_tok_gen_free(t->gen);
		free(t->gen);
	}
	sb_tok_store_free(t);
	sb_file_unmap(&t->tables);
	free(t->dir);
	free(t);
	*tp = NULL;
}

static uint64_t fingerprint(const struct sb_tokenizer *t)
{
	uint64_t h = 1469598103934665603ull;
	const struct sb_tokenizer_info *in = &t->info;
	unsigned char flags[6] = {(unsigned char)in->lowercase, (unsigned char)in->strip_accents,
				  (unsigned char)in->clean_text,
				  (unsigned char)in->handle_chinese_chars,
				  (unsigned char)in->st_lowercase, 0};

	for (size_t id = 0; id < t->n_ids; id++) {
		const char *s = t->id_tok[id] ? t->id_tok[id] : "";

		for (; *s; s++)
			h = (h ^ (unsigned char)*s) * 1099511628211ull;
		h = (h ^ 0xFF) * 1099511628211ull;
	}
	for (size_t k = 0; k < sizeof(flags); k++)
		h = (h ^ flags[k]) * 1099511628211ull;
	for (size_t k = 0; k < t->n_added; k++)
		for (size_t j = 0; j < t->added[k].n; j++)
			h = (h ^ (unsigned char)t->added[k].s[j]) * 1099511628211ull;
	if (t->gen)
		h = sb_tok_gen_fingerprint(t->gen, h);
	return h;
}

const char *sb_tok_special_or(const struct sb_json *a, const struct sb_json *b, const char *key,
			      const char *dflt)
{
	const char *s = special_name(a, key);

	if (!s)
		s = special_name(b, key);
	return s ? s : dflt;
}

/*
 * The maximum length: the option, else sentence-transformers' max_seq_length, else
 * model_max_length capped by max_position_embeddings (as sentence-transformers'
 * Transformer module does), else 512.
 */
static void set_max_length(struct sb_tokenizer *t, const struct sb_tokenizer_opts *opts,
			   const struct sb_json *tcfg, const struct sb_json *stcfg,
			   const char *stname, const struct sb_json *mcfg)
{
	int64_t iv, mpe = 0, mml = 0;
	double dv;
	int have_mpe = mcfg && sb_json_get_int(mcfg, "max_position_embeddings", &mpe,
					       NULL) == SB_OK && mpe > 0;
	int have_mml = 0;

	if (tcfg && sb_json_get_num(tcfg, "model_max_length", &dv, NULL) == SB_OK &&
	    dv > 0 && dv < 1e9) {
		mml = (int64_t)dv;
		have_mml = 1;
	}
	if (opts && opts->max_length) {
		t->info.max_length = opts->max_length;
		sb_tok_setting(t, "max_length", "option --max-length", "%zu",
			    t->info.max_length);
	} else if (stcfg && sb_json_get_int(stcfg, "max_seq_length", &iv, NULL) == SB_OK &&
		   iv > 0) {
		t->info.max_length = (size_t)iv;
		sb_tok_setting(t, "max_length", "sentence_bert_config.json (max_seq_length)",
			    "%zu", t->info.max_length);
		if (strcmp(stname, "sentence_bert_config.json"))
			snprintf(t->store[t->info.n_settings - 1].source,
				 sizeof(t->store[0].source), "%s (max_seq_length)", stname);
	} else if (have_mml && (!have_mpe || mml <= mpe)) {
		t->info.max_length = (size_t)mml;
		sb_tok_setting(t, "max_length", "tokenizer_config.json (model_max_length)",
			    "%zu", t->info.max_length);
	} else if (have_mpe) {
		t->info.max_length = (size_t)mpe;
		sb_tok_setting(t, "max_length", have_mml ?
			    "config.json (max_position_embeddings, caps model_max_length)" :
			    "config.json (max_position_embeddings)", "%zu",
			    t->info.max_length);
	} else {
		t->info.max_length = 512;
		sb_tok_setting(t, "max_length", "default", "512");
	}
}

/* Segment embeddings: BERT has them (type_vocab_size 2), DistilBERT not. */
static void set_token_types(struct sb_tokenizer *t, const struct sb_json *mcfg)
{
	int64_t iv;

	if (mcfg) {
		const char *mt = NULL;

		sb_json_get_str(mcfg, "model_type", &mt, NULL);
		if (sb_json_get_int(mcfg, "type_vocab_size", &iv, NULL) == SB_OK && iv > 0) {
			t->info.has_token_types = 1;
			sb_tok_setting(t, "token_type_ids", "config.json (type_vocab_size)", "yes");
		} else if (mt && strcmp(mt, "bert") == 0) {
			t->info.has_token_types = 1;
			sb_tok_setting(t, "token_type_ids", "config.json (model_type bert)", "yes");
		} else {
			sb_tok_setting(t, "token_type_ids", "config.json (no type_vocab_size)",
				    "no (pairs only)");
		}
	} else {
		sb_tok_setting(t, "token_type_ids", "no config.json", "no (pairs only)");
	}
}

/*
 * The vocab.txt layout (BertTokenizer): one token a line, its id the line number; the
 * normalizer settings from tokenizer_config.json (transformers' defaults when absent);
 * the special tokens from tokenizer_config.json or special_tokens_map.json, added as
 * non-normalized added tokens as transformers does; [CLS] A [SEP] templates.  The
 * counterpart of load_tokenizer_json().
 */
static int load_vocab_txt(struct sb_tokenizer *t, const char *path, const struct sb_json *tcfg,
			  const struct sb_json *smap, struct tok_list *l, struct sb_error *err)
{
	const char *unk, *cls, *sep, *pad, *mask;
	const struct sb_json *dec;
	int rc, v;

	rc = read_vocab_txt(path, l, err);
	if (rc)
		return rc;
	rc = sb_tok_vocab_build(t, l, err);
	if (rc)
		return rc;
	v = sb_tok_json_bool(tcfg, "do_lower_case");
	t->info.lowercase = v < 0 ? 1 : v;
	sb_tok_setting(t, "lowercase", v < 0 ? "default (BertTokenizer do_lower_case)" :
		    "tokenizer_config.json (do_lower_case)", "%s",
		    t->info.lowercase ? "true" : "false");
	v = sb_tok_json_bool(tcfg, "strip_accents");
	t->info.strip_accents = v < 0 ? t->info.lowercase : v;
	sb_tok_setting(t, "strip_accents", v < 0 ? "tokenizer_config.json (strip_accents "
		    "unset: follows lowercase)" : "tokenizer_config.json (strip_accents)",
		    "%s", t->info.strip_accents ? "true" : "false");
	v = sb_tok_json_bool(tcfg, "tokenize_chinese_chars");
	t->info.handle_chinese_chars = v < 0 ? 1 : v;
	t->info.clean_text = 1;
	sb_tok_setting(t, "handle_chinese_chars", v < 0 ? "default" :
		    "tokenizer_config.json (tokenize_chinese_chars)", "%s",
		    t->info.handle_chinese_chars ? "true" : "false");
	unk = sb_tok_special_or(tcfg, smap, "unk_token", "[UNK]");
	cls = sb_tok_special_or(tcfg, smap, "cls_token", "[CLS]");
	sep = sb_tok_special_or(tcfg, smap, "sep_token", "[SEP]");
	pad = sb_tok_special_or(tcfg, smap, "pad_token", "[PAD]");
	mask = sb_tok_special_or(tcfg, smap, "mask_token", "[MASK]");
	/* transformers adds the special tokens as non-normalized added tokens. */
	{
		const char *names[5] = {pad, unk, cls, sep, mask};

		for (int k = 0; k < 5; k++) {
			int32_t id = lookup(t, HASH_INIT, "", 0, names[k], strlen(names[k]));

			if (id < 0)
				continue;
			rc = sb_tok_add_added(t, names[k], strlen(names[k]), id, 0, 0,
				       "vocab.txt", err);
			if (rc)
				return rc;
		}
	}
	dec = sb_json_get(tcfg, "added_tokens_decoder");
	if (dec && dec->type == SB_JSON_OBJECT) {
		for (size_t i = 0; i < dec->n_items; i++) {
			const struct sb_json *a = &dec->items[i];
			const struct sb_json *cm = sb_json_get(a, "content");
			char *endp;
			long long id = strtoll(a->key, &endp, 10);

			if (!cm || cm->type != SB_JSON_STRING || *endp || id < 0 ||
			    id >= (long long)MAX_VOCAB) {
				return sb_error_set(err, SB_EFORMAT, "tokenizer_config.json: "
						    "added_tokens_decoder['%s']: bad entry",
						    a->key);
			}
			rc = sb_tok_add_added(t, cm->str, cm->len, (int32_t)id,
				       sb_tok_json_bool(a, "single_word") == 1,
				       sb_tok_json_bool(a, "normalized") == 1,
				       "tokenizer_config.json", err);
			if (rc)
				return rc;
		}
	}
	t->info.unk_id = lookup(t, HASH_INIT, "", 0, unk, strlen(unk));
	if (t->info.unk_id < 0)
		return sb_error_set(err, SB_EFORMAT, "vocab.txt: unk token '%s' is not in the "
				    "vocabulary", unk);
	t->info.pad_id = lookup(t, HASH_INIT, "", 0, pad, strlen(pad));
	return bert_template(t, cls, sep, "vocab.txt", err);
}

/* A message quotes bytes of the files (a merges line, a token): control characters
 * there (CR, NUL, C1) become '?' so that the message stays one printable line. */
static void one_line(struct sb_error *err)
{
	unsigned char *c;

	if (!err)
		return;
	for (c = (unsigned char *)err->msg; *c; c++) {
		if (*c < 0x20 || *c == 0x7f)
			*c = '?';
		else if (c[0] == 0xc2 && c[1] >= 0x80 && c[1] < 0xa0)
			c[0] = c[1] = '?';
	}
}

/* The optional configs of a model folder, and which sentence-transformers config was read. */
struct cfgs {
	struct sb_json *tcfg, *smap, *stcfg, *mcfg;
	const char *stname;
};

/* Reads the optional configs: a malformed one is an error, a missing one is not. */
static int read_cfgs(const char *dir, struct cfgs *c, struct sb_error *err)
{
	int rc;

	c->stname = "sentence_bert_config.json";
	rc = read_cfg(dir, "tokenizer_config.json", &c->tcfg, err);
	if (rc && rc != SB_ENOTFOUND)
		return rc;
	rc = read_cfg(dir, "special_tokens_map.json", &c->smap, err);
	if (rc && rc != SB_ENOTFOUND)
		return rc;
	rc = read_cfg(dir, c->stname, &c->stcfg, err);
	if (rc == SB_ENOTFOUND) {
		c->stname = "sentence_distilbert_config.json";
		rc = read_cfg(dir, c->stname, &c->stcfg, err);
	}
	if (rc && rc != SB_ENOTFOUND)
		return rc;
	rc = read_cfg(dir, "config.json", &c->mcfg, err);
	if (rc && rc != SB_ENOTFOUND)
		return rc;
	return SB_OK;
}

/* The tokenizer files of the folder, in the order they are preferred. */
struct tok_files {
	char *tj, *vt, *vj, *mt;        /* tokenizer.json, vocab.txt, vocab.json, merges.txt */
};

/* The vocabulary and model from the first of the files that exists. */
static int load_files(struct sb_tokenizer *t, const char *dir, const struct tok_files *f,
		      const struct cfgs *c, struct tok_list *l, struct sb_error *err)
{
	if (sb_file_exists(f->tj)) {
		t->info.source = "tokenizer.json";
		return load_tokenizer_json(t, f->tj, l, err);
	}
	if (sb_file_exists(f->vt)) {
		t->info.source = "vocab.txt";
		return load_vocab_txt(t, f->vt, c->tcfg, c->smap, l, err);
	}
	if (sb_file_exists(f->vj) || sb_file_exists(f->mt)) {
		t->info.source = "vocab.json + merges.txt";
		return sb_tok_load_bpe_files(t, dir, c->tcfg, c->smap, c->mcfg, l, err);
	}
	return sb_error_set(err, SB_ENOTFOUND, "%s: no tokenizer.json, vocab.txt or "
			    "vocab.json + merges.txt", dir);
}

/* What follows the model: lowercase, the pad id, the settings, lengths, fingerprint. */
static int finish_open(struct sb_tokenizer *t, const struct sb_tokenizer_opts *opts,
		       const struct cfgs *c, struct sb_error *err)
{
	if (t->gen && t->info.st_lowercase)
		return sb_error_set(err, SB_EUNSUPPORTED, "%s: do_lower_case with a %s tokenizer "
				    "is not supported (lowercase the text, or use a normalizer)",
				    c->stname, t->gen->model.ops->name);
	if (t->info.pad_id < 0) {
		const char *pad = sb_tok_special_or(c->tcfg, c->smap, "pad_token", "[PAD]");

		t->info.pad_id = sb_tokenizer_token_id(t, pad, strlen(pad));
		if (t->info.pad_id < 0)
			t->info.pad_id = 0;
	}
	sb_tok_setting(t, "vocabulary", t->info.source, "%zu tokens", t->info.vocab_size);
	if (!t->gen)
		sb_tok_setting(t, "max_input_chars_per_word", t->info.source, "%zu",
			       t->info.max_input_chars_per_word);
	t->info.n_special_single = t->single.n_special;
	t->info.n_special_pair = t->pair.n_special;
	set_max_length(t, opts, c->tcfg, c->stcfg, c->stname, c->mcfg);
	set_token_types(t, c->mcfg);
	sb_tokenizer_set_ascii(t);
	t->info.fingerprint = fingerprint(t);
	t->info.settings = t->settings;
	return SB_OK;
}

/* Opens the tokenizer of dir; skip_read: the cache file is not read (its tables gave
 * another tokenizer than they were written for, or an error), note says why.  *again
 * is set when the open should be done again without the cache file. */
static int open_once(struct sb_tokenizer **out, const char *dir,
		     const struct sb_tokenizer_opts *opts, int skip_read, const char *note,
		     int *again, struct sb_error *err)
{
	struct sb_tokenizer *t;
	struct cfgs c = { 0 };
	struct tok_files f;
	struct tok_list l;
	int rc, v;

	*out = NULL;
	memset(&l, 0, sizeof(l));
	sb_buf_init(&l.pool);
	t = calloc(1, sizeof(*t));
	if (!t)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	t->dir = sb_strdup(dir);
	f.tj = sb_path_join(dir, "tokenizer.json");
	f.vt = sb_path_join(dir, "vocab.txt");
	f.vj = sb_path_join(dir, "vocab.json");
	f.mt = sb_path_join(dir, "merges.txt");
	if (!t->dir || !f.tj || !f.vt || !f.vj || !f.mt) {
		rc = sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
		goto fail;
	}
	t->info.dir = t->dir;
	strcpy(t->cont_prefix, "##");
	t->cont_len = 2;
	t->info.max_input_chars_per_word = 100;
	t->info.pad_id = -1;
	t->cache_dir = opts ? opts->cache_dir : NULL;
	t->cache_skip_read = skip_read;
	if ((rc = read_cfgs(dir, &c, err)))
		goto fail;
	if (c.stcfg && sb_json_get_bool(c.stcfg, "do_lower_case", &v, NULL) == SB_OK) {
		t->info.st_lowercase = v;
		sb_tok_setting(t, "st_do_lower_case", c.stname, "%s", v ? "true" : "false");
	}
	if ((rc = load_files(t, dir, &f, &c, &l, err)) || (rc = finish_open(t, opts, &c, err)))
		goto fail;
	if (skip_read)
		t->cache_note = note;
	*again = sb_tok_store_finish(t) != 0;   /* the cache gave another tokenizer */
	t->cache_dir = NULL;
	goto done;
fail:
	/* Tables from a cache file that passed its checks but cannot make a tokenizer (a
	 * file made to pass them): open again without it. */
	*again = t->cached != NULL;
	sb_tokenizer_close(&t);
	one_line(err);
done:
	free(l.e);
	sb_buf_destroy(&l.pool);
	sb_json_free(&c.tcfg);
	sb_json_free(&c.smap);
	sb_json_free(&c.stcfg);
	sb_json_free(&c.mcfg);
	free(f.tj);
	free(f.vt);
	free(f.vj);
	free(f.mt);
	*out = t;
	return rc;
}

int sb_tokenizer_open(struct sb_tokenizer **out, const char *dir,
		      const struct sb_tokenizer_opts *opts, struct sb_error *err)
{
	int again = 0;
	int rc = open_once(out, dir, opts, 0, NULL, &again, err);

	if (!again)
		return rc;
	sb_tokenizer_close(out);
	return open_once(out, dir, opts, 1, rc ? "its tables gave an error" : "fingerprint",
			 &again, err);
}
