/*
 * zmq_ctx.c - the process's ZeroMQ context, shared by every socket and counted, and
 * the ZAP handler that lets a CurveZMQ client in only when its public key is on the
 * allow-list of the socket it connects to (one ZAP domain per registered list).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "zmq_impl.h"

/* ---- context, shared by every socket of the process ---- */

struct allow_entry {
	char domain[32];
	unsigned char (*keys)[32];
	size_t n;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static void *g_ctx;
static int g_refs;
static int g_zap_running;
static pthread_t g_zap_thread;
static struct allow_entry *g_allow;
static size_t g_n_allow;
static unsigned g_domain_seq;
static unsigned g_inproc_seq;

/*
 * zmq_ctx_term, bounded.  Every socket's linger is at most SB_ZMQ_LINGER_MS, so a
 * termination that takes longer than that and a margin is stuck, and libzmq 4.3 can
 * stick: a writer that closed its DEALER as soon as its reader was killed (the io
 * thread had closed the connection and the listener, the reaper never finished the
 * socket) waited in zmq_ctx_term for good, about once in a hundred runs of the
 * kill -9 test under load.  The termination runs in a thread of its own; past the
 * bound the process goes on without it and the context is left to the process's
 * exit.  Signals stay with the caller's threads.
 */
#define CTX_TERM_BOUND_MS (SB_ZMQ_LINGER_MS + 3000)

struct ctx_term {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	void *ctx;
	int done, abandoned;
};

/* zmq_ctx_term, again when a signal interrupted it. */
static void ctx_term_retrying(void *ctx)
{
	while (zmq_ctx_term(ctx) != 0 && errno == EINTR)
		;
}

static void ctx_term_free(struct ctx_term *t)
{
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* The terminating thread; whichever side finishes last frees t. */
static void *ctx_term_main(void *arg)
{
	struct ctx_term *t = arg;

	ctx_term_retrying(t->ctx);
	pthread_mutex_lock(&t->lock);
	t->done = 1;
	int abandoned = t->abandoned;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	if (abandoned)
		ctx_term_free(t);
	return NULL;
}

static void ctx_term_bounded(void *ctx)
{
	struct ctx_term *t = calloc(1, sizeof(*t));
	pthread_condattr_t ca;
	pthread_t th;
	sigset_t all, old;
	struct timespec dl;

	if (t == NULL) {
		ctx_term_retrying(ctx);
		return;
	}
	t->ctx = ctx;
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cond, &ca);
	pthread_condattr_destroy(&ca);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = pthread_create(&th, NULL, ctx_term_main, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		ctx_term_free(t);
		ctx_term_retrying(ctx);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += CTX_TERM_BOUND_MS / 1000;
	dl.tv_nsec += (long)(CTX_TERM_BOUND_MS % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&t->lock);
	while (!t->done && pthread_cond_timedwait(&t->cond, &t->lock, &dl) != ETIMEDOUT)
		;
	int done = t->done;
	t->abandoned = !done;
	pthread_mutex_unlock(&t->lock);
	if (!done) {
		pthread_detach(th);
		return;
	}
	pthread_join(th, NULL);
	ctx_term_free(t);
}

void *sb_zmq_ctx_get(struct sb_error *err)
{
	void *ctx;

	pthread_mutex_lock(&g_lock);
	if (g_ctx == NULL) {
		g_ctx = zmq_ctx_new();
	}
	if (g_ctx != NULL)
		g_refs++;
	ctx = g_ctx;
	pthread_mutex_unlock(&g_lock);
	if (ctx == NULL)
		sb_error_sys(err, SB_EIO, errno, "zmq: cannot create a context");
	return ctx;
}

void sb_zmq_ctx_put(void)
{
	void *ctx = NULL;
	int zap = 0;

	pthread_mutex_lock(&g_lock);
	if (--g_refs == 0) {
		ctx = g_ctx;
		g_ctx = NULL;
		zap = g_zap_running;
		g_zap_running = 0;
	}
	pthread_mutex_unlock(&g_lock);
	if (ctx == NULL)
		return;
	if (zap) {
		/* Unblocks the handler's recv with ETERM; it closes its socket and exits. */
		zmq_ctx_shutdown(ctx);
		pthread_join(g_zap_thread, NULL);
	}
	ctx_term_bounded(ctx);
	pthread_mutex_lock(&g_lock);
	for (size_t i = 0; i < g_n_allow; i++)
		free(g_allow[i].keys);
	free(g_allow);
	g_allow = NULL;
	g_n_allow = 0;
	pthread_mutex_unlock(&g_lock);
}

void sb_zmq_inproc_name(char *buf, size_t cap, const char *what)
{
	pthread_mutex_lock(&g_lock);
	unsigned n = ++g_inproc_seq;
	pthread_mutex_unlock(&g_lock);
	snprintf(buf, cap, "inproc://sb-%s-%d-%u", what, (int)getpid(), n);
}

/* ---- ZAP handler: CURVE clients must hold a key on the allow-list ---- */

static int allow_check(const char *domain, size_t dn, const unsigned char *key)
{
	int ok = 0;

	pthread_mutex_lock(&g_lock);
	for (size_t i = 0; i < g_n_allow && !ok; i++) {
		if (strlen(g_allow[i].domain) != dn || memcmp(g_allow[i].domain, domain, dn) != 0)
			continue;
		for (size_t k = 0; k < g_allow[i].n; k++)
			if (memcmp(g_allow[i].keys[k], key, 32) == 0) {
				ok = 1;
				break;
			}
	}
	pthread_mutex_unlock(&g_lock);
	return ok;
}

static void *zap_main(void *arg)
{
	void *s = arg;

	for (;;) {
		zmq_msg_t part[8];
		int n = 0, more = 1, rc = 0;

		while (more) {
			zmq_msg_t m;
			zmq_msg_init(&m);
			rc = zmq_msg_recv(&m, s, 0);
			if (rc < 0) {
				zmq_msg_close(&m);
				break;
			}
			more = zmq_msg_more(&m);
			if (n < 8)
				part[n++] = m;
			else
				zmq_msg_close(&m);
		}
		if (rc < 0) {
			for (int i = 0; i < n; i++)
				zmq_msg_close(&part[i]);
			if (errno == ETERM)
				break;
			continue;
		}
		/* version, request id, domain, address, identity, mechanism, credentials */
		const char *status = "400", *text = "key not allowed";
		if (n >= 7 && zmq_msg_size(&part[5]) == 5 &&
		    memcmp(zmq_msg_data(&part[5]), "CURVE", 5) == 0 && zmq_msg_size(&part[6]) == 32 &&
		    allow_check(zmq_msg_data(&part[2]), zmq_msg_size(&part[2]),
				zmq_msg_data(&part[6]))) {
			status = "200";
			text = "OK";
		}
		if (n >= 2) {
			zmq_send(s, "1.0", 3, ZMQ_SNDMORE);
			zmq_send(s, zmq_msg_data(&part[1]), zmq_msg_size(&part[1]), ZMQ_SNDMORE);
			zmq_send(s, status, 3, ZMQ_SNDMORE);
			zmq_send(s, text, strlen(text), ZMQ_SNDMORE);
			zmq_send(s, "", 0, ZMQ_SNDMORE);
			zmq_send(s, "", 0, 0);
		}
		for (int i = 0; i < n; i++)
			zmq_msg_close(&part[i]);
	}
	int linger = 0;
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_close(s);
	return NULL;
}

/* Registers an allow-list under a new ZAP domain (written to domain); starts the
 * handler on first use. */
int sb_zmq_allow_register(void *ctx, const char *path, char domain[32], struct sb_error *err)
{
	struct allow_entry e;
	int rc;

	memset(&e, 0, sizeof(e));
	if ((rc = sb_zmq_allow_read(path, &e.keys, &e.n, err)) != SB_OK)
		return rc;
	pthread_mutex_lock(&g_lock);
	snprintf(e.domain, sizeof(e.domain), "sb-%u", ++g_domain_seq);
	struct allow_entry *na = realloc(g_allow, (g_n_allow + 1) * sizeof(*na));
	if (na == NULL) {
		pthread_mutex_unlock(&g_lock);
		free(e.keys);
		return sb_error_set(err, SB_ENOMEM, "%s: out of memory", path);
	}
	g_allow = na;
	g_allow[g_n_allow++] = e;
	memcpy(domain, e.domain, sizeof(e.domain));
	if (!g_zap_running) {
		void *s = zmq_socket(ctx, ZMQ_REP);
		if (s == NULL || zmq_bind(s, "inproc://zeromq.zap.01") != 0) {
			int e2 = errno;
			if (s)
				zmq_close(s);
			pthread_mutex_unlock(&g_lock);
			return sb_error_sys(err, SB_EIO, e2, "zmq: cannot start the ZAP handler");
		}
		if (pthread_create(&g_zap_thread, NULL, zap_main, s) != 0) {
			zmq_close(s);
			pthread_mutex_unlock(&g_lock);
			return sb_error_set(err, SB_EIO, "zmq: cannot start the ZAP thread");
		}
		g_zap_running = 1;
	}
	pthread_mutex_unlock(&g_lock);
	return SB_OK;
}
