/*
 * par.c - fork-join thread team (see par.h).
 *
 * A job is published by bumping the generation counter under the mutex; members
 * watch the counter.  A member first spins on it (the next job of a forward pass is
 * usually microseconds away, and a futex wake costs tens of them), then sleeps on
 * `wake`.  The caller counts finished members in `pending` and, after spinning too,
 * sleeps on `done`.  Both sleeps re-check their condition under the mutex, and both
 * wakers change the condition before taking the mutex to signal, so no wake-up is
 * lost.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "par.h"

/* About 20-60 microseconds of polling before sleeping. */
#define SPINS 20000

struct member {
	struct sb_par *team;
	int index;
};

struct sb_par {
	int n;
	pthread_t *tid;                 /* [n - 1] */
	struct member *members;         /* [n - 1] */
	int started;                    /* threads started so far */
	int spins;                      /* polls before sleeping: 0 when the team has more
					 * members than this process has cores, where a
					 * spinning member only delays the one it waits for */

	pthread_mutex_t mu;
	pthread_cond_t wake;            /* a new generation or stop */
	pthread_cond_t done;            /* pending reached 0 */
	int stop;                       /* under mu */

	sb_par_fn fn;                   /* the current job, written before gen is bumped */
	void *arg;
	atomic_uint gen;
	atomic_int pending;             /* members 1..n-1 still in the current job */
};

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static void *member_main(void *p)
{
	struct member *me = p;
	struct sb_par *t = me->team;
	unsigned seen = 0;

	for (;;) {
		unsigned g = atomic_load_explicit(&t->gen, memory_order_acquire);
		for (int s = 0; g == seen && s < t->spins; s++) {
			relax();
			g = atomic_load_explicit(&t->gen, memory_order_acquire);
		}
		if (g == seen) {
			int stop;
			pthread_mutex_lock(&t->mu);
			while ((g = atomic_load_explicit(&t->gen, memory_order_acquire)) == seen &&
			       !t->stop)
				pthread_cond_wait(&t->wake, &t->mu);
			stop = t->stop;
			pthread_mutex_unlock(&t->mu);
			if (stop)
				return NULL;
		}
		seen = g;
		t->fn(t->arg, me->index, t->n);
		if (atomic_fetch_sub_explicit(&t->pending, 1, memory_order_acq_rel) == 1) {
			pthread_mutex_lock(&t->mu);
			pthread_cond_signal(&t->done);
			pthread_mutex_unlock(&t->mu);
		}
	}
}

/* The cores this process may run on. */
static int cores(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	return 1;
}

int sb_par_cores(void)
{
	int n = cores();

	return n < SB_PAR_MAX ? n : SB_PAR_MAX;
}

int sb_par_open(struct sb_par **out, int n, struct sb_error *err)
{
	struct sb_par *t;
	int rc;

	*out = NULL;
	if (n < 1 || n > SB_PAR_MAX)
		return sb_error_set(err, SB_EINVAL, "threads: %d, expected 1 to %d", n,
				    SB_PAR_MAX);
	t = calloc(1, sizeof(*t));
	if (!t)
		return sb_error_set(err, SB_ENOMEM, "threads: out of memory");
	t->n = n;
	t->spins = n <= cores() ? SPINS : 0;
	atomic_init(&t->gen, 0);
	atomic_init(&t->pending, 0);
	if ((rc = pthread_mutex_init(&t->mu, NULL))) {
		free(t);
		return sb_error_set(err, SB_EIO, "threads: mutex: %s", strerror(rc));
	}
	if ((rc = pthread_cond_init(&t->wake, NULL))) {
		pthread_mutex_destroy(&t->mu);
		free(t);
		return sb_error_set(err, SB_EIO, "threads: condition: %s", strerror(rc));
	}
	if ((rc = pthread_cond_init(&t->done, NULL))) {
		pthread_cond_destroy(&t->wake);
		pthread_mutex_destroy(&t->mu);
		free(t);
		return sb_error_set(err, SB_EIO, "threads: condition: %s", strerror(rc));
	}
	if (n > 1) {
		t->tid = calloc((size_t)n - 1, sizeof(*t->tid));
		t->members = calloc((size_t)n - 1, sizeof(*t->members));
		if (!t->tid || !t->members) {
			sb_par_close(&t);
			return sb_error_set(err, SB_ENOMEM, "threads: out of memory");
		}
	}
	for (int i = 1; i < n; i++) {
		t->members[i - 1].team = t;
		t->members[i - 1].index = i;
		if ((rc = pthread_create(&t->tid[i - 1], NULL, member_main,
					 &t->members[i - 1]))) {
			sb_par_close(&t);
			return sb_error_set(err, rc == EAGAIN ? SB_ENOMEM : SB_EIO,
					    "threads: cannot start thread %d of %d: %s", i + 1,
					    n, strerror(rc));
		}
		t->started++;
	}
	*out = t;
	return SB_OK;
}

void sb_par_close(struct sb_par **pp)
{
	struct sb_par *t = pp ? *pp : NULL;

	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	t->stop = 1;
	pthread_cond_broadcast(&t->wake);
	pthread_mutex_unlock(&t->mu);
	for (int i = 0; i < t->started; i++)
		pthread_join(t->tid[i], NULL);
	pthread_cond_destroy(&t->done);
	pthread_cond_destroy(&t->wake);
	pthread_mutex_destroy(&t->mu);
	free(t->tid);
	free(t->members);
	free(t);
	*pp = NULL;
}

int sb_par_size(const struct sb_par *t)
{
	return t ? t->n : 1;
}

void sb_par_run(struct sb_par *t, sb_par_fn fn, void *arg)
{
	if (!t || t->n == 1) {
		fn(arg, 0, 1);
		return;
	}
	t->fn = fn;
	t->arg = arg;
	atomic_store_explicit(&t->pending, t->n - 1, memory_order_relaxed);
	pthread_mutex_lock(&t->mu);
	atomic_fetch_add_explicit(&t->gen, 1, memory_order_release);
	pthread_cond_broadcast(&t->wake);
	pthread_mutex_unlock(&t->mu);

	fn(arg, 0, t->n);

	for (int s = 0; s < t->spins; s++) {
		if (atomic_load_explicit(&t->pending, memory_order_acquire) == 0)
			return;
		relax();
	}
	pthread_mutex_lock(&t->mu);
	while (atomic_load_explicit(&t->pending, memory_order_acquire) != 0)
		pthread_cond_wait(&t->done, &t->mu);
	pthread_mutex_unlock(&t->mu);
}
