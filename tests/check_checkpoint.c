/*
 * check_checkpoint.c - unit tests for lib/checkpoint.c: a real nn.Module state_dict
 * saved by torch (OrderedDict + _metadata, views sharing one storage, several storage
 * types), every truncation of a file, and a mutation run over the pickle with the zip
 * checksum fixed up so the pickle machine itself sees the damage.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "internal.h"

static struct sb_buf file;

static void load(const char *name)
{
	const char *src = getenv("SB_SRCDIR");
	char path[1024];
	struct sb_error err = { 0 };

	snprintf(path, sizeof(path), "%s/tests/fixtures/weights/good/%s", src ? src : ".", name);
	sb_buf_init(&file);
	ck_assert_msg(sb_file_read(path, 1 << 24, &file, &err) == SB_OK, "%s (set SB_SRCDIR)",
		      err.msg);
}

static void unload(void)
{
	sb_buf_destroy(&file);
}

static const struct sb_checkpoint_entry *entry(const struct sb_checkpoint *ck, const char *name)
{
	for (size_t i = 0; i < ck->n_entries; i++)
		if (strcmp(ck->entries[i].name, name) == 0)
			return &ck->entries[i];
	ck_abort_msg("no entry %s", name);
	return NULL;
}

START_TEST(test_state_dict)
{
	static const char *const order[] = { "lin.weight", "lin.bias", "norm.weight", "norm.bias",
					     "view.a", "view.b", "half", "bf16", "position_ids",
					     "scalar" };
	struct sb_checkpoint ck;
	struct sb_error err = { 0 };
	const struct sb_checkpoint_entry *a, *b, *e;

	load("statedict.bin");
	ck_assert_int_eq(sb_checkpoint_parse(&ck, file.data, file.len, "statedict.bin", &err),
			 SB_OK);
	ck_assert_str_eq(ck.prefix, "archive/");      /* torch.save to a buffer */
	ck_assert_uint_eq(ck.n_entries, 10);
	for (size_t i = 0; i < 10; i++)
		ck_assert_str_eq(ck.entries[i].name, order[i]);

	e = entry(&ck, "lin.weight");
	ck_assert_str_eq(e->storage_type, "FloatStorage");
	ck_assert_int_eq(e->n_dims, 2);
	ck_assert_uint_eq(e->shape[0], 4);
	ck_assert_uint_eq(e->shape[1], 3);
	ck_assert_uint_eq(e->nbytes, 48);
	ck_assert_uint_eq(e->offset % 64, 0);   /* torch aligns storages */

	/* base = arange(24); view.a = base[2:8].view(2, 3); view.b = base[10:14]. */
	a = entry(&ck, "view.a");
	b = entry(&ck, "view.b");
	ck_assert_uint_eq(b->offset - a->offset, 8 * 4);
	float v;
	memcpy(&v, file.data + a->offset, 4);
	ck_assert(v == 2.0f);
	memcpy(&v, file.data + b->offset + 12, 4);
	ck_assert(v == 13.0f);

	e = entry(&ck, "half");
	ck_assert_int_eq(e->dtype, SB_DTYPE_F16);
	ck_assert_uint_eq(e->nbytes, 6);
	e = entry(&ck, "bf16");
	ck_assert_int_eq(e->dtype, SB_DTYPE_BF16);
	ck_assert_uint_eq(e->shape[1], 2);
	e = entry(&ck, "position_ids");
	ck_assert_str_eq(e->storage_type, "LongStorage");
	ck_assert_int_eq(e->dtype, SB_DTYPE_I64);
	ck_assert_uint_eq(e->nbytes, 40);
	e = entry(&ck, "scalar");
	ck_assert_int_eq(e->n_dims, 0);
	ck_assert_uint_eq(e->nbytes, 4);
	sb_checkpoint_destroy(&ck);
	ck_assert_ptr_null(ck.entries);
	sb_checkpoint_destroy(&ck);
	unload();
}
END_TEST

START_TEST(test_protocol4)
{
	struct sb_checkpoint ck;
	struct sb_error err = { 0 };

	load("proto4.bin");
	ck_assert_int_eq(sb_checkpoint_parse(&ck, file.data, file.len, "proto4.bin", &err), SB_OK);
	ck_assert_uint_eq(ck.n_entries, 2);
	ck_assert_str_eq(ck.entries[0].name, "w");
	ck_assert_uint_eq(ck.entries[0].shape[1], 3);
	sb_checkpoint_destroy(&ck);
	unload();
}
END_TEST

START_TEST(test_truncations)
{
	load("proto4.bin");
	for (size_t cut = 0; cut < file.len; cut++) {
		struct sb_checkpoint ck;
		struct sb_error err = { 0 };
		ck_assert_int_ne(sb_checkpoint_parse(&ck, file.data, cut, "t.bin", &err), SB_OK);
		ck_assert_ptr_null(ck.entries);
		ck_assert(err.msg[0] != 0);
	}
	unload();
}
END_TEST

static uint32_t crc32(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
	}
	return ~c;
}

/* Random changes inside data.pkl, with the checksum fixed, so the pickle machine is hit. */
START_TEST(test_pickle_mutations)
{
	unsigned char *cd = NULL, *p;
	size_t pkl = 0, pkl_len = 0, n_ok = 0;
	unsigned seed = 777;

	load("f32.bin");
	/* The first central directory entry is data.pkl in torch.save files. */
	for (size_t i = file.len - 22; i-- > 0;) {
		if (sb_le32(file.data + i) == 0x02014b50u) {
			cd = file.data + i;
			if (memcmp(cd + 46 + sb_le16(cd + 28) - 8, "data.pkl", 8) == 0)
				break;
		}
	}
	ck_assert_ptr_nonnull(cd);
	size_t loff = sb_le32(cd + 42);
	pkl = loff + 30 + sb_le16(file.data + loff + 26) + sb_le16(file.data + loff + 28);
	pkl_len = sb_le32(cd + 24);
	ck_assert_uint_gt(pkl_len, 1000);

	p = malloc(file.len);
	ck_assert_ptr_nonnull(p);
	for (int iter = 0; iter < 6000; iter++) {
		struct sb_checkpoint ck;
		struct sb_error err = { 0 };
		int n_changes = 1 + (int)(rand_r(&seed) % 3);

		memcpy(p, file.data, file.len);
		for (int c = 0; c < n_changes; c++)
			p[pkl + (size_t)rand_r(&seed) % pkl_len] = (unsigned char)rand_r(&seed);
		uint32_t crc = crc32(p + pkl, pkl_len);
		unsigned char *pc = p + (cd - file.data);
		for (int k = 0; k < 4; k++)
			pc[16 + k] = (unsigned char)(crc >> (8 * k));
		if (sb_checkpoint_parse(&ck, p, file.len, "m.bin", &err) == SB_OK) {
			for (size_t i = 0; i < ck.n_entries; i++) {
				ck_assert_uint_le(ck.entries[i].offset, file.len);
				ck_assert_uint_le(ck.entries[i].nbytes,
						  file.len - ck.entries[i].offset);
			}
			n_ok++;
			sb_checkpoint_destroy(&ck);
		} else {
			ck_assert(err.msg[0] != 0);
		}
	}
	free(p);
	unload();
	ck_assert_uint_gt(n_ok, 0);     /* changes inside names still parse */
}
END_TEST

/* The legacy format of the same state dict: the same tensors, the same bytes. */
START_TEST(test_legacy)
{
	struct sb_checkpoint zc, lc;
	struct sb_buf zipped;
	struct sb_error err = { 0 };

	load("statedict.bin");
	zipped = file;
	load("legacy-statedict.bin");
	ck_assert_int_eq(sb_checkpoint_parse(&zc, zipped.data, zipped.len, "z", &err), SB_OK);
	ck_assert_msg(sb_checkpoint_parse(&lc, file.data, file.len, "l", &err) == SB_OK, "%s",
		      err.msg);
	ck_assert_str_eq(lc.prefix, "");
	ck_assert_uint_eq(zc.n_entries, lc.n_entries);
	for (size_t i = 0; i < zc.n_entries; i++) {
		const struct sb_checkpoint_entry *a = &zc.entries[i], *b = &lc.entries[i];
		ck_assert_str_eq(a->name, b->name);
		ck_assert_str_eq(a->storage_type, b->storage_type);
		ck_assert_int_eq(a->n_dims, b->n_dims);
		ck_assert(memcmp(a->shape, b->shape, sizeof(a->shape)) == 0);
		ck_assert_uint_eq(a->nbytes, b->nbytes);
		ck_assert(memcmp(zipped.data + a->offset, file.data + b->offset, a->nbytes) == 0);
	}
	sb_checkpoint_destroy(&zc);
	sb_checkpoint_destroy(&lc);

	/* Every truncation fails cleanly; so do random changes anywhere but the data. */
	for (size_t cut = 0; cut < file.len; cut++) {
		ck_assert_int_ne(sb_checkpoint_parse(&lc, file.data, cut, "t", &err), SB_OK);
		ck_assert_ptr_null(lc.entries);
	}
	unsigned seed = 99;
	unsigned char *p = malloc(file.len);
	ck_assert_ptr_nonnull(p);
	for (int iter = 0; iter < 6000; iter++) {
		memcpy(p, file.data, file.len);
		for (int c = 0; c < 1 + iter % 3; c++)
			p[15 + (size_t)rand_r(&seed) % (file.len - 200)] = (unsigned char)rand_r(&seed);
		if (sb_checkpoint_parse(&lc, p, file.len, "m", &err) == SB_OK) {
			for (size_t i = 0; i < lc.n_entries; i++)
				ck_assert_uint_le(lc.entries[i].nbytes,
						  file.len - lc.entries[i].offset);
			sb_checkpoint_destroy(&lc);
		}
	}
	free(p);
	sb_buf_destroy(&zipped);
	unload();
}
END_TEST

/* A pickle that makes more values than any state dict: refused before memory adds up. */
START_TEST(test_value_limit)
{
	static const unsigned char head[] = {
		/* magic, protocol version 1001, sys_info {} */
		0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19,
		'.', 0x80, 0x02, 'M', 0xe9, 0x03, '.', 0x80, 0x02, '}', '.',
		/* the state dict: {1: 2, 1: 2, ...} */
		0x80, 0x02, '}'
	};
	size_t n_items = SB_CHECKPOINT_MAX_VALUES / 2 + 1, size = sizeof(head) + 5 * n_items + 1;
	unsigned char *p = malloc(size), *q;
	struct sb_checkpoint ck;
	struct sb_error err = { 0 };

	ck_assert_ptr_nonnull(p);
	memcpy(p, head, sizeof(head));
	q = p + sizeof(head);
	for (size_t i = 0; i < n_items; i++, q += 5)
		memcpy(q, "K\x01K\x02s", 5);
	*q = '.';
	ck_assert_int_eq(sb_checkpoint_parse(&ck, p, size, "many.bin", &err), SB_ELIMIT);
	ck_assert_msg(strstr(err.msg, "more than 262144 values") != NULL, "%s", err.msg);
	/* One item fewer than the limit parses further (and fails later, on the data). */
	ck_assert_int_ne(sb_checkpoint_parse(&ck, p, size - 10, "many.bin", &err), SB_ELIMIT);
	free(p);
}
END_TEST

static Suite *checkpoint_suite(void)
{
	Suite *s = suite_create("checkpoint");
	TCase *tc = tcase_create("checkpoint");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_state_dict);
	tcase_add_test(tc, test_protocol4);
	tcase_add_test(tc, test_truncations);
	tcase_add_test(tc, test_pickle_mutations);
	tcase_add_test(tc, test_legacy);
	tcase_add_test(tc, test_value_limit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(checkpoint_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
