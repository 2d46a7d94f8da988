/*
 * tok_store.c - the tokenizer cache: the built tables of a BPE tokenizer.json in a
 * file of the cache folder, read back instead of parsing and hashing the vocabulary
 * and the merges again (Qwen3's: 151,643 tokens and 151,387 merges).
 *
 * A cache file is named after the device and inode of the tokenizer.json it was built
 * from (<dev>-<ino>.sbtok, in hex) and holds, in the byte order of the machine:
 *
 *   1. struct head: magic "sbtokc1\n", format version, the size of the head, the
 *      sizes of the records below (a build with other layouts refuses the file), the
 *      tokenizer.json's size, mtime (ns), inode and device, the offsets and lengths
 *      of its model.vocab and model.merges values, the tokenizer's fingerprint, the
 *      counts and sizes of the sections, and a checksum of all the rest;
 *   2. the vocabulary's strings, each followed by NUL (pool_len bytes, padded to 8);
 *   3. the vocabulary's hash table (slot_cap struct slot of 16 bytes);
 *   4. each id's string as an offset in 2., or UINT32_MAX (n_ids uint32, padded to 8);
 *   5. the merges' hash table (merge_cap slots of TOK_BPE_SLOT_BYTES bytes).
 *
 * A file is used only when everything agrees: the tokenizer.json's identity, the
 * version and layout, the file's exact size, the checksum, every offset and id within
 * its table, an empty slot in each table, a sample of slots where lookups look for
 * them, and at last the fingerprint of the tokenizer it makes.  Anything else and the
 * tokenizer.json is parsed as without a cache, and the file written again.  Files are
 * written to a temporary name and renamed, so a reader sees a whole file or none.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hub.h"
#include "hub_cache.h"
#include "internal.h"
#include "tok_gen.h"
#include "tokenizer_impl.h"

#define STORE_MAGIC "sbtokc1\n"
#define STORE_VERSION 1
#define BYTE_ORDER_MARK 0x01020304u
#define FRESH_NS 2000000000ull          /* a tokenizer.json changed this recently: not kept */

_Static_assert(sizeof(struct slot) == 16, "vocabulary slot layout");

struct head {
	char magic[8];
	uint32_t version, head_bytes;
	uint32_t byte_order, slot_bytes, merge_slot_bytes, pad0;
	uint64_t checksum;              /* of the sections, and of the head with this 0 */
	uint64_t src_size, src_mtime_ns, src_ino, src_dev;
	uint64_t span[4];               /* model.vocab, model.merges: offset, length */
	uint64_t fingerprint;
	uint64_t n_entries, n_ids, vocab_size;
	uint64_t pool_len, slot_cap;
	uint64_t max_word_bytes, max_cont_bytes;
	uint64_t merge_cap, n_merges, merge_hash;
	uint32_t dup_text, nul_text, meta_cross, pad1;
};

struct tok_store {
	struct head h;                  /* a copy of the file's */
	struct sb_file_view file;       /* the cache file, mapped (the tables point in it) */
	const char *pool;               /* [pool_len] */
	const struct slot *slots;       /* [slot_cap] */
	const uint32_t *id_off;         /* [n_ids] */
	void *merges;                   /* [merge_cap] */
};

/* ---- the checksum: eight lanes of 64 bits over 64-byte blocks ---- */

#define P1 0x9E3779B185EBCA87ull
#define LANES 8

static inline uint64_t rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t fmix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

/* A 64-bit sum of p[0..n) under seed, which tells a corrupted file apart (not a
 * crafted one).  A lane takes a word as l = rotl((l ^ w) * P1, 31): a bijection of
 * the lane for each word, which the multiply spreads upward and the rotation
 * back down; eight lanes keep the multiplier busy (19 MB in about 1.5 ms). */
static uint64_t sum64(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *s = p;
	uint64_t l[LANES], tail[LANES] = {0}, h;
	size_t i = 0;

	for (int k = 0; k < LANES; k++)
		l[k] = seed + P1 * (uint64_t)(k + 1);
	for (; n - i >= 8 * LANES; i += 8 * LANES) {
		for (int k = 0; k < LANES; k++) {
			uint64_t w;

			memcpy(&w, s + i + 8 * k, 8);
			l[k] = rotl((l[k] ^ w) * P1, 31);
		}
	}
	memcpy(tail, s + i, n - i);
	h = n;
	for (int k = 0; k < LANES; k++)
		h = fmix(h ^ rotl((l[k] ^ tail[k]) * P1, 31)) + (uint64_t)k;
	return h;
}

/* ---- sizes ---- */

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* The sections' sizes from a head whose counts are bounded already. */
static void section_sizes(const struct head *h, size_t sz[4])
{
	sz[0] = pad8((size_t)h->pool_len);
	sz[1] = (size_t)h->slot_cap * sizeof(struct slot);
	sz[2] = pad8((size_t)h->n_ids * sizeof(uint32_t));
	sz[3] = (size_t)h->merge_cap * TOK_BPE_SLOT_BYTES;
}

static int pow2(uint64_t n)
{
	return n >= 2 && !(n & (n - 1));
}

/* Whether h is a head of this build's format for the tokenizer.json src, with counts
 * that bound every allocation. */
static const char *head_check(const struct head *h, const struct tok_src *src)
{
	if (memcmp(h->magic, STORE_MAGIC, 8))
		return "not a cache file";
	if (h->version != STORE_VERSION || h->head_bytes != sizeof(*h) ||
	    h->byte_order != BYTE_ORDER_MARK || h->slot_bytes != sizeof(struct slot) ||
	    h->merge_slot_bytes != TOK_BPE_SLOT_BYTES)
		return "another version";
	if (h->src_size != src->size || h->src_mtime_ns != src->mtime_ns ||
	    h->src_ino != src->ino || h->src_dev != src->dev)
		return "tokenizer.json changed";
	if (!h->pool_len || h->pool_len > MAX_TOKENIZER_JSON || !h->n_ids ||
	    h->n_ids > MAX_VOCAB || h->n_entries > MAX_VOCAB || h->vocab_size > h->n_entries ||
	    !pow2(h->slot_cap) || h->slot_cap > 4 * (uint64_t)MAX_VOCAB ||
	    !pow2(h->merge_cap) || h->merge_cap > 4 * (uint64_t)MAX_MERGES ||
	    h->n_merges >= h->merge_cap || h->max_word_bytes > MAX_TOKEN_BYTES ||
	    h->max_cont_bytes > MAX_TOKEN_BYTES || h->dup_text || h->nul_text > 1 ||
	    h->meta_cross > 1)
		return "counts out of range";
	for (int k = 0; k < 4; k += 2)
		if (h->span[k] > h->src_size || h->span[k + 1] > h->src_size - h->span[k])
			return "offsets out of range";
	return NULL;
}

/* ---- reading ---- */

static void store_free(struct tok_store *s)
{
	if (!s)
		return;
	sb_file_unmap(&s->file);
	free(s);
}

/* Whether vocabulary slot i (filled) holds a text under its hash, where a lookup
 * probes for it. */
static int slot_sound(const struct tok_store *s, size_t i)
{
	const struct slot *sl = &s->slots[i];
	size_t mask = (size_t)s->h.slot_cap - 1, j = sl->hash & mask;

	if (text_hash(s->pool + sl->off, sl->len) != sl->hash)
		return 0;
	while (j != i && s->slots[j].len)
		j = (j + 1) & mask;
	return j == i;
}

/* Whether the vocabulary's tables are within bounds: every slot's text in the pool
 * and its id below n_ids, an empty slot, every id's text in the pool, and a sample of
 * slots (the first 64 texts, the slots at every 1024th index) sound. */
static const char *vocab_check(const struct tok_store *s)
{
	const struct head *h = &s->h;
	size_t cap = (size_t)h->slot_cap, filled = 0;
	uint64_t last = h->pool_len - 1;        /* the pool's final NUL */
	unsigned bad = 0;

	if (s->pool[last])
		return "pool not terminated";
	/* Without branches: most slots are empty, at random.  An empty slot passes. */
	for (size_t i = 0; i < cap; i++) {
		const struct slot *sl = &s->slots[i];
		unsigned used = sl->len != 0;

		bad |= used & ((sl->len > MAX_TOKEN_BYTES) | (sl->off > last) |
			       (sl->len > last - sl->off) | ((uint32_t)sl->id >= h->n_ids));
		filled += used;
	}
	if (bad)
		return "vocabulary slot out of range";
	if (filled != h->vocab_size || filled >= cap)
		return "vocabulary count";
	for (size_t i = 0; i < h->n_ids; i++)
		bad |= (s->id_off[i] != UINT32_MAX) & (s->id_off[i] >= h->pool_len);
	if (bad)
		return "id offset out of range";
	for (size_t i = 0, seen = 0; i < cap && seen < 64; i++)
		if (s->slots[i].len && (seen++, !slot_sound(s, i)))
			return "vocabulary slot unsound";
	for (size_t i = 0; i < cap; i += 1024)
		if (s->slots[i].len && !slot_sound(s, i))
			return "vocabulary slot unsound";
	return NULL;
}

/* Finds the sections of s (its head copied and checked) in the mapped file and checks
 * them. */
static const char *check_sections(struct tok_store *s)
{
	struct head *h = &s->h;
	struct head zero = *h;
	const char *why;
	const unsigned char *at = s->file.data + sizeof(*h);
	const void *sec[4];
	size_t sz[4], total = sizeof(*h);
	uint64_t sum;
	struct tok_bpe_table tb;

	section_sizes(h, sz);
	for (int k = 0; k < 4; k++)
		total += sz[k];
	if (total != s->file.len)
		return "file size";
	for (int k = 0; k < 4; k++) {
		sec[k] = at;
		at += sz[k];
	}
	zero.checksum = 0;
	sum = sum64(&zero, sizeof(zero), 0);
	for (int k = 0; k < 4; k++)
		sum = sum64(sec[k], sz[k], sum);
	if (sum != h->checksum)
		return "checksum";
	s->pool = sec[0];
	s->slots = sec[1];
	s->id_off = sec[2];
	s->merges = (void *)(uintptr_t)sec[3];  /* read-only pages: never written */
	tb = (struct tok_bpe_table){s->merges, (size_t)h->merge_cap, (size_t)h->n_merges,
				    h->merge_hash, (int)h->meta_cross};
	if ((why = vocab_check(s)))
		return why;
	if (sb_tok_bpe_table_check(&tb, (size_t)h->n_ids, s->id_off))
		return "merges out of range";
	return NULL;
}

/* The cache file of src into *out; NULL, or why it is not used ("" when there is
 * none). */
static const char *store_read(const char *file, const struct tok_src *src,
			      struct tok_store **out)
{
	struct tok_store *s;
	const char *why = NULL;
	int rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return "out of memory";
	rc = sb_file_map(file, (size_t)1 << 40, &s->file, NULL);
	if (rc == SB_ENOTFOUND)
		why = "";
	else if (rc)
		why = "unreadable";
	else if (s->file.len < sizeof(s->h))
		why = "short file";
	else
		memcpy(&s->h, s->file.data, sizeof(s->h));
	if (!why && !(why = head_check(&s->h, src)))
		why = check_sections(s);
	if (why) {
		store_free(s);
		return why;
	}
	*out = s;
	return NULL;
}

int sb_tok_store_reseal(unsigned char *file, size_t len)
{
	struct head h;
	struct tok_src src;
	size_t sz[4], total = sizeof(h);
	uint64_t sum;

	if (len < sizeof(h))
		return -1;
	memcpy(&h, file, sizeof(h));
	src = (struct tok_src){h.src_size, h.src_mtime_ns, h.src_ino, h.src_dev};
	if (head_check(&h, &src))
		return -1;
	section_sizes(&h, sz);
	for (int k = 0; k < 4; k++)
		total += sz[k];
	if (total != len)
		return -1;
	h.checksum = 0;
	sum = sum64(&h, sizeof(h), 0);
	file += sizeof(h);
	for (int k = 0; k < 4; k++) {
		sum = sum64(file, sz[k], sum);
		file += sz[k];
	}
	memcpy(file - total + offsetof(struct head, checksum), &sum, sizeof(sum));
	return 0;
}

/* ---- naming ---- */

static int src_stat(const char *path, struct tok_src *src)
{
	struct stat st;

	if (stat(path, &st) || !S_ISREG(st.st_mode))
		return -1;
	src->size = (uint64_t)st.st_size;
	src->mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000ull +
			(uint64_t)st.st_mtim.tv_nsec;
	src->ino = (uint64_t)st.st_ino;
	src->dev = (uint64_t)st.st_dev;
	return 0;
}

static char *store_path(const char *dir, const struct tok_src *src)
{
	return sb_strf("%s/%llx-%llx.sbtok", dir, (unsigned long long)src->dev,
		       (unsigned long long)src->ino);
}

/* The model.type of doc is BPE. */
static int is_bpe(const struct tok_doc *doc)
{
	const struct sb_json *model = sb_json_get(doc->root, "model");
	const char *ty;

	return model && model->type == SB_JSON_OBJECT &&
	       sb_json_get_str(model, "type", &ty, NULL) == SB_OK && strcmp(ty, "BPE") == 0;
}

int sb_tok_store_doc(struct sb_tokenizer *t, const char *path, struct tok_doc *doc,
		     struct sb_error *err)
{
	char *file;
	size_t span[4];

	t->cache_note = NULL;
	if (src_stat(path, &t->src) || t->cache_skip_read)
		return sb_tok_doc_read(doc, path, err);
	file = store_path(t->cache_dir, &t->src);
	if (!file)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	t->cache_note = store_read(file, &t->src, &t->cached);
	free(file);
	if (!t->cached)
		return sb_tok_doc_read(doc, path, err);
	for (int k = 0; k < 4; k++)
		span[k] = (size_t)t->cached->h.span[k];
	if (!sb_tok_doc_read_spans(doc, path, t->src.size, span, NULL) && is_bpe(doc))
		return SB_OK;
	t->cache_note = "tokenizer.json does not match";
	sb_tok_doc_free(doc);
	sb_tok_store_free(t);
	return sb_tok_doc_read(doc, path, err);
}

/* ---- installing ---- */

int sb_tok_store_vocab(struct sb_tokenizer *t, struct sb_error *err)
{
	struct tok_store *s = t->cached;
	const struct head *h = &s->h;

	t->id_tok = calloc((size_t)h->n_ids, sizeof(*t->id_tok));
	if (!t->id_tok)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	for (size_t i = 0; i < h->n_ids; i++)
		t->id_tok[i] = s->id_off[i] == UINT32_MAX ? NULL : s->pool + s->id_off[i];
	/* The tables stay in the mapped file, which t now owns: read-only pages, which
	 * nothing writes once a tokenizer is built. */
	t->tables = s->file;
	memset(&s->file, 0, sizeof(s->file));
	t->pool = (char *)(uintptr_t)s->pool;
	t->pool_len = (size_t)h->pool_len;
	t->slots = (struct slot *)(uintptr_t)s->slots;
	t->mask = (size_t)h->slot_cap - 1;
	t->n_ids = (size_t)h->n_ids;
	t->dup_text = (int)h->dup_text;
	t->nul_text = (int)h->nul_text;
	t->max_word_bytes = (size_t)h->max_word_bytes;
	t->max_cont_bytes = (size_t)h->max_cont_bytes;
	t->info.vocab_size = (size_t)h->vocab_size;
	t->n_entries = (size_t)h->n_entries;
	t->cont_hash = hash_step(HASH_INIT, (const unsigned char *)t->cont_prefix, t->cont_len);
	for (int k = 0; k < 4; k++)
		t->span[k] = (size_t)h->span[k];
	return SB_OK;
}

void sb_tok_store_merges(struct sb_tokenizer *t)
{
	struct tok_store *s = t->cached;
	struct tok_bpe_table tb = {s->merges, (size_t)s->h.merge_cap, (size_t)s->h.n_merges,
				   s->h.merge_hash, (int)s->h.meta_cross};

	sb_tok_bpe_adopt(&t->gen->model, &tb);
}

void sb_tok_store_free(struct sb_tokenizer *t)
{
	store_free(t->cached);
	t->cached = NULL;
}

/* ---- writing ---- */

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t k = write(fd, c, n > ((size_t)1 << 30) ? (size_t)1 << 30 : n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

/* The head and the sections of t's tables (sec[2] and sec[0]'s padding malloc'd). */
static int store_build(const struct sb_tokenizer *t, struct head *h, const void *sec[4],
		       void **owned)
{
	struct tok_bpe_table tb;
	uint32_t *ids;
	char *pool;
	size_t sz[4];

	sb_tok_bpe_table(&t->gen->model, &tb);
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, STORE_MAGIC, 8);
	h->version = STORE_VERSION;
	h->head_bytes = sizeof(*h);
	h->byte_order = BYTE_ORDER_MARK;
	h->slot_bytes = sizeof(struct slot);
	h->merge_slot_bytes = TOK_BPE_SLOT_BYTES;
	h->src_size = t->src.size;
	h->src_mtime_ns = t->src.mtime_ns;
	h->src_ino = t->src.ino;
	h->src_dev = t->src.dev;
	for (int k = 0; k < 4; k++)
		h->span[k] = t->span[k];
	h->fingerprint = t->info.fingerprint;
	h->n_entries = t->n_entries;
	h->n_ids = t->n_ids;
	h->vocab_size = t->info.vocab_size;
	h->pool_len = t->pool_len;
	h->slot_cap = t->mask + 1;
	h->max_word_bytes = t->max_word_bytes;
	h->max_cont_bytes = t->max_cont_bytes;
	h->merge_cap = tb.cap;
	h->n_merges = tb.n_merges;
	h->merge_hash = tb.merge_hash;
	h->dup_text = (uint32_t)t->dup_text;
	h->nul_text = (uint32_t)t->nul_text;
	h->meta_cross = (uint32_t)tb.meta_cross;
	section_sizes(h, sz);
	pool = calloc(1, sz[0] + sz[2]);
	if (!pool)
		return -1;
	memcpy(pool, t->pool, t->pool_len);
	ids = (uint32_t *)(void *)(pool + sz[0]);
	for (size_t i = 0; i < t->n_ids; i++)
		ids[i] = t->id_tok[i] ? (uint32_t)(t->id_tok[i] - t->pool) : UINT32_MAX;
	sec[0] = pool;
	sec[1] = t->slots;
	sec[2] = ids;
	sec[3] = tb.slots;
	*owned = pool;
	h->checksum = sum64(h, sizeof(*h), 0);
	for (int k = 0; k < 4; k++)
		h->checksum = sum64(sec[k], sz[k], h->checksum);
	return 0;
}

/* Writes t's tables to the cache file for t->src: a temporary file renamed over it.
 * NULL, or why it was not written. */
static const char *store_write(const struct sb_tokenizer *t, const char *file)
{
	struct head h;
	const void *sec[4];
	void *owned = NULL;
	size_t sz[4];
	char *tmp;
	const char *why = NULL;
	int fd;

	if (sb_hub_mkdir_p(t->cache_dir, NULL))
		return "cannot create the folder";
	/* A name of its own, so that writers at the same time (other processes, or
	 * threads of this one) never write into one file. */
	tmp = sb_strf("%s.XXXXXX", file);
	if (!tmp)
		return "out of memory";
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		free(tmp);
		return errno == EACCES || errno == EROFS ? "folder not writable" : "cannot create";
	}
	(void)fchmod(fd, 0644);         /* public data, as the tokenizer.json (mkostemp: 0600) */
	if (store_build(t, &h, sec, &owned)) {
		why = "out of memory";
	} else {
		section_sizes(&h, sz);
		if (write_all(fd, &h, sizeof(h)))
			why = "write failed";
		for (int k = 0; k < 4 && !why; k++)
			if (write_all(fd, sec[k], sz[k]))
				why = "write failed";
	}
	if (close(fd) && !why)
		why = "write failed";
	if (!why && rename(tmp, file))
		why = "rename failed";
	if (why)
		unlink(tmp);
	free(owned);
	free(tmp);
	return why;
}

/* Whether t's tokenizer.json is as it was before it was read, and old enough that a
 * change within the clock's granularity would show in its mtime. */
static const char *src_settled(const struct sb_tokenizer *t, const char *path)
{
	struct tok_src now;
	struct timespec ts;

	if (src_stat(path, &now) || memcmp(&now, &t->src, sizeof(now)))
		return "tokenizer.json changed while read";
	clock_gettime(CLOCK_REALTIME, &ts);
	if (t->src.mtime_ns + FRESH_NS > (uint64_t)ts.tv_sec * 1000000000ull +
					 (uint64_t)ts.tv_nsec)
		return "tokenizer.json changed less than 2 s ago";
	return NULL;
}

int sb_tok_store_finish(struct sb_tokenizer *t)
{
	const char *why = NULL;
	char *file, *path;

	if (!t->cache_dir || !t->info.source || strcmp(t->info.source, "tokenizer.json"))
		return 0;
	if (!t->gen || t->gen->model.ops != &sb_tok_bpe_ops || !t->span[1] || !t->span[3]) {
		sb_tok_setting(t, "cache", "BPE tokenizer.json only", "not used");
		return 0;
	}
	file = store_path(t->cache_dir, &t->src);
	if (!file)
		return 0;
	if (t->cached) {
		int same = t->cached->h.fingerprint == t->info.fingerprint;

		sb_tok_store_free(t);
		if (same)
			sb_tok_setting(t, "cache", file, "read");
		free(file);
		return same ? 0 : -1;
	}
	path = sb_path_join(t->dir, "tokenizer.json");
	why = path ? src_settled(t, path) : "out of memory";
	if (!why)
		why = store_write(t, file);
	if (why)
		sb_tok_setting(t, "cache", file, "not written: %s", why);
	else if (t->cache_note && *t->cache_note)
		sb_tok_setting(t, "cache", file, "rewritten (%s)", t->cache_note);
	else
		sb_tok_setting(t, "cache", file, "written");
	free(path);
	free(file);
	return 0;
}

/* ---- the folder ---- */

int sb_tokenizer_cache_dir(const char *setting, const struct sb_hub_env *env, char **out,
			   struct sb_error *err)
{
	*out = NULL;
	if (setting && (!strcmp(setting, "0") || !strcmp(setting, "off")))
		return SB_OK;
	if (setting && *setting)
		*out = sb_strdup(setting);
	else if (env->xdg_cache_home && *env->xdg_cache_home)
		*out = sb_strf("%s/sb/tokenizers", env->xdg_cache_home);
	else if (env->home && *env->home)
		*out = sb_strf("%s/.cache/sb/tokenizers", env->home);
	else
		return SB_OK;
	return *out ? SB_OK : sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
}
