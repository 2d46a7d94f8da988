/* Unit tests for lib/errors.c. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "errors.h"

START_TEST(test_set_and_null)
{
	struct sb_error e;

	ck_assert_int_eq(sb_error_set(NULL, SB_EFORMAT, "x %d", 1), SB_EFORMAT);
	ck_assert_int_eq(sb_error_set(&e, SB_ELIMIT, "frame %d: %s", 12, "big"), SB_ELIMIT);
	ck_assert_int_eq(e.code, SB_ELIMIT);
	ck_assert_str_eq(e.msg, "frame 12: big");
	sb_error_clear(&e);
	ck_assert_int_eq(e.code, SB_OK);
	ck_assert_str_eq(e.msg, "");
}
END_TEST

START_TEST(test_sys)
{
	struct sb_error e;

	sb_error_sys(&e, SB_EIO, ENOENT, "%s", "x.sbf");
	ck_assert_int_eq(e.sys, ENOENT);
	ck_assert_str_eq(e.msg, "x.sbf: No such file or directory");
}
END_TEST

START_TEST(test_prefix_and_limits)
{
	struct sb_error e;
	char big[2000];

	sb_error_set(&e, SB_EFORMAT, "bad dtype");
	sb_error_prefix(&e, "frame %d: ", 3);
	ck_assert_str_eq(e.msg, "frame 3: bad dtype");
	/* Messages longer than the buffer are cut, never overflow. */
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	sb_error_set(&e, SB_EFORMAT, "%s", big);
	ck_assert_uint_eq(strlen(e.msg), SB_ERROR_MSG_MAX - 1);
	sb_error_prefix(&e, "%s", big);
	ck_assert_uint_eq(strlen(e.msg), SB_ERROR_MSG_MAX - 1);
	sb_error_set(&e, SB_EFORMAT, "tail");
	sb_error_prefix(&e, "%s", big);
	ck_assert_uint_eq(strlen(e.msg), SB_ERROR_MSG_MAX - 1);
}
END_TEST

START_TEST(test_strerror)
{
	ck_assert_str_eq(sb_strerror(SB_OK), "success");
	ck_assert_str_eq(sb_strerror(SB_ENOMEM), "out of memory");
	ck_assert_str_eq(sb_strerror(-999), "unknown error");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("errors");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_set_and_null);
	tcase_add_test(tc, test_sys);
	tcase_add_test(tc, test_prefix_and_limits);
	tcase_add_test(tc, test_strerror);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
