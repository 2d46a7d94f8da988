/* Unit tests for lib/tensor.c. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "tensor.h"

START_TEST(test_dtypes)
{
	enum sb_dtype dt;

	for (int i = 0; i < SB_DTYPE_COUNT; i++) {
		const char *n = sb_dtype_name((enum sb_dtype)i);

		ck_assert_int_eq(sb_dtype_parse(n, strlen(n), &dt), SB_OK);
		ck_assert_int_eq(dt, i);
	}
	ck_assert_int_eq(sb_dtype_parse("float64", 7, &dt), SB_EUNSUPPORTED);
	ck_assert_int_eq(sb_dtype_parse("float3", 6, &dt), SB_EUNSUPPORTED);
	ck_assert_uint_eq(sb_dtype_size(SB_DTYPE_I64), 8);
	ck_assert_uint_eq(sb_dtype_size(SB_DTYPE_BF16), 2);
}
END_TEST

START_TEST(test_alloc_resize_view)
{
	struct sb_tensor t;
	size_t shape[3] = { 2, 3, 4 }, small[2] = { 2, 2 }, numel, nbytes;
	float data[4] = { 1, 2, 3, 4 };
	void *p;

	ck_assert_int_eq(sb_tensor_alloc(&t, SB_DTYPE_F32, 3, shape, NULL), SB_OK);
	ck_assert_uint_eq(t.nbytes, 96);
	ck_assert_uint_eq(sb_tensor_numel(&t), 24);
	ck_assert_uint_eq((uintptr_t)t.data % 64, 0);
	ck_assert_float_eq(((float *)t.data)[23], 0);
	p = t.data;
	/* Smaller shapes reuse the storage. */
	ck_assert_int_eq(sb_tensor_resize(&t, SB_DTYPE_I64, 2, small, NULL), SB_OK);
	ck_assert_ptr_eq(t.data, p);
	ck_assert_uint_eq(t.nbytes, 32);
	sb_tensor_destroy(&t);
	sb_tensor_view(&t, SB_DTYPE_F32, 2, small, data);
	ck_assert_int_eq(t.owned, 0);
	ck_assert_uint_eq(t.nbytes, 16);
	sb_tensor_destroy(&t);
	ck_assert_float_eq(data[3], 4);
	ck_assert_int_eq(sb_shape_size(SB_DTYPE_F32, 3, shape, &numel, &nbytes, NULL), SB_OK);
	ck_assert_uint_eq(numel, 24);
}
END_TEST

START_TEST(test_limits)
{
	struct sb_tensor t;
	struct sb_error e;
	size_t huge[3] = { SIZE_MAX / 2, 4, 1 }, fine[1] = { SIZE_MAX / 2 };
	size_t nine[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
	char s[64];

	ck_assert_int_eq(sb_tensor_alloc(&t, SB_DTYPE_F32, 3, huge, &e), SB_ELIMIT);
	ck_assert_ptr_nonnull(strstr(e.msg, "overflows"));
	ck_assert_int_eq(sb_tensor_alloc(&t, SB_DTYPE_F32, 1, fine, &e), SB_ELIMIT);
	ck_assert_int_eq(sb_tensor_alloc(&t, SB_DTYPE_U8, 1, fine, &e), SB_ELIMIT);
	ck_assert_int_eq(sb_tensor_alloc(&t, SB_DTYPE_U8, 1, (size_t[]){ (size_t)1 << 60 }, &e),
			 SB_ENOMEM);
	ck_assert_ptr_null(t.data);
	ck_assert_int_eq(sb_tensor_alloc(&t, SB_DTYPE_F32, 9, nine, &e), SB_EINVAL);
	ck_assert_str_eq(sb_shape_str(3, (size_t[]){ 2, 16, 768 }, s, sizeof s), "[2, 16, 768]");
	ck_assert_str_eq(sb_shape_str(0, NULL, s, sizeof s), "[]");
}
END_TEST

START_TEST(test_half_conversions)
{
	/* Exact values, subnormals, infinities, rounding to nearest even. */
	ck_assert_float_eq(sb_f16_to_f32(0x3c00), 1.0f);
	ck_assert_float_eq(sb_f16_to_f32(0xc000), -2.0f);
	ck_assert_float_eq(sb_f16_to_f32(0x0001), ldexpf(1, -24));
	ck_assert_float_eq(sb_f16_to_f32(0x7bff), 65504.0f);
	ck_assert(isinf(sb_f16_to_f32(0x7c00)));
	ck_assert(isnan(sb_f16_to_f32(0x7e00)));
	ck_assert_uint_eq(sb_f32_to_f16(1.0f), 0x3c00);
	ck_assert_uint_eq(sb_f32_to_f16(65520.0f), 0x7c00);
	ck_assert_uint_eq(sb_f32_to_f16(ldexpf(1, -24)), 0x0001);
	ck_assert_uint_eq(sb_f32_to_f16(1.0f + ldexpf(1, -11)), 0x3c00);      /* tie to even */
	ck_assert_uint_eq(sb_f32_to_f16(1.0f + 3 * ldexpf(1, -11)), 0x3c02);
	for (uint32_t h = 0; h < 0x7c00; h++)
		ck_assert_uint_eq(sb_f32_to_f16(sb_f16_to_f32((uint16_t)h)), h);
	ck_assert_float_eq(sb_bf16_to_f32(0x3f80), 1.0f);
	ck_assert_uint_eq(sb_f32_to_bf16(1.0f), 0x3f80);
	ck_assert_uint_eq(sb_f32_to_bf16(1.0f + ldexpf(1, -8)), 0x3f80);       /* tie to even */
	ck_assert_uint_eq(sb_f32_to_bf16(1.0f + 3 * ldexpf(1, -8)), 0x3f82);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tensor");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_dtypes);
	tcase_add_test(tc, test_alloc_resize_view);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_half_conversions);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
