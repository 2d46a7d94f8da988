/*
 * check_par.c - unit tests for lib/par.c: every member runs every job exactly once,
 * the caller sees the members' writes when sb_par_run() returns, jobs right after one
 * another and after the members have gone to sleep, bad team sizes.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "par.h"

struct job {
	int round;
	int seen[SB_PAR_MAX];           /* member i: the round it last ran */
	long sum[SB_PAR_MAX];           /* member i: sum of rounds it ran */
	int n_seen;
	int bad_n;                      /* a member was told a wrong team size */
};

static void count(void *arg, int i, int n)
{
	struct job *j = arg;

	/* No ck_assert here: a failure must not unwind a member thread. */
	if (n != j->n_seen)
		j->bad_n = 1;
	j->seen[i] = j->round;
	j->sum[i] += j->round;
}

START_TEST(test_runs)
{
	static const int sizes[] = { 1, 2, 3, 8 };

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct sb_par *p = NULL;
		struct sb_error err;
		struct job j;
		int n = sizes[s];

		memset(&j, 0, sizeof(j));
		j.n_seen = n;
		ck_assert_int_eq(sb_par_open(&p, n, &err), SB_OK);
		ck_assert_int_eq(sb_par_size(p), n);
		/* Fewer rounds for teams larger than the cores, whose members sleep. */
		int rounds = n <= 2 ? 20000 : 2000;
		for (int r = 1; r <= rounds; r++) {
			j.round = r;
			sb_par_run(p, count, &j);
			for (int i = 0; i < n; i++)
				ck_assert_int_eq(j.seen[i], r);
			/* Now and then, let the members fall asleep before the next job. */
			if (r % 500 == 0) {
				struct timespec ts = { 0, 20 * 1000 * 1000 };
				nanosleep(&ts, NULL);
			}
		}
		for (int i = 0; i < n; i++)
			ck_assert_int_eq(j.sum[i], (long)rounds * (rounds + 1) / 2);
		ck_assert_int_eq(j.bad_n, 0);
		sb_par_close(&p);
		ck_assert_ptr_null(p);
	}
}
END_TEST

START_TEST(test_null_and_bad)
{
	struct sb_par *p = (struct sb_par *)&p;
	struct sb_error err;
	struct job j;

	ck_assert_int_eq(sb_par_open(&p, 0, &err), SB_EINVAL);
	ck_assert_ptr_null(p);
	ck_assert_str_eq(err.msg, "threads: 0, expected 1 to 256");
	ck_assert_int_eq(sb_par_open(&p, SB_PAR_MAX + 1, &err), SB_EINVAL);
	/* A NULL team runs the job on the caller. */
	memset(&j, 0, sizeof(j));
	j.n_seen = 1;
	j.round = 7;
	ck_assert_int_eq(sb_par_size(NULL), 1);
	sb_par_run(NULL, count, &j);
	ck_assert_int_eq(j.seen[0], 7);
	sb_par_close(NULL);
	p = NULL;
	sb_par_close(&p);
	/* A team closed without ever running a job. */
	ck_assert_int_eq(sb_par_open(&p, 4, &err), SB_OK);
	sb_par_close(&p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("par");
	TCase *tc = tcase_create("par");
	SRunner *sr;
	int failed;

	/* Only a bound against a hang (a lost wake-up): on a machine busier than its
	 * cores the 44000 hand-overs of test_runs took 30-40 s (load 10, 2 cores, ASan),
	 * so 120 s left too little margin. */
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_runs);
	tcase_add_test(tc, test_null_and_bad);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
