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
 * Input thread: waits for a grant ("G"), reads one frame, sends "F"+seq+rows and
 * the frame, "E"+rows_total at the end, or "X"+status and a message.  Output
 * thread: "D" then frames: writes them and answers "A"; "E" then the end frame:
 * writes, flushes and answers "F"; errors answer "X".  "Q" stops either.
 */
struct pump {
	void *ctx;
	char addr[96];
	struct sb_transport *t;
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

static void *pump_in_main(void *arg)
{
	struct pump *pm = arg;
	void *s = zmq_socket(pm->ctx, ZMQ_PAIR);
	struct sb_error err;

	if (s == NULL || zmq_connect(s, pm->addr) != 0) {
		sb_zmq_close(&s, 0);
		return NULL;
	}
	pthread_cleanup_push(pump_in_cleanup, &s);
	for (;;) {
		char c = 0;
		if (zmq_recv(s, &c, 1, 0) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (c != 'G')
			break;
		const unsigned char *msg;
		size_t len;
		sb_error_clear(&err);
		pm->busy = 1;
		int rc = sb_transport_recv(pm->t, &msg, &len, &err);
		pm->busy = 0;
		if (rc == SB_EINTR)
			rc = sb_transport_recv(pm->t, &msg, &len, &err);
		if (rc == SB_EOF) {
			rc = sb_error_set(&err, SB_ETRUNCATED,
					  "input ended after %" PRIu64 " frames without an end frame",
					  pm->t->n_msgs);
		}
		if (rc != SB_OK) {
			sb_zmq_pair_reply(s, 'X', rc, err.msg, strlen(err.msg));
			continue;
		}
		struct sb_farm_peek pk;
		if (sb_farm_peek(msg, len, &pk, &err) != SB_OK) {
			sb_error_prefix(&err, "input frame %" PRIu64 ": ", pm->t->n_msgs - 1);
			sb_zmq_pair_reply(s, 'X', SB_EFORMAT, err.msg, strlen(err.msg));
			continue;
		}
		unsigned char h[17];
		h[0] = pk.is_end ? 'E' : 'F';
		uint64_t a = pk.is_end ? pk.rows_total : pk.seq, b = pk.rows;
		memcpy(h + 1, &a, 8);
		memcpy(h + 9, &b, 8);
		if (pk.is_end) {
			zmq_send(s, h, sizeof(h), 0);
		} else {
			zmq_send(s, h, sizeof(h), ZMQ_SNDMORE);
			zmq_send(s, msg, len, 0);
		}
	}
	pthread_cleanup_pop(1);
	return NULL;
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
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, s, 0) < 0) {
			zmq_msg_close(&m);
			if (errno == EINTR)
				continue;
			break;
		}
		char c = zmq_msg_size(&m) ? *(char *)zmq_msg_data(&m) : 0;
		int more = zmq_msg_more(&m);
		zmq_msg_close(&m);
		if (c == 'Q')
			break;
		int rc = SB_OK;
		sb_error_clear(&err);
		while (more) {
			zmq_msg_init(&m);
			zmq_msg_recv(&m, s, 0);
			more = zmq_msg_more(&m);
			if (!failed && rc == SB_OK) {
				rc = sb_transport_send(pm->t, zmq_msg_data(&m), zmq_msg_size(&m), &err);
				if (rc == SB_EINTR)
					rc = sb_transport_send(pm->t, zmq_msg_data(&m),
							       zmq_msg_size(&m), &err);
			}
			zmq_msg_close(&m);
		}
		if (failed)
			continue;
		if (rc == SB_OK && c == 'E')
			rc = sb_transport_flush(pm->t, &err);
		if (rc != SB_OK) {
			failed = 1;
			sb_zmq_pair_reply(s, 'X', rc, err.msg, strlen(err.msg));
		} else {
			sb_zmq_pair_reply(s, c == 'E' ? 'F' : 'A', 0, NULL, 0);
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
	struct sb_farm_core core;
	uint64_t run;
	double hb_s, dead_s;
	struct sb_farm_stats *st;
	struct refused *refused;
	size_t n_refused;
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

/* Handles one message from a worker.  Returns SB_OK or a fatal status. */
static int farm_on_worker(struct farm *f, struct sb_error *err)
{
	zmq_msg_t m[SB_FARM_MAX_PARTS + 2];
	int n, rc = SB_OK;

	if (sb_zmq_recv_multi(f->front, m, SB_FARM_MAX_PARTS + 2, &n) != 0)
		return SB_OK;
	if (n > SB_FARM_MAX_PARTS + 1 || n < 2)
		goto out;       /* malformed: ignore (the ROUTER already checked the peer) */
	struct sb_farm_hdr h;
	if (sb_farm_hdr_unpack(zmq_msg_data(&m[1]), zmq_msg_size(&m[1]), &h, NULL) != SB_OK)
		goto out;
	const void *ident = zmq_msg_data(&m[0]);
	size_t ident_len = zmq_msg_size(&m[0]);
	int wi = sb_farm_core_find(&f->core, ident, ident_len);
	double now = sb_zmq_now();
	if (wi >= 0)
		f->core.workers[wi].expires = now + f->dead_s;
	if (wi < 0 && h.cmd != SB_FARM_READY && refused_find(f, ident, ident_len, NULL) != NULL)
		goto out;       /* a refused worker: not asked to announce itself again */
	switch (h.cmd) {
	case SB_FARM_READY: {
		char name[64];
		size_t nl = n > 2 ? zmq_msg_size(&m[2]) : 0;
		if (nl >= sizeof(name))
			nl = sizeof(name) - 1;
		if (nl)
			memcpy(name, zmq_msg_data(&m[2]), nl);
		name[nl] = '\0';
		for (size_t i = 0; i < nl; i++)
			if (name[i] < 0x20 || name[i] == 0x7f)
				name[i] = '?';
		struct refused *rf = refused_find(f, ident, ident_len, nl ? name : NULL);
		if (rf != NULL) {
			/* Back under a new routing id: still refused in this run. */
			if (rf->ident_len != ident_len || memcmp(rf->ident, ident, ident_len) != 0)
				rf = refused_add(f, ident, ident_len, rf->name, rf->why);
			if (rf != NULL)
				farm_send_refuse(f, ident, ident_len, rf->why);
			if (wi >= 0)
				farm_lose(f, wi, "was refused before");
			break;
		}
		if (wi >= 0)
			farm_lose(f, wi, "announced itself again");
		wi = sb_farm_core_add_worker(&f->core, ident, ident_len, nl ? name : "?", h.count,
					     now + f->dead_s, NULL);
		if (wi >= 0) {
			f->core.workers[wi].next_hb = now + f->hb_s;
			farm_event(f, "worker %s joined with %u credits", f->core.workers[wi].name,
				   f->core.workers[wi].credits);
		}
		break;
	}
	case SB_FARM_HEARTBEAT:
		if (wi < 0)
			farm_send_simple(f, ident, ident_len, SB_FARM_RESET);
		break;
	case SB_FARM_BYE:
		if (wi >= 0)
			farm_lose(f, wi, "left");
		break;
	case SB_FARM_RESULT: {
		if (h.run != f->run) {
			f->st->stale++;
			break;
		}
		size_t np = (size_t)n - 2;
		if (h.count != np)
			break;
		/* libzmq's own limit is raised to let handshakes in: check ours here. */
		size_t limit = sb_zmq_max_msg_bytes(&f->o->topts), big = 0;
		for (size_t i = 0; i < np; i++)
			if (zmq_msg_size(&m[2 + i]) > limit)
				big = zmq_msg_size(&m[2 + i]);
		if (big > 0) {
			if (wi >= 0) {
				farm_warn(f, "worker %s sent a result frame of %zu bytes, over the "
					  "limit of %zu (--max-msg-bytes): dropped",
					  f->core.workers[wi].name, big, limit);
				farm_lose(f, wi, "sent too large a result");
			}
			break;
		}
		struct sb_buf *parts = calloc(np ? np : 1, sizeof(*parts));
		if (parts == NULL) {
			rc = sb_error_set(err, SB_ENOMEM, "farm: out of memory");
			break;
		}
		for (size_t i = 0; i < np && rc == SB_OK; i++) {
			sb_buf_init(&parts[i]);
			rc = sb_buf_append(&parts[i], zmq_msg_data(&m[2 + i]),
					   zmq_msg_size(&m[2 + i]), err);
		}
		if (rc == SB_OK) {
			int pinned = f->core.pinned;
			uint64_t lost_before = wi >= 0 ? f->core.workers[wi].lost : 0;
			struct sb_error rerr;
			sb_error_clear(&rerr);
			int acc = sb_farm_core_result(&f->core, wi, h.id, parts, np, &rerr);
			if (acc == SB_EMISMATCH) {
				if (wi >= 0)
					farm_refuse(f, wi, rerr.msg, lost_before);
			} else if (acc < 0) {
				*err = rerr;
				rc = sb_error_prefix(err, "worker %s: ",
						     wi >= 0 ? f->core.workers[wi].name : "?");
			} else if (acc == 1 && !pinned && f->core.pinned) {
				char shown[400];
				sb_farm_prov_show(&f->core.pin, shown, sizeof(shown));
				farm_event(f, "the first results, from worker %s, set what every "
					   "result must match: %s", f->core.pin_worker, shown);
			}
		}
		for (size_t i = 0; i < np; i++)
			sb_buf_destroy(&parts[i]);
		free(parts);
		if (wi < 0)
			farm_send_simple(f, ident, ident_len, SB_FARM_RESET);
		break;
	}
	case SB_FARM_ERROR: {
		if (h.run != f->run)
			break;
		struct sb_farm_req *r = sb_farm_core_req(&f->core, h.id);
		size_t ml = n > 2 ? zmq_msg_size(&m[2]) : 0;
		if (ml > 400)
			ml = 400;
		rc = sb_error_set(err, SB_EFORMAT, "worker %s: frame at seq %" PRIu64 ": %.*s",
				  wi >= 0 ? f->core.workers[wi].name : "?", r ? r->seq : 0,
				  (int)ml, n > 2 ? (const char *)zmq_msg_data(&m[2]) : "");
		break;
	}
	default:
		break;
	}
out:
	sb_zmq_close_multi(m, n, SB_FARM_MAX_PARTS + 2);
	return rc;
}

/* Whether a worker still alive holds a request: after the last result, only the
 * second copy of a hedged frame. */
static int replies_due(const struct sb_farm_core *c)
{
	for (size_t i = 0; i < c->n_workers; i++)
		if (c->workers[i].alive && c->workers[i].n_inflight > 0)
			return 1;
	return 0;
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
		zmq_send(side, "Q", 1, ZMQ_DONTWAIT);
	/* The input thread may sit in a blocking read of a pipe nobody will close. */
	if (cancel && pm->busy)
		pthread_cancel(pm->thread);
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
	rc = sb_transport_open(&f.in.t, o->input ? o->input : "-", SB_TRANSPORT_READ, &o->topts,
			       err);
	if (rc != SB_OK)
		goto done;
	rc = sb_transport_open(&f.out.t, o->output ? o->output : "-", SB_TRANSPORT_WRITE,
			       &o->topts, err);
	if (rc != SB_OK)
		goto done;
	if ((rc = pump_start(&f, &f.in, &f.in_s, "in", pump_in_main, err)) != SB_OK)
		goto done;
	if ((rc = pump_start(&f, &f.out, &f.out_s, "out", pump_out_main, err)) != SB_OK)
		goto done;

	int in_done = 0, in_asked = 0, end_sent = 0, finished = 0;
	int in_fail = SB_OK;
	char in_msg[SB_ERROR_MSG_MAX] = "";
	uint64_t rows_total_in = 0, rows_out = 0;
	double no_worker_since = sb_zmq_now();
	int told_no_worker = 0;

	/*
	 * Once the output is written, the farm waits (at most SB_ZMQ_LINGER_MS) for the
	 * results still on their way: the second copies of frames it gave to two workers
	 * (hedged behind a slow one).  Closing the socket under a result in flight made
	 * libzmq 4.3.4 leak the metadata of that worker's connection now and then (about
	 * 1 farm run in 50 under LeakSanitizer, which then fails the run).
	 */
	double drain_until = 0;

	while (!finished || (replies_due(&f.core) && sb_zmq_now() < drain_until)) {
		double now = sb_zmq_now();
		if (o->stop && *o->stop) {
			rc = sb_error_set(err, SB_EINTR, "farm: interrupted");
			break;
		}
		/* Read input only while there is room: backpressure bounds memory. */
		if (!in_done && !in_asked &&
		    sb_farm_core_held(&f.core) < 2 * sb_farm_core_capacity(&f.core)) {
			zmq_send(f.in_s, "G", 1, 0);
			in_asked = 1;
		}
		int wi;
		uint64_t id;
		while (sb_farm_core_dispatch(&f.core, &wi, &id)) {
			if (farm_send_req(&f, wi, id) != 0)
				farm_lose(&f, wi, "unreachable");
		}
		/* The window is full (or the input is over) behind the oldest frame. */
		if ((in_done || sb_farm_core_held(&f.core) >= 2 * sb_farm_core_capacity(&f.core)) &&
		    sb_farm_core_hedge(&f.core, &wi, &id)) {
			if (farm_send_req(&f, wi, id) != 0)
				farm_lose(&f, wi, "unreachable");
		}
		struct sb_buf *outs;
		size_t n_out;
		uint64_t rows;
		while (sb_farm_core_pop(&f.core, &outs, &n_out, &rows)) {
			zmq_send(f.out_s, "D", 1, n_out ? ZMQ_SNDMORE : 0);
			for (size_t i = 0; i < n_out; i++) {
				zmq_send(f.out_s, outs[i].data, outs[i].len,
					 i + 1 < n_out ? ZMQ_SNDMORE : 0);
				sb_buf_destroy(&outs[i]);
			}
			free(outs);
			rows_out += rows;
			f.st->frames_out += n_out;
			f.st->rows_out += rows;
		}
		uint64_t held = sb_farm_core_held(&f.core);
		if (held > f.st->max_held)
			f.st->max_held = held;
		if (in_done && held == 0 && !end_sent) {
			if (in_fail != SB_OK) {
				rc = sb_error_set(err, in_fail, "%s", in_msg);
				break;
			}
			struct sb_frame ef;
			struct sb_buf eb;
			sb_frame_init(&ef);
			sb_buf_init(&eb);
			ef.kind = SB_KIND_END;
			ef.rows_total = rows_out;
			rc = sb_frame_encode(&ef, &eb, err);
			sb_frame_destroy(&ef);
			if (rc != SB_OK) {
				sb_buf_destroy(&eb);
				break;
			}
			zmq_send(f.out_s, "E", 1, ZMQ_SNDMORE);
			zmq_send(f.out_s, eb.data, eb.len, 0);
			sb_buf_destroy(&eb);
			end_sent = 1;
		}

		/* Heartbeats and expiry. */
		double next = now + f.hb_s;
		int alive = 0;
		for (size_t i = 0; i < f.core.n_workers; i++) {
			struct sb_farm_wk *w = &f.core.workers[i];
			if (!w->alive)
				continue;
			if (now > w->expires) {
				farm_lose(&f, (int)i, "stopped answering");
				continue;
			}
			if (now >= w->next_hb) {
				struct sb_farm_hdr h = { SB_FARM_HEARTBEAT, 0, 0, f.run };
				if (sb_zmq_send_hdr(f.front, w->ident, w->ident_len, &h, 0) != 0 &&
				    errno == EHOSTUNREACH) {
					farm_lose(&f, (int)i, "disconnected");
					continue;
				}
				w->next_hb = now + f.hb_s;
			}
			alive++;
			if (w->next_hb < next)
				next = w->next_hb;
			if (w->expires < next)
				next = w->expires;
		}
		if (alive > 0 || (in_done && held == 0)) {
			no_worker_since = 0;
			told_no_worker = 0;
		} else if (!told_no_worker) {
			told_no_worker = 1;
			if (no_worker_since == 0)
				no_worker_since = now;
			farm_event(&f, "%s: waiting for a worker (at most %.3g s, --worker-timeout)",
				   o->bind, o->worker_timeout_ms / 1000.0);
		} else if (no_worker_since == 0) {
			no_worker_since = now;
		} else if (o->worker_timeout_ms >= 0 &&
			   (now - no_worker_since) * 1000 > o->worker_timeout_ms) {
			char miss[300];
			sb_farm_core_missing(&f.core, miss, sizeof(miss));
			rc = sb_error_set(err, SB_ETIMEOUT,
					  "no worker for %d ms; %" PRIu64 " rows written, seqs not "
					  "done: %s%s", o->worker_timeout_ms, rows_out,
					  miss[0] ? miss : "none read yet",
					  in_done ? "" : " (and the rest of the input)");
			break;
		}

		zmq_pollitem_t it[4] = {
			{ f.front, 0, ZMQ_POLLIN, 0 },
			{ f.in_s, 0, ZMQ_POLLIN, 0 },
			{ f.out_s, 0, ZMQ_POLLIN, 0 },
			{ f.mon.pair, 0, ZMQ_POLLIN, 0 },
		};
		long wait_ms = (long)((next - now) * 1000) + 1;
		if (wait_ms < 1)
			wait_ms = 1;
		if (wait_ms > 200)
			wait_ms = 200;
		if (zmq_poll(it, 4, wait_ms) < 0) {
			if (errno == EINTR)
				continue;
			rc = sb_error_set(err, SB_EIO, "farm: poll: %s", zmq_strerror(errno));
			break;
		}
		rc = SB_OK;
		if (it[3].revents & ZMQ_POLLIN)
			sb_zmq_monitor_drain(&f.mon);
		if (it[0].revents & ZMQ_POLLIN) {
			for (int k = 0; k < 64 && rc == SB_OK; k++) {
				int ev = 0;
				size_t evl = sizeof(ev);
				zmq_getsockopt(f.front, ZMQ_EVENTS, &ev, &evl);
				if (!(ev & ZMQ_POLLIN))
					break;
				rc = farm_on_worker(&f, err);
			}
			if (rc != SB_OK)
				break;
		}
		if (it[1].revents & ZMQ_POLLIN) {
			zmq_msg_t m[2];
			int n;
			if (sb_zmq_recv_multi(f.in_s, m, 2, &n) == 0 && n >= 1) {
				const unsigned char *h = zmq_msg_data(&m[0]);
				uint64_t a, b;
				memcpy(&a, h + 1, 8);
				memcpy(&b, h + 9, 8);
				in_asked = 0;
				if (h[0] == 'F' && n == 2) {
					uint64_t nid;
					rc = sb_farm_core_add(&f.core, zmq_msg_data(&m[1]),
							      zmq_msg_size(&m[1]), a, b, &nid, err);
					f.st->frames_in++;
					f.st->rows_in += b;
					rows_total_in += b;
				} else if (h[0] == 'E') {
					in_done = 1;
					if (a != rows_total_in) {
						in_fail = SB_ETRUNCATED;
						snprintf(in_msg, sizeof(in_msg),
							 "input end frame counts %" PRIu64 " rows but %"
							 PRIu64 " arrived", a, rows_total_in);
					}
				} else if (h[0] == 'X') {
					int code;
					memcpy(&code, h + 1, sizeof(code));
					in_done = 1;
					in_fail = code;
					snprintf(in_msg, sizeof(in_msg), "%.*s",
						 n == 2 ? (int)zmq_msg_size(&m[1]) : 0,
						 n == 2 ? (const char *)zmq_msg_data(&m[1]) : "");
				}
			}
			sb_zmq_close_multi(m, n, 2);
			if (rc != SB_OK)
				break;
		}
		if (it[2].revents & ZMQ_POLLIN) {
			zmq_msg_t m[2];
			int n;
			while (sb_zmq_recv_multi(f.out_s, m, 2, &n) == 0) {
				char c = *(const char *)zmq_msg_data(&m[0]);
				if (c == 'A') {
					f.core.released_unacked--;
				} else if (c == 'F') {
					finished = 1;
					drain_until = sb_zmq_now() + SB_ZMQ_LINGER_MS / 1000.0;
				} else if (c == 'X') {
					int code;
					memcpy(&code, (const char *)zmq_msg_data(&m[0]) + 1,
					       sizeof(code));
					rc = sb_error_set(err, code, "%.*s",
							  n == 2 ? (int)zmq_msg_size(&m[1]) : 0,
							  n == 2 ? (const char *)zmq_msg_data(&m[1])
								 : "");
				}
				sb_zmq_close_multi(m, n, 2);
				if (rc != SB_OK)
					break;
			}
			if (rc != SB_OK)
				break;
		}
	}
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
	sb_transport_close(&f.in.t);
	sb_transport_close(&f.out.t);
	fill_stats(&f, t0);
	sb_farm_core_destroy(&f.core);
	if (st_out == NULL)
		sb_farm_stats_destroy(&st_local);
	if (f.ctx)
		sb_zmq_ctx_put();
	return rc;
}
