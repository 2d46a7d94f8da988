/*
 * check_tok_fused.c - the one-pass SentencePiece path (lib/tok_fused.c) against the
 * streaming stages of lib/tok_gen.c, which the golden tests hold to Hugging Face's
 * ids: the same ids on lines made to reach each fused step's edges (Strip at both
 * ends, space runs, the replacement at the start of a text and inside it, prepend
 * always and first, invalid UTF-8, added tokens inside words and at the ends), and
 * on random lines of those pieces.  Files: tests/golden/tokenize/spm/xlmr-uni
 * (Precompiled, Strip right, Replace " {2,}", Metaspace) and llama-bpe (Prepend,
 * Replace " "), and variants of them written to a temporary folder.
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
#include "tokenizer_impl.h"

static char tmp[64];

static char *golden(const char *name)
{
	const char *src = getenv("SB_SRCDIR");
	char *p = malloc(4096);

	ck_assert_ptr_nonnull(p);
	snprintf(p, 4096, "%s/tests/golden/tokenize/spm/%s", src ? src : ".", name);
	return p;
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *s;
	long len;

	ck_assert_msg(f != NULL, "%s: cannot open (set SB_SRCDIR)", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	ck_assert_int_ge(len, 0);
	rewind(f);
	s = malloc((size_t)len + 1);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(fread(s, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	s[len] = 0;
	*n = (size_t)len;
	return s;
}

/* s with from replaced by to (from must occur); s is freed. */
static char *subst(char *s, const char *from, const char *to)
{
	char *at = strstr(s, from), *r;
	size_t pre;

	ck_assert_msg(at != NULL, "tokenizer.json: '%s' not found", from);
	pre = (size_t)(at - s);
	r = malloc(strlen(s) - strlen(from) + strlen(to) + 1);
	ck_assert_ptr_nonnull(r);
	memcpy(r, s, pre);
	strcpy(r + pre, to);
	strcat(r + pre, at + strlen(from));
	free(s);
	return r;
}

/* Writes the tokenizer.json of golden folder name to tmp with from replaced by to, and
 * from2 by to2 unless NULL. */
static void variant2(const char *name, const char *from, const char *to, const char *from2,
		     const char *to2)
{
	char *dir = golden(name), *in = sb_path_join(dir, "tokenizer.json");
	char *out = sb_path_join(tmp, "tokenizer.json");
	size_t n;
	char *s = subst(slurp(in, &n), from, to);
	FILE *f;

	if (from2)
		s = subst(s, from2, to2);
	f = fopen(out, "wb");
	ck_assert_ptr_nonnull(f);
	fputs(s, f);
	ck_assert_int_eq(fclose(f), 0);
	free(s);
	free(in);
	free(out);
	free(dir);
}

static void variant(const char *name, const char *from, const char *to)
{
	variant2(name, from, to, NULL, NULL);
}

static void setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/sb-check-fused.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void teardown(void)
{
	char *p = sb_path_join(tmp, "tokenizer.json");

	unlink(p);
	free(p);
	rmdir(tmp);
}

/* The ids of text (fed in pieces of piece bytes, 0: whole) with the fused path on or
 * off, into seq. */
static void run(struct tok_gen_state *g, const char *text, size_t n, size_t piece,
		struct tok_seq *seq)
{
	struct sb_error err = { 0 };
	uint64_t bad = 0, nr = 0;
	size_t i = 0;

	seq->n_kept = 0;
	seq->n_total = 0;
	seq->keep = SIZE_MAX;
	sb_tok_gen_begin(g, seq, SB_TOKENIZER_REPLACE_INVALID);
	while (i < n) {
		size_t k = piece && n - i > piece ? piece : n - i;

		ck_assert_int_eq(sb_tok_gen_feed(g, (const unsigned char *)text + i, k, &bad, &nr,
						 &err), SB_OK);
		i += k;
	}
	ck_assert_msg(sb_tok_gen_end(g, &bad, &nr, &err) == SB_OK, "%s", err.msg);
	ck_assert(!seq->oom);
}

struct pair {
	struct sb_tokenizer *t;
	struct tok_gen_state *on, *off;
	struct tok_seq a, b;
	size_t compared;
};

static void open_pair(struct pair *p, const char *dir, enum tok_fused want)
{
	struct sb_error err = { 0 };

	memset(p, 0, sizeof(*p));
	ck_assert_msg(sb_tokenizer_open(&p->t, dir, NULL, &err) == SB_OK, "%s: %s", dir, err.msg);
	ck_assert_ptr_nonnull(p->t->gen);
	/* The file takes the fused path: else the comparison would be of the stages with
	 * themselves. */
	ck_assert_int_eq(sb_tok_fused_kind(p->t->gen), want);
	ck_assert_int_eq(sb_tok_gen_state_new(&p->on, p->t, &err), SB_OK);
	ck_assert_int_eq(sb_tok_gen_state_new(&p->off, p->t, &err), SB_OK);
	sb_tok_gen_set_fused(p->off, 0);
}

static void close_pair(struct pair *p)
{
	sb_tok_gen_state_free(p->on);
	sb_tok_gen_state_free(p->off);
	free(p->a.ids);
	free(p->b.ids);
	sb_tokenizer_close(&p->t);
}

/* Whether a and b hold the same ids (ids may be NULL when there are none). */
static int same_ids(const struct tok_seq *a, const struct tok_seq *b)
{
	return a->n_kept == b->n_kept &&
	       (!a->n_kept || memcmp(a->ids, b->ids, a->n_kept * sizeof(int32_t)) == 0);
}

static void same(struct pair *p, const char *text, size_t n)
{
	run(p->on, text, n, 0, &p->a);
	run(p->off, text, n, 0, &p->b);
	ck_assert_msg(same_ids(&p->a, &p->b), "fused and staged ids differ on \"%.*s\" (%zu and %zu ids)", (int)n, text,
		      p->a.n_kept, p->b.n_kept);
	/* In pieces of 3 bytes, the stages stream: the same again. */
	run(p->on, text, n, 3, &p->a);
	ck_assert_msg(same_ids(&p->a, &p->b), "ids in pieces differ on \"%.*s\"", (int)n, text);
	p->compared++;
}

/* Lines at the edges of each fused step. */
static const char *const edges[] = {
	"", " ", "  ", "   ", "\t", " \t ", "a", " a", "  a", "   a", "a ", "a  ", "a \t",
	"\t a b \t", "  a  b   c  ", "a b", "a  b", "a   b", "a \t b", "a\t\tb",
	"\xE2\x96\x81", "\xE2\x96\x81" "a", " \xE2\x96\x81" "a", "a\xE2\x96\x81" "b",
	"a \xE2\x96\x81 b", "a\xE2\x96\x81\xE2\x96\x81" "b", "\xE2\x96\x81\xE2\x96\x81",
	"\xE3\x80\x80" "a\xE3\x80\x80\xE3\x80\x80" "b\xE3\x80\x80",     /* U+3000 */
	"\xC2\xA0" "a\xC2\xA0\xC2\xA0" "b\xC2\xA0",                     /* NBSP */
	"\xE2\x80\xA8 a\xC2\x85" "b \xC2\x85",                            /* U+2028, NEL */
	"\xEF\xBC\xA1\xEF\xBC\xA2 \xEF\xBD\x9E",                        /* fullwidth */
	"caf\xC3\xA9 cafe\xCC\x81 \xE2\x84\xAB",                        /* NFKC, combining */
	"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE6\x96\x87",  /* CJK */
	"\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD a \xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x92\xBB",
	"a\xFF" "b", "\xC3", "a \xE2\x96", "\xED\xA0\x80 x", "\x80\x80  \x80",
	"<s>", "a<s>b", "a <s> b", " <s> ", "<s><s>", "a<mask>b", "a <mask> b",
	"a   <mask>", "<mask>  a", "word</s>word", "  </s>  ", "<unk>\xE2\x96\x81",
	"<s", "a<s", "<pad>  x  <pad>", "x\xE2\x96\x81<s>\xE2\x96\x81y",
	"Hello, World! It's 2026-12-06.", "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82  "
	"\xD0\xBC\xD0\xB8\xD1\x80",
};

static const char *const parts[] = {
	" ", "  ", "\t", "a", "bc", "The", "\xE2\x96\x81", "\xE3\x80\x80", "\xC2\xA0",
	"\xEF\xBC\xA1", "\xE2\x80\xA8", "\xC2\x85", "e\xCC\x81", "\xE6\x97\xA5", "\xF0\x9F\x91\x8D", "\xFF", "\xE2\x96",
	"<s>", "</s>", "<mask>", "<unk>", "<", "x", "0", ".",
};

static void edges_and_random(struct pair *p)
{
	char line[512];
	unsigned r = 12345;

	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
		same(p, edges[i], strlen(edges[i]));
	for (int k = 0; k < 3000; k++) {
		size_t n = 0, m;

		r = r * 1103515245u + 12345u;
		m = (r >> 16) % 12;
		for (size_t j = 0; j < m; j++) {
			const char *s;

			r = r * 1103515245u + 12345u;
			s = parts[(r >> 16) % (sizeof(parts) / sizeof(parts[0]))];
			memcpy(line + n, s, strlen(s));
			n += strlen(s);
		}
		same(p, line, n);
	}
}

static void check_dir(const char *dir, enum tok_fused want)
{
	struct pair p;

	open_pair(&p, dir, want);
	edges_and_random(&p);
	ck_assert_uint_gt(p.compared, 3000);
	close_pair(&p);
}

START_TEST(xlmr_as_is)
{
	char *d = golden("xlmr-uni");

	check_dir(d, TOK_FUSED_META);
	free(d);
}
END_TEST

START_TEST(xlmr_strip_both_prepend_first)
{
	variant("xlmr-uni", "\"strip_left\":false", "\"strip_left\":true");
	check_dir(tmp, TOK_FUSED_META);
	/* Without the Replace, each space is a word: the left strip shows. */
	variant2("xlmr-uni", "\"strip_left\":false", "\"strip_left\":true",
		 ",{\"type\":\"Replace\",\"pattern\":{\"Regex\":\" {2,}\"},"
		 "\"content\":\"\xE2\x96\x81\"}", "");
	check_dir(tmp, TOK_FUSED_META);
	variant("xlmr-uni", "\"prepend_scheme\":\"always\"", "\"prepend_scheme\":\"first\"");
	check_dir(tmp, TOK_FUSED_META);
}
END_TEST

START_TEST(xlmr_runs_to_space_or_none)
{
	variant("xlmr-uni", "\"Regex\":\" {2,}\"},\"content\":\"\xE2\x96\x81\"",
		"\"Regex\":\" {2,}\"},\"content\":\" \"");
	check_dir(tmp, TOK_FUSED_META);
	variant("xlmr-uni", ",{\"type\":\"Replace\",\"pattern\":{\"Regex\":\" {2,}\"},"
		"\"content\":\"\xE2\x96\x81\"}", "");
	check_dir(tmp, TOK_FUSED_META);
	variant("xlmr-uni", "{\"type\":\"Strip\",\"strip_left\":false,\"strip_right\":true},",
		"");
	check_dir(tmp, TOK_FUSED_META);
}
END_TEST

START_TEST(xlmr_other_chains_stay_staged)
{
	struct sb_tokenizer *t = NULL;
	struct sb_error err = { 0 };

	/* A replacement the runs may not take: the stages. */
	variant("xlmr-uni", "\"Regex\":\" {2,}\"},\"content\":\"\xE2\x96\x81\"",
		"\"Regex\":\" {2,}\"},\"content\":\"-\"");
	ck_assert_int_eq(sb_tokenizer_open(&t, tmp, NULL, &err), SB_OK);
	ck_assert_int_eq(sb_tok_fused_kind(t->gen), TOK_FUSED_NONE);
	sb_tokenizer_close(&t);
}
END_TEST

START_TEST(llama_as_is_and_longer_pattern)
{
	char *d = golden("llama-bpe");

	check_dir(d, TOK_FUSED_PREPEND);
	free(d);
	variant("llama-bpe", "\"pattern\":{\"String\":\" \"}", "\"pattern\":{\"String\":\"a \"}");
	check_dir(tmp, TOK_FUSED_PREPEND);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tok_fused");
	TCase *tc = tcase_create("fused");

	tcase_set_timeout(tc, 600);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, xlmr_as_is);
	tcase_add_test(tc, xlmr_strip_both_prepend_first);
	tcase_add_test(tc, xlmr_runs_to_space_or_none);
	tcase_add_test(tc, xlmr_other_chains_stay_staged);
	tcase_add_test(tc, llama_as_is_and_longer_pattern);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *r = srunner_create(suite());
	int failed;

	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
