/*
 * frame.h - the sb frame: one MessagePack map of tensors, texts and metadata
 * (see sb-frame(5) for the wire format).
 *
 * A struct sb_frame owns everything it points to.  Stages reuse one frame per
 * output: sb_frame_reset() frees texts and meta but may keep tensor storage for
 * the next frame (sb_frame_tensor_resize), so steady-state processing allocates
 * nothing.
 */
#ifndef SB_FRAME_H
#define SB_FRAME_H

#include "api.h"

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "errors.h"
#include "tensor.h"

#define SB_FRAME_VERSION 1
#define SB_FRAME_MAX_TENSORS 16
#define SB_FRAME_MAX_META 64
#define SB_FRAME_NAME_MAX 64            /* tensor names and meta keys, bytes incl. NUL */
#define SB_FRAME_DEFAULT_MAX_BYTES ((size_t)1 << 31)   /* 2 GiB */

enum sb_kind {
	SB_KIND_TOKENS,
	SB_KIND_HIDDEN,
	SB_KIND_EMBEDDINGS,
	SB_KIND_SCORES,
	SB_KIND_END,
	SB_KIND_TEXT            /* in-process only: lines read by the runner; never on the wire */
};

enum sb_meta_type { SB_META_NIL, SB_META_BOOL, SB_META_INT, SB_META_UINT, SB_META_FLOAT, SB_META_STR };

struct sb_meta {
	char key[SB_FRAME_NAME_MAX];
	enum sb_meta_type type;
	union {
		int b;
		int64_t i;
		uint64_t u;
		double f;
		struct { char *p; size_t n; } s;        /* owned, NUL-terminated */
	} v;
};

struct sb_text {
	char *p;                /* owned, NUL-terminated, may contain NUL bytes */
	size_t n;               /* bytes, excluding the terminator */
};

struct sb_frame_tensor {
	char name[SB_FRAME_NAME_MAX];
	struct sb_tensor t;
};

struct sb_frame {
	unsigned version;               /* SB_FRAME_VERSION */
	enum sb_kind kind;
	uint64_t seq;                   /* index of the first row in the stream */
	uint64_t rows;                  /* rows in this frame */
	uint64_t rows_total;            /* SB_KIND_END only */
	size_t n_tensors;
	struct sb_frame_tensor tensors[SB_FRAME_MAX_TENSORS];
	int has_text;                   /* text[0..rows) valid */
	/* SB_KIND_TEXT only: lines longer than the runner's chunk size arrive in pieces.
	 * text_continued: row 0 continues the last row of the previous frame (same row
	 * number: seq is that row's).  text_partial: the last row goes on in the next
	 * frame.  A stage that reads text keeps its state across such frames. */
	int text_continued;
	int text_partial;
	struct sb_text *text;
	size_t text_cap;
	size_t n_meta;
	struct sb_meta meta[SB_FRAME_MAX_META];
};

/* Names of kinds as on the wire ("tokens", ...); SB_EFORMAT for unknown names. */
SB_API const char *sb_kind_name(enum sb_kind k);
SB_API int sb_kind_parse(const char *s, size_t n, enum sb_kind *out);

/* Initializes caller storage (empty frame, version 1, kind tokens). */
SB_API void sb_frame_init(struct sb_frame *f);

/* Frees everything the frame owns; the frame is empty and reusable afterwards. */
SB_API void sb_frame_destroy(struct sb_frame *f);

/*
 * Empties the frame for reuse: texts and meta are freed, tensors are dropped from
 * the frame but their owned storage is kept in a per-slot cache so that
 * sb_frame_tensor_resize() with the same name needs no allocation next time.
 */
SB_API void sb_frame_reset(struct sb_frame *f);

/*
 * Returns the tensor called name, or NULL.  The pointer is valid until the frame is
 * reset or destroyed.
 */
SB_API struct sb_tensor *sb_frame_tensor(const struct sb_frame *f, const char *name);

/*
 * Adds (or replaces) tensor 'name' with storage for the shape, reusing cached
 * storage where possible.  *out points at it.  SB_ELIMIT past SB_FRAME_MAX_TENSORS.
 */
SB_API int sb_frame_tensor_resize(struct sb_frame *f, const char *name, enum sb_dtype dt,
				  int n_dims, const size_t *shape, struct sb_tensor **out,
				  struct sb_error *err);

/* Adds tensor 'name', taking ownership of *t (t is zeroed).  Replaces a same-named one. */
SB_API int sb_frame_add_tensor(struct sb_frame *f, const char *name, struct sb_tensor *t,
			       struct sb_error *err);

/* Prepares text[0..rows) as empty strings and sets has_text. */
SB_API int sb_frame_text_alloc(struct sb_frame *f, size_t rows, struct sb_error *err);

/* Copies n bytes into text[i] (i < rows after sb_frame_text_alloc). */
SB_API int sb_frame_text_set(struct sb_frame *f, size_t i, const char *s, size_t n,
			     struct sb_error *err);

/* Meta setters: replace an existing key.  SB_ELIMIT past SB_FRAME_MAX_META. */
SB_API int sb_frame_meta_str(struct sb_frame *f, const char *key, const char *s,
			     struct sb_error *err);
SB_API int sb_frame_meta_int(struct sb_frame *f, const char *key, int64_t v, struct sb_error *err);
SB_API int sb_frame_meta_uint(struct sb_frame *f, const char *key, uint64_t v,
			      struct sb_error *err);
SB_API int sb_frame_meta_float(struct sb_frame *f, const char *key, double v, struct sb_error *err);
SB_API int sb_frame_meta_bool(struct sb_frame *f, const char *key, int v, struct sb_error *err);

/* Returns the meta entry 'key' or NULL. */
SB_API const struct sb_meta *sb_frame_meta_get(const struct sb_frame *f, const char *key);

/* Copies all meta entries of src into dst (replacing same keys). */
SB_API int sb_frame_meta_copy(struct sb_frame *dst, const struct sb_frame *src,
			      struct sb_error *err);

/*
 * Encodes f as one MessagePack map and appends it to out.  Checks the frame first
 * (every tensor's data length matches its shape, text count equals rows).
 */
SB_API int sb_frame_encode(const struct sb_frame *f, struct sb_buf *out, struct sb_error *err);

/*
 * Decodes exactly one frame from the n bytes at p (a complete message: what
 * sb_frame_scan() delimited, or one ZeroMQ message) into f (reset first).
 * Every length is bounded by the bytes that remain before anything is allocated;
 * nesting is limited by the schema.  Errors name the byte offset inside the message.
 * SB_EFORMAT for malformed data, SB_EUNSUPPORTED for unknown version or dtype,
 * SB_ELIMIT for shapes whose size overflows.
 */
SB_API int sb_frame_decode(const void *p, size_t n, struct sb_frame *f, struct sb_error *err);

/* The envelope of a frame: what a stream's rules need, without the payload. */
struct sb_frame_head {
	enum sb_kind kind;
	uint64_t seq;                   /* data frames */
	uint64_t rows;                  /* data frames */
	uint64_t rows_total;            /* SB_KIND_END */
};

/*
 * Reads only the top-level keys of one encoded frame into *h, with the checks and
 * messages of sb_frame_decode() on them (version, kind, the keys the kind needs, no
 * key twice, no trailing bytes); tensors, text and meta are skipped, bounded by the
 * bytes there are but not decoded.  Allocates nothing.  *h is zeroed on failure.
 */
SB_API int sb_frame_peek(const void *p, size_t n, struct sb_frame_head *h, struct sb_error *err);

/*
 * Incremental delimiter for concatenated MessagePack objects on a byte stream.
 * Feed it the buffered bytes (always starting at the object's first byte, with
 * n growing between calls); it remembers how far it scanned, so total work is
 * linear in the object size whatever the read sizes.  It allocates nothing and
 * uses no recursion, so a claimed length of 4 GiB or 100000 nested arrays cost
 * nothing until the bytes really arrive.
 */
struct sb_frame_scan {
	size_t pos;             /* bytes of the object scanned so far */
	uint64_t pending;       /* items still to scan */
	size_t max_bytes;       /* refuse objects larger than this (0: default) */
};

/* Starts scanning a new object. */
SB_API void sb_frame_scan_init(struct sb_frame_scan *s, size_t max_bytes);

/*
 * Returns SB_OK and sets *size when the object is complete within p[0..n),
 * SB_EAGAIN when more bytes are needed, SB_ELIMIT when it would exceed
 * max_bytes, SB_EFORMAT on a byte that starts no MessagePack object (0xc1).
 */
SB_API int sb_frame_scan(struct sb_frame_scan *s, const void *p, size_t n, size_t *size,
			 struct sb_error *err);

/*
 * Looks at the first n bytes of a stream that should hold frames (at_eof: the stream
 * ends there), so that a reader can say what was given instead.  SB_OK when they may
 * start a frame (a MessagePack map) or look like nothing in particular (the scanner
 * and the decoder then say what is wrong); SB_EAGAIN when they do not start a map
 * and, with fewer than 6 bytes and more to come, more are needed to tell; SB_EFORMAT
 * with a message saying what they look like and what to run first: text (lines for
 * sb-tokenize) or a .npy array (for sb-cat --from-npy).  At most 512 bytes are read.
 */
SB_API int sb_frame_sniff(const void *p, size_t n, int at_eof, struct sb_error *err);

/* The version of the msgpack-c library linked in ("6.0.0"), for --version. */
SB_API const char *sb_frame_msgpack_version(void);

/* Checks that a decoded frame of kind tokens/hidden/embeddings has the tensors its
 * kind requires with consistent leading dimensions (rows).  Used by stages. */
SB_API int sb_frame_check_tensor(const struct sb_frame *f, const char *name, enum sb_dtype dt,
				 int n_dims, struct sb_tensor **out, struct sb_error *err);

#endif
