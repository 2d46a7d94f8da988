/*
 * check_tokenizer.c - unit tests for lib/tokenizer.c: the Hugging Face rules one by
 * one on a small vocabulary written by the test, truncation, invalid UTF-8, bounded
 * memory on huge input, both loading paths (vocab.txt and tokenizer.json), errors.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "tokenizer.h"

static const char *vocab[] = {
	"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "!", ",", ".", "a", "##a", "ba", "##na",
	"hello", "world", "i", "##s", "x", "y", "\xe4\xb8\xad" /* 中 */, "istanbul", "cafe",
	"##b", "b", "##y",
};
#define ID(s) (sb_tokenizer_token_id(tok, s, strlen(s)))

static char dir[64];
static struct sb_tokenizer *tok;
static struct sb_tokenizer_enc enc;

static void write_file(const char *d, const char *name, const char *text, size_t n)
{
	char *p = sb_path_join(d, name);
	FILE *f = fopen(p, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, n, f), n);
	fclose(f);
	free(p);
}

static void rm_dir(const char *d)
{
	static const char *names[] = { "vocab.txt", "tokenizer_config.json", "tokenizer.json",
				       "sentence_bert_config.json", "config.json" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *p = sb_path_join(d, names[i]);

		unlink(p);
		free(p);
	}
	rmdir(d);
}

static void make_vocab_dir(char *d, size_t n)
{
	char buf[512];
	size_t len = 0;

	snprintf(d, n, "/tmp/sb-check-tok.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(d));
	for (size_t i = 0; i < sizeof(vocab) / sizeof(vocab[0]); i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s\n", vocab[i]);
	write_file(d, "vocab.txt", buf, len);
}

static void setup(void)
{
	struct sb_error err = { 0 };
	struct sb_tokenizer_opts o;
	const char *cfg = "{\"do_lower_case\": true, \"model_max_length\": 16}";

	make_vocab_dir(dir, sizeof(dir));
	write_file(dir, "tokenizer_config.json", cfg, strlen(cfg));
	sb_tokenizer_opts_init(&o);
	ck_assert_msg(sb_tokenizer_open(&tok, dir, &o, &err) == SB_OK, "%s", err.msg);
	ck_assert_int_eq(sb_tokenizer_enc_init(&enc, tok, &err), SB_OK);
}

static void teardown(void)
{
	sb_tokenizer_enc_destroy(&enc);
	sb_tokenizer_close(&tok);
	ck_assert_ptr_null(tok);
	rm_dir(dir);
}

/* Encodes s (single) and returns the ids as "2 12 13 3". */
static const char *enc_str(const char *a, const char *b, enum sb_trunc tr, unsigned flags)
{
	static char out[4096];
	struct sb_error err = { 0 };
	size_t len = 0;
	int rc = sb_tokenizer_encode(&enc, NULL, 0, a, strlen(a), b, b ? strlen(b) : 0, tr,
				     flags, &err);

	ck_assert_msg(rc == SB_OK, "encode '%s': %s", a, err.msg);
	out[0] = 0;
	for (size_t i = 0; i < enc.n && len < sizeof(out) - 16; i++)
		len += (size_t)snprintf(out + len, sizeof(out) - len, i ? " %d" : "%d", enc.ids[i]);
	return out;
}

static const char *ids(const char *s)
{
	return enc_str(s, NULL, SB_TRUNC_LONGEST_FIRST, 0);
}

START_TEST(test_info)
{
	const struct sb_tokenizer_info *in = sb_tokenizer_info(tok);

	ck_assert_str_eq(in->source, "vocab.txt");
	ck_assert_uint_eq(in->vocab_size, sizeof(vocab) / sizeof(vocab[0]));
	ck_assert_uint_eq(in->max_length, 16);
	ck_assert_int_eq(in->lowercase, 1);
	ck_assert_int_eq(in->strip_accents, 1);
	ck_assert_int_eq(in->unk_id, 1);
	ck_assert_int_eq(in->pad_id, 0);
	ck_assert_uint_eq(in->n_special_single, 2);
	ck_assert_uint_eq(in->n_special_pair, 3);
	ck_assert_uint_gt(in->n_settings, 3);
	ck_assert_int_eq(ID("##na"), 11);
	ck_assert_int_eq(ID("nope"), -1);
	ck_assert_str_eq(sb_tokenizer_id_token(tok, 13), "world");
	ck_assert_ptr_null(sb_tokenizer_id_token(tok, 1000));
}
END_TEST

START_TEST(test_basic)
{
	ck_assert_str_eq(ids("hello world!"), "2 12 13 5 3");
	ck_assert_str_eq(ids("Hello,WORLD."), "2 12 6 13 7 3");
	ck_assert_str_eq(ids(""), "2 3");
	ck_assert_str_eq(ids(" \t "), "2 3");
	/* Greedy longest match first with ##; an unmatched piece makes the word [UNK]. */
	ck_assert_str_eq(ids("banana"), "2 10 11 11 3");
	ck_assert_str_eq(ids("nanana ba"), "2 1 10 3");
	/* Accents stripped after lowercasing; U+0130 lowercases to i + U+0307. */
	ck_assert_str_eq(ids("B\xc3\xa1n\xc3\xa0NA"), "2 10 11 11 3");
	ck_assert_str_eq(ids("\xc4\xb0stanbul caf\xc3\xa9"), "2 19 20 3");
	/* CJK ideographs are words of their own. */
	ck_assert_str_eq(ids("a\xe4\xb8\xad" "a"), "2 8 18 8 3");
	/* clean_text: controls and format chars vanish (no split), whitespace splits. */
	ck_assert_str_eq(ids("ba\x01na ba\xe2\x80\x8bna"), "2 10 11 10 11 3");
	ck_assert_str_eq(ids("ba\xc2\xa0" "ba\xe3\x80\x80" "ba"), "2 10 10 10 3");
	ck_assert_str_eq(ids("ba\x0b" "na"), "2 10 11 3");
	/* Unicode punctuation splits; U+166D is punctuation for Hugging Face's tables
	 * (So since Unicode 12), U+0890 is not a format char for them (new in 14). */
	ck_assert_str_eq(ids("ba\xe2\x80\x94" "ba"), "2 10 1 10 3");
	ck_assert_str_eq(ids("ba\xe1\x99\xad" "ba"), "2 10 1 10 3");
	ck_assert_str_eq(ids("ba\xe0\xa2\x90na"), "2 1 3");
	/* Special tokens in the text are matched before normalization, case-sensitively. */
	ck_assert_str_eq(ids("x[CLS]y [cls]"), "2 16 2 17 1 1 1 3");
	ck_assert_str_eq(ids("[SEP][MASK]"), "2 3 4 3");
}
END_TEST

START_TEST(test_long_words)
{
	char w[256];

	memset(w, 'a', 100);
	w[100] = 0;
	enc_str(w, NULL, SB_TRUNC_NONE, 0);
	ck_assert_uint_eq(enc.n, 102);
	ck_assert_int_eq(enc.ids[1], 8);
	ck_assert_int_eq(enc.ids[100], 9);
	w[100] = 'a';
	w[101] = 0;
	ck_assert_str_eq(ids(w), "2 1 3");
	/* 100 accented letters: counted after NFD and stripping, so still 100. */
	for (int i = 0; i < 100; i++)
		memcpy(w + 2 * i, "\xc3\xa1", 2);
	w[200] = 0;
	enc_str(w, NULL, SB_TRUNC_NONE, 0);
	ck_assert_uint_eq(enc.n, 102);
}
END_TEST

START_TEST(test_truncation)
{
	struct sb_error err = { 0 };
	char a[64], b[64];

	/* Single: 16 = [CLS] + 14 + [SEP]. */
	enc_str("a a a a a a a a a a a a a a a a a a a a", NULL, SB_TRUNC_LONGEST_FIRST, 0);
	ck_assert_uint_eq(enc.n, 16);
	ck_assert_uint_eq(enc.n_full, 22);
	ck_assert_int_eq(enc.truncated, 1);
	ck_assert_int_eq(enc.ids[15], 3);
	enc_str("a a a", NULL, SB_TRUNC_LONGEST_FIRST, 0);
	ck_assert_int_eq(enc.truncated, 0);
	/* Pairs, longest_first: the table of utils/truncation.rs with a budget of 7
	 * (max_length 16 - 3 specials leaves 13; use lengths that exercise each case). */
	{
		static const struct { int la, lb, ka, kb; } cases[] = {
			{ 0, 0, 0, 0 }, { 0, 20, 0, 13 }, { 2, 20, 2, 11 }, { 20, 2, 11, 2 },
			{ 8, 8, 6, 7 }, { 20, 20, 6, 7 }, { 13, 0, 13, 0 }, { 7, 6, 7, 6 },
			{ 7, 7, 6, 7 },
		};
		for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
			size_t ka = 0, kb = 0;

			a[0] = b[0] = 0;
			for (int i = 0; i < cases[c].la; i++)
				strcat(a, "a ");
			for (int i = 0; i < cases[c].lb; i++)
				strcat(b, "b ");
			enc_str(a, b, SB_TRUNC_LONGEST_FIRST, 0);
			for (size_t i = 0; i < enc.n; i++) {
				ka += enc.ids[i] == 8;
				kb += enc.ids[i] == 22;
				ck_assert_int_eq(enc.type_ids[i], enc.ids[i] == 22 ||
						 (i == enc.n - 1) ? 1 : 0);
			}
			ck_assert_msg(ka == (size_t)cases[c].ka && kb == (size_t)cases[c].kb,
				      "case %zu: kept %zu+%zu, expected %d+%d", c, ka, kb,
				      cases[c].ka, cases[c].kb);
		}
	}
	/* only_first / only_second, and their failure when the target is too short. */
	enc_str("a a a a a a a a a a", "b b b b b b", SB_TRUNC_ONLY_FIRST, 0);
	ck_assert_uint_eq(enc.n, 16);
	ck_assert_int_eq(sb_tokenizer_encode(&enc, NULL, 0, "a", 1, "b b b b b b b b b b b b b b",
					     27, SB_TRUNC_ONLY_FIRST, 0, &err), SB_EINVAL);
	ck_assert_msg(strstr(err.msg, "only_first") != NULL, "%s", err.msg);
	enc_str("a", "b b b b b b b b b b b b b b", SB_TRUNC_ONLY_SECOND, 0);
	ck_assert_uint_eq(enc.n, 16);
	/* No specials. */
	enc_str("hello world", NULL, SB_TRUNC_LONGEST_FIRST, SB_TOKENIZER_NO_SPECIAL);
	ck_assert_uint_eq(enc.n, 2);
}
END_TEST

START_TEST(test_invalid_utf8)
{
	struct sb_error err = { 0 };
	static const char *bad[] = { "ba\xff", "ab\xc3", "ab\xed\xa0\x80", "ab\xc0\xaf",
				     "ab\xf4\x90\x80\x80", "ab\xe2\x82" };
	uint64_t c = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(sb_tokenizer_encode(&enc, NULL, 0, bad[i], strlen(bad[i]), NULL, 0,
						     SB_TRUNC_LONGEST_FIRST, 0, &err), SB_EFORMAT);
		ck_assert_uint_eq(enc.bad_offset, 2);
		ck_assert_msg(strstr(err.msg, "byte 2: invalid UTF-8") != NULL, "%s", err.msg);
	}
	/* Replaced by U+FFFD, which clean_text drops: "ba\xffna" is the word "bana". */
	ck_assert_str_eq(enc_str("ba\xffna \xc3\xa1\xe2\x82", NULL, SB_TRUNC_LONGEST_FIRST,
				 SB_TOKENIZER_REPLACE_INVALID), "2 10 11 8 3");
	ck_assert_uint_eq(enc.n_replaced, 2);
	/* In text b: offset within b. */
	ck_assert_int_eq(sb_tokenizer_encode(&enc, NULL, 0, "a", 1, "b\x80", 2,
					     SB_TRUNC_LONGEST_FIRST, 0, &err), SB_EFORMAT);
	ck_assert_int_eq(enc.bad_in_b, 1);
	ck_assert_uint_eq(enc.bad_offset, 1);
	ck_assert_int_eq(sb_tokenizer_count(&enc, "hello world", 11, &c, &err), SB_OK);
	ck_assert_uint_eq(c, 2);
}
END_TEST

START_TEST(test_bounded)
{
	size_t n = 1 << 20;
	char *big = malloc(n + 1);

	/* One word of 1 MB: one [UNK]; the word buffer does not grow with it. */
	memset(big, 'a', n);
	big[n] = 0;
	ck_assert_str_eq(ids(big), "2 1 3");
	/* 512k words: the encoder stores max_length ids and counts the rest. */
	for (size_t i = 0; i < n; i += 2)
		big[i + 1] = ' ';
	enc_str(big, NULL, SB_TRUNC_LONGEST_FIRST, 0);
	ck_assert_uint_eq(enc.n, 16);
	ck_assert_uint_eq(enc.n_full, n / 2 + 2);
	/* NUL bytes inside the text are dropped like other controls. */
	ck_assert_int_eq(sb_tokenizer_encode(&enc, NULL, 0, "ba\0na", 5, NULL, 0,
					     SB_TRUNC_LONGEST_FIRST, 0, NULL), SB_OK);
	ck_assert_uint_eq(enc.n, 4);
	ck_assert_int_eq(enc.ids[1], 10);
	ck_assert_int_eq(enc.ids[2], 11);
	free(big);
}
END_TEST

START_TEST(test_prompt)
{
	struct sb_error err = { 0 };

	ck_assert_int_eq(sb_tokenizer_encode(&enc, "hello ", 6, "world", 5, NULL, 0,
					     SB_TRUNC_LONGEST_FIRST, 0, &err), SB_OK);
	ck_assert_uint_eq(enc.n, 4);
	ck_assert_int_eq(enc.ids[1], 12);
	ck_assert_int_eq(enc.ids[2], 13);
	/* The prompt joins the text: "ba" + "na" is one word. */
	ck_assert_int_eq(sb_tokenizer_encode(&enc, "ba", 2, "na", 2, NULL, 0,
					     SB_TRUNC_LONGEST_FIRST, 0, &err), SB_OK);
	ck_assert_uint_eq(enc.n, 4);
	ck_assert_int_eq(enc.ids[2], 11);
}
END_TEST

/* Feeding a text in pieces split anywhere gives what one encode gives. */
START_TEST(test_stream)
{
	static const char *texts[] = {
		"hello world!", "x[CLS]y [SEP][MASK] [cls] [CLS", "ba\xc3\xa1na caf\xc3\xa9 \xe4\xb8\xad\xe4\xb8\xad",
		"\xc4\xb0stanbul \xf0\x9f\x98\x80 a\xcc\x81\xcc\x82" "b", "", "[[SEP]]", "a a a a a a a a a a a a a a a a a",
	};
	struct sb_error err = { 0 };

	for (size_t k = 0; k < sizeof(texts) / sizeof(texts[0]); k++) {
		const char *t = texts[k];
		size_t n = strlen(t);
		int32_t want[64];
		size_t nw;

		enc_str(t, NULL, SB_TRUNC_LONGEST_FIRST, 0);
		nw = enc.n;
		memcpy(want, enc.ids, nw * sizeof(int32_t));
		/* Two pieces split at every byte, and one byte at a time. */
		for (size_t cut = 0; cut <= n + 1; cut++) {
			sb_tokenizer_begin(&enc, SB_TRUNC_LONGEST_FIRST, 0);
			if (cut <= n) {
				ck_assert_int_eq(sb_tokenizer_feed(&enc, t, cut, &err), SB_OK);
				ck_assert_int_eq(sb_tokenizer_feed(&enc, t + cut, n - cut, &err), SB_OK);
			} else {
				for (size_t i = 0; i < n; i++)
					ck_assert_int_eq(sb_tokenizer_feed(&enc, t + i, 1, &err), SB_OK);
			}
			ck_assert_int_eq(sb_tokenizer_end(&enc, &err), SB_OK);
			ck_assert_msg(enc.n == nw && memcmp(enc.ids, want, nw * sizeof(int32_t)) == 0,
				      "text %zu split at %zu differs", k, cut);
		}
	}
	/* Pairs, and an error offset counted across pieces. */
	sb_tokenizer_begin(&enc, SB_TRUNC_LONGEST_FIRST, 0);
	ck_assert_int_eq(sb_tokenizer_feed(&enc, "hel", 3, &err), SB_OK);
	ck_assert_int_eq(sb_tokenizer_feed(&enc, "lo", 2, &err), SB_OK);
	ck_assert_int_eq(sb_tokenizer_next(&enc, &err), SB_OK);
	ck_assert_int_eq(sb_tokenizer_feed(&enc, "wor", 3, &err), SB_OK);
	ck_assert_int_eq(sb_tokenizer_feed(&enc, "ld", 2, &err), SB_OK);
	ck_assert_int_eq(sb_tokenizer_end(&enc, &err), SB_OK);
	ck_assert_str_eq(enc_str("hello", "world", SB_TRUNC_LONGEST_FIRST, 0), "2 12 3 13 3");
	sb_tokenizer_begin(&enc, SB_TRUNC_LONGEST_FIRST, 0);
	ck_assert_int_eq(sb_tokenizer_feed(&enc, "hello world ", 12, &err), SB_OK);
	ck_assert_int_eq(sb_tokenizer_feed(&enc, "ab\xe2", 3, &err), SB_OK);
	ck_assert_int_eq(sb_tokenizer_end(&enc, &err), SB_EFORMAT);
	ck_assert_uint_eq(enc.bad_offset, 14);
	ck_assert_int_eq(sb_tokenizer_feed(&enc, "x", 1, &err), SB_EINVAL);
}
END_TEST

static char *models_dir(const char *name)
{
	const char *src = getenv("SB_SRCDIR");
	char *base = sb_path_join(src ? src : ".", "tests/models");
	char *p = sb_path_join(base, name);

	free(base);
	ck_assert_msg(sb_dir_exists(p), "%s is missing (set SB_SRCDIR)", p);
	return p;
}

/* tokenizer.json and vocab.txt + tokenizer_config.json of one model agree. */
START_TEST(test_tokenizer_json)
{
	struct sb_error err = { 0 };
	struct sb_tokenizer *tj = NULL, *tv = NULL;
	struct sb_tokenizer_enc ej, ev;
	char *m = models_dir("tiny-distilbert");
	char *src = sb_path_join(m, "vocab.txt"), *cfg = sb_path_join(m, "tokenizer_config.json");
	struct sb_buf b;
	char d[64];
	static const char *texts[] = { "hello world what a time to be alive!",
				       "A man is playing the guitar, [SEP] isn't he?",
				       "Caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 x[CLS]", "" };

	ck_assert_msg(sb_tokenizer_open(&tj, m, NULL, &err) == SB_OK, "%s", err.msg);
	ck_assert_str_eq(sb_tokenizer_info(tj)->source, "tokenizer.json");
	ck_assert_uint_eq(sb_tokenizer_info(tj)->max_length, 128);
	ck_assert_int_eq(sb_tokenizer_info(tj)->has_token_types, 0);
	snprintf(d, sizeof(d), "/tmp/sb-check-tok.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(d));
	sb_buf_init(&b);
	ck_assert_int_eq(sb_file_read(src, 1 << 20, &b, &err), SB_OK);
	write_file(d, "vocab.txt", (const char *)b.data, b.len);
	sb_buf_clear(&b);
	ck_assert_int_eq(sb_file_read(cfg, 1 << 20, &b, &err), SB_OK);
	write_file(d, "tokenizer_config.json", (const char *)b.data, b.len);
	{
		const char *mc = "{\"model_type\": \"bert\", \"max_position_embeddings\": 64}";

		write_file(d, "config.json", mc, strlen(mc));
	}
	sb_buf_destroy(&b);
	ck_assert_msg(sb_tokenizer_open(&tv, d, NULL, &err) == SB_OK, "%s", err.msg);
	ck_assert_str_eq(sb_tokenizer_info(tv)->source, "vocab.txt");
	/* model_max_length 512 capped by max_position_embeddings. */
	ck_assert_uint_eq(sb_tokenizer_info(tv)->max_length, 64);
	ck_assert_int_eq(sb_tokenizer_info(tv)->has_token_types, 1);
	ck_assert_int_eq(sb_tokenizer_enc_init(&ej, tj, &err), SB_OK);
	ck_assert_int_eq(sb_tokenizer_enc_init(&ev, tv, &err), SB_OK);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		ck_assert_int_eq(sb_tokenizer_encode(&ej, NULL, 0, texts[i], strlen(texts[i]), NULL,
						     0, SB_TRUNC_LONGEST_FIRST, 0, &err), SB_OK);
		ck_assert_int_eq(sb_tokenizer_encode(&ev, NULL, 0, texts[i], strlen(texts[i]), NULL,
						     0, SB_TRUNC_LONGEST_FIRST, 0, &err), SB_OK);
		ck_assert_uint_eq(ej.n, ev.n);
		ck_assert_uint_gt(ej.n, 1);
		ck_assert(memcmp(ej.ids, ev.ids, ej.n * sizeof(int32_t)) == 0);
	}
	ck_assert_uint_eq(sb_tokenizer_info(tj)->fingerprint, sb_tokenizer_info(tv)->fingerprint);
	sb_tokenizer_enc_destroy(&ej);
	sb_tokenizer_enc_destroy(&ev);
	sb_tokenizer_close(&tj);
	sb_tokenizer_close(&tv);
	rm_dir(d);
	free(m);
	free(src);
	free(cfg);
}
END_TEST

START_TEST(test_errors)
{
	struct sb_error err = { 0 };
	struct sb_tokenizer *t = (struct sb_tokenizer *)&err;
	char d[64];
	const char *bpe = "{\"model\": {\"type\": \"BPE\", \"vocab\": {}}}";
	const char *uni = "{\"model\": {\"type\": \"WordLevel\", \"vocab\": {}}}";
	const char *badjson = "{\"model\": ";

	ck_assert_int_eq(sb_tokenizer_open(&t, "/nonexistent/model", NULL, &err), SB_ENOTFOUND);
	ck_assert_ptr_null(t);
	ck_assert_msg(strstr(err.msg, "no tokenizer.json, vocab.txt or vocab.json + merges.txt") !=
		      NULL, "%s", err.msg);
	snprintf(d, sizeof(d), "/tmp/sb-check-tok.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(d));
	write_file(d, "tokenizer.json", uni, strlen(uni));
	ck_assert_int_eq(sb_tokenizer_open(&t, d, NULL, &err), SB_EUNSUPPORTED);
	ck_assert_msg(strstr(err.msg, "only WordPiece, BPE and Unigram") != NULL, "%s", err.msg);
	write_file(d, "tokenizer.json", bpe, strlen(bpe));
	ck_assert_int_eq(sb_tokenizer_open(&t, d, NULL, &err), SB_EFORMAT);
	ck_assert_msg(strstr(err.msg, "model.merges") != NULL, "%s", err.msg);
	write_file(d, "tokenizer.json", badjson, strlen(badjson));
	ck_assert_int_eq(sb_tokenizer_open(&t, d, NULL, &err), SB_EFORMAT);
	{
		const char *sparse = "{\"model\": {\"type\": \"WordPiece\", \"vocab\": "
				     "{\"[UNK]\": 0, \"x\": 9999999}}, \"pre_tokenizer\": "
				     "{\"type\": \"BertPreTokenizer\"}}";

		write_file(d, "tokenizer.json", sparse, strlen(sparse));
		ck_assert_int_eq(sb_tokenizer_open(&t, d, NULL, &err), SB_ELIMIT);
		ck_assert_msg(strstr(err.msg, "dense") != NULL, "%s", err.msg);
	}
	{
		char *p = sb_path_join(d, "tokenizer.json");

		unlink(p);
		free(p);
	}
	write_file(d, "vocab.txt", "[CLS]\n[SEP]\nhello\n", 18);
	ck_assert_int_eq(sb_tokenizer_open(&t, d, NULL, &err), SB_EFORMAT);
	ck_assert_msg(strstr(err.msg, "[UNK]") != NULL, "%s", err.msg);
	write_file(d, "vocab.txt", "[UNK]\n[CLS]\n[SEP]\n", 18);
	write_file(d, "tokenizer_config.json", "{\"model_max_length\": 2}", 23);
	ck_assert_int_eq(sb_tokenizer_open(&t, d, NULL, &err), SB_OK);
	ck_assert_int_eq(sb_tokenizer_enc_init(&enc, t, &err), SB_OK);
	ck_assert_int_eq(sb_tokenizer_encode(&enc, NULL, 0, "x", 1, "y", 1,
					     SB_TRUNC_LONGEST_FIRST, 0, &err), SB_EINVAL);
	sb_tokenizer_enc_destroy(&enc);
	sb_tokenizer_close(&t);
	rm_dir(d);
	{
		enum sb_trunc tr;

		ck_assert_int_eq(sb_trunc_parse("only_second", &tr), SB_OK);
		ck_assert_int_eq(tr, SB_TRUNC_ONLY_SECOND);
		ck_assert_int_eq(sb_trunc_parse("longest", &tr), SB_EINVAL);
		ck_assert_str_eq(sb_trunc_name(SB_TRUNC_NONE), "none");
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tokenizer");
	TCase *tc = tcase_create("vocab");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_info);
	tcase_add_test(tc, test_basic);
	tcase_add_test(tc, test_long_words);
	tcase_add_test(tc, test_truncation);
	tcase_add_test(tc, test_invalid_utf8);
	tcase_add_test(tc, test_bounded);
	tcase_add_test(tc, test_prompt);
	tcase_add_test(tc, test_stream);
	suite_add_tcase(s, tc);
	tc = tcase_create("files");
	tcase_add_test(tc, test_tokenizer_json);
	tcase_add_test(tc, test_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
