/* Unit tests for lib/buf.c. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"

START_TEST(test_append_consume)
{
	struct sb_buf b;
	char chunk[1000];

	sb_buf_init(&b);
	memset(chunk, 'x', sizeof chunk);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(sb_buf_append(&b, chunk, sizeof chunk, NULL), SB_OK);
	ck_assert_uint_eq(b.len, 1000000);
	ck_assert_uint_ge(b.cap, b.len);
	sb_buf_consume(&b, 999999);
	ck_assert_uint_eq(b.len, 1);
	ck_assert_int_eq(b.data[0], 'x');
	sb_buf_consume(&b, 5);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(sb_buf_append(&b, NULL, 0, NULL), SB_OK);
	sb_buf_destroy(&b);
	ck_assert_ptr_null(b.data);
	sb_buf_destroy(&b);
}
END_TEST

START_TEST(test_overflow)
{
	struct sb_buf b;
	struct sb_error e;
	size_t r;

	sb_buf_init(&b);
	ck_assert_int_eq(sb_buf_append(&b, "ab", 2, NULL), SB_OK);
	ck_assert_int_eq(sb_buf_reserve(&b, SIZE_MAX, &e), SB_ELIMIT);
	ck_assert_int_eq(sb_buf_reserve(&b, SIZE_MAX / 2, &e), SB_ELIMIT);
	ck_assert_int_eq(sb_buf_reserve(&b, (size_t)1 << 60, &e), SB_ENOMEM);
	ck_assert_uint_eq(b.len, 2);
	ck_assert_int_eq(sb_size_mul(SIZE_MAX / 2, 3, &r), -1);
	ck_assert_int_eq(sb_size_mul(7, 6, &r), 0);
	ck_assert_uint_eq(r, 42);
	ck_assert_int_eq(sb_size_add(SIZE_MAX, 1, &r), -1);
	sb_buf_destroy(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_append_consume);
	tcase_add_test(tc, test_overflow);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
