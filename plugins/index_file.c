/*
 * index_file.c - the sb-index file: FAISS's bytes, info, texts, footer (see
 * index_file.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index_file.h"
#include "internal.h"

#define MAGIC "sb-index"
#define FORMAT_VERSION 2
#define FNV_BASIS 0xcbf29ce484222325ULL
#define P1 0x9e3779b97f4a7c15ULL
#define P2 0xbf58476d1ce4e5b9ULL
#define P3 0x94d049bb133111ebULL

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* A little-endian 64-bit value: one load (the checksum reads every byte of an index
 * this way, gigabytes for a large one). */
static uint64_t get64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

/* ---- checksums (index_file.h) ---- */

static uint64_t rotl(uint64_t x, int r)
{
	return x << r | x >> (64 - r);
}

static void hash_init(struct sb_index_hash *h, unsigned version)
{
	memset(h, 0, sizeof *h);
	h->fnv = version == 1;
	h->lane[0] = FNV_BASIS;         /* format 1's running value */
	if (!h->fnv)
		for (int k = 0; k < 4; k++)
			h->lane[k] = (uint64_t)(k + 1) * P1;
}

static void hash_blocks(struct sb_index_hash *h, const unsigned char *p, size_t n_blocks)
{
	uint64_t a = h->lane[0], b = h->lane[1], c = h->lane[2], d = h->lane[3];

	for (size_t i = 0; i < n_blocks; i++, p += 32) {
		a = rotl(a + get64(p) * P2, 31) * P1;
		b = rotl(b + get64(p + 8) * P2, 31) * P1;
		c = rotl(c + get64(p + 16) * P2, 31) * P1;
		d = rotl(d + get64(p + 24) * P2, 31) * P1;
	}
	h->lane[0] = a;
	h->lane[1] = b;
	h->lane[2] = c;
	h->lane[3] = d;
}

static void hash_update(struct sb_index_hash *h, const void *data, size_t n)
{
	const unsigned char *p = data;

	h->len += n;
	if (h->fnv) {
		h->lane[0] = sb_fnv1a64(h->lane[0], p, n);
		return;
	}
	if (h->n_tail) {
		size_t k = 32 - h->n_tail < n ? 32 - h->n_tail : n;
		memcpy(h->tail + h->n_tail, p, k);
		h->n_tail += k;
		p += k;
		n -= k;
		if (h->n_tail < 32)
			return;
		hash_blocks(h, h->tail, 1);
		h->n_tail = 0;
	}
	hash_blocks(h, p, n / 32);
	memcpy(h->tail, p + n / 32 * 32, n % 32);
	h->n_tail = n % 32;
}

static uint64_t hash_final(const struct sb_index_hash *h)
{
	uint64_t x = h->len;

	if (h->fnv)
		return h->lane[0];
	for (int k = 0; k < 4; k++)
		x = (x ^ rotl(h->lane[k] * P2, 31) * P1) * P1;
	for (size_t i = 0; i < h->n_tail; i++)
		x = (x ^ h->tail[i]) * 0x100000001b3ULL;
	x ^= x >> 30;
	x *= P2;
	x ^= x >> 27;
	x *= P3;
	x ^= x >> 31;
	return x;
}

/* ---- writing ---- */

int sb_index_writer_open(struct sb_index_writer *w, const char *path, struct sb_error *err)
{
	size_t n = strlen(path) + 32;

	memset(w, 0, sizeof *w);
	hash_init(&w->hash, FORMAT_VERSION);
	w->path = strdup(path);
	w->tmp = malloc(n);
	if (!w->path || !w->tmp)
		return sb_error_set(err, SB_ENOMEM, "out of memory");
	snprintf(w->tmp, n, "%s.tmp.%ld", path, (long)getpid());
	w->fp = fopen(w->tmp, "wbx");
	if (!w->fp)
		return sb_error_sys(err, SB_EIO, errno, "%s", w->tmp);
	return SB_OK;
}

int sb_index_write_payload(void *writer, const void *p, size_t n)
{
	struct sb_index_writer *w = writer;

	if (w->failed || fwrite(p, 1, n, w->fp) != n) {
		w->failed = 1;
		return -1;
	}
	hash_update(&w->hash, p, n);
	w->payload_len += n;
	return 0;
}

int sb_index_writer_finish(struct sb_index_writer *w, const void *info, size_t info_len,
			   const void *texts, size_t text_len, uint64_t rows, struct sb_error *err)
{
	unsigned char foot[SB_INDEX_FOOTER] = {0};
	struct sb_index_hash h;
	FILE *fp = w->fp;

	memcpy(foot, MAGIC, 8);
	foot[8] = FORMAT_VERSION;
	put64(foot + 16, w->payload_len);
	put64(foot + 24, info_len);
	put64(foot + 32, text_len);
	put64(foot + 40, rows);
	put64(foot + 48, hash_final(&w->hash));
	hash_init(&h, FORMAT_VERSION);
	hash_update(&h, info, info_len);
	hash_update(&h, texts, text_len);
	hash_update(&h, foot, 56);
	put64(foot + 56, hash_final(&h));
	w->fp = NULL;
	if (w->failed || fwrite(info, 1, info_len, fp) != info_len ||
	    (text_len && fwrite(texts, 1, text_len, fp) != text_len) ||
	    fwrite(foot, 1, sizeof foot, fp) != sizeof foot || fflush(fp) != 0 ||
	    fsync(fileno(fp)) != 0) {
		int e = errno;
		fclose(fp);
		return sb_error_sys(err, SB_EIO, e, "%s", w->tmp);
	}
	if (fclose(fp) != 0)
		return sb_error_sys(err, SB_EIO, errno, "%s", w->tmp);
	if (rename(w->tmp, w->path) != 0)
		return sb_error_sys(err, SB_EIO, errno, "%s", w->path);
	free(w->tmp);
	w->tmp = NULL;
	return SB_OK;
}

void sb_index_writer_close(struct sb_index_writer *w)
{
	if (w->fp)
		fclose(w->fp);
	if (w->tmp)
		unlink(w->tmp);
	free(w->tmp);
	free(w->path);
	memset(w, 0, sizeof *w);
}

/* ---- reading ---- */

static int read_all(FILE *fp, void *p, size_t n, const char *path, struct sb_error *err)
{
	if (n && fread(p, 1, n, fp) != n)
		return ferror(fp) ? sb_error_sys(err, SB_EIO, errno, "%s", path)
				  : sb_error_set(err, SB_EFORMAT,
						 "%s: shorter than its footer says", path);
	return SB_OK;
}

/* Splits info into key/value pairs and texts into rows strings. */
static int parse_meta(struct sb_index_file *f, size_t info_len, size_t text_len, const char *path,
		      struct sb_error *err)
{
	char *p = (char *)f->meta, *end = p + info_len;
	uint64_t n = 0;

	f->info.n = 0;
	if (info_len && end[-1] != '\0')
		return sb_error_set(err, SB_EFORMAT, "%s: info is not NUL-terminated", path);
	while (p < end) {
		char *v = p + strlen(p) + 1;
		if (v >= end || f->info.n == SB_INDEX_MAX_INFO)
			return sb_error_set(err, SB_EFORMAT,
					    "%s: info: a key without value "
					    "or more than %d keys",
					    path, SB_INDEX_MAX_INFO);
		f->info.key[f->info.n] = p;
		f->info.value[f->info.n++] = v;
		p = v + strlen(v) + 1;
	}
	if (text_len == 0)
		return SB_OK;
	p = (char *)f->meta + info_len;
	end = p + text_len;
	if (end[-1] != '\0')
		return sb_error_set(err, SB_EFORMAT, "%s: texts are not NUL-terminated", path);
	for (char *q = p; q < end; q++)
		n += *q == '\0';
	if (n != f->rows)
		return sb_error_set(err, SB_EFORMAT, "%s: %llu texts for %llu rows", path,
				    (unsigned long long)n, (unsigned long long)f->rows);
	f->text = malloc((size_t)(n ? n : 1) * sizeof *f->text);
	if (!f->text)
		return sb_error_set(err, SB_ENOMEM, "%s: out of memory for %llu texts", path,
				    (unsigned long long)n);
	for (uint64_t i = 0; i < n; i++) {
		f->text[i] = p;
		p += strlen(p) + 1;
	}
	return SB_OK;
}

/* Reads and checks the footer: sizes that add up to the file's size st_size. */
static int read_footer(FILE *fp, off_t size, const char *path, uint64_t v[6],
		       unsigned char foot[SB_INDEX_FOOTER], unsigned *version, struct sb_error *err)
{
	int rc;

	if (size < SB_INDEX_FOOTER)
		return sb_error_set(err, SB_EFORMAT, "%s: not an sb-index file (%lld bytes)", path,
				    (long long)size);
	if (fseeko(fp, size - SB_INDEX_FOOTER, SEEK_SET) != 0)
		return sb_error_sys(err, SB_EIO, errno, "%s", path);
	rc = read_all(fp, foot, SB_INDEX_FOOTER, path, err);
	if (rc)
		return rc;
	if (memcmp(foot, MAGIC, 8) != 0)
		return sb_error_set(err, SB_EFORMAT,
				    "%s: not an sb-index file (no sb-index footer: a cut file, or "
				    "not written by sb-index)",
				    path);
	/* the version (4 bytes) and the flags (4 bytes, none defined) in one */
	if (get64(foot + 8) != 1 && get64(foot + 8) != FORMAT_VERSION)
		return sb_error_set(err, SB_EFORMAT,
				    "%s: sb-index format %u (flags %#x), this sb reads formats 1 "
				    "and %d", path, (unsigned)(get64(foot + 8) & 0xffffffff),
				    (unsigned)(get64(foot + 8) >> 32), FORMAT_VERSION);
	*version = (unsigned)get64(foot + 8);
	for (int i = 0; i < 6; i++)
		v[i] = get64(foot + 16 + 8 * i);
	/* F + I + T + footer == size, without overflow */
	if (v[0] > (uint64_t)size || v[1] > (uint64_t)size || v[2] > (uint64_t)size ||
	    v[0] + v[1] + v[2] + SB_INDEX_FOOTER != (uint64_t)size || v[0] > SIZE_MAX ||
	    v[1] + v[2] > SIZE_MAX)
		return sb_error_set(err, SB_EFORMAT,
				    "%s: footer counts %llu + %llu + %llu bytes, the file has "
				    "%lld: damaged",
				    path, (unsigned long long)v[0], (unsigned long long)v[1],
				    (unsigned long long)v[2], (long long)size);
	return SB_OK;
}

/* First pass over the F bytes of the FAISS index: their checksum. */
static int hash_payload(struct sb_index_file *f, struct sb_error *err)
{
	unsigned char buf[1 << 16];
	uint64_t left = f->payload_len;
	struct sb_index_hash h;

	hash_init(&h, f->version);
	while (left) {
		size_t n = left < sizeof buf ? (size_t)left : sizeof buf;
		int rc = read_all(f->fp, buf, n, f->path, err);
		if (rc)
			return rc;
		hash_update(&h, buf, n);
		left -= n;
	}
	f->payload_hash = hash_final(&h);
	return SB_OK;
}

int sb_index_file_open(struct sb_index_file *f, const char *path, struct sb_error *err)
{
	unsigned char foot[SB_INDEX_FOOTER];
	uint64_t v[6];
	struct sb_index_hash h;
	struct stat st;
	int rc;

	memset(f, 0, sizeof *f);
	f->path = path;
	f->fp = fopen(path, "rb");
	if (!f->fp)
		return sb_error_sys(err, SB_EIO, errno, "%s", path);
	if (fstat(fileno(f->fp), &st) != 0 || !S_ISREG(st.st_mode))
		rc = sb_error_set(err, SB_EFORMAT, "%s: not a regular file", path);
	else
		rc = read_footer(f->fp, st.st_size, path, v, foot, &f->version, err);
	if (!rc) {
		f->payload_len = v[0];
		f->rows = v[3];
		f->meta = malloc((size_t)(v[1] + v[2]) + 1);
		if (!f->meta)
			rc = sb_error_set(err, SB_ENOMEM, "%s: out of memory for %llu bytes", path,
					  (unsigned long long)(v[1] + v[2]));
	}
	if (!rc && fseeko(f->fp, 0, SEEK_SET) != 0)
		rc = sb_error_sys(err, SB_EIO, errno, "%s", path);
	if (!rc) {
		hash_init(&f->hash, f->version);
		rc = hash_payload(f, err);
	}
	if (!rc)
		rc = read_all(f->fp, f->meta, (size_t)(v[1] + v[2]), path, err);
	if (!rc && f->payload_hash != v[4])
		rc = sb_error_set(err, SB_EFORMAT,
				  "%s: the checksum of the FAISS index does not match: damaged",
				  path);
	if (!rc) {
		hash_init(&h, f->version);
		hash_update(&h, f->meta, (size_t)(v[1] + v[2]));
		hash_update(&h, foot, 56);
		if (hash_final(&h) != v[5])
			rc = sb_error_set(
			    err, SB_EFORMAT,
			    "%s: the checksum of info and texts does not match: damaged", path);
	}
	if (!rc)
		rc = parse_meta(f, (size_t)v[1], (size_t)v[2], path, err);
	if (!rc && fseeko(f->fp, 0, SEEK_SET) != 0)
		rc = sb_error_sys(err, SB_EIO, errno, "%s", path);
	if (rc)
		sb_index_file_destroy(f);
	return rc;
}

int sb_index_read_payload(void *file, void *p, size_t n)
{
	struct sb_index_file *f = file;

	if (n > f->payload_len - f->done || fread(p, 1, n, f->fp) != n)
		return -1;
	hash_update(&f->hash, p, n);
	f->done += n;
	return 0;
}

int sb_index_file_payload_done(struct sb_index_file *f, struct sb_error *err)
{
	if (f->done != f->payload_len)
		return sb_error_set(
		    err, SB_EFORMAT, "%s: FAISS read %llu bytes of an index of %llu: damaged",
		    f->path, (unsigned long long)f->done, (unsigned long long)f->payload_len);
	if (hash_final(&f->hash) != f->payload_hash)
		return sb_error_set(err, SB_EFORMAT, "%s: the file changed while it was read",
				    f->path);
	return SB_OK;
}

const char *sb_index_file_get(const struct sb_index_file *f, const char *key)
{
	for (size_t i = 0; i < f->info.n; i++)
		if (strcmp(f->info.key[i], key) == 0)
			return f->info.value[i];
	return NULL;
}

void sb_index_file_destroy(struct sb_index_file *f)
{
	if (f->fp)
		fclose(f->fp);
	free(f->meta);
	free(f->text);
	memset(f, 0, sizeof *f);
}
