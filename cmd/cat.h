/*
 * cat.h - what the files of sb-cat share: the options, the reading and building
 * state, and the error path.  sb-cat.c parses the command line and runs one mode;
 * cat_read.c reads streams, cat_print.c formats JSON and TSV, cat_npy.c writes .npy,
 * cat_build.c and cat_build_tsv.c build streams, cat_err.c ends a failed run.
 */
#ifndef SB_CMD_CAT_H
#define SB_CMD_CAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "errors.h"
#include "frame.h"
#include "tensor.h"
#include "transport.h"

/* Frame data is little-endian on the wire and read here with memcpy. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "sb-cat assumes a little-endian host"
#endif

#define PROG "sb-cat"
#define MAX_INPUTS 64

enum mode { M_JSON, M_TSV, M_NPY, M_CHECK, M_FRAMES, M_FROM_NPY, M_FROM_TSV };

struct npy_in {
	const char *name;       /* tensor name */
	const char *path;
	FILE *fp;
	enum sb_dtype dtype;    /* dtype in the frames */
	int f64;                /* file holds float64: converted to float32 */
	int n_dims;
	size_t shape[SB_TENSOR_MAX_DIMS];
	size_t row_bytes;       /* bytes of one row in the file */
};

struct opts {
	enum mode mode;
	const char *inputs[MAX_INPUTS];
	size_t n_inputs;
	const char *output;     /* NULL: stdout */
	int full;
	int with_text;
	int unpad;
	int quiet;
	const char *tensor;     /* --tsv / --npy NAME */
	struct npy_in npy[SB_FRAME_MAX_TENSORS];
	size_t n_npy;
	const char *from_tsv;
	const char *from_tsv_name;
	const char *text_file;
	enum sb_kind kind;
	size_t batch;
	const char *meta[SB_FRAME_MAX_META];
	size_t n_meta;
	struct sb_transport_opts topts; /* ZeroMQ keys, limits, timeout */
	int salvage;            /* -F: keep the whole frames of cut inputs */
	const char *model;      /* reading: token ids are shown as the model's tokens */
	size_t dim;             /* --npy: width of an empty array (0: unknown) */
};

/* ---------------------------------------------- the error path (cat_err.c) */

/* Where output goes, for messages ("stdout" or the -o file). */
extern const char *out_name;
/* A file to remove when we fail (a partial .npy). */
extern const char *out_unlink;
/* --frames: the output whose whole frames are flushed when we fail. */
extern struct sb_transport *out_frames;

/* Prints "sb-cat: message" and exits 1, leaving the output as whole frames. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* die() with err's message. */
void die_err(const struct sb_error *err) __attribute__((noreturn));
/* The reader of our output went away: ends as SIGPIPE would. */
void output_gone(void) __attribute__((noreturn));
/* A write failed with errnum: EPIPE ends quietly, anything else dies. */
void write_error(int errnum) __attribute__((noreturn));
/* Writes all of p to out or dies. */
void put(FILE *out, const void *p, size_t n);
/* Flushes and closes out (syncs standard output when it is a file) or dies. */
void finish_output(FILE *out);
/* Prints "sb-cat: message" and the usage on stderr; exits 2 (sb-cat.c). */
void bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ----------------------------------------------- text output (cat_print.c) */

/* Formatting appends to one buffer per frame; an allocation failure is recorded
 * and checked once the frame is formatted. */
struct out {
	struct sb_buf b;
	int failed;
};

/* -m MODEL: the tokenizer that turns ids into token strings (NULL without -m), MODEL as
 * given, and its fingerprint as the tokens frames' meta spells it (set by sb-cat.c). */
extern struct sb_tokenizer *tok;
extern const char *tok_name;
extern char tok_fingerprint[24];

/* Value i of a float tensor as a double (NaN for other dtypes). */
double get_f(const struct sb_tensor *t, size_t i);
/* f as one JSON line; full: every value, else a summary; where names f in messages. */
void o_frame_json(struct out *o, const struct sb_frame *f, int full, const char *where);
/* Tensor name of f, with at least one dimension, or dies naming where. */
const struct sb_tensor *want_tensor(const struct sb_frame *f, const char *name,
				    const char *where);

/* ---------------------------------------------------- reading (cat_read.c) */

struct reader {
	const struct opts *o;
	FILE *out;
	struct out line;
	struct sb_frame *f;             /* the frame being shown: the stream reader's */
	/* --check: counts of the current input */
	uint64_t frames, rows;
	/* --npy */
	int npy_fd;
	int npy_seekable;
	int npy_started;
	enum sb_dtype npy_dtype;        /* dtype in the file (bfloat16 widened to float32) */
	enum sb_dtype npy_src;          /* dtype in the frames */
	int npy_dims;
	size_t npy_shape[SB_TENSOR_MAX_DIMS];
	uint64_t npy_rows;
	size_t npy_header;
	struct sb_buf npy_buf;          /* data, when the output cannot seek */
	/* --frames */
	struct sb_transport *fout;
	struct sb_buf enc;
	uint64_t out_rows;
	int out_kind;                   /* kind of the first data frame, or -1 */
};

/* Reads every input of o and prints, converts, checks or joins it as o->mode says. */
void run_reader(const struct opts *o);
/* --tsv: the tensor of r->f as TSV lines into r->line (cat_print.c). */
void tsv_frame(struct reader *r, const char *where);
/* --npy: appends the tensor of r->f to the .npy output (cat_npy.c). */
void npy_frame(struct reader *r, const char *where);
/* --npy: writes the final header and closes the output (cat_npy.c). */
void npy_finish(struct reader *r);

/* -------------------------------------------------- building (cat_build.c) */

struct writer {
	const struct opts *o;
	struct sb_transport *t;
	struct sb_frame f;
	struct sb_buf enc;
	struct sb_linereader *texts;
	uint64_t seq;
	struct sb_error err;
};

/* The tensor name a frame of kind k gets when --from-npy or --from-tsv gives none. */
const char *default_name(enum sb_kind k);
/* Opens -o (and --text) for the frames built. */
void writer_open(struct writer *w, const struct opts *o);
/* Sends w->f, encoded. */
void writer_send(struct writer *w);
/* Starts a data frame of n rows in w->f. */
void writer_begin(struct writer *w, size_t n);
/* Sends the end frame and closes the output. */
void writer_end(struct writer *w);
/* --from-npy: frames from .npy arrays. */
void run_from_npy(struct opts *o);
/* --from-tsv: frames from TSV lines (cat_build_tsv.c). */
void run_from_tsv(const struct opts *o);

#endif
