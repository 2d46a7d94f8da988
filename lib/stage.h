/*
 * stage.h - the interface every stage implements, and the runner that drives it.
 *
 * A stage maps input frames to output frames.  It knows nothing about file
 * descriptors, sockets, signals or argv: the runner (lib/runner.c) reads frames from
 * the input transport, calls the stage, writes what it emits, handles the `end`
 * frame, end of input, errors and statistics.  So one stage runs in a pipe, as a
 * ZeroMQ peer, as a farm worker, in a unit test, or from a shared object.
 *
 * Options reach a stage as key=value strings (what the program's getopt loop, a farm
 * worker or a plugin runner collected); a stage rejects keys it does not know.
 */
#ifndef SB_STAGE_H
#define SB_STAGE_H

#include "api.h"

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "frame.h"
#include "reader.h"
#include "transport.h"

/*
 * 2 added report and set_io at the end of struct sb_stage.  The runner, the farm worker
 * and sb_stage_load() still take version 1 tables (built before): they never read
 * those two fields of one.
 */
#define SB_STAGE_VERSION 2
#define SB_STAGE_VERSION_MIN 1
#define SB_RUNNER_TEXT_CHUNK ((size_t)1 << 20)

struct sb_kv {
	const char *key;
	const char *value;
};

/* Looks up key in opts; returns the value of the last occurrence or NULL. */
SB_API const char *sb_kv_get(const struct sb_kv *opts, size_t n, const char *key);

/*
 * Parses the value v of option key as a decimal count in [lo, hi] into *out.
 * SB_EINVAL with "STAGE: KEY: 'V' is not a number from LO to HI" otherwise.
 */
SB_API int sb_kv_count(const char *stage, const char *key, const char *v, size_t lo, size_t hi,
		       size_t *out, struct sb_error *err);

/*
 * Checks that every key of opts is one of known[0..n_known).  SB_EINVAL with
 * "STAGE: unknown option 'KEY'" for the first that is not.
 */
SB_API int sb_kv_known(const char *stage, const struct sb_kv *opts, size_t n,
		       const char *const *known, size_t n_known, struct sb_error *err);

/* Parses 1/true/yes and 0/false/no.  SB_EINVAL naming stage, key and value otherwise. */
SB_API int sb_kv_bool(const char *stage, const char *key, const char *v, int *out,
		      struct sb_error *err);

/* Where a stage sends its frames: the runner, a test harness, a farm worker. */
struct sb_emit {
	/* Called once per output frame; f stays owned by the stage and may be reused
	 * as soon as this returns.  Returns SB_OK or an error to abort the run. */
	int (*frame)(void *ctx, const struct sb_frame *f, struct sb_error *err);
	void *ctx;
};

static inline int sb_emit_frame(struct sb_emit *e, const struct sb_frame *f, struct sb_error *err)
{
	return e->frame(e->ctx, f, err);
}

/*
 * What the runner lends a stage besides its input and output: a second input (the
 * corpus of sb-cosine) is opened through it, so it gets the run's transport options
 * (message size limit, CurveZMQ keys, the stop flag of a signal) like the first.
 */
struct sb_stage_io {
	/* Opens the frame stream at spec (a file, -, a ZeroMQ endpoint) into r with
	 * flags (enum sb_reader_flags); read it with sb_reader_next(), close it with
	 * sb_reader_close().  On failure r needs no close. */
	int (*open_input)(const struct sb_stage_io *io, struct sb_reader *r, const char *spec,
			  int flags, struct sb_error *err);
	const struct sb_transport_opts *topts;
};

enum sb_stage_input {
	SB_STAGE_IN_FRAMES,     /* reads a frame stream */
	SB_STAGE_IN_TEXT        /* reads lines; the runner hands it SB_KIND_TEXT frames */
};

struct sb_stage {
	unsigned version;               /* SB_STAGE_VERSION */
	const char *name;               /* "tokenize", "encode", ... */
	enum sb_stage_input input;
	/* Allocates state from options.  SB_EINVAL with a message for bad options. */
	int (*open)(void **state, const struct sb_kv *opts, size_t n_opts, struct sb_error *err);
	/* Processes one input frame (never of kind end), emitting zero or more frames
	 * whose rows cover exactly the input rows, in order. */
	int (*process)(void *state, const struct sb_frame *in, struct sb_emit *out,
		       struct sb_error *err);
	/* Called once at the end of a complete input stream; may emit frames. May be NULL. */
	int (*flush)(void *state, struct sb_emit *out, struct sb_error *err);
	void (*close)(void *state);
	/* Since version 2 (both may be NULL): */
	/* Fills out, the stage's report (a struct its header names, e.g. struct
	 * sb_encode_report), with what it can tell so far: its settings once open, its
	 * counts at the end.  The runner calls it after open and, once the stream has
	 * ended (complete or not), before close, when the program asked for a report. */
	void (*report)(void *state, void *out);
	/* Gives the stage the runner's io, valid until close; called after open, before
	 * the first frame.  A stage that needs no second input leaves it NULL. */
	void (*set_io)(void *state, const struct sb_stage_io *io);
};

/*
 * Where the runner puts a stage's report (struct sb_stage.report): out is the
 * program's struct of the type the stage's header names, or NULL for no report;
 * ready(ctx, final), when set, is called after each filling: once the stage is open
 * (final 0), once before it is closed (final 1).
 */
struct sb_report_to {
	void *out;
	void (*ready)(void *ctx, int final);
	void *ctx;
};

/* Per-run statistics, filled by the runner. */
struct sb_stats {
	uint64_t frames_in, frames_out;
	uint64_t rows_in, rows_out;
	uint64_t bytes_in, bytes_out;
	double seconds_total;           /* wall time of the run so far */
	double seconds_process;         /* inside stage->process/flush */
};

struct sb_runner_opts {
	const char *input;              /* transport spec, "-" default */
	const char *output;             /* transport spec, "-" default */
	struct sb_transport_opts topts;
	size_t batch_rows;              /* text stages: lines per frame (default 32) */
	size_t max_line;                /* text stages: longest line accepted, 0 unlimited */
	size_t text_chunk;              /* text stages: longer lines come in pieces of this
					 * many bytes (frames flagged text_partial /
					 * text_continued); 0: SB_RUNNER_TEXT_CHUNK */
	/* Called about every progress_ms (and once at the end) with the stats so far, so
	 * the program can print progress; lib/ itself never prints. May be NULL. */
	void (*progress)(const struct sb_stats *st, int final, void *ctx);
	void *progress_ctx;
	int progress_ms;
	/* Checked between frames: non-zero stops the run with SB_EINTR. May be NULL. */
	volatile int *stop;
	/* When set, output frames (and the final end frame) go to this sink instead of the
	 * output transport: programs that print text (sb-cosine's TSV) use it. */
	struct sb_emit *sink;
	/* With a sink, when set: the bytes the sink has written so far, read after each
	 * frame, so that the statistics' bytes_out count what a text sink printed. */
	const uint64_t *sink_bytes;
	/* The stage's report, read after open and before close (struct sb_report_to). */
	struct sb_report_to report;
};

SB_API void sb_runner_opts_init(struct sb_runner_opts *o);

/*
 * Runs stage over the whole input: open, process every frame, flush on `end` (or on
 * end of text input), write the `end` frame, close.  A frame stream that ends without
 * `end` is SB_ETRUNCATED ("input ended after frame N at byte B without an end
 * frame"); the output then gets no `end` frame either, so a cut is never passed off as
 * complete.  Errors name the frame number and byte offset.  st may be NULL.
 */
SB_API int sb_run(const struct sb_stage *stage, const struct sb_kv *opts, size_t n_opts,
		  const struct sb_runner_opts *ro, struct sb_stats *st, struct sb_error *err);

/* Loads a stage from a shared object exporting `const struct sb_stage sb_stage`, of
 * interface version SB_STAGE_VERSION_MIN to SB_STAGE_VERSION. */
SB_API int sb_stage_load(const char *path, const struct sb_stage **out, void **handle,
			 struct sb_error *err);

#endif
