/*
 * farm_broker.c - the socket side of sb-farm: a ROUTER that workers connect to,
 * credit-based hand-out of the input frames, heartbeats, re-sending the frames of a
 * worker that went quiet, and the results put back in input order.  The input and the
 * output run in threads of their own (pumps) behind inproc pairs.  The bookkeeping
 * (which frame is where, duplicates, the provenance pin) is farm.c's.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "reader.h"
#include "zmq_impl.h"

/* ---- the farm ---- */

void sb_farm_opts_init(struct sb_farm_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->input = "-";
	o->output = "-";
	o->topts.timeout_ms = -1;
	o->heartbeat_ms = 1000;
	o->liveness = 3;
	o->worker_timeout_ms = 30000;
	o->max_credits = 16;
	o->max_inflight = 256;
}

void sb_farm_stats_destroy(struct sb_farm_stats *st)
{
	if (st == NULL)
		return;
	free(st->workers);
	st->workers = NULL;
	st->n_workers = 0;
}

/*
 * Pump threads move frames between a transport (blocking I/O) and the farm loop
 * (an inproc PAIR), so the loop never blocks on a pipe and keeps heartbeating.
 * Input thread: for each SB_PAIR_GRANT reads one frame and answers SB_PAIR_FRAME
 * and the frame, SB_PAIR_END at the end, or SB_PAIR_FAIL.  Output thread: writes
 * the frames of each SB_PAIR_DATA and answers SB_PAIR_WRITTEN; writes and flushes
 * the end frame of SB_PAIR_END and answers SB_PAIR_FLUSHED; SB_PAIR_FAIL when a
 * write fails.  SB_PAIR_QUIT stops either.
 */
struct pump {
	void *ctx;
	char addr[96];
	struct sb_transport *t;
	struct sb_reader rd;            /* input: t read by the stream's rules, envelopes */
	volatile int *quit;             /* input from a link: its stop flag (pump_stop) */
	pthread_t thread;
	int started;
	volatile int busy;      /* input: inside sb_transport_recv */
};

/* Runs if the thread is cancelled inside a blocking read: the context cannot be
 * terminated while this thread's socket is open. */
static void pump_in_cleanup(void *arg)
{
	sb_zmq_close(arg, 0);
}

/*
 * Reads the next input frame and tells the loop what it was.  The input is read by the
 * stream reader (envelopes only: the frames are passed on as they are), so a gap in
 * seq, a wrong rows_total or a cut input is refused here with its standard message.
 */
static void pump_in_one(struct pump *pm, void *s)
{
	struct sb_error err;
	const struct sb_frame *f = &pm->rd.f;

	sb_error_clear(&err);
	pm->busy = 1;
	int rc = sb_reader_next(&pm->rd, &err);
	pm->busy = 0;
	if (rc == SB_EINTR)
		rc = sb_reader_next(&pm->rd, &err);
	if (rc != SB_OK) {
		sb_pair_fail(s, rc, err.msg);
	} else if (f->kind == SB_KIND_END) {
		sb_pair_send(s, SB_PAIR_END, f->rows_total, 0, 0, 0);
	} else {
		sb_pair_send(s, SB_PAIR_FRAME, f->seq, f->rows, 1, 0);
		zmq_send(s, pm->rd.msg, pm->rd.len, 0);
	}
}

static void *pump_in_main(void *arg)
{
	struct pump *pm = arg;
	void *s = zmq_socket(pm->ctx, ZMQ_PAIR);

	if (s == NULL || zmq_connect(s, pm->addr) != 0) {
		sb_zmq_close(&s, 0);
		return NULL;
	}
	pthread_cleanup_push(pump_in_cleanup, &s);
	for (;;) {
		zmq_msg_t m;
		struct sb_pair_msg pm_msg;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, s, 0) < 0) {
			zmq_msg_close(&m);
			if (errno == EINTR)
				continue;
			break;
		}
		int grant = sb_pair_decode(&m, &pm_msg) == 0 && pm_msg.type == SB_PAIR_GRANT;
		zmq_msg_close(&m);
		if (!grant)
			break;
		pump_in_one(pm, s);
	}
	pthread_cleanup_pop(1);
	return NULL;
}

/* Writes the remaining parts of the message on s (all of them, to keep the pair in
 * step, but nothing more once a write failed). */
static int pump_out_write(struct pump *pm, void *s, int more, int *failed, struct sb_error *err)
{
	int rc = SB_OK;

	while (more) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		zmq_msg_recv(&m, s, 0);
		more = zmq_msg_more(&m);
		if (!*failed && rc == SB_OK) {
			rc = sb_transport_send(pm->t, zmq_msg_data(&m), zmq_msg_size(&m), err);
			if (rc == SB_EINTR)
				rc = sb_transport_send(pm->t, zmq_msg_data(&m), zmq_msg_size(&m),
						       err);
		}
		zmq_msg_close(&m);
	}
	return rc;
}

static void *pump_out_main(void *arg)
{
	struct pump *pm = arg;
	void *s = zmq_socket(pm->ctx, ZMQ_PAIR);
	struct sb_error err;
	int failed = 0;

	if (s == NULL || zmq_connect(s, pm->addr) != 0)
		return NULL;
	for (;;) {
		zmq_msg_t m;
		struct sb_pair_msg h;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, s, 0) < 0) {
			zmq_msg_close(&m);
			if (errno == EINTR)
				continue;
			break;
		}
		int ok = sb_pair_decode(&m, &h) == 0;
		int more = zmq_msg_more(&m);
		zmq_msg_close(&m);
		if (!ok || h.type == SB_PAIR_QUIT)
			break;
		sb_error_clear(&err);
		int rc = pump_out_write(pm, s, more, &failed, &err);
		if (failed)
			continue;
		if (rc == SB_OK && h.type == SB_PAIR_END)
			rc = sb_transport_flush(pm->t, &err);
		if (rc != SB_OK) {
			failed = 1;
			sb_pair_fail(s, rc, err.msg);
		} else {
			sb_pair_send(s, h.type == SB_PAIR_END ? SB_PAIR_FLUSHED : SB_PAIR_WRITTEN, 0,
				     0, 0, 0);
		}
	}
	sb_zmq_close(&s, 0);
	return NULL;
}

/* A worker refused for results of another provenance, known by routing id and name
 * (it comes back under a new routing id when it reconnects). */
struct refused {
	unsigned char ident[256];
	size_t ident_len;
	char name[64];
	char why[400];
};

#define FARM_REFUSED_MAX 64

struct farm {
	const struct sb_farm_opts *o;
	void *ctx;
	void *front;
	struct sb_zmq_monitor mon;     /* of front: handshakes that fail */
	void *in_s, *out_s;
	struct pump in, out;
	volatile int in_quit;           /* the input link's stop flag (pump.quit) */
	struct sb_farm_core core;
	uint64_t run;
	double hb_s, dead_s;
	struct sb_farm_stats *st;
	struct refused *refused;
	size_t n_refused;

	/* Where the run stands. */
	int in_done;            /* the input pump has said END or FAIL */
	int in_asked;           /* a GRANT is out: the input pump reads a frame */
	int in_fail;            /* the input's status once done */
	char in_msg[SB_ERROR_MSG_MAX];
	uint64_t rows_in;       /* rows of the input frames read so far */
	uint64_t rows_out;      /* rows handed to the output pump */
	int end_sent;           /* the end frame went to the output pump */
	int finished;           /* the output pump has flushed the end frame */
	double drain_until;     /* then: how long to wait for answers in flight */
	double no_worker_since; /* 0 while there is a worker (or nothing left to do) */
	int told_no_worker;
};

#define farm_event(f, ...) sb_zmq_event(&(f)->o->topts, SB_EVENT_INFO, __VA_ARGS__)
#define farm_warn(f, ...) sb_zmq_event(&(f)->o->topts, SB_EVENT_WARN, __VA_ARGS__)

static int farm_send_req(struct farm *f, int wi, uint64_t id)
{
	struct sb_farm_wk *w = &f->core.workers[wi];
	struct sb_farm_req *r = sb_farm_core_req(&f->core, id);
	struct sb_farm_hdr h = { SB_FARM_REQUEST, 0, id, f->run };

	if (sb_zmq_send_hdr(f->front, w->ident, w->ident_len, &h, 1) != 0 ||
	    zmq_send(f->front, r->in.data, r->in.len, ZMQ_DONTWAIT) < 0)
		return -1;
	/* From this line on the worker holds a frame: tests wait for it before they
	 * stop or kill a worker, rather than hoping a sleep was long enough. */
	if (w->frames == 0 && w->n_inflight == 1)
		farm_event(f, "worker %s was handed its first frame (seq %" PRIu64 ")", w->name,
			   r->seq);
	return 0;
}

static void farm_send_simple(struct farm *f, const void *ident, size_t len, enum sb_farm_cmd cmd)
{
	struct sb_farm_hdr h = { cmd, 0, 0, f->run };

	sb_zmq_send_hdr(f->front, ident, len, &h, 0);
}

static void farm_lose(struct farm *f, int wi, const char *why)
{
	unsigned n = sb_farm_core_lose_worker(&f->core, wi);

	farm_event(f, "worker %s %s: %u frames handed out again", f->core.workers[wi].name, why, n);
}

/* The refused worker with this routing id or (when name is not NULL) this name. */
static struct refused *refused_find(struct farm *f, const void *ident, size_t len,
				    const char *name)
{
	for (size_t i = 0; i < f->n_refused; i++) {
		struct refused *r = &f->refused[i];
		if ((r->ident_len == len && memcmp(r->ident, ident, len) == 0) ||
		    (name != NULL && strcmp(r->name, name) == 0))
			return r;
	}
	return NULL;
}

/* Remembers a refused worker; past FARM_REFUSED_MAX the oldest is forgotten. */
static struct refused *refused_add(struct farm *f, const void *ident, size_t len,
				   const char *name, const char *why)
{
	struct refused *r;

	if (f->refused == NULL && (f->refused = calloc(FARM_REFUSED_MAX, sizeof(*r))) == NULL)
		return NULL;
	if (f->n_refused == FARM_REFUSED_MAX) {
		memmove(f->refused, f->refused + 1, (FARM_REFUSED_MAX - 1) * sizeof(*r));
		f->n_refused--;
	}
	r = &f->refused[f->n_refused++];
	memset(r, 0, sizeof(*r));
	if (len > sizeof(r->ident))
		len = sizeof(r->ident);
	memcpy(r->ident, ident, len);
	r->ident_len = len;
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->why, sizeof(r->why), "%s", why);
	return r;
}

static void farm_send_refuse(struct farm *f, const void *ident, size_t len, const char *why)
{
	struct sb_farm_hdr h = { SB_FARM_REFUSE, 0, 0, f->run };

	if (sb_zmq_send_hdr(f->front, ident, len, &h, 1) == 0)
		zmq_send(f->front, why, strlen(why), ZMQ_DONTWAIT);
}

/*
 * Refuses worker wi for the rest of the run: its result differs in provenance from
 * the first ones (why says how).  None of its results is written; what it held goes
 * to the other workers; it is told why, and ignored when it comes back.
 */
static void farm_refuse(struct farm *f, int wi, const char *why, uint64_t lost_before)
{
	struct sb_farm_wk *w = &f->core.workers[wi];
	char text[400];

	snprintf(text, sizeof(text), "results of %s (worker %s)", why, f->core.pin_worker);
	sb_farm_core_lose_worker(&f->core, wi);
	w->refused = 1;
	farm_warn(f, "worker %s refused for the rest of the run: %s; %" PRIu64 " frames handed "
		  "to the other workers, none of its results written", w->name, text,
		  w->lost - lost_before);
	refused_add(f, w->ident, w->ident_len, w->name, text);
	farm_send_refuse(f, w->ident, w->ident_len, text);
}

/* A message from a worker: routing id, header, then the parts after the header. */
struct wmsg {
	const void *ident;
	size_t ident_len;
	struct sb_farm_hdr h;
	zmq_msg_t *parts;       /* the parts after the header */
	size_t n_parts;
	int wi;                 /* the worker's index, or -1 when not known */
};

/*
 * Refuses the sender of a result of another provenance: worker wm->wi, or, when the
 * farm had already given it up (wi < 0: silent past --liveness on a loaded machine,
 * its answer late), the worker it was, so that it is refused when it comes back
 * rather than given frames again.  A worker already refused is not refused twice.
 */
static void farm_refuse_sender(struct farm *f, const struct wmsg *wm, const char *why,
			       uint64_t lost_before)
{
	int wi = wm->wi;
	int who = wi >= 0 ? wi : sb_farm_core_sender(&f->core, wm->ident, wm->ident_len);

	if (who < 0 || f->core.workers[who].refused)
		return;
	farm_refuse(f, who, why, who == wi ? lost_before : f->core.workers[who].lost);
}

/* READY: a worker announces itself (again), with its credits and name. */
static int on_ready(struct farm *f, struct wmsg *wm, struct sb_error *err)
{
	char name[64];
	size_t nl = wm->n_parts > 0 ? zmq_msg_size(&wm->parts[0]) : 0;
	double now = sb_zmq_now();

	(void)err;
	if (nl >= sizeof(name))
		nl = sizeof(name) - 1;
	if (nl)
		memcpy(name, zmq_msg_data(&wm->parts[0]), nl);
	name[nl] = '\0';
	for (size_t i = 0; i < nl; i++)
		if (name[i] < 0x20 || name[i] == 0x7f)
			name[i] = '?';
	struct refused *rf = refused_find(f, wm->ident, wm->ident_len, nl ? name : NULL);
	if (rf != NULL) {
		/* Back under a new routing id: still refused in this run. */
		if (rf->ident_len != wm->ident_len ||
		    memcmp(rf->ident, wm->ident, wm->ident_len) != 0)
			rf = refused_add(f, wm->ident, wm->ident_len, rf->name, rf->why);
		if (rf != NULL)
			farm_send_refuse(f, wm->ident, wm->ident_len, rf->why);
		if (wm->wi >= 0)
			farm_lose(f, wm->wi, "was refused before");
		return SB_OK;
	}
	if (wm->wi >= 0)
		farm_lose(f, wm->wi, "announced itself again");
	int wi = sb_farm_core_add_worker(&f->core, wm->ident, wm->ident_len, nl ? name : "?",
					 wm->h.count, now + f->dead_s, NULL);
	if (wi >= 0) {
		f->core.workers[wi].next_hb = now + f->hb_s;
		farm_event(f, "worker %s joined with %u credits", f->core.workers[wi].name,
			   f->core.workers[wi].credits);
	}
	return SB_OK;
}

static int on_heartbeat(struct farm *f, struct wmsg *wm, struct sb_error *err)
{
	(void)err;
	if (wm->wi < 0)
		farm_send_simple(f, wm->ident, wm->ident_len, SB_FARM_RESET);
	return SB_OK;
}

static int on_bye(struct farm *f, struct wmsg *wm, struct sb_error *err)
{
	(void)err;
	if (wm->wi >= 0)
		farm_lose(f, wm->wi, "left");
	return SB_OK;
}

/* Copies the result's parts out of their messages; NULL when out of memory. */
static struct sb_buf *result_parts(const struct wmsg *wm, struct sb_error *err)
{
	struct sb_buf *parts = calloc(wm->n_parts ? wm->n_parts : 1, sizeof(*parts));

	if (parts == NULL) {
		sb_error_set(err, SB_ENOMEM, "farm: out of memory");
		return NULL;
	}
	for (size_t i = 0; i < wm->n_parts; i++) {
		sb_buf_init(&parts[i]);
		if (sb_buf_append(&parts[i], zmq_msg_data(&wm->parts[i]),
				  zmq_msg_size(&wm->parts[i]), err) != SB_OK) {
			for (size_t k = 0; k <= i; k++)
				sb_buf_destroy(&parts[k]);
			free(parts);
			return NULL;
		}
	}
	return parts;
}

/* RESULT: the frames a worker made of one request. */
static int on_result(struct farm *f, struct wmsg *wm, struct sb_error *err)
{
	int wi = wm->wi, rc = SB_OK;

	if (wm->h.run != f->run) {
		f->st->stale++;
		return SB_OK;
	}
	if (wm->h.count != wm->n_parts)
		return SB_OK;
	/* libzmq's own limit is raised to let handshakes in: check ours here. */
	size_t limit = sb_zmq_max_msg_bytes(&f->o->topts), big = 0;
	for (size_t i = 0; i < wm->n_parts; i++)
		if (zmq_msg_size(&wm->parts[i]) > limit)
			big = zmq_msg_size(&wm->parts[i]);
	if (big > 0) {
		if (wi >= 0) {
			farm_warn(f, "worker %s sent a result frame of %zu bytes, over the limit "
				  "of %zu (--max-msg-bytes): dropped", f->core.workers[wi].name, big,
				  limit);
			farm_lose(f, wi, "sent too large a result");
		}
		return SB_OK;
	}
	struct sb_buf *parts = result_parts(wm, err);
	if (parts == NULL)
		return SB_ENOMEM;
	int pinned = f->core.pinned;
	uint64_t lost_before = wi >= 0 ? f->core.workers[wi].lost : 0;
	struct sb_error rerr;
	sb_error_clear(&rerr);
	int acc = sb_farm_core_result(&f->core, wi, wm->h.id, parts, wm->n_parts, &rerr);
	if (acc == SB_EMISMATCH) {
		farm_refuse_sender(f, wm, rerr.msg, lost_before);
	} else if (acc < 0) {
		*err = rerr;
		rc = sb_error_prefix(err, "worker %s: ", wi >= 0 ? f->core.workers[wi].name : "?");
	} else if (acc == 1 && !pinned && f->core.pinned) {
		char shown[400];
		sb_farm_prov_show(&f->core.pin, shown, sizeof(shown));
		farm_event(f, "the first results, from worker %s, set what every result must "
			   "match: %s", f->core.pin_worker, shown);
	}
	for (size_t i = 0; i < wm->n_parts; i++)
		sb_buf_destroy(&parts[i]);
	free(parts);
	if (wi < 0)
		farm_send_simple(f, wm->ident, wm->ident_len, SB_FARM_RESET);
	return rc;
}

/* ERROR: a worker could not process a frame (a bad frame: the run fails). */
static int on_error(struct farm *f, struct wmsg *wm, struct sb_error *err)
{
	if (wm->h.run != f->run)
		return SB_OK;
	struct sb_farm_req *r = sb_farm_core_req(&f->core, wm->h.id);
	size_t ml = wm->n_parts > 0 ? zmq_msg_size(&wm->parts[0]) : 0;
	if (ml > 400)
		ml = 400;
	return sb_error_set(err, SB_EFORMAT, "worker %s: frame at seq %" PRIu64 ": %.*s",
			    wm->wi >= 0 ? f->core.workers[wm->wi].name : "?", r ? r->seq : 0,
			    (int)ml, ml ? (const char *)zmq_msg_data(&wm->parts[0]) : "");
}

/* The handler of each command a worker sends (the others are ignored). */
static int (*const worker_handlers[])(struct farm *, struct wmsg *, struct sb_error *) = {
	[SB_FARM_READY] = on_ready,
	[SB_FARM_HEARTBEAT] = on_heartbeat,
	[SB_FARM_BYE] = on_bye,
	[SB_FARM_RESULT] = on_result,
	[SB_FARM_ERROR] = on_error,
};

/* Handles one message from a worker.  Returns SB_OK or a fatal status. */
static int farm_on_worker(struct farm *f, struct sb_error *err)
{
	zmq_msg_t m[SB_FARM_MAX_PARTS + 2];
	struct wmsg wm;
	int n, rc = SB_OK;

	if (sb_zmq_recv_multi(f->front, m, SB_FARM_MAX_PARTS + 2, &n) != 0)
		return SB_OK;
	if (n > SB_FARM_MAX_PARTS + 1 || n < 2)
		goto out;       /* malformed: ignore (the ROUTER already checked the peer) */
	if (sb_farm_hdr_unpack(zmq_msg_data(&m[1]), zmq_msg_size(&m[1]), &wm.h, NULL) != SB_OK)
		goto out;
	wm.ident = zmq_msg_data(&m[0]);
	wm.ident_len = zmq_msg_size(&m[0]);
	wm.parts = m + 2;
	wm.n_parts = (size_t)n - 2;
	wm.wi = sb_farm_core_find(&f->core, wm.ident, wm.ident_len);
	if (wm.wi >= 0)
		f->core.workers[wm.wi].expires = sb_zmq_now() + f->dead_s;
	if (wm.wi < 0 && wm.h.cmd != SB_FARM_READY &&
	    refused_find(f, wm.ident, wm.ident_len, NULL) != NULL)
		goto out;       /* a refused worker: not asked to announce itself again */
	if ((size_t)wm.h.cmd < sizeof(worker_handlers) / sizeof(worker_handlers[0]) &&
	    worker_handlers[wm.h.cmd] != NULL)
		rc = worker_handlers[wm.h.cmd](f, &wm, err);
out:
	sb_zmq_close_multi(m, n, SB_FARM_MAX_PARTS + 2);
	return rc;
}

static void fill_stats(struct farm *f, double t0)
{
	struct sb_farm_stats *st = f->st;

	st->resent = f->core.resent;
	st->duplicates = f->core.duplicates;
	st->hedged = f->core.hedged;
	st->seconds = sb_zmq_now() - t0;
	free(st->workers);
	st->workers = calloc(f->core.n_workers ? f->core.n_workers : 1, sizeof(*st->workers));
	st->n_workers = 0;
	if (st->workers == NULL)
		return;
	for (size_t i = 0; i < f->core.n_workers; i++) {
		const struct sb_farm_wk *w = &f->core.workers[i];
		if (w->frames == 0 && w->lost == 0 && !w->alive && !w->refused)
			continue;
		struct sb_farm_worker_stats *ws = &st->workers[st->n_workers++];
		snprintf(ws->name, sizeof(ws->name), "%s", w->name);
		ws->frames = w->frames;
		ws->lost = w->lost;
		ws->credits = w->credits;
		ws->max_inflight = w->max_inflight;
		ws->alive = w->alive;
		ws->refused = w->refused;
	}
}

static int pump_start(struct farm *f, struct pump *pm, void **side, const char *what,
		      void *(*fn)(void *), struct sb_error *err)
{
	pm->ctx = f->ctx;
	sb_zmq_inproc_name(pm->addr, sizeof(pm->addr), what);
	*side = zmq_socket(f->ctx, ZMQ_PAIR);
	if (*side == NULL || zmq_bind(*side, pm->addr) != 0)
		return sb_error_sys(err, SB_EIO, errno, "farm: inproc socket");
	if (pthread_create(&pm->thread, NULL, fn, pm) != 0)
		return sb_error_set(err, SB_EIO, "farm: cannot start a thread");
	pm->started = 1;
	return SB_OK;
}

static void pump_stop(struct pump *pm, void *side, int cancel)
{
	if (!pm->started)
		return;
	if (side)
		sb_pair_send(side, SB_PAIR_QUIT, 0, 0, 0, ZMQ_DONTWAIT);
	/* The input thread may sit in a blocking read of a pipe nobody will close; a
	 * link's read returns within its poll interval once its stop flag is set, so that
	 * thread is not cancelled (its frames stay whole for the sanitizers). */
	if (cancel && pm->busy) {
		if (pm->quit)
			*pm->quit = 1;
		else
			pthread_cancel(pm->thread);
	}
	pthread_join(pm->thread, NULL);
	pm->started = 0;
}

static uint64_t random_run(void)
{
	uint64_t r = 0;
	FILE *fp = fopen("/dev/urandom", "rb");

	if (fp) {
		if (fread(&r, sizeof(r), 1, fp) != 1)
			r = 0;
		fclose(fp);
	}
	return r ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(sb_zmq_now() * 1e6) ^ 1;
}

/* Asks the input pump for the next frame while there is room: backpressure bounds
 * memory. */
static void farm_feed(struct farm *f)
{
	if (!f->in_done && !f->in_asked &&
	    sb_farm_core_held(&f->core) < 2 * sb_farm_core_capacity(&f->core)) {
		sb_pair_send(f->in_s, SB_PAIR_GRANT, 0, 0, 0, 0);
		f->in_asked = 1;
	}
}

/* Hands the pending frames to workers with credits; when the window is full (or
 * the input is over) behind the oldest frame, gives that one to a second worker. */
static void farm_hand_out(struct farm *f)
{
	int wi;
	uint64_t id;

	while (sb_farm_core_dispatch(&f->core, &wi, &id))
		if (farm_send_req(f, wi, id) != 0)
			farm_lose(f, wi, "unreachable");
	if ((f->in_done ||
	     sb_farm_core_held(&f->core) >= 2 * sb_farm_core_capacity(&f->core)) &&
	    sb_farm_core_hedge(&f->core, &wi, &id) && farm_send_req(f, wi, id) != 0)
		farm_lose(f, wi, "unreachable");
}

/* Sends the results that are next in input order to the output pump. */
static void farm_write_results(struct farm *f)
{
	struct sb_buf *outs;
	size_t n_out;
	uint64_t rows;

	while (sb_farm_core_pop(&f->core, &outs, &n_out, &rows)) {
		sb_pair_send(f->out_s, SB_PAIR_DATA, 0, 0, n_out > 0, 0);
		for (size_t i = 0; i < n_out; i++) {
			zmq_send(f->out_s, outs[i].data, outs[i].len, i + 1 < n_out ? ZMQ_SNDMORE : 0);
			sb_buf_destroy(&outs[i]);
		}
		free(outs);
		f->rows_out += rows;
		f->st->frames_out += n_out;
		f->st->rows_out += rows;
	}
	uint64_t held = sb_farm_core_held(&f->core);
	if (held > f->st->max_held)
		f->st->max_held = held;
}

/* Once the input is over and every result written, the end frame (or the input's
 * failure). */
static int farm_write_end(struct farm *f, struct sb_error *err)
{
	struct sb_frame ef;
	struct sb_buf eb;

	if (!f->in_done || sb_farm_core_held(&f->core) > 0 || f->end_sent)
		return SB_OK;
	if (f->in_fail != SB_OK)
		return sb_error_set(err, f->in_fail, "%s", f->in_msg);
	sb_frame_init(&ef);
	sb_buf_init(&eb);
	ef.kind = SB_KIND_END;
	ef.rows_total = f->rows_out;
	int rc = sb_frame_encode(&ef, &eb, err);
	sb_frame_destroy(&ef);
	if (rc == SB_OK) {
		sb_pair_send(f->out_s, SB_PAIR_END, 0, 0, 1, 0);
		zmq_send(f->out_s, eb.data, eb.len, 0);
		f->end_sent = 1;
	}
	sb_buf_destroy(&eb);
	return rc;
}

/* Heartbeats the workers that are due and drops the silent ones.  Returns how many
 * are alive; *next: when the next one is due. */
static int farm_heartbeat(struct farm *f, double now, double *next)
{
	int alive = 0;

	*next = now + f->hb_s;
	for (size_t i = 0; i < f->core.n_workers; i++) {
		struct sb_farm_wk *w = &f->core.workers[i];
		if (!w->alive)
			continue;
		if (now > w->expires) {
			farm_lose(f, (int)i, "stopped answering");
			continue;
		}
		if (now >= w->next_hb) {
			struct sb_farm_hdr h = { SB_FARM_HEARTBEAT, 0, 0, f->run };
			if (sb_zmq_send_hdr(f->front, w->ident, w->ident_len, &h, 0) != 0 &&
			    errno == EHOSTUNREACH) {
				farm_lose(f, (int)i, "disconnected");
				continue;
			}
			w->next_hb = now + f->hb_s;
		}
		alive++;
		if (w->next_hb < *next)
			*next = w->next_hb;
		if (w->expires < *next)
			*next = w->expires;
	}
	return alive;
}

/* With work left and no worker: say so once, and fail after --worker-timeout. */
static int farm_check_no_worker(struct farm *f, double now, int alive, struct sb_error *err)
{
	const struct sb_farm_opts *o = f->o;

	if (alive > 0 || (f->in_done && sb_farm_core_held(&f->core) == 0)) {
		f->no_worker_since = 0;
		f->told_no_worker = 0;
	} else if (!f->told_no_worker) {
		f->told_no_worker = 1;
		if (f->no_worker_since == 0)
			f->no_worker_since = now;
		farm_event(f, "%s: waiting for a worker (at most %.3g s, --worker-timeout)",
			   o->bind, o->worker_timeout_ms / 1000.0);
	} else if (f->no_worker_since == 0) {
		f->no_worker_since = now;
	} else if (o->worker_timeout_ms >= 0 &&
		   (now - f->no_worker_since) * 1000 > o->worker_timeout_ms) {
		char miss[300];
		sb_farm_core_missing(&f->core, miss, sizeof(miss));
		return sb_error_set(err, SB_ETIMEOUT,
				    "no worker for %d ms; %" PRIu64 " rows written, seqs not done: "
				    "%s%s", o->worker_timeout_ms, f->rows_out,
				    miss[0] ? miss : "none read yet",
				    f->in_done ? "" : " (and the rest of the input)");
	}
	return SB_OK;
}

/* Workers' messages: up to 64 at a time, so the pumps are not starved. */
static int farm_on_front(struct farm *f, struct sb_error *err)
{
	int rc = SB_OK;

	for (int k = 0; k < 64 && rc == SB_OK; k++) {
		int ev = 0;
		size_t evl = sizeof(ev);
		zmq_getsockopt(f->front, ZMQ_EVENTS, &ev, &evl);
		if (!(ev & ZMQ_POLLIN))
			break;
		rc = farm_on_worker(f, err);
	}
	return rc;
}

/* The input pump's answer to a GRANT: a frame, the end, or a failure. */
static int farm_on_input(struct farm *f, struct sb_error *err)
{
	zmq_msg_t m[2];
	struct sb_pair_msg h;
	int n, rc = SB_OK;

	if (sb_zmq_recv_multi(f->in_s, m, 2, &n) != 0)
		return SB_OK;
	if (n >= 1 && sb_pair_decode(&m[0], &h) == 0) {
		f->in_asked = 0;
		if (h.type == SB_PAIR_FRAME && n == 2) {
			uint64_t id;
			rc = sb_farm_core_add(&f->core, zmq_msg_data(&m[1]), zmq_msg_size(&m[1]),
					      h.a, h.b, &id, err);
			f->st->frames_in++;
			f->st->rows_in += h.b;
			f->rows_in += h.b;
		} else if (h.type == SB_PAIR_END) {
			/* The reader checked rows_total against the rows read. */
			f->in_done = 1;
		} else if (h.type == SB_PAIR_FAIL) {
			f->in_done = 1;
			f->in_fail = sb_pair_code(&h);
			snprintf(f->in_msg, sizeof(f->in_msg), "%.*s",
				 n == 2 ? (int)zmq_msg_size(&m[1]) : 0,
				 n == 2 ? (const char *)zmq_msg_data(&m[1]) : "");
		}
	}
	sb_zmq_close_multi(m, n, 2);
	return rc;
}

/* The output pump's answers: written, flushed, or a failure. */
static int farm_on_output(struct farm *f, struct sb_error *err)
{
	zmq_msg_t m[2];
	struct sb_pair_msg h;
	int n, rc = SB_OK;

	while (rc == SB_OK && sb_zmq_recv_multi(f->out_s, m, 2, &n) == 0) {
		if (n >= 1 && sb_pair_decode(&m[0], &h) == 0) {
			if (h.type == SB_PAIR_WRITTEN) {
				f->core.released_unacked--;
			} else if (h.type == SB_PAIR_FLUSHED) {
				f->finished = 1;
				f->drain_until = sb_zmq_now() + SB_ZMQ_LINGER_MS / 1000.0;
			} else if (h.type == SB_PAIR_FAIL) {
				rc = sb_error_set(err, sb_pair_code(&h), "%.*s",
						  n == 2 ? (int)zmq_msg_size(&m[1]) : 0,
						  n == 2 ? (const char *)zmq_msg_data(&m[1]) : "");
			}
		}
		sb_zmq_close_multi(m, n, 2);
	}
	return rc;
}

static int farm_on_monitor(struct farm *f, struct sb_error *err)
{
	(void)err;
	sb_zmq_monitor_drain(&f->mon);
	return SB_OK;
}

/*
 * The farm's loop: hand out, write back, heartbeat, then wait (at most until the
 * next heartbeat is due) for one of its sockets and run that socket's handler.
 *
 * Once the output is written, the farm waits (at most SB_ZMQ_LINGER_MS) for the
 * results still on their way: the second copies of frames it gave to two workers
 * (hedged behind a slow one).  Closing the socket under a result in flight made
 * libzmq 4.3.4 leak the metadata of that worker's connection now and then (about 1
 * farm run in 50 under LeakSanitizer, which then fails the run).
 */
static int farm_loop(struct farm *f, struct sb_error *err)
{
	struct {
		void *sock;
		int (*on_readable)(struct farm *, struct sb_error *);
	} src[] = {
		{ f->mon.pair, farm_on_monitor },
		{ f->front, farm_on_front },
		{ f->in_s, farm_on_input },
		{ f->out_s, farm_on_output },
	};
	enum { N_SRC = sizeof(src) / sizeof(src[0]) };
	int rc = SB_OK;

	f->no_worker_since = sb_zmq_now();
	while (!f->finished ||
	       (sb_farm_core_outstanding(&f->core) && sb_zmq_now() < f->drain_until)) {
		double now = sb_zmq_now(), next;
		if (f->o->stop && *f->o->stop)
			return sb_error_set(err, SB_EINTR, "farm: interrupted");
		farm_feed(f);
		farm_hand_out(f);
		farm_write_results(f);
		if ((rc = farm_write_end(f, err)) != SB_OK)
			return rc;
		int alive = farm_heartbeat(f, now, &next);
		if ((rc = farm_check_no_worker(f, now, alive, err)) != SB_OK)
			return rc;

		zmq_pollitem_t it[N_SRC];
		for (int i = 0; i < N_SRC; i++)
			it[i] = (zmq_pollitem_t){ src[i].sock, 0, ZMQ_POLLIN, 0 };
		long wait_ms = (long)((next - now) * 1000) + 1;
		wait_ms = wait_ms < 1 ? 1 : wait_ms > 200 ? 200 : wait_ms;
		if (zmq_poll(it, N_SRC, wait_ms) < 0) {
			if (errno == EINTR)
				continue;
			return sb_error_set(err, SB_EIO, "farm: poll: %s", zmq_strerror(errno));
		}
		for (int i = 0; i < N_SRC; i++)
			if ((it[i].revents & ZMQ_POLLIN) &&
			    (rc = src[i].on_readable(f, err)) != SB_OK)
				return rc;
	}
	return SB_OK;
}

int sb_farm_run(const struct sb_farm_opts *o, struct sb_farm_stats *st_out, struct sb_error *err)
{
	struct farm f;
	struct sb_farm_stats st_local;
	struct sb_zmq_endpoint ep;
	int rc;
	double t0 = sb_zmq_now();

	memset(&f, 0, sizeof(f));
	memset(&st_local, 0, sizeof(st_local));
	f.o = o;
	f.st = st_out ? st_out : &st_local;
	memset(f.st, 0, sizeof(*f.st));
	f.run = random_run();
	int hb = o->heartbeat_ms > 0 ? o->heartbeat_ms : 1000;
	int liveness = o->liveness > 0 ? o->liveness : 3;
	f.hb_s = hb / 1000.0;
	f.dead_s = f.hb_s * liveness;
	sb_farm_core_init(&f.core, o->max_credits, o->max_inflight);
	if (o->bind == NULL)
		return sb_error_set(err, SB_EINVAL, "farm: no endpoint to bind for workers");
	if ((rc = sb_zmq_endpoint_parse(o->bind, 1, &ep, err)) != SB_OK)
		return rc;
	if (!ep.bind)
		return sb_error_set(err, SB_EINVAL, "%s: the farm binds its worker endpoint "
				    "(workers connect to it)", o->bind);
	if ((f.ctx = sb_zmq_ctx_get(err)) == NULL)
		return SB_EIO;
	f.front = zmq_socket(f.ctx, ZMQ_ROUTER);
	if (f.front == NULL) {
		rc = sb_error_sys(err, SB_EIO, errno, "%s: zmq socket", o->bind);
		goto done;
	}
	int one = 1;
	zmq_setsockopt(f.front, ZMQ_ROUTER_MANDATORY, &one, sizeof(one));
	if ((rc = sb_zmq_prepare(f.ctx, f.front, &ep, 1, &o->topts, o->bind, err)) != SB_OK)
		goto done;
	if ((rc = sb_zmq_monitor_start(f.ctx, f.front, &f.mon, &o->topts, o->bind, 1, NULL, err)) != SB_OK)
		goto done;
	if ((rc = sb_zmq_attach(f.front, &ep, o->bind, err)) != SB_OK)
		goto done;
	const char *in = o->input ? o->input : "-";
	struct sb_transport_opts ito = o->topts;

	if (in[0] == '@' || in[0] == '>') {
		/* A link: the farm's loop watches the program's stop flag and stops the
		 * input thread through the link's own (pump_stop). */
		ito.stop = &f.in_quit;
		f.in.quit = &f.in_quit;
	}
	rc = sb_reader_open(&f.in.rd, in, &ito, SB_READER_PEEK, err);
	if (rc != SB_OK)
		goto done;
	f.in.t = f.in.rd.t;
	rc = sb_transport_open(&f.out.t, o->output ? o->output : "-", SB_TRANSPORT_WRITE,
			       &o->topts, err);
	if (rc != SB_OK)
		goto done;
	if ((rc = pump_start(&f, &f.in, &f.in_s, "in", pump_in_main, err)) != SB_OK)
		goto done;
	if ((rc = pump_start(&f, &f.out, &f.out_s, "out", pump_out_main, err)) != SB_OK)
		goto done;

	rc = farm_loop(&f, err);
	/* Tell the workers this run is over, so they look for the next farm at once. */
	for (size_t i = 0; i < f.core.n_workers; i++)
		if (f.core.workers[i].alive)
			farm_send_simple(&f, f.core.workers[i].ident, f.core.workers[i].ident_len,
					 SB_FARM_BYE);
done:
	pump_stop(&f.in, f.in_s, 1);
	pump_stop(&f.out, f.out_s, 0);
	sb_zmq_close(&f.in_s, 0);
	sb_zmq_close(&f.out_s, 0);
	sb_zmq_monitor_stop(f.front, &f.mon);
	sb_zmq_close(&f.front, 100);
	free(f.refused);
	sb_reader_close(&f.in.rd);     /* closes f.in.t */
	f.in.t = NULL;
	sb_transport_close(&f.out.t);
	fill_stats(&f, t0);
	sb_farm_core_destroy(&f.core);
	if (st_out == NULL)
		sb_farm_stats_destroy(&st_local);
	if (f.ctx)
		sb_zmq_ctx_put();
	return rc;
}
