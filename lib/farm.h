/*
 * farm.h - the farm: a broker that hands frames to remote workers and writes their
 * results in order, and the worker loop that runs any stage for a farm.
 *
 * The farm is the load-balancing broker with Paranoid Pirate heartbeats of the
 * ZeroMQ guide.  It reads a frame stream (a pipe, a file or a ZeroMQ link), hands
 * each frame to the worker that has been ready longest (ROUTER socket; workers are
 * DEALERs), never gives a worker more frames than the credits it announced, writes
 * the results strictly in input order, re-sends the frames of a worker that stops
 * answering heartbeats, drops duplicate results, and fails with the list of missing
 * seqs when no worker is left for worker_timeout_ms.  It reads input only while the
 * frames it holds (queued, in flight, or finished but waiting for an earlier one)
 * are fewer than twice the credits of the live workers, so memory stays bounded
 * however fast the input and however slow the workers; when that window is full
 * behind one slow frame, an idle worker is given that frame too (first answer wins).
 * The first result accepted pins the provenance of the output (kind, model, pooling,
 * dim, precision...: struct sb_farm_prov); a worker whose results differ is refused
 * for the rest of the run, its frames go to the others, and none of its results is
 * written, so workers of two models never make one silently mixed stream.
 *
 * Wire protocol between farm and worker (every message is multipart; the ROUTER adds
 * the worker identity): part 0 is a 32-byte header
 *
 *     0   4  magic "sbf1"
 *     4   1  command (enum sb_farm_cmd)
 *     5   3  zero
 *     8   4  credits (READY) or number of result frames (RESULT), little-endian
 *     12  4  zero
 *     16  8  request id (REQUEST, RESULT, ERROR), little-endian
 *     24  8  run id: chosen by the farm at start; workers echo it, so results meant
 *            for an earlier farm run are dropped
 *
 * then: REQUEST one encoded sb frame; RESULT that many encoded frames covering the
 * request's rows in order; READY the worker's name (text); ERROR a message (text);
 * REFUSE why the farm will not take this worker's results (text).
 * Encoding a frame is idempotent, so re-sending and dropping duplicates by request id
 * gives every row exactly once.
 *
 * This module (farm.c) keeps the bookkeeping, with no I/O, so it is unit-tested
 * directly; the sockets, threads and loops live in farm_broker.c and farm_worker.c
 * (with the other ZeroMQ files, the only ones that include <zmq.h>).
 */
#ifndef SB_FARM_H
#define SB_FARM_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "errors.h"
#include "stage.h"
#include "transport.h"

/* ---- the farm ---- */

struct sb_farm_opts {
	const char *bind;               /* worker endpoint: "tcp://0.0.0.0:5555", "@ipc://..." */
	const char *input;              /* frame stream in, "-" default */
	const char *output;             /* frame stream out, "-" default */
	struct sb_transport_opts topts; /* keys, allow-list, max message size, --insecure */
	int heartbeat_ms;               /* heartbeat interval both ways (default 1000) */
	int liveness;                   /* heartbeats missed before a worker is dead (3) */
	int worker_timeout_ms;          /* fail after this long with work and no worker (30000) */
	unsigned max_credits;           /* cap on the credits one worker may claim (16) */
	unsigned max_inflight;          /* cap on the frames held in total (256) */
	volatile int *stop;             /* non-zero: stop with SB_EINTR */
	/* Events go to topts.event: SB_EVENT_INFO for workers joining, lost, frames
	 * re-sent, the provenance pinned; SB_EVENT_WARN for a worker refused (results
	 * of another model...) and handshakes that failed. */
};

struct sb_farm_worker_stats {
	char name[64];
	uint64_t frames;                /* results accepted from this worker */
	uint64_t lost;                  /* frames taken back when it was declared dead */
	unsigned credits;               /* as granted (announced, capped by max_credits) */
	unsigned max_inflight;          /* most frames it held at once */
	int alive;
	int refused;                    /* its results differed from the first ones */
};

struct sb_farm_stats {
	uint64_t frames_in, frames_out, rows_in, rows_out;
	uint64_t resent;                /* frames handed out again */
	uint64_t duplicates;            /* results dropped as duplicates */
	uint64_t stale;                 /* results of another farm run, dropped */
	uint64_t hedged;                /* oldest frames also given to an idle worker */
	uint64_t max_held;              /* most frames held at once */
	double seconds;
	size_t n_workers;               /* workers ever seen */
	struct sb_farm_worker_stats *workers;   /* owned; sb_farm_stats_destroy() */
};

void sb_farm_opts_init(struct sb_farm_opts *o);

/*
 * Runs the farm until the input's `end` frame has been answered and written (SB_OK,
 * the output ends with an `end` frame), or fails: SB_ETIMEOUT when no worker was
 * there for worker_timeout_ms (the message lists the seqs not done; refused workers
 * do not count), SB_ETRUNCATED when the input stream was cut (results written so far,
 * no `end`), a worker's error, SB_EINTR on stop.  st (may be NULL) is filled in every
 * case; free it with sb_farm_stats_destroy().
 */
int sb_farm_run(const struct sb_farm_opts *o, struct sb_farm_stats *st, struct sb_error *err);

void sb_farm_stats_destroy(struct sb_farm_stats *st);

/* ---- the worker ---- */

struct sb_worker_opts {
	const char *connect;            /* farm endpoint: ">tcp://head:5555" or "tcp://..." */
	struct sb_transport_opts topts; /* curve_secret/curve_server, max message size */
	unsigned credits;               /* frames the farm may hand us at once (default 2) */
	int heartbeat_ms;               /* default 1000 */
	int liveness;                   /* default 3 */
	int reconnect_max_ms;           /* reconnect backoff cap (default 8000) */
	int max_idle_ms;                /* exit SB_OK after no farm for this long; -1 never */
	const char *name;               /* shown in the farm's statistics; NULL: host:pid */
	volatile int *stop;             /* non-zero: leave cleanly (tell the farm), SB_OK */
	struct sb_report_to report;     /* the stage's report, as sb_runner_opts.report */
};

void sb_worker_opts_init(struct sb_worker_opts *o);

/*
 * Serves a farm with 'stage': connects, announces credits, runs stage->process on
 * every frame received and returns the emitted frames, heartbeats from a separate
 * I/O thread (so a long frame does not look like a dead worker), and reconnects with
 * backoff when the farm goes away.  The stage is opened once with opts.  Returns
 * SB_OK when *stop becomes non-zero or after max_idle_ms without a farm, or an error
 * (stage open failure, bad keys, bad endpoint).  A stage error on one frame is sent
 * to the farm (which fails the run with it) and the worker keeps serving.  A farm
 * that refuses the worker's results (REFUSE) is reported through topts.event as a
 * warning; the worker keeps serving (the next run may take it).  st may be NULL.
 */
int sb_worker_run(const struct sb_stage *stage, const struct sb_kv *opts, size_t n_opts,
		  const struct sb_worker_opts *wo, struct sb_stats *st, struct sb_error *err);

/* ---- internals shared by farm.c and the ZeroMQ files (not a stable API) ---- */

#define SB_FARM_MAGIC "sbf1"
#define SB_FARM_HDR_SIZE 32
#define SB_FARM_MAX_PARTS 4096          /* result frames per request */

enum sb_farm_cmd {
	SB_FARM_READY = 1,      /* W->F: credits, name */
	SB_FARM_REQUEST = 2,    /* F->W: id, frame */
	SB_FARM_RESULT = 3,     /* W->F: id, n frames */
	SB_FARM_HEARTBEAT = 4,  /* both ways */
	SB_FARM_BYE = 5,        /* W->F: leaving; F->W: the run is over */
	SB_FARM_RESET = 6,      /* F->W: unknown worker, announce yourself again */
	SB_FARM_ERROR = 7,      /* W->F: id, message */
	SB_FARM_REFUSE = 8      /* F->W: your results are not taken in this run; why */
};

struct sb_farm_hdr {
	enum sb_farm_cmd cmd;
	uint32_t count;
	uint64_t id;
	uint64_t run;
};

void sb_farm_hdr_pack(const struct sb_farm_hdr *h, unsigned char out[SB_FARM_HDR_SIZE]);
/* SB_EFORMAT unless p is exactly one valid header. */
int sb_farm_hdr_unpack(const void *p, size_t n, struct sb_farm_hdr *h, struct sb_error *err);

/* What a farm or a ZeroMQ reader needs from a frame without decoding its tensors. */
struct sb_farm_peek {
	int is_end;
	uint64_t seq, rows, rows_total;
};

/*
 * Reads the top-level keys of an encoded frame: kind, seq, rows, rows_total, with the
 * checks and messages of sb_frame_peek().  Allocates nothing.
 */
int sb_farm_peek(const void *p, size_t n, struct sb_farm_peek *out, struct sb_error *err);

/*
 * Provenance of a result frame: the values that make two results incomparable, by
 * index: 0 kind (top level), then the meta keys model_fingerprint, model, model_type,
 * dim, pooling, normalized, precision, metric, tokenizer_fingerprint, max_seq_length,
 * truncation.  As sb-cosine does, a key missing on either side proves nothing, and
 * fingerprints decide when both sides have one (the same weights may sit in two
 * folders): model names are compared only otherwise.
 */
#define SB_FARM_PROV_KEYS 12

struct sb_farm_prov {
	uint32_t present;                       /* bit k: key k was found */
	uint64_t hash[SB_FARM_PROV_KEYS];       /* FNV-1a of the value's MessagePack bytes */
	char shown[SB_FARM_PROV_KEYS][72];      /* the value as printable text, for messages */
};

/* Reads the provenance of one encoded frame.  SB_EFORMAT when it is not a frame map.
 * Allocates nothing. */
int sb_farm_prov_read(const void *p, size_t n, struct sb_farm_prov *out, struct sb_error *err);

/*
 * SB_OK when results of provenance got may go in one stream with those of want; else
 * SB_EMISMATCH with a message naming the first key that differs and both values:
 * "model 'b' (fnv1a64:...), the first results' 'a' (fnv1a64:...)".
 */
int sb_farm_prov_check(const struct sb_farm_prov *want, const struct sb_farm_prov *got,
		       struct sb_error *err);

/* Writes the provenance as "kind hidden, model 'm' (fp), dim 32, ..." into buf. */
void sb_farm_prov_show(const struct sb_farm_prov *p, char *buf, size_t cap);

/*
 * The broker's bookkeeping.  Requests get ids 0, 1, 2... in input order; a request
 * is pending (waiting for a worker), in flight at one worker, done (results held
 * until every earlier request is done) or released (handed to the output).
 */
enum sb_farm_req_state { SB_FARM_PENDING, SB_FARM_INFLIGHT, SB_FARM_DONE };

struct sb_farm_req {
	enum sb_farm_req_state state;
	uint64_t seq, rows;             /* of the input frame */
	int worker;                     /* index in workers[] while in flight */
	struct sb_buf in;               /* the encoded input frame */
	struct sb_buf *out;             /* result frames, n_out of them */
	size_t n_out;
	uint64_t out_rows;
	int sent;                       /* times handed out */
};

struct sb_farm_wk {
	unsigned char ident[256];       /* ZeroMQ routing id */
	size_t ident_len;
	char name[64];
	unsigned credits;
	unsigned n_inflight;
	unsigned max_inflight;          /* most it held at once, for statistics */
	uint64_t *inflight;             /* request ids, credits of them */
	uint64_t ready_stamp;           /* smaller: ready longer (load balancing) */
	double expires;                 /* declared dead after this time */
	double next_hb;                 /* next heartbeat to send */
	int alive;
	int refused;                    /* refused for results of another provenance */
	uint64_t frames, lost;
};

struct sb_farm_core {
	struct sb_farm_req *ring;       /* requests [base, next) at index id % ring_cap */
	size_t ring_cap;
	uint64_t base, next;
	uint64_t released_unacked;      /* released to the output, not yet written */
	struct sb_farm_wk *workers;
	size_t n_workers, cap_workers;
	uint64_t stamp;
	unsigned max_credits, max_inflight;
	uint64_t resent, duplicates, hedged;
	int pinned;                     /* the first result accepted set pin */
	struct sb_farm_prov pin;
	char pin_worker[64];            /* name of the worker whose result set it */
};

void sb_farm_core_init(struct sb_farm_core *c, unsigned max_credits, unsigned max_inflight);
void sb_farm_core_destroy(struct sb_farm_core *c);

/* Frames the farm holds: pending + in flight + done + released but unwritten. */
uint64_t sb_farm_core_held(const struct sb_farm_core *c);

/* Sum of the credits of live workers, capped at max_inflight.  The farm reads input
 * while it holds fewer than twice this: one credit's worth in flight, one waiting in
 * the reorder buffer. */
uint64_t sb_farm_core_capacity(const struct sb_farm_core *c);

/* Finds a live worker by routing id; -1 if none. */
int sb_farm_core_find(const struct sb_farm_core *c, const void *ident, size_t len);

/* The worker that sent a message with this routing id: the live one, else the last
 * one given up under it (its answers to frames it held can still arrive); -1 if
 * none. */
int sb_farm_core_sender(const struct sb_farm_core *c, const void *ident, size_t len);

/* Adds a live worker; returns its index or a negative status. */
int sb_farm_core_add_worker(struct sb_farm_core *c, const void *ident, size_t len,
			    const char *name, unsigned credits, double expires,
			    struct sb_error *err);

/* Declares worker w dead; its in-flight requests become pending again (resent
 * counts them).  Returns how many were taken back. */
unsigned sb_farm_core_lose_worker(struct sb_farm_core *c, int w);

/* Appends an input frame (copied) as a new pending request; returns its id via *id. */
int sb_farm_core_add(struct sb_farm_core *c, const void *p, size_t n, uint64_t seq,
		     uint64_t rows, uint64_t *id, struct sb_error *err);

/*
 * Picks the oldest pending request and the live worker with a free credit that has
 * been ready longest.  Returns 1 and marks the request in flight (the caller sends
 * it), or 0 when there is nothing to do.
 */
int sb_farm_core_dispatch(struct sb_farm_core *c, int *w, uint64_t *id);

/*
 * Head-of-line relief: when the reorder buffer is full and the oldest request is
 * still in flight (at a slow or stuck worker) while another worker has a free credit,
 * picks that worker to do it too: the first result wins, the other is dropped as a
 * duplicate.  Each request is handed out at most twice this way.  Returns 1 with
 * *w and *id set (the caller sends it), else 0.
 */
int sb_farm_core_hedge(struct sb_farm_core *c, int *w, uint64_t *id);

/* The request with this id, or NULL if it is not held (released or never read). */
struct sb_farm_req *sb_farm_core_req(struct sb_farm_core *c, uint64_t id);

/*
 * Records worker w's result for id (w -1: from a worker no longer known).  Takes
 * ownership of parts[0..n) (each buffer is moved; the caller's array entries are
 * emptied) when accepted.  Returns 1 when accepted, 0 for a duplicate (dropped;
 * the parts are left to the caller), SB_EFORMAT when the rows do not match the
 * request, or SB_EMISMATCH when the result's provenance differs from the pinned one
 * (the first accepted result pins it; a duplicate is checked too): the result is
 * dropped and, if the request was in flight at w alone, it is pending again; the
 * caller refuses the worker.  A result
 * returns one credit to w when id was in flight there.
 */
int sb_farm_core_result(struct sb_farm_core *c, int w, uint64_t id, struct sb_buf *parts,
			size_t n, struct sb_error *err);

/*
 * If the oldest held request is done, moves it out: *out gets its result buffers
 * (caller frees each and the array), returns 1; else 0.
 */
int sb_farm_core_pop(struct sb_farm_core *c, struct sb_buf **out, size_t *n_out,
		     uint64_t *rows);

/* Whether a worker still alive holds a request: after the last result, only the
 * second copy of a hedged frame (whose answer will be a duplicate). */
int sb_farm_core_outstanding(const struct sb_farm_core *c);

/* Writes "seq A-B, C-D" ranges of every held request not yet released into buf
 * (NUL-terminated, at most cap bytes, "..." when cut). */
void sb_farm_core_missing(const struct sb_farm_core *c, char *buf, size_t cap);

#endif
