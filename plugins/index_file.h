/*
 * index_file.h - the file sb-index writes: a FAISS index followed by what sb needs
 * beside it, so that FAISS's own readers open the file as it is and sb opens only files
 * it wrote.
 *
 *     offset          bytes  what
 *     0               F      the FAISS index, as faiss::write_index() writes it
 *     F               I      info: key NUL value NUL pairs (model provenance, metric...)
 *     F + I           T      texts: one NUL-terminated text per row (T = 0: no texts)
 *     F + I + T       64     footer, integers little-endian:
 *                              0  8  magic "sb-index"
 *                              8  4  format version, 2 (1 is still read)
 *                             12  4  flags, 0
 *                             16  8  F
 *                             24  8  I
 *                             32  8  T
 *                             40  8  rows
 *                             48  8  checksum of the F bytes of the FAISS index
 *                             56  8  checksum of info, texts and footer bytes 0-55
 *
 * The checksum of format 2 reads 32-byte blocks as four little-endian 64-bit words,
 * one per lane (lane k starts at (k + 1) * P1): lane = rotl64(lane + word * P2, 31)
 * * P1.  At the end h = length; for each lane h = (h ^ rotl64(lane * P2, 31) * P1)
 * * P1; the last length % 32 bytes b: h = (h ^ b) * 0x100000001b3; then h ^= h >> 30,
 * h *= P2, h ^= h >> 27, h *= P3, h ^= h >> 31.  P1 = 0x9e3779b97f4a7c15, P2 =
 * 0xbf58476d1ce4e5b9, P3 = 0x94d049bb133111eb; arithmetic mod 2^64.  Four
 * independent lanes run at memory speed, where format 1's FNV-1a 64 (one multiply
 * per byte, in one chain) took longer than FAISS's own read.
 *
 * FAISS reads an index from the start of a file and ignores what follows, so
 * faiss.read_index(FILE) opens it.  sb reads the footer first, checks that the sizes
 * add up to the file's, reads the whole file once to check both checksums, and only
 * then lets FAISS parse the index, in a second pass that checksums the bytes again (a
 * file changed in between is refused too).  Memory holds FAISS's index, not a copy of
 * the file besides.  The checksums tell files sb-index wrote from foreign, cut or
 * damaged ones; they are no protection against a file crafted to pass them (see
 * sb-index(1)).
 */
#ifndef SB_PLUGIN_INDEX_FILE_H
#define SB_PLUGIN_INDEX_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "errors.h"

#define SB_INDEX_FOOTER 64
#define SB_INDEX_MAX_INFO 64 /* key/value pairs */

struct sb_index_info {
	size_t n;
	const char *key[SB_INDEX_MAX_INFO], *value[SB_INDEX_MAX_INFO]; /* into the file's bytes */
};

/* A checksum in progress: format 2's (lanes), or format 1's FNV-1a 64. */
struct sb_index_hash {
	uint64_t lane[4], len;
	unsigned char tail[32];
	size_t n_tail;
	int fnv;                /* format 1 */
};

/* A file being read: its info and texts checked and held, the FAISS bytes still to read. */
struct sb_index_file {
	FILE *fp;
	const char *path;      /* borrowed from sb_index_file_open()'s caller */
	uint64_t payload_len;  /* F */
	unsigned version;      /* of the file's format: 1 or 2 */
	uint64_t payload_hash; /* checksum of the F bytes, as the first pass found it */
	uint64_t done;         /* the second pass: bytes handed to FAISS, */
	struct sb_index_hash hash; /* and their checksum */
	unsigned char *meta;   /* [info bytes + text bytes] */
	struct sb_index_info info;
	const char **text; /* [rows] into meta, or NULL without texts */
	uint64_t rows;
};

/* Writer: streams the FAISS bytes through sb_index_write_payload(), then the rest. */
struct sb_index_writer {
	FILE *fp;
	char *path, *tmp; /* the file, and the temporary name it is written under */
	uint64_t payload_len;
	struct sb_index_hash hash;
	int failed;
};

/* Creates a temporary file beside path (path.tmp.PID); SB_EIO naming it on failure. */
int sb_index_writer_open(struct sb_index_writer *w, const char *path, struct sb_error *err);

/* The callback of sb_faiss_write(): appends n bytes of FAISS's output.  0 or -1. */
int sb_index_write_payload(void *writer, const void *p, size_t n);

/* Appends info (info_len bytes of pairs), texts (text_len bytes, 0 without texts) and
 * the footer, syncs, and renames the temporary file to path. */
int sb_index_writer_finish(struct sb_index_writer *w, const void *info, size_t info_len,
			   const void *texts, size_t text_len, uint64_t rows, struct sb_error *err);

/* Removes the temporary file (if still there) and frees w's strings.  Safe after
 * sb_index_writer_finish() and on a zeroed writer. */
void sb_index_writer_close(struct sb_index_writer *w);

/*
 * Opens path and checks it whole (footer, sizes, both checksums, info, the text count):
 * SB_EFORMAT with a one-line message naming the file for a file sb-index did not write,
 * a cut or damaged one; SB_EIO for read errors.  Then the FAISS bytes are read through
 * sb_index_read_payload() and sb_index_file_payload_done() says whether they were the
 * bytes checked.
 */
int sb_index_file_open(struct sb_index_file *f, const char *path, struct sb_error *err);

/* The callback of sb_faiss_read(): the next n bytes of the FAISS index, never past its
 * end.  0 or -1. */
int sb_index_read_payload(void *file, void *p, size_t n);

/* After FAISS's read: SB_EFORMAT unless FAISS read all F bytes and they were those of
 * the first pass. */
int sb_index_file_payload_done(struct sb_index_file *f, struct sb_error *err);

/* The value of key in f's info, or NULL. */
const char *sb_index_file_get(const struct sb_index_file *f, const char *key);

void sb_index_file_destroy(struct sb_index_file *f);

#endif
