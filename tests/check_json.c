/*
 * check_json.c - unit tests for lib/json.c: the normal path, every error, the limits.
 */
#include <check.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "json.h"

static struct sb_json *parse_ok(const char *text, size_t n, int flags)
{
	struct sb_error err = { 0 };
	struct sb_json *j = NULL;
	int rc = sb_json_parse(text, n, flags, 0, &j, &err);

	ck_assert_msg(rc == SB_OK, "parse of '%.*s' failed: %s", (int)(n > 60 ? 60 : n), text,
		      err.msg);
	ck_assert_ptr_nonnull(j);
	return j;
}

static struct sb_json *parse_s(const char *text)
{
	return parse_ok(text, strlen(text), 0);
}

/* Parses text expecting failure; checks the message contains 'want' (if not NULL). */
static void parse_bad_n(const char *text, size_t n, int flags, const char *want)
{
	struct sb_error err = { 0 };
	struct sb_json *j = (struct sb_json *)(void *)&err;
	int rc = sb_json_parse(text, n, flags, 0, &j, &err);

	ck_assert_msg(rc == SB_EFORMAT, "'%.*s': rc %d, expected SB_EFORMAT", (int)n, text, rc);
	ck_assert_ptr_null(j);
	ck_assert_msg(strncmp(err.msg, "json: byte ", 11) == 0, "message '%s'", err.msg);
	if (want)
		ck_assert_msg(strstr(err.msg, want) != NULL, "'%.*s': message '%s' lacks '%s'",
			      (int)n, text, err.msg, want);
}

static void parse_bad(const char *text, const char *want)
{
	parse_bad_n(text, strlen(text), 0, want);
}

START_TEST(test_normal)
{
	struct sb_error err = { 0 };
	struct sb_json *j = parse_s(" {\"a\": 1, \"b\": [true, false, null, \"x\"],"
				    " \"c\": {\"d\": -2.5e1}, \"e\": \"\"}\n");
	const struct sb_json *b, *c;
	int64_t i;
	double d;
	const char *s;
	int t;

	ck_assert_int_eq(j->type, SB_JSON_OBJECT);
	ck_assert_uint_eq(j->n_items, 4);
	ck_assert_str_eq(j->items[0].key, "a");
	ck_assert_uint_eq(j->items[0].key_len, 1);
	ck_assert_int_eq(sb_json_get_int(j, "a", &i, &err), SB_OK);
	ck_assert_int_eq(i, 1);
	b = sb_json_get(j, "b");
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(b->type, SB_JSON_ARRAY);
	ck_assert_uint_eq(b->n_items, 4);
	ck_assert_int_eq(b->items[0].type, SB_JSON_TRUE);
	ck_assert_int_eq(b->items[1].type, SB_JSON_FALSE);
	ck_assert_int_eq(b->items[2].type, SB_JSON_NULL);
	ck_assert_int_eq(b->items[3].type, SB_JSON_STRING);
	ck_assert_ptr_null(b->items[3].key);
	ck_assert_str_eq(b->items[3].str, "x");
	c = sb_json_get(j, "c");
	ck_assert_int_eq(sb_json_get_num(c, "d", &d, &err), SB_OK);
	ck_assert(d == -25.0);
	ck_assert_int_eq(sb_json_get_str(j, "e", &s, &err), SB_OK);
	ck_assert_str_eq(s, "");
	ck_assert_ptr_null(sb_json_get(j, "zz"));
	ck_assert_ptr_null(sb_json_get(b, "a"));
	ck_assert_int_eq(sb_json_get_bool(j, "zz", &t, &err), SB_ENOTFOUND);
	sb_json_free(&j);
	ck_assert_ptr_null(j);
	sb_json_free(&j);
	sb_json_free(NULL);

	/* Scalars at the top, empty containers, nesting of both kinds. */
	j = parse_s("42");
	ck_assert_int_eq(j->type, SB_JSON_NUMBER);
	ck_assert_int_eq(j->i, 42);
	sb_json_free(&j);
	j = parse_s("\"top\"");
	ck_assert_str_eq(j->str, "top");
	sb_json_free(&j);
	j = parse_s("[[], {}, [[{}]], {\"x\": []}]");
	ck_assert_uint_eq(j->n_items, 4);
	ck_assert_int_eq(j->items[0].type, SB_JSON_ARRAY);
	ck_assert_uint_eq(j->items[0].n_items, 0);
	ck_assert_int_eq(j->items[1].type, SB_JSON_OBJECT);
	ck_assert_int_eq(j->items[2].items[0].items[0].type, SB_JSON_OBJECT);
	ck_assert_str_eq(j->items[3].items[0].key, "x");
	sb_json_free(&j);
	j = parse_s(" \t\r\n null \t\r\n");
	ck_assert_int_eq(j->type, SB_JSON_NULL);
	sb_json_free(&j);
}
END_TEST

START_TEST(test_getters)
{
	struct sb_error err = { 0 };
	struct sb_json *j = parse_s("{\"i\": 128, \"f\": 128.0, \"h\": 1.5, \"s\": \"str\","
				    " \"t\": true, \"n\": null, \"big\": 1e300, \"o\": {}}");
	int64_t i = 0;
	double d = 0;
	const char *s = NULL;
	int b = 0;

	ck_assert_int_eq(sb_json_get_int(j, "i", &i, &err), SB_OK);
	ck_assert_int_eq(i, 128);
	ck_assert_int_eq(sb_json_get_int(j, "f", &i, &err), SB_OK);
	ck_assert_int_eq(i, 128);
	ck_assert_int_eq(sb_json_get_int(j, "h", &i, &err), SB_EFORMAT);
	ck_assert_msg(strstr(err.msg, "'h'") && strstr(err.msg, "not an integer"), "%s", err.msg);
	ck_assert_int_eq(sb_json_get_int(j, "big", &i, &err), SB_EFORMAT);
	ck_assert_msg(strstr(err.msg, "out of range"), "%s", err.msg);
	ck_assert_int_eq(sb_json_get_int(j, "s", &i, &err), SB_EFORMAT);
	ck_assert_str_eq(err.msg, "json: member 's': expected an integer, found a string");
	ck_assert_int_eq(sb_json_get_int(j, "n", &i, &err), SB_ENOTFOUND);
	ck_assert_int_eq(sb_json_get_int(j, "absent", &i, &err), SB_ENOTFOUND);
	ck_assert_int_eq(sb_json_get_num(j, "i", &d, &err), SB_OK);
	ck_assert(d == 128.0);
	ck_assert_int_eq(sb_json_get_num(j, "t", &d, &err), SB_EFORMAT);
	ck_assert_int_eq(sb_json_get_num(j, "n", &d, &err), SB_ENOTFOUND);
	ck_assert_int_eq(sb_json_get_str(j, "s", &s, &err), SB_OK);
	ck_assert_str_eq(s, "str");
	ck_assert_int_eq(sb_json_get_str(j, "o", &s, &err), SB_EFORMAT);
	ck_assert_msg(strstr(err.msg, "an object"), "%s", err.msg);
	ck_assert_int_eq(sb_json_get_bool(j, "t", &b, &err), SB_OK);
	ck_assert_int_eq(b, 1);
	ck_assert_int_eq(sb_json_get_bool(j, "i", &b, &err), SB_EFORMAT);
	/* Not an object: every getter says absent. */
	ck_assert_int_eq(sb_json_get_int(sb_json_get(j, "s"), "x", &i, &err), SB_ENOTFOUND);
	ck_assert_int_eq(sb_json_get_int(NULL, "x", &i, &err), SB_ENOTFOUND);
	sb_json_free(&j);
}
END_TEST

static void check_int(const char *text, int64_t want)
{
	struct sb_json *j = parse_s(text);

	ck_assert_int_eq(j->type, SB_JSON_NUMBER);
	ck_assert_msg(j->is_int, "%s: not is_int", text);
	ck_assert_msg(j->i == want, "%s: %lld", text, (long long)j->i);
	ck_assert(j->num == (double)want);
	sb_json_free(&j);
}

static void check_num(const char *text, double want)
{
	struct sb_json *j = parse_s(text);

	ck_assert_int_eq(j->type, SB_JSON_NUMBER);
	ck_assert_msg(!j->is_int, "%s: is_int", text);
	ck_assert_msg(j->num == want, "%s: %.17g, expected %.17g", text, j->num, want);
	sb_json_free(&j);
}

START_TEST(test_numbers)
{
	char *big;
	struct sb_json *j;

	check_int("0", 0);
	check_int("-0", 0);
	check_int("7", 7);
	check_int("-123", -123);
	check_int("9223372036854775807", INT64_MAX);
	check_int("-9223372036854775808", INT64_MIN);
	check_num("9223372036854775808", 9223372036854775808.0);
	check_num("-9223372036854775809", -9223372036854775808.0);
	check_num("18446744073709551616", 18446744073709551616.0);
	check_num("1.5", 1.5);
	check_num("-0.25", -0.25);
	check_num("1e3", 1000.0);
	check_num("1E+3", 1000.0);
	check_num("25e-1", 2.5);
	check_num("0.1", 0.1);
	check_num("1e-400", 0.0);
	check_num("2.2250738585072014e-308", 2.2250738585072014e-308);
	check_num("1.7976931348623157e308", 1.7976931348623157e308);

	/* A 300-digit integer: no int64, a finite double, parsed from a heap copy. */
	big = malloc(302);
	ck_assert_ptr_nonnull(big);
	big[0] = '1';
	memset(big + 1, '0', 300);
	big[301] = '\0';
	j = parse_s(big);
	ck_assert(!j->is_int);
	ck_assert(fabs(j->num / 1e300 - 1.0) < 1e-15);
	sb_json_free(&j);
	/* 1e400 does not fit a double. */
	big = realloc(big, 402);
	ck_assert_ptr_nonnull(big);
	big[0] = '1';
	memset(big + 1, '0', 400);
	big[401] = '\0';
	parse_bad(big, "number out of range");
	free(big);

	parse_bad("1e400", "number out of range");
	parse_bad("-1e999", "number out of range");
	parse_bad("01", "leading zero");
	parse_bad("-01", "leading zero");
	parse_bad("-", "invalid number");
	parse_bad("-a", "invalid number");
	parse_bad("1.", "after '.'");
	parse_bad("1.e3", "after '.'");
	parse_bad(".5", "expected a value");
	parse_bad("+1", "expected a value");
	parse_bad("1e", "exponent");
	parse_bad("1e+", "exponent");
	parse_bad("NaN", "expected a value");
	parse_bad("Infinity", "expected a value");
	parse_bad("-Infinity", "invalid number");
	parse_bad("0x10", "unexpected data after the value");
	parse_bad("[1 2]", "expected ',' or ']'");
}
END_TEST

static void check_str(const char *text, const char *want, size_t want_len)
{
	struct sb_json *j = parse_s(text);

	ck_assert_int_eq(j->type, SB_JSON_STRING);
	ck_assert_msg(j->len == want_len, "%s: len %zu, expected %zu", text, j->len, want_len);
	ck_assert_msg(memcmp(j->str, want, want_len) == 0, "%s: wrong bytes", text);
	ck_assert_int_eq(j->str[j->len], '\0');
	sb_json_free(&j);
}

START_TEST(test_strings)
{
	check_str("\"plain\"", "plain", 5);
	check_str("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8);
	check_str("\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac", 6);
	check_str("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4);
	check_str("\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4);
	check_str("\"a\\u0000b\"", "a\0b", 3);
	check_str("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf\"",
		  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf", 18);
	check_str("\"##\xe3\x81\x82\"", "##\xe3\x81\x82", 5);

	parse_bad("\"\\ud800\"", "lone high surrogate");
	parse_bad("\"\\ud800x\"", "lone high surrogate");
	parse_bad("\"\\ud800\\u0041\"", "lone high surrogate");
	parse_bad("\"\\ud800\\ud800\"", "lone high surrogate");
	parse_bad("\"\\udc00\"", "lone low surrogate");
	parse_bad("\"\\x\"", "invalid escape");
	parse_bad("\"\\'\"", "invalid escape");
	parse_bad("\"\\u12\"", "invalid \\u escape");
	parse_bad("\"\\u12G4\"", "invalid \\u escape");
	parse_bad("\"a\nb\"", "control character 0x0a");
	parse_bad("\"a\tb\"", "control character 0x09");
	parse_bad("\"abc", "unterminated string");
	parse_bad("\"abc\\\"", "unterminated string");
	parse_bad("\"abc\\", "unterminated string");
	parse_bad("'abc'", "expected a value");
	/* Invalid UTF-8: stray continuation, bad lead, overlongs, surrogates, > U+10FFFF,
	 * truncated sequences. */
	parse_bad("\"\x80\"", "invalid utf-8");
	parse_bad("\"\xff\"", "invalid utf-8");
	parse_bad("\"\xc0\xaf\"", "invalid utf-8");
	parse_bad("\"\xc1\xbf\"", "invalid utf-8");
	parse_bad("\"\xe0\x80\xaf\"", "invalid utf-8");
	parse_bad("\"\xf0\x80\x80\xaf\"", "invalid utf-8");
	parse_bad("\"\xed\xa0\x80\"", "invalid utf-8");
	parse_bad("\"\xf4\x90\x80\x80\"", "invalid utf-8");
	parse_bad("\"\xf5\x80\x80\x80\"", "invalid utf-8");
	parse_bad("\"\xe2\x82\"", "invalid utf-8");
	parse_bad("\"\xe2\x82", "unterminated string");
	parse_bad("\"\xc3\"", "invalid utf-8");
	/* A raw NUL inside a string is a control character; outside, an unexpected byte. */
	parse_bad_n("\"a\0b\"", 5, 0, "control character 0x00");
	parse_bad_n("[1,\0 2]", 7, 0, "byte 0x00");
	/* A byte-order mark is not JSON text. */
	parse_bad("\xef\xbb\xbf{}", "expected a value, found byte 0xef");
}
END_TEST

START_TEST(test_structure)
{
	struct sb_error err = { 0 };
	struct sb_json *j = NULL;

	parse_bad("", "unexpected end of input");
	parse_bad("   ", "byte 3: unexpected end of input");
	parse_bad("[1,]", "expected a value, found ']'");
	parse_bad("[,1]", "expected a value");
	parse_bad("{\"a\":1,}", "expected a member name");
	parse_bad("{,}", "expected a member name or '}'");
	parse_bad("{\"a\" 1}", "byte 5: expected ':'");
	parse_bad("{\"a\":1 \"b\":2}", "expected ',' or '}'");
	parse_bad("{1:2}", "expected a member name or '}'");
	parse_bad("{a:1}", "expected a member name");
	parse_bad("[1] // c", "unexpected data after the value");
	parse_bad("/* c */ [1]", "expected a value");
	parse_bad("[1]]", "byte 3: unexpected data after the value");
	parse_bad("[1}", "expected ',' or ']'");
	parse_bad("{\"a\":1]", "expected ',' or '}'");
	parse_bad("tru", "invalid literal, expected 'true'");
	parse_bad("nul", "invalid literal");
	parse_bad("falsey", "unexpected data after the value");
	parse_bad("True", "expected a value");
	parse_bad("[1", "unexpected end of input");
	parse_bad("{\"a\":", "unexpected end of input, expected a value");
	parse_bad("1 2", "unexpected data");
	parse_bad("[1,\f2]", "expected a value, found byte 0x0c");

	/* Bad arguments. */
	ck_assert_int_eq(sb_json_parse("1", 1, 0, 0, NULL, &err), SB_EINVAL);
	ck_assert_int_eq(sb_json_parse(NULL, 3, 0, 0, &j, &err), SB_EINVAL);
	ck_assert_int_eq(sb_json_parse(NULL, 0, 0, 0, &j, &err), SB_EFORMAT);
	ck_assert_ptr_null(j);
	/* Input is bounded by n, not by a NUL. */
	j = parse_ok("[1]garbage", 3, 0);
	sb_json_free(&j);
}
END_TEST

START_TEST(test_truncated)
{
	/* Every proper prefix of a document that starts with '{' is invalid. */
	static const char doc[] = "{\"model\": {\"vocab\": {\"[PAD]\": 0, \"h\\u00e9\": 1},"
				  " \"x\": [1.5e3, -2, true, false, null, \"\\ud83d\\ude00\"]}}";
	size_t n = strlen(doc);
	struct sb_json *j;

	for (size_t k = 0; k < n; k++) {
		struct sb_error err = { 0 };

		j = NULL;
		ck_assert_int_eq(sb_json_parse(doc, k, 0, 0, &j, &err), SB_EFORMAT);
		ck_assert_ptr_null(j);
	}
	j = parse_ok(doc, n, SB_JSON_NO_DUPLICATES);
	sb_json_free(&j);
}
END_TEST

static char *nested(size_t depth, int close)
{
	char *s = malloc(2 * depth + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, '[', depth);
	if (close)
		memset(s + depth, ']', depth);
	s[close ? 2 * depth : depth] = '\0';
	return s;
}

START_TEST(test_depth)
{
	struct sb_error err = { 0 };
	struct sb_json *j = NULL;
	char *s;
	size_t d;

	/* 64 levels pass by default, 65 do not. */
	s = nested(64, 1);
	j = parse_s(s);
	sb_json_free(&j);
	free(s);
	s = nested(65, 1);
	parse_bad(s, "byte 64: nesting deeper than 64 levels");
	free(s);
	/* A hostile 100000 '[' fails at the limit, without using the C stack. */
	s = nested(100000, 0);
	parse_bad(s, "nesting deeper than 64 levels");
	ck_assert_int_eq(sb_json_parse(s, 100000, 0, 3, &j, &err), SB_EFORMAT);
	ck_assert_str_eq(err.msg, "json: byte 3: nesting deeper than 3 levels");
	free(s);
	s = nested(5, 1);
	ck_assert_int_eq(sb_json_parse(s, 10, 0, 5, &j, &err), SB_OK);
	sb_json_free(&j);
	free(s);
	/* With the limit raised, 200000 levels parse and free without recursion. */
	d = 200000;
	s = nested(d, 1);
	ck_assert_int_eq(sb_json_parse(s, 2 * d, 0, d, &j, &err), SB_OK);
	ck_assert_int_eq(j->type, SB_JSON_ARRAY);
	sb_json_free(&j);
	ck_assert_int_eq(sb_json_parse(s, 2 * d - 1, 0, d, &j, &err), SB_EFORMAT);
	ck_assert_ptr_null(j);
	free(s);
	/* Deep objects, cut mid-way: the cleanup of half-built frames must not leak. */
	{
		struct sb_buf b;

		sb_buf_init(&b);
		for (int k = 0; k < 1000; k++)
			ck_assert_int_eq(sb_buf_append(&b, "{\"k\":[1,\"s\",", 12, NULL), SB_OK);
		ck_assert_int_eq(sb_json_parse((char *)b.data, b.len, 0, 5000, &j, &err),
				 SB_EFORMAT);
		ck_assert_msg(strstr(err.msg, "unexpected end of input"), "%s", err.msg);
		sb_buf_destroy(&b);
	}
}
END_TEST

START_TEST(test_duplicates)
{
	struct sb_error err = { 0 };
	struct sb_json *j = NULL;
	const char *dup = "{\"a\": 1, \"b\": 2, \"a\": 3}";
	int64_t i;

	/* Allowed by default; sb_json_get returns the first. */
	j = parse_s(dup);
	ck_assert_int_eq(sb_json_get_int(j, "a", &i, &err), SB_OK);
	ck_assert_int_eq(i, 1);
	sb_json_free(&j);
	parse_bad_n(dup, strlen(dup), SB_JSON_NO_DUPLICATES,
		    "byte 0: object has duplicate member 'a'");
	parse_bad_n("[{}, {\"x\": {\"q\": 1, \"q\": 1}}]", 29, SB_JSON_NO_DUPLICATES,
		    "byte 11: object has duplicate member 'q'");
	/* Names that differ only after an embedded NUL, or by length, are distinct. */
	j = parse_ok("{\"a\\u0000b\": 1, \"a\\u0000c\": 2, \"a\": 3, \"\": 4}", 45,
		     SB_JSON_NO_DUPLICATES);
	ck_assert_uint_eq(j->n_items, 4);
	ck_assert_uint_eq(j->items[0].key_len, 3);
	sb_json_free(&j);
	/* Equal after decoding escapes. */
	parse_bad_n("{\"\\u0041\": 1, \"A\": 2}", 21, SB_JSON_NO_DUPLICATES, "member 'A'");
	/* Names sharing their first 8 bytes (the sort key prefix), with one repeat. */
	{
		struct sb_buf b;

		sb_buf_init(&b);
		ck_assert_int_eq(sb_buf_append(&b, "{", 1, NULL), SB_OK);
		for (int k = 0; k < 1000; k++) {
			char line[48];
			int len = snprintf(line, sizeof(line), "\"########%d\":0,",
					   (k * 7919) % 1000);

			ck_assert_int_eq(sb_buf_append(&b, line, (size_t)len, NULL), SB_OK);
		}
		ck_assert_int_eq(sb_buf_append(&b, "\"########\":1}", 13, NULL), SB_OK);
		j = parse_ok((char *)b.data, b.len, SB_JSON_NO_DUPLICATES);
		ck_assert_uint_eq(j->n_items, 1001);
		sb_json_free(&j);
		b.len -= 13;
		ck_assert_int_eq(sb_buf_append(&b, "\"########617\":1}", 16, NULL), SB_OK);
		parse_bad_n((char *)b.data, b.len, SB_JSON_NO_DUPLICATES,
			    "duplicate member '########617'");
		sb_buf_destroy(&b);
	}
	/* Same name in different objects is fine. */
	j = parse_ok("[{\"a\": 1}, {\"a\": 2}]", 20, SB_JSON_NO_DUPLICATES);
	sb_json_free(&j);
}
END_TEST

START_TEST(test_big_object)
{
	/* The shape of tokenizer.json's vocab: 30522 members, checked for duplicates. */
	enum { N = 30522 };
	struct sb_error err = { 0 };
	struct sb_buf b;
	struct sb_json *j = NULL;
	struct timespec t0, t1;
	char line[64];
	double ms;
	int64_t i;

	sb_buf_init(&b);
	ck_assert_int_eq(sb_buf_append(&b, "{\"model\": {\"vocab\": {", 21, NULL), SB_OK);
	for (int k = 0; k < N; k++) {
		int len = snprintf(line, sizeof(line), "%s\"##tok%d\": %d", k ? ", " : "", k, k);

		ck_assert_int_eq(sb_buf_append(&b, line, (size_t)len, NULL), SB_OK);
	}
	ck_assert_int_eq(sb_buf_append(&b, "}}}", 3, NULL), SB_OK);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(sb_json_parse((char *)b.data, b.len, SB_JSON_NO_DUPLICATES, 0, &j, &err),
			 SB_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	{
		const struct sb_json *v = sb_json_get(sb_json_get(j, "model"), "vocab");

		ck_assert_ptr_nonnull(v);
		ck_assert_uint_eq(v->n_items, N);
		ck_assert_str_eq(v->items[N - 1].key, "##tok30521");
		ck_assert_int_eq(sb_json_get_int(v, "##tok30521", &i, &err), SB_OK);
		ck_assert_int_eq(i, N - 1);
	}
	sb_json_free(&j);
	/* Generous bound: a few ms on a quiet machine, far more under sanitizers. */
	ck_assert_msg(ms < 2000, "%zu bytes took %.1f ms", b.len, ms);
	fprintf(stderr, "check_json: %zu-byte %d-member object parsed in %.2f ms\n", b.len, N,
		ms);

	/* One duplicate at the very end is still found. */
	ck_assert_int_eq(sb_buf_append(&b, "x", 1, NULL), SB_OK);
	b.len -= 4;
	ck_assert_int_eq(sb_buf_append(&b, ", \"##tok7\": 1}}}", 16, NULL), SB_OK);
	ck_assert_int_eq(sb_json_parse((char *)b.data, b.len, SB_JSON_NO_DUPLICATES, 0, &j, &err),
			 SB_EFORMAT);
	ck_assert_msg(strstr(err.msg, "duplicate member '##tok7'"), "%s", err.msg);
	sb_buf_destroy(&b);
}
END_TEST

START_TEST(test_file)
{
	struct sb_error err = { 0 };
	struct sb_json *j = NULL;
	char path[] = "/tmp/check_json_XXXXXX";
	int fd = mkstemp(path);
	int64_t i;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "{\"dim\": 768}", 12), 12);
	close(fd);
	ck_assert_int_eq(sb_json_parse_file(path, 0, 0, &j, &err), SB_OK);
	ck_assert_int_eq(sb_json_get_int(j, "dim", &i, &err), SB_OK);
	ck_assert_int_eq(i, 768);
	sb_json_free(&j);
	/* Over the size limit. */
	ck_assert_int_eq(sb_json_parse_file(path, 0, 5, &j, &err), SB_ELIMIT);
	ck_assert_ptr_null(j);
	/* Malformed: the message names the file and the byte. */
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "{\"dim\" 768}", 11), 11);
	close(fd);
	ck_assert_int_eq(sb_json_parse_file(path, 0, 0, &j, &err), SB_EFORMAT);
	ck_assert_ptr_null(j);
	ck_assert_msg(strstr(err.msg, path) == err.msg &&
		      strstr(err.msg, ": json: byte 7: expected ':'"), "%s", err.msg);
	unlink(path);
	ck_assert_int_eq(sb_json_parse_file(path, 0, 0, &j, &err), SB_ENOTFOUND);
	ck_assert_ptr_null(j);
}
END_TEST

static Suite *json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_normal);
	tcase_add_test(tc, test_getters);
	tcase_add_test(tc, test_numbers);
	tcase_add_test(tc, test_strings);
	tcase_add_test(tc, test_structure);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_depth);
	tcase_add_test(tc, test_duplicates);
	tcase_add_test(tc, test_big_object);
	tcase_add_test(tc, test_file);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(json_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
