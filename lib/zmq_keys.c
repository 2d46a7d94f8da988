/*
 * zmq_keys.c - CurveZMQ key files: a public or secret key in Z85, alone or in a
 * "public KEY" / "secret KEY" file (sb-keygen's), allow-lists of public keys, and
 * new key pairs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zmq_impl.h"

#define KEY_FILE_MAX 65536

/* ---- keys ---- */

static int is_z85_key(const char *s, size_t n)
{
	static const char z85[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  ".-:+=^!/*?&<>()[]{}@%$#";
	unsigned char raw[32];
	char tmp[41];

	if (n != 40)
		return 0;
	memcpy(tmp, s, 40);
	tmp[40] = '\0';
	/* zmq_z85_decode stops at a NUL: "ABCDE\0..." would pass as a 4-byte key. */
	if (strspn(tmp, z85) != 40)
		return 0;
	return zmq_z85_decode(raw, tmp) != NULL;
}

/*
 * Key files (written by sb-keygen) hold lines "public-key = Z85" and, for a secret
 * file, "secret-key = Z85"; '#' starts a comment.  An allow-list is any number of
 * public-key lines or bare Z85 keys, so `cat a.pub b.pub > allow` makes one.
 */
int sb_zmq_keyfile_parse(const char *path, struct sb_zmq_keyline **out, size_t *n_out,
			 struct sb_error *err)
{
	struct sb_buf b;
	struct sb_zmq_keyline *kl = NULL;
	size_t n = 0, cap = 0, lineno = 0;
	int rc;

	sb_buf_init(&b);
	rc = sb_file_read(path, KEY_FILE_MAX, &b, err);
	if (rc != SB_OK)
		return rc;
	const char *p = (const char *)b.data, *end = p + b.len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *s = p, *e = le;
		lineno++;
		p = nl ? nl + 1 : end;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			e--;
		/* Z85 uses '#' and '=' too: a bare key is recognized before comments. */
		int secret = 0;
		int bare = is_z85_key(s, (size_t)(e - s));
		if (!bare && (s == e || *s == '#'))
			continue;
		const char *eq = bare ? NULL : memchr(s, '=', (size_t)(e - s));
		if (eq != NULL) {
			size_t kn = (size_t)(eq - s);
			while (kn > 0 && (s[kn - 1] == ' ' || s[kn - 1] == '\t'))
				kn--;
			if (kn == 10 && memcmp(s, "secret-key", 10) == 0)
				secret = 1;
			else if (!(kn == 10 && memcmp(s, "public-key", 10) == 0)) {
				char shown[68];

				rc = sb_error_set(err, SB_EFORMAT, "%s: line %zu: unknown key '%s'",
						  path, lineno, sb_printable(s, kn, shown,
									     sizeof(shown)));
				goto fail;
			}
			s = eq + 1;
			while (s < e && (*s == ' ' || *s == '\t'))
				s++;
			if (e - s >= 2 && *s == '"' && e[-1] == '"') {
				s++;
				e--;
			}
		}
		if (!is_z85_key(s, (size_t)(e - s))) {
			rc = sb_error_set(err, SB_EFORMAT,
					  "%s: line %zu: not a 40-character Z85 CurveZMQ key", path,
					  lineno);
			goto fail;
		}
		if (n == cap) {
			if (cap >= 100000) {
				rc = sb_error_set(err, SB_ELIMIT, "%s: more than 100000 keys", path);
				goto fail;
			}
			cap = cap ? 2 * cap : 8;
			struct sb_zmq_keyline *nk = realloc(kl, cap * sizeof(*nk));
			if (nk == NULL) {
				rc = sb_error_set(err, SB_ENOMEM, "%s: out of memory", path);
				goto fail;
			}
			kl = nk;
		}
		kl[n].secret = secret;
		memcpy(kl[n].key, s, 40);
		kl[n].key[40] = '\0';
		n++;
	}
	sb_buf_destroy(&b);
	*out = kl;
	*n_out = n;
	return SB_OK;
fail:
	sb_buf_destroy(&b);
	free(kl);
	return rc;
}

/*
 * Resolves a key argument: a Z85 key itself, or a key file.  want_secret: fills sec
 * (and pub, derived) from a secret key; else fills pub only.
 */
int sb_zmq_key_load(const char *arg, int want_secret, char pub[41], char sec[41],
		    struct sb_error *err)
{
	struct sb_zmq_keyline *kl = NULL;
	size_t n = 0;
	int rc, found = 0;

	if (is_z85_key(arg, strlen(arg))) {
		if (want_secret) {
			memcpy(sec, arg, 41);
			if (zmq_curve_public(pub, sec) != 0)
				return sb_error_set(err, SB_EINVAL, "bad CurveZMQ secret key");
		} else {
			memcpy(pub, arg, 41);
		}
		return SB_OK;
	}
	if ((rc = sb_zmq_keyfile_parse(arg, &kl, &n, err)) != SB_OK)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (want_secret && kl[i].secret) {
			memcpy(sec, kl[i].key, 41);
			found = 1;
		} else if (!want_secret && !kl[i].secret) {
			memcpy(pub, kl[i].key, 41);
			found = 1;
		}
	}
	free(kl);
	if (!found)
		return sb_error_set(err, SB_EINVAL, "%s: no %s key in the file", arg,
				    want_secret ? "secret-key" : "public-key");
	if (want_secret && zmq_curve_public(pub, sec) != 0)
		return sb_error_set(err, SB_EINVAL, "%s: bad CurveZMQ secret key", arg);
	return SB_OK;
}

int sb_zmq_keypair(char public_z85[41], char secret_z85[41], struct sb_error *err)
{
	if (!zmq_has("curve"))
		return sb_error_set(err, SB_EUNSUPPORTED, "libzmq was built without CURVE");
	if (zmq_curve_keypair(public_z85, secret_z85) != 0)
		return sb_error_sys(err, SB_EIO, errno, "zmq_curve_keypair");
	return SB_OK;
}

/* Reads an allow-list file: the public keys it holds, decoded. */
int sb_zmq_allow_read(const char *path, unsigned char (**keys)[32], size_t *n_keys,
		      struct sb_error *err)
{
	struct sb_zmq_keyline *kl = NULL;
	unsigned char (*k)[32];
	size_t n = 0;
	int rc;

	*keys = NULL;
	*n_keys = 0;
	if ((rc = sb_zmq_keyfile_parse(path, &kl, &n, err)) != SB_OK)
		return rc;
	k = calloc(n ? n : 1, 32);
	if (k == NULL) {
		free(kl);
		return sb_error_set(err, SB_ENOMEM, "%s: out of memory", path);
	}
	for (size_t i = 0; i < n; i++) {
		if (kl[i].secret) {
			free(kl);
			free(k);
			return sb_error_set(err, SB_EINVAL,
					    "%s: holds a secret key; an allow-list takes public keys",
					    path);
		}
		zmq_z85_decode(k[i], kl[i].key);
	}
	free(kl);
	*keys = k;
	*n_keys = n;
	return SB_OK;
}
