/*
 * check_tok_bpe.c - unit tests for the generic tokenizer pipeline (lib/tok_*.c) with
 * byte-level BPE: ids of the small committed files tests/golden/tokenize/bpe/tiny-*
 * against Hugging Face (the expected ids below come from
 * ../shared/reference/hf_tokenize.js on those folders), both JSON forms of the merges,
 * the vocab.json + merges.txt path, every added-token flag, streaming in pieces of
 * any size, invalid UTF-8, the pre-token bound, malformed or unsupported files
 * refused with the JSON path of the fault, and the word cache.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "internal.h"
#include "tok_gen.h"
#include "tokenizer.h"

static char roberta[4096], qwen[4096];

static void paths(void)
{
	const char *src = getenv("SB_SRCDIR");

	snprintf(roberta, sizeof(roberta), "%s/tests/golden/tokenize/bpe/tiny-roberta",
		 src ? src : ".");
	snprintf(qwen, sizeof(qwen), "%s/tests/golden/tokenize/bpe/tiny-qwen", src ? src : ".");
}

static struct sb_tokenizer *open_ok(const char *dir)
{
	struct sb_tokenizer *t = NULL;
	struct sb_error err = { 0 };

	ck_assert_msg(sb_tokenizer_open(&t, dir, NULL, &err) == SB_OK, "%s: %s (set SB_SRCDIR)",
		      dir, err.msg);
	return t;
}

/* Encodes text (single) and compares with the ids, given as a string. */
static void expect(struct sb_tokenizer *t, const char *text, const char *want)
{
	struct sb_tokenizer_enc e;
	struct sb_error err = { 0 };
	char got[4096];
	size_t n = 0;

	ck_assert_int_eq(sb_tokenizer_enc_init(&e, t, &err), SB_OK);
	ck_assert_msg(sb_tokenizer_encode(&e, NULL, 0, text, strlen(text), NULL, 0,
					  SB_TRUNC_LONGEST_FIRST, 0, &err) == SB_OK, "%s", err.msg);
	got[0] = 0;
	for (size_t i = 0; i < e.n && n < sizeof(got) - 16; i++)
		n += (size_t)snprintf(got + n, sizeof(got) - n, "%s%d", i ? " " : "", e.ids[i]);
	ck_assert_msg(strcmp(got, want) == 0, "'%s':\n got  %s\n want %s", text, got, want);
	sb_tokenizer_enc_destroy(&e);
}

START_TEST(test_roberta)
{
	struct sb_tokenizer *t = open_ok(roberta);
	const struct sb_tokenizer_info *in = sb_tokenizer_info(t);

	ck_assert_str_eq(in->source, "tokenizer.json");
	ck_assert_uint_eq(in->n_special_single, 2);
	ck_assert_uint_eq(in->n_special_pair, 4);
	ck_assert_int_eq(in->pad_id, 1);
	expect(t, "Hello world, it's a test.", "0 43 699 82 999 15 344 342 261 260 399 17 2");
	expect(t, "  two  spaces   and\ttabs ",
	       "0 224 738 224 603 334 278 224 224 294 201 87 401 86 224 2");
	/* <mask> takes the white space before it (lstrip); <s> etc. are matched on the
	 * normalized text (normalized: true), here the same. */
	expect(t, "<mask> x <mask>y  <mask>", "0 1261 224 91 1261 92 1261 2");
	expect(t, "<s>a</s><pad><unk>", "0 0 68 2 1 3 2");
	expect(t, "naïve café ﬁne Ｈｅｌｌｏ 123456",
	       "0 81 68 131 111 307 273 68 73 131 106 224 175 109 227 714 224 175 124 105 175 "
	       "125 231 175 125 238 175 125 238 175 125 241 1109 22 23 24 25 2");
	expect(t, "日本語のテキスト😀👍🏽",
	       "0 166 249 102 166 254 109 168 107 256 163 227 110 1213 232 163 228 259 163 228 "
	       "121 1213 234 176 257 250 226 176 257 243 239 176 257 241 125 2");
	expect(t, "", "0 2");
	expect(t, "don't DON'T it'Ll", "0 71 265 474 364 50 49 10 55 344 10 47 79 2");
	ck_assert_str_eq(sb_tokenizer_id_token(t, 1261), "<mask>");
	ck_assert_int_eq(sb_tokenizer_token_id(t, "<mask>", 6), 1261);
	sb_tokenizer_close(&t);
}
END_TEST

START_TEST(test_qwen)
{
	struct sb_tokenizer *t = open_ok(qwen);
	const struct sb_tokenizer_info *in = sb_tokenizer_info(t);

	ck_assert_uint_eq(in->n_special_single, 1);
	ck_assert_uint_eq(in->n_special_pair, 2);
	/* <w> single_word: not next to a word character; <l> lstrip, <r> rstrip. */
	expect(t, "Hello <w> world<w> <l>x  <l>y<r>   z <r>",
	       "39 695 78 220 1259 995 27 86 29 1260 87 1260 88 1261 89 220 1261 1256");
	/* NFC first, then "café" (a normalized added token) on the normalized text. */
	expect(t, "cafe\xcc\x81 caf\xc3\xa9 <|im_start|>hi<|im_end|>",
	       "1262 220 1262 220 1257 71 72 1258 1256");
	/* (?i:'s): "'S" and "'ſ" are contractions; digits one by one. */
	expect(t, "it's IT'S '\xc5\xbf 12345 x",
	       "270 338 314 51 6 50 705 129 123 220 16 17 18 19 20 220 87 1256");
	expect(t, "a  b   c", "64 220 275 220 220 269 1256");
	expect(t, "", "1256");
	/* Added tokens outside the model's vocabulary are still tokens. */
	ck_assert_str_eq(sb_tokenizer_id_token(t, 1257), "<|im_start|>");
	ck_assert_int_eq(sb_tokenizer_token_id(t, "<|im_end|>", 10), 1258);
	sb_tokenizer_close(&t);
}
END_TEST

/* Feeding a text in pieces of every size gives the ids of the whole. */
START_TEST(test_stream)
{
	static const char *texts[] = {
		"Hello <w> world<w> <l>x  <l>y<r>   z <r> <|im_start|>user\n hi<|im_end|>",
		"cafe\xcc\x81 e\xcc\x81\xcc\xa7 \xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8 "
		"\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb  \t\r\n   \xe3\x80\x80x",
		"it's  12345 ... !!!\r\n\r\n  end   ",
	};
	const char *dirs[2] = { qwen, roberta };

	for (int d = 0; d < 2; d++) {
		struct sb_tokenizer *t = open_ok(dirs[d]);
		struct sb_tokenizer_enc e;
		struct sb_error err = { 0 };

		ck_assert_int_eq(sb_tokenizer_enc_init(&e, t, &err), SB_OK);
		for (size_t k = 0; k < sizeof(texts) / sizeof(texts[0]); k++) {
			const char *s = texts[k];
			size_t n = strlen(s), nw;
			int32_t whole[512];

			ck_assert_int_eq(sb_tokenizer_encode(&e, NULL, 0, s, n, NULL, 0,
							     SB_TRUNC_NONE, 0, &err), SB_OK);
			nw = e.n;
			ck_assert_uint_le(nw, 512);
			memcpy(whole, e.ids, nw * sizeof(int32_t));
			for (size_t piece = 1; piece <= 9; piece++) {
				sb_tokenizer_begin(&e, SB_TRUNC_NONE, 0);
				for (size_t i = 0; i < n; i += piece)
					ck_assert_int_eq(sb_tokenizer_feed(&e, s + i, n - i < piece ?
									   n - i : piece, &err),
							 SB_OK);
				ck_assert_int_eq(sb_tokenizer_end(&e, &err), SB_OK);
				ck_assert_uint_eq(e.n, nw);
				ck_assert_msg(memcmp(e.ids, whole, nw * sizeof(int32_t)) == 0,
					      "text %zu in pieces of %zu", k, piece);
			}
		}
		sb_tokenizer_enc_destroy(&e);
		sb_tokenizer_close(&t);
	}
}
END_TEST

START_TEST(test_pairs_and_flags)
{
	struct sb_tokenizer *t = open_ok(roberta);
	struct sb_tokenizer_enc e;
	struct sb_error err = { 0 };
	uint64_t count = 0;

	ck_assert_int_eq(sb_tokenizer_enc_init(&e, t, &err), SB_OK);
	/* <s> A </s></s> B </s>, every type id 0 (RobertaProcessing). */
	ck_assert_int_eq(sb_tokenizer_encode(&e, NULL, 0, "a", 1, "b", 1,
					     SB_TRUNC_LONGEST_FIRST, 0, &err), SB_OK);
	ck_assert_uint_eq(e.n, 6);
	ck_assert_int_eq(e.ids[0], 0);
	ck_assert_int_eq(e.ids[2], 2);
	ck_assert_int_eq(e.ids[3], 2);
	ck_assert_int_eq(e.ids[5], 2);
	for (size_t i = 0; i < e.n; i++)
		ck_assert_int_eq(e.type_ids[i], 0);
	/* Without specials the texts keep the template's type ids: 0 for RoBERTa. */
	ck_assert_int_eq(sb_tokenizer_encode(&e, NULL, 0, "a", 1, "b", 1,
					     SB_TRUNC_LONGEST_FIRST, SB_TOKENIZER_NO_SPECIAL, &err),
			 SB_OK);
	ck_assert_uint_eq(e.n, 2);
	ck_assert_int_eq(e.type_ids[1], 0);
	ck_assert_int_eq(sb_tokenizer_count(&e, "Hello world", 11, &count, &err), SB_OK);
	ck_assert_uint_eq(count, 4);
	/* Invalid UTF-8: refused with its offset, or replaced by U+FFFD (EF BF BD). */
	ck_assert_int_eq(sb_tokenizer_encode(&e, NULL, 0, "ab\xff" "c", 4, NULL, 0,
					     SB_TRUNC_LONGEST_FIRST, 0, &err), SB_EFORMAT);
	ck_assert_uint_eq(e.bad_offset, 2);
	ck_assert_int_eq(sb_tokenizer_encode(&e, NULL, 0, "ab\xe2\x82" "c", 5, NULL, 0,
					     SB_TRUNC_LONGEST_FIRST,
					     SB_TOKENIZER_REPLACE_INVALID, &err), SB_OK);
	ck_assert_uint_eq(e.n_replaced, 1);
	sb_tokenizer_enc_destroy(&e);
	sb_tokenizer_close(&t);
}
END_TEST

/* A pre-token is held whole up to 1 MiB; a longer one is refused, memory bounded. */
START_TEST(test_piece_bound)
{
	struct sb_tokenizer *t = open_ok(qwen);
	struct sb_tokenizer_enc e;
	struct sb_error err = { 0 };
	size_t n = (1 << 20) + 4096;
	char *s = malloc(n);

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(sb_tokenizer_enc_init(&e, t, &err), SB_OK);
	memset(s, 'a', n);
	ck_assert_int_eq(sb_tokenizer_encode(&e, NULL, 0, s, (1 << 20) - 16, NULL, 0,
					     SB_TRUNC_LONGEST_FIRST, 0, &err), SB_OK);
	ck_assert(e.n > 1);
	ck_assert_int_eq(sb_tokenizer_encode(&e, NULL, 0, s, n, NULL, 0,
					     SB_TRUNC_LONGEST_FIRST, 0, &err), SB_ELIMIT);
	ck_assert_msg(strstr(err.msg, "pre-token") != NULL, "%s", err.msg);
	/* Words of normal length: any amount streams. */
	for (size_t i = 0; i < n; i += 8)
		memcpy(s + i, i + 8 <= n ? "a word. " : "        ", i + 8 <= n ? 8 : n - i);
	sb_tokenizer_begin(&e, SB_TRUNC_LONGEST_FIRST, 0);
	for (int k = 0; k < 8; k++)
		ck_assert_int_eq(sb_tokenizer_feed(&e, s, n, &err), SB_OK);
	ck_assert_int_eq(sb_tokenizer_end(&e, &err), SB_OK);
	ck_assert(e.truncated);
	ck_assert_uint_eq(e.n, sb_tokenizer_info(t)->max_length);
	ck_assert_uint_gt(e.n_full, 8 * (uint64_t)(n / 8) * 2);
	free(s);
	sb_tokenizer_enc_destroy(&e);
	sb_tokenizer_close(&t);
}
END_TEST

/* ---- files written by the test ---- */

static char tmp[64];

static void put(const char *name, const char *text)
{
	char *p = sb_path_join(tmp, name);
	FILE *f = fopen(p, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
	fclose(f);
	free(p);
}

static void drop(const char *name)
{
	char *p = sb_path_join(tmp, name);

	unlink(p);
	free(p);
}

static void mk_tmp(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/sb-check-bpe.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void rm_tmp(void)
{
	static const char *names[] = { "tokenizer.json", "vocab.json", "merges.txt",
				       "tokenizer_config.json", "config.json" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		drop(names[i]);
	rmdir(tmp);
}

/* A minimal byte-level-free BPE: a b c ab abc, merges "a b" then "ab c". */
#define VOCAB "\"vocab\": {\"a\": 0, \"b\": 1, \"c\": 2, \"ab\": 3, \"abc\": 4, \"<u>\": 5}"
#define MODEL_M(extra) "\"model\": {\"type\": \"BPE\", " VOCAB ", " extra "}"
#define MODEL(extra) "{" MODEL_M(extra)

START_TEST(test_small_models)
{
	struct sb_tokenizer *t;

	mk_tmp();
	/* No pre-tokenizer: characters are the units; both merges forms. */
	put("tokenizer.json", MODEL("\"merges\": [\"a b\", \"ab c\"]") "}");
	t = open_ok(tmp);
	expect(t, "abcab", "4 3");
	sb_tokenizer_close(&t);
	put("tokenizer.json", MODEL("\"merges\": [[\"a\", \"b\"], [\"ab\", \"c\"]]") "}");
	t = open_ok(tmp);
	expect(t, "cabc", "2 4");
	sb_tokenizer_close(&t);
	/* Merges before the vocabulary: not Hugging Face's order, read from the tree. */
	put("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"merges\": [\"a b\", \"ab c\"], "
	    VOCAB "}}");
	t = open_ok(tmp);
	expect(t, "abcab", "4 3");
	sb_tokenizer_close(&t);
	/* Unknown characters: dropped without unk_token, else <u> (fused or not). */
	t = open_ok(tmp);
	expect(t, "axxb", "3");
	sb_tokenizer_close(&t);
	put("tokenizer.json", MODEL("\"merges\": [\"a b\"], \"unk_token\": \"<u>\"") "}");
	t = open_ok(tmp);
	expect(t, "axxb", "0 5 5 1");
	sb_tokenizer_close(&t);
	put("tokenizer.json", MODEL("\"merges\": [\"a b\"], \"unk_token\": \"<u>\", "
				    "\"fuse_unk\": true") "}");
	t = open_ok(tmp);
	expect(t, "axxb", "0 5 1");
	sb_tokenizer_close(&t);
	/* ignore_merges: a word of the vocabulary is taken whole. */
	put("tokenizer.json", MODEL("\"merges\": [\"a b\"], \"ignore_merges\": true") "}");
	t = open_ok(tmp);
	expect(t, "abc", "4");
	sb_tokenizer_close(&t);
	/* Normalizers in a Sequence: Lowercase, Replace, Prepend, Strip. */
	put("tokenizer.json", "{\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": ["
	    "{\"type\": \"Strip\", \"strip_left\": true, \"strip_right\": true}, "
	    "{\"type\": \"Lowercase\"}, {\"type\": \"Replace\", \"pattern\": {\"String\": \"x\"}, "
	    "\"content\": \"ab\"}, {\"type\": \"Prepend\", \"prepend\": \"c\"}]}, "
	    MODEL_M("\"merges\": [\"a b\", \"ab c\"]") "}");
	t = open_ok(tmp);
	expect(t, "  AXc  ", "2 0 4");
	expect(t, "   ", "");
	sb_tokenizer_close(&t);
	rm_tmp();
}
END_TEST

/*
 * Merges whose strings hold escapes are decoded apart from the text (the others are
 * read in place).  N_ESC characters c1, c2, ... (U+0101 on) are tokens 0 to N_ESC - 1,
 * and their prefixes c1c2, c1c2c3, ... tokens N_ESC on, each merged from the one before
 * and the next character, its first string written with \u escapes, so that the decoded
 * strings outgrow their buffer many times over; then a merge in the string form with
 * an escape, and a quote and a backslash.  One wrong offset and the whole text is not
 * one token.
 */
#define N_ESC 300

static void add(struct sb_buf *b, const char *s)
{
	ck_assert_int_eq(sb_buf_append(b, s, strlen(s), NULL), SB_OK);
}

/* Character k (1-based) as UTF-8 (raw) or as a JSON escape. */
static void add_char(struct sb_buf *b, int k, int escaped)
{
	unsigned c = 0x100 + (unsigned)k;
	char u[8];

	if (escaped) {
		snprintf(u, sizeof(u), "\\u%04X", c);
	} else {
		u[0] = (char)(0xC0 | (c >> 6));
		u[1] = (char)(0x80 | (c & 0x3F));
		u[2] = 0;
	}
	add(b, u);
}

START_TEST(test_escaped_merges)
{
	struct sb_buf b, text;
	struct sb_tokenizer *t;
	char num[32];

	sb_buf_init(&b);
	sb_buf_init(&text);
	mk_tmp();
	add(&b, "{\"model\": {\"type\": \"BPE\", \"vocab\": {");
	for (int k = 1; k <= N_ESC; k++) {
		add(&b, "\"");
		add_char(&b, k, k % 2);
		snprintf(num, sizeof(num), "\": %d, ", k - 1);
		add(&b, num);
		add_char(&text, k, 0);
	}
	for (int k = 2; k <= N_ESC; k++) {
		add(&b, "\"");
		for (int j = 1; j <= k; j++)
			add_char(&b, j, k % 2);
		snprintf(num, sizeof(num), "\": %d, ", N_ESC + k - 2);
		add(&b, num);
	}
	add(&b, "\"q\": 1000, \"\\\"\": 1001, \"q\\\"\": 1002, \"\\\\\": 1003, "
		"\"q\\\"\\\\\": 1004}, \"merges\": [");
	for (int k = 2; k <= N_ESC; k++) {
		add(&b, "[\"");
		for (int j = 1; j < k; j++)
			add_char(&b, j, 1);
		add(&b, "\", \"");
		add_char(&b, k, 0);
		add(&b, "\"], ");
	}
	add(&b, "\"q \\\"\", [\"q\\\"\", \"\\\\\"]]}}");
	ck_assert_int_eq(sb_buf_append(&b, "", 1, NULL), SB_OK);
	ck_assert_int_eq(sb_buf_append(&text, "", 1, NULL), SB_OK);
	put("tokenizer.json", (const char *)b.data);
	t = open_ok(tmp);
	snprintf(num, sizeof(num), "%d", 2 * N_ESC - 2);
	expect(t, (const char *)text.data, num);
	expect(t, "q\"\\", "1004");
	expect(t, "q\"q", "1002 1000");
	sb_tokenizer_close(&t);
	rm_tmp();
	sb_buf_destroy(&b);
	sb_buf_destroy(&text);
}
END_TEST

/* Each file must be refused with the status and a message naming the JSON path. */
static const struct {
	const char *json;
	int code;
	const char *msg;
} bad_json[] = {
	{MODEL("\"merges\": 3") "}", SB_EFORMAT, "model.merges: expected an array"},
	{MODEL("\"merges\": [\"a b\", \"a x\"]") "}", SB_EFORMAT, "model.merges[1]: 'x' is not in"},
	{MODEL("\"merges\": [\"b c\"]") "}", SB_EFORMAT, "model.merges[0]: the merged token 'bc'"},
	{MODEL("\"merges\": [\"a  b\"]") "}", SB_EFORMAT, "model.merges[0]: expected \"a b\""},
	{MODEL("\"merges\": [[\"a\"]]") "}", SB_EFORMAT, "model.merges[0]: expected"},
	{MODEL("\"merges\": [[\"a\", \"b\" \"c\"]]") "}", SB_EFORMAT,
	 "model.merges[0]: expected [\"a\", \"b\"]"},
	{MODEL("\"merges\": [\"a b\" \"b c\"]") "}", SB_EFORMAT,
	 "model.merges: byte 7: expected ',' or ']'"},
	{MODEL("\"merges\": [7]") "}", SB_EFORMAT, "model.merges[0]: expected \"a b\" or"},
	/* Merges are read without their UTF-8 checked, then checked when one is not in the
	 * vocabulary: the message is the text reader's, short strings and long. */
	{MODEL("\"merges\": [\"a b\", \"a \xff\"]") "}", SB_EFORMAT,
	 "model.merges: byte 11: invalid utf-8 in string"},
	{MODEL("\"merges\": [[\"a\", \"bbbbbbbbbbbbbbbbbbbb\xc3\"]]") "}", SB_EFORMAT,
	 "model.merges: byte 28: invalid utf-8 in string"},
	{MODEL("\"merges\": [\"a b\", [\"a\", \"\xed\xa0\x80\"]]") "}", SB_EFORMAT,
	 "model.merges: byte 15: invalid utf-8 in string"},
	{MODEL("\"merges\": [\"a b\x01\"]") "}", SB_EFORMAT,
	 "model.merges: byte 5: control character in string"},
	{MODEL("\"merges\": [[\"a\", \"bbbbbbbbbbbbbbbbbbbb\x1f\"]]") "}", SB_EFORMAT,
	 "model.merges: byte 28: control character in string"},
	{"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0 \"b\": 1}, \"merges\": []}}",
	 SB_EFORMAT, "model.vocab: byte 8: expected ',' or '}'"},
	{"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\" 0}, \"merges\": []}}",
	 SB_EFORMAT, "model.vocab: byte 5: expected ':'"},
	{MODEL("\"merges\": [], \"dropout\": 0.1") "}", SB_EUNSUPPORTED, "model.dropout"},
	{"{\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false}, "
	 MODEL_M("\"merges\": [], \"byte_fallback\": true") "}", SB_EUNSUPPORTED,
	 "model.byte_fallback: true with a ByteLevel pre-tokenizer"},
	{MODEL("\"merges\": [], \"fuse_unk\": \"yes\"") "}", SB_EFORMAT,
	 "model: fuse_unk: expected a boolean"},
	{MODEL("\"merges\": [], \"unk_token\": \"zz\"") "}", SB_EFORMAT, "unk_token 'zz'"},
	{MODEL("\"merges\": [], \"unk_token\": 7") "}", SB_EFORMAT, "unk_token: expected a string"},
	{"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}}",
	 SB_EFORMAT, "have the same id 0"},
	{"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 16777216}, \"merges\": []}}",
	 SB_ELIMIT, "out of range"},
	{"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 99999}, \"merges\": []}}",
	 SB_ELIMIT, "dense"},
	{"{\"model\": {\"type\": \"BPE\", \"vocab\": [], \"merges\": []}}", SB_EFORMAT,
	 "model.vocab: expected an object"},
	{"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"0\"}, \"merges\": []}}", SB_EFORMAT,
	 "model.vocab['a']: expected an integer"},
	{"{\"version\": \"2.0\", " MODEL_M("\"merges\": []") "}", SB_EUNSUPPORTED, "version: '2.0'"},
	{"{\"normalizer\": {\"type\": \"BertNormalizer\"}, " MODEL_M("\"merges\": []") "}",
	 SB_EUNSUPPORTED, "normalizer: normalizer 'BertNormalizer' is not supported"},
	{"{\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFC\"}, "
	 "{\"type\": \"Replace\", \"pattern\": {\"Regex\": \"a+\"}, \"content\": \"\"}]}, "
	 MODEL_M("\"merges\": []") "}", SB_EUNSUPPORTED,
	 "normalizer.normalizers[1]: Replace with the regex 'a+' is not supported"},
	{"{\"normalizer\": {\"type\": \"Strip\", \"strip_left\": 1}, " MODEL_M("\"merges\": []") "}",
	 SB_EFORMAT, "normalizer: strip_left: expected a boolean"},
	{"{\"normalizer\": [], " MODEL_M("\"merges\": []") "}", SB_EFORMAT,
	 "normalizer: expected an object with a type"},
	{"{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(a+)+$\"}, "
	 "\"behavior\": \"Isolated\"}, " MODEL_M("\"merges\": []") "}", SB_EUNSUPPORTED,
	 "pre_tokenizer: pattern.Regex '(a+)+$' is not one sb implements"},
	{"{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"String\": \" \"}, "
	 "\"behavior\": \"Isolated\"}, " MODEL_M("\"merges\": []") "}", SB_EUNSUPPORTED,
	 "Split on a String"},
	{"{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": "
	 "\"ByteLevel\", \"add_prefix_space\": false}, {\"type\": \"Whitespace\"}]}, "
	 MODEL_M("\"merges\": []") "}", SB_EUNSUPPORTED,
	 "pre_tokenizer.pretokenizers[1]: a pre-tokenizer after ByteLevel"},
	{"{\"pre_tokenizer\": {\"type\": \"Whitespace\"}, " MODEL_M("\"merges\": []") "}",
	 SB_EUNSUPPORTED, "pre-tokenizer 'Whitespace' is not supported"},
	{"{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, " MODEL_M("\"merges\": []") "}",
	 SB_EFORMAT, "add_prefix_space: expected a boolean"},
	{"{\"post_processor\": {\"type\": \"RobertaProcessing\", \"cls\": [\"a\"], \"sep\": "
	 "[\"b\", 1]}, " MODEL_M("\"merges\": []") "}", SB_EFORMAT,
	 "post_processor: cls: expected [token, id]"},
	{"{\"post_processor\": {\"type\": \"Sequence\", \"processors\": [{\"type\": "
	 "\"ByteLevel\"}, {\"type\": \"Weird\"}]}, " MODEL_M("\"merges\": []") "}", SB_EUNSUPPORTED,
	 "post_processor.processors[1]: post-processor 'Weird'"},
	{"{\"added_tokens\": [{\"id\": 9, \"content\": \"<x>\"}], " MODEL_M("\"merges\": []") "}",
	 SB_EFORMAT, "added_tokens[0]: id 9, but '<x>' gets id 6"},
	{"{\"added_tokens\": [{\"id\": 3, \"content\": \"ab\"}, {\"id\": 3, \"content\": "
	 "\"ab\"}], " MODEL_M("\"merges\": []") "}", SB_EFORMAT,
	 "added_tokens[1]: content 'ab' is there twice"},
	{"{\"added_tokens\": [{\"id\": 6, \"content\": 5}], " MODEL_M("\"merges\": []") "}",
	 SB_EFORMAT, "added_tokens[0]: content: expected a string"},
	{"{\"added_tokens\": 1, " MODEL_M("\"merges\": []") "}", SB_EFORMAT,
	 "added_tokens: expected an array"},
	{"{\"model\": {\"type\": \"WordLevel\"}}", SB_EUNSUPPORTED,
	 "only WordPiece, BPE and Unigram"},
};

START_TEST(test_bad_json)
{
	mk_tmp();
	for (size_t i = 0; i < sizeof(bad_json) / sizeof(bad_json[0]); i++) {
		struct sb_tokenizer *t = NULL;
		struct sb_error err = { 0 };
		int rc;

		put("tokenizer.json", bad_json[i].json);
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

/* vocab.json + merges.txt give the ids of the tokenizer.json built from them. */
START_TEST(test_vocab_json)
{
	struct sb_tokenizer *t;
	struct sb_error err = { 0 };
	char *vj = sb_path_join(roberta, "vocab.json"), *mt = sb_path_join(roberta, "merges.txt");
	char *tc = sb_path_join(roberta, "tokenizer_config.json");
	struct sb_buf b;

	mk_tmp();
	sb_buf_init(&b);
	ck_assert_int_eq(sb_file_read(vj, 1 << 24, &b, &err), SB_OK);
	ck_assert_int_eq(sb_buf_append(&b, "", 1, &err), SB_OK);
	put("vocab.json", (const char *)b.data);
	b.len = 0;
	ck_assert_int_eq(sb_file_read(mt, 1 << 24, &b, &err), SB_OK);
	ck_assert_int_eq(sb_buf_append(&b, "", 1, &err), SB_OK);
	put("merges.txt", (const char *)b.data);
	b.len = 0;
	ck_assert_int_eq(sb_file_read(tc, 1 << 24, &b, &err), SB_OK);
	ck_assert_int_eq(sb_buf_append(&b, "", 1, &err), SB_OK);
	put("tokenizer_config.json", (const char *)b.data);
	t = open_ok(tmp);
	ck_assert_str_eq(sb_tokenizer_info(t)->source, "vocab.json + merges.txt");
	expect(t, "Hello world, it's a test.", "0 43 699 82 999 15 344 342 261 260 399 17 2");
	expect(t, "<mask> x <mask>y  <mask>", "0 1261 224 91 1261 92 1261 2");
	sb_tokenizer_close(&t);
	/* Refused: a merges.txt without its header, a bad line, no final newline; a
	 * tokenizer_class other than RoBERTa's or GPT-2's. */
	{
		static const struct { const char *merges, *msg; } bad[] = {
			{"a b\n", "line 1: expected \"#version"},
			{"#version: 0.2\n\xc4\xa0 t\nfoo\n", "line 3: expected \"a b\""},
			{"#version: 0.2\n\xc4\xa0 t", "no final newline"},
			{"#version: 0.2\nzz t\n", "line 2: 'zz' is not in"},
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			put("merges.txt", bad[i].merges);
			ck_assert_int_eq(sb_tokenizer_open(&t, tmp, NULL, &err), SB_EFORMAT);
			ck_assert_msg(strstr(err.msg, bad[i].msg) && strstr(err.msg, "merges.txt"),
				      "%s", err.msg);
		}
	}
	/* A vocab.json with something after its object. */
	put("vocab.json", "{\"a\": 0} x");
	ck_assert_int_eq(sb_tokenizer_open(&t, tmp, NULL, &err), SB_EFORMAT);
	ck_assert_msg(strstr(err.msg, "vocab.json") && strstr(err.msg, "byte 9: "),
		      "%s", err.msg);
	b.len = 0;
	ck_assert_int_eq(sb_file_read(vj, 1 << 24, &b, &err), SB_OK);
	ck_assert_int_eq(sb_buf_append(&b, "", 1, &err), SB_OK);
	put("vocab.json", (const char *)b.data);
	put("tokenizer_config.json", "{\"tokenizer_class\": \"XLMRobertaTokenizer\"}");
	ck_assert_int_eq(sb_tokenizer_open(&t, tmp, NULL, &err), SB_EUNSUPPORTED);
	ck_assert_msg(strstr(err.msg, "XLMRobertaTokenizer") != NULL, "%s", err.msg);
	drop("merges.txt");
	ck_assert_int_eq(sb_tokenizer_open(&t, tmp, NULL, &err), SB_ENOTFOUND);
	ck_assert_msg(strstr(err.msg, "vocab.json without merges.txt") != NULL, "%s", err.msg);
	sb_buf_destroy(&b);
	free(vj);
	free(mt);
	free(tc);
	rm_tmp();
}
END_TEST

/* The fingerprint covers the merges: reordering two changes it. */
START_TEST(test_fingerprint)
{
	struct sb_tokenizer *t;
	uint64_t f1, f2;

	mk_tmp();
	put("tokenizer.json", MODEL("\"merges\": [\"a b\", \"ab c\"]") "}");
	t = open_ok(tmp);
	f1 = sb_tokenizer_info(t)->fingerprint;
	sb_tokenizer_close(&t);
	put("tokenizer.json", MODEL("\"merges\": [\"ab c\", \"a b\"]") "}");
	t = open_ok(tmp);
	f2 = sb_tokenizer_info(t)->fingerprint;
	sb_tokenizer_close(&t);
	ck_assert(f1 != f2);
	rm_tmp();
}
END_TEST

/* A merge's token is the one of its text, even when the id where files usually put it
 * (right after the previous merge's) holds a text with a NUL byte that the merge's text
 * is the start of. */
START_TEST(test_merged_token_id)
{
	struct sb_tokenizer *t;

	mk_tmp();
	put("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, "
	    "\"x\": 2, \"ax\": 3, \"ab\\u0000x\": 4, \"ab\": 5}, \"merges\": [\"a x\", "
	    "\"a b\"]}}");
	t = open_ok(tmp);
	expect(t, "ab", "5");
	sb_tokenizer_close(&t);
	rm_tmp();
}
END_TEST

/* Two pre-tokens of len bytes (len >= 12) whose hashes agree on their low 20 bits: they
 * share a slot or set of the cache whatever its size up to 2^20. */
static void colliding(size_t len, char *a, char *b)
{
	uint32_t *seen = calloc((size_t)1 << 20, sizeof(*seen));

	ck_assert_ptr_nonnull(seen);
	for (uint32_t i = 1;; i++) {
		uint32_t h;

		memset(a, 'x', len);
		snprintf(a, len, "%010u", i);
		a[strlen(a)] = 'x';
		h = sb_tok_word_hash((const unsigned char *)a, len) & 0xFFFFF;
		if (seen[h]) {
			memset(b, 'x', len);
			snprintf(b, len, "%010u", seen[h]);
			b[strlen(b)] = 'x';
			break;
		}
		seen[h] = i;
	}
	free(seen);
}

/* The cache keeps pre-tokens whose hashes fall in the same place: repeated text with
 * such a pair hits the cache for both instead of evicting one with the other. */
START_TEST(test_cache_collisions)
{
	static const size_t lens[] = {12, 200};
	struct tok_cache *c = sb_tok_cache_new();
	int32_t ids[2] = {7, 9}, got[4];

	ck_assert_ptr_nonnull(c);
	for (size_t k = 0; k < 2; k++) {
		char a[256], b[256];
		size_t n = lens[k];
		uint32_t ha, hb;
		struct tok_seq out = {got, 0, 4, 4, 0, 0};

		colliding(n, a, b);
		ck_assert(sb_tok_cache_get(c, (unsigned char *)a, n, &ha, &out) == 0);
		sb_tok_cache_put(c, ha, (unsigned char *)a, n, ids, 1);
		ck_assert(sb_tok_cache_get(c, (unsigned char *)b, n, &hb, &out) == 0);
		sb_tok_cache_put(c, hb, (unsigned char *)b, n, ids + 1, 1);
		ck_assert_msg(sb_tok_cache_get(c, (unsigned char *)a, n, &ha, &out) == 1,
			      "%zu bytes: the first of two colliding pre-tokens was evicted", n);
		ck_assert(sb_tok_cache_get(c, (unsigned char *)b, n, &hb, &out) == 1);
		ck_assert_uint_eq(out.n_kept, 2);
		ck_assert_int_eq(got[0], 7);
		ck_assert_int_eq(got[1], 9);
	}
	sb_tok_cache_free(c);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tok_bpe");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_roberta);
	tcase_add_test(tc, test_qwen);
	tcase_add_test(tc, test_stream);
	tcase_add_test(tc, test_pairs_and_flags);
	tcase_add_test(tc, test_piece_bound);
	tcase_add_test(tc, test_small_models);
	tcase_add_test(tc, test_escaped_merges);
	tcase_add_test(tc, test_bad_json);
	tcase_add_test(tc, test_vocab_json);
	tcase_add_test(tc, test_fingerprint);
	tcase_add_test(tc, test_cache_collisions);
	tcase_add_test(tc, test_merged_token_id);
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
