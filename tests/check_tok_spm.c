/*
 * check_tok_spm.c - unit tests for the SentencePiece parts of the generic tokenizer
 * pipeline: the Unigram model (Viterbi, unknown pieces fused, byte_fallback), BPE with
 * byte_fallback, the Metaspace pre-tokenizer (prepend_scheme always / first / never,
 * split or not), the Replace " {2,}" normalizer and the Precompiled normalizer (on the
 * committed tests/golden/tokenize/spm/xlmr-uni file).  Expected ids come from
 * ../shared/reference/hf_tokenize.js on the same files.  Also streaming in pieces of
 * any size, and malformed files refused with the JSON path of the fault.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "internal.h"
#include "tokenizer.h"

static char xlmr[4096], llama[4096];
static char tmp[64];

static void paths(void)
{
	const char *src = getenv("SB_SRCDIR");

	snprintf(xlmr, sizeof(xlmr), "%s/tests/golden/tokenize/spm/xlmr-uni", src ? src : ".");
	snprintf(llama, sizeof(llama), "%s/tests/golden/tokenize/spm/llama-bpe",
		 src ? src : ".");
}

static void put(const char *text)
{
	char *p = sb_path_join(tmp, "tokenizer.json");
	FILE *f = fopen(p, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
	fclose(f);
	free(p);
}

static void mk_tmp(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/sb-check-spm.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void rm_tmp(void)
{
	char *p = sb_path_join(tmp, "tokenizer.json");

	unlink(p);
	free(p);
	rmdir(tmp);
}

static struct sb_tokenizer *open_ok(const char *dir)
{
	struct sb_tokenizer *t = NULL;
	struct sb_error err = { 0 };

	ck_assert_msg(sb_tokenizer_open(&t, dir, NULL, &err) == SB_OK, "%s: %s (set SB_SRCDIR)",
		      dir, err.msg);
	return t;
}

/* Encodes text whole and in pieces of 1 to 7 bytes; each gives the ids want. */
static void expect(struct sb_tokenizer *t, const char *text, const char *want)
{
	struct sb_tokenizer_enc e;
	struct sb_error err = { 0 };
	size_t n = strlen(text);

	ck_assert_int_eq(sb_tokenizer_enc_init(&e, t, &err), SB_OK);
	for (size_t piece = 0; piece <= 7; piece++) {
		char got[4096];
		size_t k = 0;

		sb_tokenizer_begin(&e, SB_TRUNC_NONE, 0);
		for (size_t i = 0; i < n; i += piece ? piece : n)
			ck_assert_int_eq(sb_tokenizer_feed(&e, text + i, !piece || n - i < piece ?
							   n - i : piece, &err), SB_OK);
		ck_assert_msg(sb_tokenizer_end(&e, &err) == SB_OK, "%s", err.msg);
		got[0] = 0;
		for (size_t i = 0; i < e.n && k < sizeof(got) - 16; i++)
			k += (size_t)snprintf(got + k, sizeof(got) - k, "%s%d", i ? " " : "",
					      e.ids[i]);
		ck_assert_msg(strcmp(got, want) == 0, "'%s' in pieces of %zu:\n got  %s\n want %s",
			      text, piece, got, want);
	}
	sb_tokenizer_enc_destroy(&e);
}

/* A small Unigram file: <unk> ▁ a b ab ▁ab ▁a c <0x7A> <0xE2> <0x98> <m>. */
#define UVOCAB "[[\"<unk>\", 0.0], [\"\xe2\x96\x81\", -2.0], [\"a\", -3.0], [\"b\", -3.0], " \
	"[\"ab\", -4.0], [\"\xe2\x96\x81" "ab\", -3.5], [\"\xe2\x96\x81" "a\", -3.0], " \
	"[\"c\", -5.0], [\"<0x7A>\", 0.0], [\"<0xE2>\", 0.0], [\"<0x98>\", 0.0], [\"<m>\", 0.0]]"
#define UADDED "\"added_tokens\": [{\"id\": 11, \"content\": \"<m>\", \"special\": true, " \
	"\"normalized\": false}]"
#define META(scheme, split) "\"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": " \
	"\"\xe2\x96\x81\", \"prepend_scheme\": \"" scheme "\", \"split\": " split "}"
#define UMODEL(fb) "\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"byte_fallback\": " fb \
	", \"vocab\": " UVOCAB "}"

START_TEST(test_unigram)
{
	struct sb_tokenizer *t;

	mk_tmp();
	put("{" UADDED ", " META("always", "true") ", " UMODEL("true") "}");
	t = open_ok(tmp);
	expect(t, "ab ab", "5 5");
	expect(t, "abz", "5 8");                        /* byte fallback */
	expect(t, "ab<m>ab", "5 11 5");                 /* always: each text */
	expect(t, "<m>ab", "11 5");
	expect(t, "  ab", "1 5");
	expect(t, "ab  c", "5 1 1 7");
	expect(t, "q", "1 0");                          /* unknown */
	expect(t, "\xe2\x98\x83", "1 0");               /* <0x83> missing: unknown */
	expect(t, "zz", "1 8 8");
	/* A short word of more than 8 pieces, from the cache on the repeats. */
	expect(t, "acacacacac", "6 7 2 7 2 7 2 7 2 7");
	expect(t, "a\xe2\x96\x81" "b", "6 1 3");        /* the replacement itself splits */
	expect(t, "", "");
	sb_tokenizer_close(&t);
	put("{" UADDED ", " META("always", "true") ", " UMODEL("false") "}");
	t = open_ok(tmp);
	expect(t, "abz", "5 0");
	expect(t, "qqab", "1 0 4");                     /* unknown characters fused */
	sb_tokenizer_close(&t);
	put("{" UADDED ", " META("first", "true") ", " UMODEL("true") "}");
	t = open_ok(tmp);
	expect(t, "ab<m>ab", "5 11 4");                 /* first: offset 0 only */
	expect(t, "<m>ab", "11 4");
	expect(t, "ab ab", "5 5");
	sb_tokenizer_close(&t);
	put("{" UADDED ", " META("never", "false") ", " UMODEL("true") "}");
	t = open_ok(tmp);
	expect(t, "ab ab", "4 5");
	expect(t, "ab  ab", "4 1 5");
	sb_tokenizer_close(&t);
	/* Strip right, then runs of two spaces or more become one replacement. */
	put("{" UADDED ", \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": "
	    "\"Strip\", \"strip_left\": false, \"strip_right\": true}, {\"type\": \"Replace\", "
	    "\"pattern\": {\"Regex\": \" {2,}\"}, \"content\": \"\xe2\x96\x81\"}]}, "
	    META("always", "true") ", " UMODEL("true") "}");
	t = open_ok(tmp);
	expect(t, "ab   ab  ", "5 5");
	expect(t, "a  b c", "6 1 3 1 7");
	sb_tokenizer_close(&t);
	rm_tmp();
}
END_TEST

START_TEST(test_bpe_byte_fallback)
{
	struct sb_tokenizer *t;

	mk_tmp();
	put("{\"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\", \"fuse_unk\": true, "
	    "\"byte_fallback\": true, \"vocab\": {\"<unk>\": 0, \"a\": 1, \"b\": 2, \"ab\": 3, "
	    "\"<0x7A>\": 4, \"<0xE2>\": 5, \"<0x98>\": 6, \"<0x83>\": 7}, \"merges\": [\"a b\"]}}");
	t = open_ok(tmp);
	expect(t, "abz", "3 4");
	expect(t, "aqqz", "1 4 0");             /* Hugging Face: the pending <unk> after */
	expect(t, "zab", "4 3");
	expect(t, "\xe2\x98\x83" "a", "5 6 7 1");
	sb_tokenizer_close(&t);
	rm_tmp();
}
END_TEST

/*
 * BPE without a pre-tokenizer (Llama's) sees a whole line; sb cuts it into words
 * before each U+2581 that follows another character when no merge can join across
 * that place, and must not cut when one can.
 */
#define M "\xe2\x96\x81"
START_TEST(test_bpe_cut_words)
{
	struct sb_tokenizer *t;
	char line[1024] = "";

	mk_tmp();
	/* "a ▁" joins a symbol that ends in a to one that starts with U+2581. */
	put("{\"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\", \"vocab\": {\"<unk>\": 0, "
	    "\"" M "\": 1, \"a\": 2, \"b\": 3, \"a" M "\": 4, \"a" M "b\": 5}, \"merges\": "
	    "[\"a " M "\", \"a" M " b\"]}}");
	t = open_ok(tmp);
	expect(t, "a" M "b", "5");
	expect(t, "ba" M "b" M "a", "3 5 1 2");
	sb_tokenizer_close(&t);
	/* No such merge: cut before the U+2581 of each word, not between two. */
	put("{\"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\", \"vocab\": {\"<unk>\": 0, "
	    "\"" M "\": 1, \"a\": 2, \"b\": 3, \"" M "a\": 4, \"" M "b\": 5, \"" M M "\": 6}, "
	    "\"merges\": [\"" M " " M "\", \"" M " a\", \"" M " b\"]}}");
	t = open_ok(tmp);
	expect(t, "a" M M "b", "2 6 3");
	expect(t, M "a" M "b" M M "a", "4 5 6 2");
	expect(t, "q" M "q" M, "0 1 0 1");              /* unknowns end at the U+2581 */
	/* A line longer than the line cache holds, twice (the words cached). */
	for (int i = 0; i < 100; i++)
		strcat(line, M "a" M "b");
	for (int r = 0; r < 2; r++) {
		struct sb_buf want;
		struct sb_error err = { 0 };

		sb_buf_init(&want);
		for (int i = 0; i < 100; i++)
			ck_assert_int_eq(sb_buf_append(&want, i ? " 4 5" : "4 5", i ? 4 : 3, &err),
					 SB_OK);
		ck_assert_int_eq(sb_buf_append(&want, "", 1, &err), SB_OK);
		expect(t, line, (const char *)want.data);
		sb_buf_destroy(&want);
	}
	sb_tokenizer_close(&t);
	rm_tmp();
}
END_TEST
#undef M

/* The real conversions: Precompiled (nmt_nfkc) per grapheme cluster, Metaspace. */
START_TEST(test_xlmr_file)
{
	struct sb_tokenizer *t = open_ok(xlmr);
	const struct sb_tokenizer_info *in = sb_tokenizer_info(t);

	ck_assert_int_eq(in->pad_id, 1);
	expect(t, "Hello world, caf\xc3\xa9 \xc3\xbcn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9",
	       "0 476 701 15 142 104 29 28 7 4 387 41 80 4 1312 3 18 363 28 80 2");
	expect(t, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae  \xef\xac\x81 \xe2\x91\xa0",
	       "0 4 2739 3273 2530 97 4 419 430 2");
	/* ﬁ followed by a combining mark: one cluster of 5 bytes, replaced whole by "fi"
	 * (the mark dropped, as Hugging Face); e + U+0301 composes; <mask> takes the
	 * space before it (lstrip) and the text after it gets its own replacement. */
	expect(t, "\xef\xac\x81\xcc\x81 e\xcc\x81 <mask>x", "0 4 419 4 80 4001 4 173 2");
	expect(t, "", "0 2");
	/* Characters that are clusters of their own (class Other on both sides) take the
	 * fast path: fullwidth letters replaced, CJK kept; a combining mark after one
	 * (и + U+0306 composes to й) or a character outside the BMP sends it the slow way. */
	expect(t, "\xef\xbc\xa1\xd0\xb8\xcc\x86\xef\xbd\x82\xe6\x97\xa5\xe6\x9c\xac "
	       "\xd0\xb9\xd1\x91\xcc\x88 \xef\xac\x81x \xe2\x91\xa0\xf0\x9f\x98\x80\xc3\xa4",
	       "0 133 445 67 2739 3273 4 445 1204 3 370 852 430 3 314 2");
	sb_tokenizer_close(&t);
	/* Llama (legacy): Prepend on each text between added tokens; byte fallback. */
	t = open_ok(llama);
	expect(t, "Hello \xe2\x98\x83 <s>x", "1 692 331 477 2606 229 155 134 2606 1 1200");
	sb_tokenizer_close(&t);
}
END_TEST

static const struct {
	const char *json;
	int code;
	const char *msg;
} bad_json[] = {
	{"{" UADDED ", \"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": {}}}",
	 SB_EFORMAT, "model.vocab: expected an array"},
	{"{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": []}}", SB_EFORMAT,
	 "model.vocab: empty"},
	{"{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"a\", \"b\"]]}}",
	 SB_EFORMAT, "model.vocab: byte 7: expected a number"},
	{"{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"a\" 0]]}}",
	 SB_EFORMAT, "model.vocab: byte 6: expected [piece, score]"},
	{"{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"a\", 0, 1]]}}",
	 SB_EFORMAT, "model.vocab: byte 8: expected [piece, score]"},
	{"{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"a\", 0] [\"b\", 0]]}}",
	 SB_EFORMAT, "model.vocab: byte 10: expected ',' or ']'"},
	{"{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [\"a\"]}}",
	 SB_EFORMAT, "model.vocab: byte 1: expected [piece, score]"},
	{"{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"a\", 1e999]]}}",
	 SB_EFORMAT, "number out of range"},
	{"{\"model\": {\"type\": \"Unigram\", \"unk_id\": 5, \"vocab\": [[\"a\", 0]]}}",
	 SB_EFORMAT, "model.unk_id: expected an id of model.vocab"},
	{"{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", 0]]}}", SB_EUNSUPPORTED,
	 "model.unk_id: null"},
	{"{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"byte_fallback\": 1, "
	 "\"vocab\": [[\"a\", 0]]}}", SB_EFORMAT, "model: byte_fallback: expected a boolean"},
	{"{\"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"AAAAAA==\"}, "
	 "\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"a\", 0]]}}",
	 SB_EFORMAT, "normalizer: precompiled_charsmap: a trie of 0 bytes"},
	{"{\"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"AQ==\"}, "
	 "\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"a\", 0]]}}",
	 SB_EFORMAT, "normalizer: precompiled_charsmap: shorter than its header"},
	{"{\"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"BAAAAAAAAAD/\"}, "
	 "\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"a\", 0]]}}",
	 SB_EFORMAT, "normalizer: precompiled_charsmap: replacements that are not UTF-8"},
	{"{\"normalizer\": {\"type\": \"Precompiled\"}, \"model\": {\"type\": \"Unigram\", "
	 "\"unk_id\": 0, \"vocab\": [[\"a\", 0]]}}", SB_EFORMAT,
	 "normalizer: precompiled_charsmap: expected a string"},
	{"{\"pre_tokenizer\": {\"type\": \"Metaspace\"}, \"model\": {\"type\": \"Unigram\", "
	 "\"unk_id\": 0, \"vocab\": [[\"a\", 0]]}}", SB_EFORMAT,
	 "pre_tokenizer: replacement: expected one character"},
	{"{\"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"_\", \"split\": 2}, "
	 "\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"a\", 0]]}}",
	 SB_EFORMAT, "pre_tokenizer: split: expected a boolean"},
	{"{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": "
	 "\"ByteLevel\", \"add_prefix_space\": false}, {\"type\": \"Metaspace\", \"replacement\": "
	 "\"_\"}]}, \"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"a\", 0]]}}",
	 SB_EUNSUPPORTED, "pre_tokenizer.pretokenizers[1]: a pre-tokenizer after ByteLevel"},
	{"{\"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"Regex\": \" {2,}\"}}, "
	 "\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"a\", 0]]}}",
	 SB_EFORMAT, "normalizer: content: expected a string"},
};

START_TEST(test_bad_json)
{
	mk_tmp();
	for (size_t i = 0; i < sizeof(bad_json) / sizeof(bad_json[0]); i++) {
		struct sb_tokenizer *t = NULL;
		struct sb_error err = { 0 };
		int rc;

		put(bad_json[i].json);
		rc = sb_tokenizer_open(&t, tmp, NULL, &err);
		ck_assert_msg(rc == bad_json[i].code, "case %zu: status %d, expected %d: %s", i, rc,
			      bad_json[i].code, err.msg);
		ck_assert_ptr_null(t);
		ck_assert_msg(strstr(err.msg, bad_json[i].msg) != NULL, "case %zu: '%s' lacks '%s'",
			      i, err.msg, bad_json[i].msg);
		ck_assert_msg(strstr(err.msg, "tokenizer.json") != NULL, "case %zu: %s", i, err.msg);
		ck_assert_ptr_null(strchr(err.msg, '\n'));
	}
	rm_tmp();
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tok_spm");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_unigram);
	tcase_add_test(tc, test_bpe_byte_fallback);
	tcase_add_test(tc, test_bpe_cut_words);
	tcase_add_test(tc, test_xlmr_file);
	tcase_add_test(tc, test_bad_json);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *r = srunner_create(suite());
	int failed;

	paths();
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
