/*
 * check_safetensors.c - unit tests for lib/safetensors.c on images built in memory:
 * the normal path, each validation rule, the limits, and mutated headers (no crash,
 * no leak, and whatever is accepted stays inside the file).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "safetensors.h"

/* 8-byte size + header + data_len zero bytes, into a malloc'd image. */
static unsigned char *image(const char *json, size_t data_len, size_t *size)
{
	size_t n = strlen(json);
	unsigned char *p = calloc(1, 8 + n + data_len + 1);

	ck_assert_ptr_nonnull(p);
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)((uint64_t)n >> (8 * i));
	memcpy(p + 8, json, n);
	*size = 8 + n + data_len;
	return p;
}

static void parse_ok(const char *json, size_t data_len, struct sb_safetensors *st)
{
	struct sb_error err = { 0 };
	size_t size;
	unsigned char *p = image(json, data_len, &size);
	int rc = sb_safetensors_parse(st, p, size, "t.safetensors", &err);

	ck_assert_msg(rc == SB_OK, "%s: rc %d: %s", json, rc, err.msg);
	free(p);
}

static void parse_bad(const char *json, size_t data_len, int code, const char *want)
{
	struct sb_error err = { 0 };
	struct sb_safetensors st;
	size_t size;
	unsigned char *p = image(json, data_len, &size);
	int rc = sb_safetensors_parse(&st, p, size, "t.safetensors", &err);

	ck_assert_msg(rc == code, "%s: rc %d, expected %d (%s)", json, rc, code, err.msg);
	ck_assert_msg(strstr(err.msg, want) != NULL, "%s: message '%s' lacks '%s'", json, err.msg,
		      want);
	ck_assert_msg(strncmp(err.msg, "t.safetensors: ", 15) == 0, "no file name: %s", err.msg);
	ck_assert_ptr_null(st.entries);
	ck_assert_ptr_null(st.header);
	free(p);
}

START_TEST(test_parse_ok)
{
	struct sb_safetensors st;
	const char *json = "{\"__metadata__\":{\"format\":\"pt\",\"x\":\"y\"},"
			   "\"b\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[24,40]},"
			   "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
			   "\"e\":{\"dtype\":\"BF16\",\"shape\":[0,5],\"data_offsets\":[40,40]},"
			   "\"d\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[40,48]}}";
	size_t start = 8 + strlen(json);

	parse_ok(json, 48, &st);
	ck_assert_uint_eq(st.n_entries, 4);
	ck_assert_uint_eq(st.n_metadata, 2);
	ck_assert_uint_eq(st.data_start, start);
	/* Sorted by offset, whatever the header order. */
	ck_assert_str_eq(st.entries[0].name, "a");
	ck_assert_str_eq(st.entries[0].dtype_name, "F32");
	ck_assert_int_eq(st.entries[0].dtype, SB_DTYPE_F32);
	ck_assert_int_eq(st.entries[0].n_dims, 2);
	ck_assert_uint_eq(st.entries[0].shape[1], 3);
	ck_assert_uint_eq(st.entries[0].offset, start);
	ck_assert_uint_eq(st.entries[0].nbytes, 24);
	ck_assert_str_eq(st.entries[1].name, "b");
	ck_assert_int_eq(st.entries[1].dtype, SB_DTYPE_I64);
	ck_assert_uint_eq(st.entries[1].offset, start + 24);
	ck_assert_str_eq(st.entries[2].name, "e");
	ck_assert_uint_eq(st.entries[2].nbytes, 0);
	ck_assert_str_eq(st.entries[3].name, "d");
	ck_assert_int_eq(st.entries[3].dtype, -1);
	ck_assert_uint_eq(st.entries[3].itemsize, 8);
	ck_assert_int_eq(st.entries[3].n_dims, 0);
	sb_safetensors_destroy(&st);
	ck_assert_ptr_null(st.entries);
	sb_safetensors_destroy(&st);

	parse_ok("{}", 0, &st);
	ck_assert_uint_eq(st.n_entries, 0);
	sb_safetensors_destroy(&st);
	parse_ok("{\"__metadata__\":{\"k,:[{\\\":\":\",,,[[{{\"}}", 0, &st);
	ck_assert_uint_eq(st.n_metadata, 1);
	sb_safetensors_destroy(&st);
	/* Padding spaces after the JSON, unknown members ignored as the reference does. */
	parse_ok("{\"a\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3],\"z\":1}}      ",
		 3, &st);
	ck_assert_uint_eq(st.entries[0].nbytes, 3);
	sb_safetensors_destroy(&st);
}
END_TEST

START_TEST(test_rules)
{
	parse_bad("{}", 1, SB_EFORMAT, "1 bytes of data after the last tensor");
	parse_bad("{", 0, SB_EFORMAT, "header");
	parse_bad("1", 0, SB_EFORMAT, "header of 1 bytes");
	parse_bad("\"abc\"", 0, SB_EFORMAT, "not a JSON object");
	parse_bad("{\"a\":1}", 0, SB_EFORMAT, "tensor 'a': entry is not an object");
	parse_bad("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, SB_EFORMAT,
		  "missing 'dtype'");
	parse_bad("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, SB_EFORMAT,
		  "missing 'shape'");
	parse_bad("{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, SB_EFORMAT,
		  "dtype is not a string");
	parse_bad("{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
		  SB_EUNSUPPORTED, "unknown dtype 'f32'");
	parse_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4, SB_EFORMAT,
		  "shape is not an array");
	parse_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
		  SB_EFORMAT, "shape[0]");
	parse_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, SB_EFORMAT,
		  "not a pair");
	parse_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,-4]}}", 4,
		  SB_EFORMAT, "not a pair");
	parse_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
		  SB_EFORMAT, "F32 [2] is 8 bytes, data_offsets [0, 4] hold 4");
	parse_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
		  SB_EFORMAT, "gap after byte 0");
	parse_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
		  "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, SB_EFORMAT,
		  "overlap");
	parse_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 2,
		  SB_ETRUNCATED, "past the end of the data (2 bytes)");
	parse_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
		  "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, SB_EFORMAT,
		  "'a'");
	parse_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],"
		  "\"data_offsets\":[0,4]}}", 4, SB_ELIMIT, "overflows");
	/* A zero dimension does not hide an overflow of the others. */
	parse_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[0,4294967296,4294967296,16],"
		  "\"data_offsets\":[0,0]}}", 0, SB_ELIMIT, "overflows");
	parse_bad("{\"__metadata__\":[\"x\"]}", 0, SB_EFORMAT, "__metadata__ is not an object");
}
END_TEST

START_TEST(test_limits)
{
	struct sb_safetensors st;
	struct sb_error err = { 0 };
	unsigned char p[64] = { 0 };
	uint64_t n;

	ck_assert_int_eq(sb_safetensors_parse(&st, p, 0, "x", &err), SB_ETRUNCATED);
	ck_assert_int_eq(sb_safetensors_parse(&st, p, 7, "x", &err), SB_ETRUNCATED);
	/* Header sizes: over the 100 MB limit (whatever the file), past the end, huge. */
	n = SB_SAFETENSORS_MAX_HEADER + 1;
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(n >> (8 * i));
	ck_assert_int_eq(sb_safetensors_parse(&st, p, sizeof(p), "x", &err), SB_ELIMIT);
	ck_assert_ptr_nonnull(strstr(err.msg, "header size 100000001 bytes exceeds"));
	memset(p, 0xff, 8);
	ck_assert_int_eq(sb_safetensors_parse(&st, p, sizeof(p), "x", &err), SB_ELIMIT);
	memset(p, 0, 8);
	p[0] = 57;
	ck_assert_int_eq(sb_safetensors_parse(&st, p, sizeof(p), "x", &err), SB_ETRUNCATED);
	ck_assert_ptr_nonnull(strstr(err.msg, "header size 57 bytes past the end of the file"));
	p[0] = 56;
	memcpy(p + 8, "{}", 2);
	memset(p + 10, ' ', 54);
	ck_assert_int_eq(sb_safetensors_parse(&st, p, sizeof(p), "x", &err), SB_OK);
	sb_safetensors_destroy(&st);

	/* A header of a million tiny values is refused before it is parsed into a tree. */
	size_t n_values = SB_SAFETENSORS_MAX_VALUES, hl = 2 * n_values + 20;
	char *json = malloc(hl + 1), *q = json;
	q += sprintf(q, "{\"a\":{\"shape\":[");
	for (size_t i = 0; i < n_values; i++)
		q += sprintf(q, "0,");
	q += sprintf(q, "0]}}");
	size_t size;
	unsigned char *img = image(json, 0, &size);
	ck_assert_int_eq(sb_safetensors_parse(&st, img, size, "x", &err), SB_ELIMIT);
	ck_assert_ptr_nonnull(strstr(err.msg, "more than 1048576 JSON values"));
	free(img);
	free(json);
	ck_assert_int_eq(sb_safetensors_parse(&st, p, sizeof(p), "x", &err), SB_OK);
	sb_safetensors_destroy(&st);
}
END_TEST

/* Random byte changes in a valid header, and every truncation: no crash, no leak. */
START_TEST(test_mutations)
{
	const char *json = "{\"__metadata__\":{\"format\":\"pt\"},"
			   "\"w\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,12]},"
			   "\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[12,24]}}";
	size_t size, hl = strlen(json);
	unsigned char *good = image(json, 24, &size), *p = malloc(size);
	unsigned seed = 12345;
	size_t n_ok = 0;

	ck_assert_ptr_nonnull(p);
	for (int iter = 0; iter < 20000; iter++) {
		struct sb_safetensors st;
		struct sb_error err = { 0 };

		memcpy(p, good, size);
		int n_changes = 1 + (int)(rand_r(&seed) % 3);
		for (int c = 0; c < n_changes; c++) {
			size_t at = 8 + (size_t)rand_r(&seed) % hl;
			static const char alphabet[] = "{}[]\",:0123456789-eE. FIBU";
			size_t pick = (size_t)rand_r(&seed) % (sizeof(alphabet) - 1);
			if (rand_r(&seed) % 2)
				p[at] = (unsigned char)rand_r(&seed);
			else
				p[at] = (unsigned char)alphabet[pick];
		}
		if (sb_safetensors_parse(&st, p, size, "m", &err) == SB_OK) {
			for (size_t i = 0; i < st.n_entries; i++) {
				ck_assert_uint_le(st.entries[i].offset, size);
				ck_assert_uint_le(st.entries[i].nbytes,
						  size - st.entries[i].offset);
			}
			n_ok++;
			sb_safetensors_destroy(&st);
		} else {
			ck_assert(err.msg[0] != 0);
		}
	}
	for (size_t cut = 0; cut < size; cut++) {
		struct sb_safetensors st;
		ck_assert_int_ne(sb_safetensors_parse(&st, good, cut, "t", NULL), SB_OK);
	}
	free(p);
	free(good);
	ck_assert_uint_gt(n_ok, 0);     /* some mutations only touch names or spaces */
}
END_TEST

static Suite *safetensors_suite(void)
{
	Suite *s = suite_create("safetensors");
	TCase *tc = tcase_create("safetensors");

	tcase_add_test(tc, test_parse_ok);
	tcase_add_test(tc, test_rules);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_mutations);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(safetensors_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
