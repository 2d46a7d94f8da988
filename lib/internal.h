/*
 * internal.h - helpers shared by libsb modules; not installed, not public API.
 */
#ifndef SB_INTERNAL_H
#define SB_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "errors.h"
#include "transport.h"

/* printf into a malloc'd string; NULL on ENOMEM. */
__attribute__((format(printf, 1, 2)))
char *sb_strf(const char *fmt, ...);

/* Reads a whole file into out (appending), refusing files over max_bytes. */
int sb_file_read(const char *path, size_t max_bytes, struct sb_buf *out, struct sb_error *err);

/*
 * A whole file mapped read-only (sb_file_map), for big inputs read once: the pages of
 * the page cache are used in place instead of copied.  data is valid until
 * sb_file_unmap(); an empty file maps to len 0 and a non-NULL data.  The file must not
 * shrink while it is mapped (its missing pages would fault), as with the weights.
 */
struct sb_file_view {
	const unsigned char *data;
	size_t len;
	void *map;                      /* NULL when nothing is mapped */
};

/* Maps path into v (zeroed first), refusing files over max_bytes. */
int sb_file_map(const char *path, size_t max_bytes, struct sb_file_view *v, struct sb_error *err);
void sb_file_unmap(struct sb_file_view *v);

/*
 * n bytes for a big table looked up at random (a vocabulary's or merges' hash table),
 * every byte set to fill, free()d as usual, or NULL.  Tables of megabytes are put on huge pages where
 * the system gives them on request (transparent huge pages in "madvise" mode): a few
 * page faults instead of one per 4 KiB, and lookups without TLB misses.
 */
void *sb_table_alloc(size_t n, unsigned char fill);

/* Returns 1 if path names an existing regular file (following links), else 0. */
int sb_file_exists(const char *path);

/* Returns 1 if path names an existing directory, else 0. */
int sb_dir_exists(const char *path);

/* Joins dir and name with one '/', into a malloc'd string (NULL on ENOMEM). */
char *sb_path_join(const char *dir, const char *name);

/* Monotonic clock in seconds. */
double sb_now(void);

/* strdup that returns NULL on NULL. */
char *sb_strdup(const char *s);

/*
 * The UTF-8 sequence at p (n >= 1 bytes remain), as RFC 3629 defines well-formed
 * UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).  Returns how
 * many bytes to consume and sets *valid.  An invalid sequence consumes its maximal
 * subpart (the lead byte and the continuation bytes that could still have completed
 * it), so replacing each with one U+FFFD matches the Unicode recommendation and
 * Python's errors="replace".  A sequence cut by the end of the n bytes is invalid.
 */
size_t sb_utf8_seq(const unsigned char *p, size_t n, int *valid);

/*
 * n bytes of untrusted input (a file's or a server's) made fit to quote in an error
 * message: valid UTF-8 other than control characters (C0, DEL, C1) is kept, every other byte (and
 * the backslash) becomes \xHH, so the message stays one line and cannot drive a
 * terminal.  Cut to cap - 1 bytes, ending in "..." when cut.  Returns out.
 */
const char *sb_printable(const void *s, size_t n, char *out, size_t cap);

/*
 * FNV-1a 64 of the n bytes at p, continuing from h (SB_FNV1A64_INIT to start): parts
 * hashed one after the other give the hash of their concatenation.  For fingerprints
 * and stable names, not for anything an adversary should not collide.
 */
#define SB_FNV1A64_INIT 0xcbf29ce484222325ULL
static inline uint64_t sb_fnv1a64(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

/* Little-endian loads and stores, independent of alignment. */
static inline uint16_t sb_le16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t sb_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t sb_le64(const unsigned char *p)
{
	return (uint64_t)sb_le32(p) | ((uint64_t)sb_le32(p + 4) << 32);
}

/*
 * Hook for the ZeroMQ backend, set by sb_zmq_init(): sb_transport_open() calls it for
 * specs that start with '@' or '>'; a spec that starts with "tcp://", "ipc://" or "inproc://" is
 * refused with SB_EINVAL (bind or connect must be said).  NULL when not linked in.
 */
extern int (*sb_transport_zmq_open)(struct sb_transport **out, const char *spec,
				    enum sb_transport_mode mode,
				    const struct sb_transport_opts *opts, struct sb_error *err);

/*
 * The stage interface's version-dependent parts (stage.c), for the runner and the farm
 * worker.  sb_stage_check() refuses a table of a version this library does not know;
 * the others do nothing for a version 1 table, which has no report or set_io.
 */
struct sb_stage;
struct sb_stage_io;
struct sb_report_to;
int sb_stage_check(const struct sb_stage *stage, struct sb_error *err);
void sb_stage_report(const struct sb_stage *stage, void *state, const struct sb_report_to *to,
		     int final);
void sb_stage_attach(const struct sb_stage *stage, void *state, struct sb_stage_io *io,
		     const struct sb_transport_opts *topts);

/*
 * CurveZMQ key files (zmq_keys.c), declared here for their fuzz target.  A key file holds
 * "public-key = Z85" and, when secret, "secret-key = Z85" lines ('#' comments); an
 * allow-list is any number of public-key lines or bare Z85 keys.
 */
struct sb_zmq_keyline {
	int secret;             /* 1: secret-key, 0: public-key or bare key */
	char key[41];           /* 40 Z85 characters */
};

/* Every key line of the file at path, in order (*out malloc'd). */
int sb_zmq_keyfile_parse(const char *path, struct sb_zmq_keyline **out, size_t *n_out,
			 struct sb_error *err);

/* Resolves --curve-secret / --curve-server: a Z85 key itself or a key file.  want_secret
 * fills sec and the public key derived from it, else pub only. */
int sb_zmq_key_load(const char *arg, int want_secret, char pub[41], char sec[41],
		    struct sb_error *err);

/* Reads a --curve-allow list: the decoded public keys (*keys malloc'd, n_keys of them). */
int sb_zmq_allow_read(const char *path, unsigned char (**keys)[32], size_t *n_keys,
		      struct sb_error *err);

#endif
