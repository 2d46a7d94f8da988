/*
 * par.h - a fixed team of threads that runs one function on every member at once,
 * for the encoder's forward pass (lib/model.c).
 *
 * The calling thread is member 0; sb_par_open(n) starts members 1 .. n-1, which wait
 * for work.  sb_par_run() hands the same function to all n members and returns when
 * every member has finished it: a fork-join with no allocation and no thread creation
 * per call.  Waiting members spin briefly (a forward pass issues a few dozen jobs per
 * sentence, each a few hundred microseconds apart) and then sleep on a condition
 * variable, so an idle team costs no CPU.
 *
 * A team is driven by one thread at a time; jobs must not call sb_par_run() on the
 * same team.
 */
#ifndef SB_PAR_H
#define SB_PAR_H

#include "errors.h"

struct sb_par;

/* The work of member i of n: called once per member per sb_par_run(). */
typedef void (*sb_par_fn)(void *arg, int i, int n);

/*
 * Starts a team of n members (1 <= n <= SB_PAR_MAX; n = 1 starts no thread).  Returns
 * SB_OK, SB_EINVAL for a bad n, or SB_ENOMEM / SB_EIO when a thread cannot be made
 * (no thread is left running then); *out is NULL on failure.
 */
#define SB_PAR_MAX 256
int sb_par_open(struct sb_par **out, int n, struct sb_error *err);

/* The cores this process may run on (its CPU affinity), at most SB_PAR_MAX. */
int sb_par_cores(void);

/* Stops and joins the members, frees the team, sets *p to NULL.  NULL is a no-op. */
void sb_par_close(struct sb_par **p);

/* The number of members (1 for a NULL team). */
int sb_par_size(const struct sb_par *p);

/*
 * Runs fn(arg, i, n) on every member i (0 on the calling thread) and returns when all
 * have returned.  Memory written by any member before returning from fn is visible to
 * the caller afterwards.  A NULL team runs fn(arg, 0, 1).
 */
void sb_par_run(struct sb_par *p, sb_par_fn fn, void *arg);

#endif
