/*
 * fuzz_keys.c - fuzz target for the CurveZMQ key files of lib/zmq_keys.c: the key-file
 * parser behind --curve-secret / --curve-server (sb_zmq_key_load, reading the files
 * sb-keygen writes) and the --curve-allow list reader (sb_zmq_allow_read).
 *
 * Input: the contents of a key file, read through /proc/self/fd of a memfd (a regular
 * file; nothing touches the disk).  Checked: every key the parser returns is 40 Z85
 * characters that decode to 32 bytes and encode back to themselves; a loaded secret
 * key is the file's last secret-key line and its public key is derived from it; a
 * loaded public key is the last public line; an allow-list holds exactly the public
 * lines, decoded, and is refused when the file holds a secret key.  When the input is
 * 40 Z85 characters it is also given as a key argument itself.  Error messages are one
 * printable line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <zmq.h>

#include "errors.h"
#include "fuzz.h"
#include "internal.h"

#define fail(what) fuzz_fail("fuzz_keys", what)

static const char z85[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			  ".-:+=^!/*?&<>()[]{}@%$#";

/* 40 Z85 characters, NUL-terminated, that decode to 32 bytes and encode back. */
static void check_key(const char *k, unsigned char raw[32])
{
	char again[41];

	if (strlen(k) != 40 || strspn(k, z85) != 40)
		fail("key is not 40 Z85 characters");
	if (!zmq_z85_decode(raw, k) || !zmq_z85_encode(again, raw, 32) || strcmp(again, k) != 0)
		fail("key does not decode and encode back to itself");
}

static void check_error(const struct sb_error *err)
{
	if (!fuzz_one_line(err->msg))
		fail("error message empty or not one printable line");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sb_zmq_keyline *kl = NULL;
	unsigned char (*keys)[32] = NULL, raw[32];
	struct sb_error err;
	char path[64], pub[41], sec[41], derived[41];
	size_t n = 0, n_keys = 0, last_pub = SIZE_MAX, last_sec = SIZE_MAX;
	int fd = memfd_create("fuzz_keys", MFD_CLOEXEC), rc, any_secret = 0;

	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size)) {
		perror("fuzz_keys: memfd");
		abort();
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

	sb_error_clear(&err);
	rc = sb_zmq_keyfile_parse(path, &kl, &n, &err);
	if (rc == SB_OK) {
		if (n > 100000)
			fail("more keys than the limit");
		for (size_t i = 0; i < n; i++) {
			check_key(kl[i].key, raw);
			if (kl[i].secret)
				last_sec = i, any_secret = 1;
			else
				last_pub = i;
		}
	} else {
		check_error(&err);
	}

	/* --curve-secret FILE */
	memset(pub, 0, sizeof pub);
	memset(sec, 0, sizeof sec);
	if (sb_zmq_key_load(path, 1, pub, sec, &err) == SB_OK) {
		if (rc != SB_OK || last_sec == SIZE_MAX || strcmp(sec, kl[last_sec].key) != 0)
			fail("secret key loaded is not the file's last secret-key line");
		check_key(pub, raw);
		if (zmq_curve_public(derived, sec) != 0 || strcmp(derived, pub) != 0)
			fail("public key not derived from the secret key");
	} else {
		check_error(&err);
		if (rc == SB_OK && last_sec != SIZE_MAX)
			fail("a file with a secret-key line refused");
	}

	/* --curve-server FILE */
	memset(pub, 0, sizeof pub);
	if (sb_zmq_key_load(path, 0, pub, sec, &err) == SB_OK) {
		if (rc != SB_OK || last_pub == SIZE_MAX || strcmp(pub, kl[last_pub].key) != 0)
			fail("public key loaded is not the file's last public line");
	} else {
		check_error(&err);
		if (rc == SB_OK && last_pub != SIZE_MAX)
			fail("a file with a public key refused");
	}

	/* --curve-allow FILE */
	if (sb_zmq_allow_read(path, &keys, &n_keys, &err) == SB_OK) {
		if (rc != SB_OK || any_secret || n_keys != n)
			fail("allow-list keys are not the file's public lines");
		for (size_t i = 0; i < n; i++) {
			check_key(kl[i].key, raw);
			if (memcmp(raw, keys[i], 32) != 0)
				fail("allow-list key decoded wrongly");
		}
		free(keys);
	} else {
		check_error(&err);
		if (rc == SB_OK && !any_secret)
			fail("an allow-list of public keys refused");
	}
	free(kl);
	close(fd);

	/* The argument may be a key itself (--curve-server Z85). */
	if (size == 40) {
		char arg[41];

		memcpy(arg, data, 40);
		arg[40] = '\0';
		if (strspn(arg, z85) != 40)
			return 0;
		memset(pub, 0, sizeof pub);
		if (sb_zmq_key_load(arg, 0, pub, sec, &err) == SB_OK) {
			if (strcmp(pub, arg) != 0)
				fail("a key argument is not kept as it is");
			check_key(pub, raw);
		}
		memset(pub, 0, sizeof pub);
		if (sb_zmq_key_load(arg, 1, pub, sec, &err) == SB_OK) {
			check_key(sec, raw);
			check_key(pub, raw);
		}
	}
	return 0;
}
