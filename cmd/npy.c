/*
 * npy.c - NumPy .npy headers for sb-cat (see npy.h).  The header is a Python dict
 * literal; only the three keys numpy writes are looked at, the way numpy's own
 * writer spells them.  Every size read from the file is bounded before it is used.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "npy.h"

#define NPY_GROWTH_DIGITS 21    /* numpy pads the first dimension to this many digits */

size_t sb_npy_header_write(char *buf, size_t size, enum sb_dtype dt, int n_dims,
			   const size_t *shape, uint64_t rows)
{
	static const char *descr[SB_DTYPE_COUNT] = {
		[SB_DTYPE_F32] = "<f4", [SB_DTYPE_F16] = "<f2", [SB_DTYPE_BF16] = "<f4",
		[SB_DTYPE_I32] = "<i4", [SB_DTYPE_I64] = "<i8", [SB_DTYPE_I8] = "|i1",
		[SB_DTYPE_U8] = "|u1",
	};
	char dict[512], first[32];
	size_t len, hlen, pad;
	int n;

	n = snprintf(first, sizeof first, "%" PRIu64, rows);
	len = (size_t)snprintf(dict, sizeof dict,
			       "{'descr': '%s', 'fortran_order': False, 'shape': (%s", descr[dt],
			       first);
	for (int d = 1; d < n_dims; d++)
		len += (size_t)snprintf(dict + len, sizeof dict - len, ", %zu", shape[d]);
	len += (size_t)snprintf(dict + len, sizeof dict - len, "%s), }%*s",
				n_dims == 1 ? "," : "", NPY_GROWTH_DIGITS - n, "");
	hlen = len + 1;
	pad = 64 - ((10 + hlen) % 64);
	if (10 + hlen + pad > size || hlen + pad > UINT16_MAX)
		return 0;
	memcpy(buf, "\x93NUMPY\x01\x00", 8);
	buf[8] = (char)((hlen + pad) & 0xff);
	buf[9] = (char)((hlen + pad) >> 8);
	memcpy(buf + 10, dict, len);
	memset(buf + 10 + len, ' ', pad);
	buf[10 + len + pad] = '\n';
	return 10 + hlen + pad;
}

/* Parses the Python-literal header dict (NUL-terminated, hlen bytes). */
static int parse_dict(const char *hdr, struct sb_npy *out, struct sb_error *err)
{
	const char *p, *q;
	char descr[16], shown[4 * sizeof descr + 4];

	p = strstr(hdr, "'descr':");
	if (!p || !(p = strchr(p + 8, '\'')) || !(q = strchr(p + 1, '\'')) ||
	    (size_t)(q - p - 1) >= sizeof descr)
		return sb_error_set(err, SB_EFORMAT, ".npy header without a simple 'descr'");
	memcpy(descr, p + 1, (size_t)(q - p - 1));
	descr[q - p - 1] = '\0';
	if (strcmp(descr, "<f4") == 0)
		out->dtype = SB_DTYPE_F32;
	else if (strcmp(descr, "<f8") == 0)
		out->dtype = SB_DTYPE_F32, out->f64 = 1;
	else if (strcmp(descr, "<f2") == 0)
		out->dtype = SB_DTYPE_F16;
	else if (strcmp(descr, "<i4") == 0)
		out->dtype = SB_DTYPE_I32;
	else if (strcmp(descr, "<i8") == 0)
		out->dtype = SB_DTYPE_I64;
	else if (strcmp(descr, "|i1") == 0 || strcmp(descr, "<i1") == 0)
		out->dtype = SB_DTYPE_I8;
	else if (strcmp(descr, "|u1") == 0 || strcmp(descr, "<u1") == 0)
		out->dtype = SB_DTYPE_U8;
	else
		return sb_error_set(err, SB_EUNSUPPORTED,
				    ".npy dtype '%s' not supported (float32, float64, float16, "
				    "int32, int64, int8, uint8 are)",
				    sb_printable(descr, strlen(descr), shown, sizeof shown));

	p = strstr(hdr, "'fortran_order':");
	if (!p)
		return sb_error_set(err, SB_EFORMAT, ".npy header without 'fortran_order'");
	p += 16;
	p += strspn(p, " ");
	if (strncmp(p, "False", 5) != 0)
		return sb_error_set(err, SB_EUNSUPPORTED,
				    "Fortran-order arrays are not supported (save a C-order copy)");

	p = strstr(hdr, "'shape':");
	if (!p || !(p = strchr(p, '(')) || !(q = strchr(p, ')')))
		return sb_error_set(err, SB_EFORMAT, ".npy header without 'shape'");
	out->n_dims = 0;
	for (p++; p < q;) {
		unsigned long long d;
		char *end;

		p += strspn(p, " ,");
		if (p >= q)
			break;
		if (*p < '0' || *p > '9')
			return sb_error_set(err, SB_EFORMAT, "bad .npy shape");
		errno = 0;
		d = strtoull(p, &end, 10);
		if (errno || end == p || d > SIZE_MAX)
			return sb_error_set(err, SB_EFORMAT, "bad .npy shape");
		if (out->n_dims == SB_TENSOR_MAX_DIMS)
			return sb_error_set(err, SB_ELIMIT, "more than %d dimensions",
					    SB_TENSOR_MAX_DIMS);
		out->shape[out->n_dims++] = (size_t)d;
		p = end;
	}
	if (out->n_dims < 1)
		return sb_error_set(err, SB_EUNSUPPORTED, "a 0-d array has no rows");
	return SB_OK;
}

int sb_npy_header_read(FILE *fp, struct sb_npy *out, struct sb_error *err)
{
	unsigned char pre[12];
	char *hdr;
	size_t hlen, pre_len, numel;
	struct stat st;
	int rc;

	memset(out, 0, sizeof *out);
	if (fread(pre, 1, 10, fp) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0)
		return sb_error_set(err, SB_EFORMAT, "not a .npy file");
	if (pre[6] == 1) {
		hlen = (size_t)pre[8] | ((size_t)pre[9] << 8);
		pre_len = 10;
	} else if (pre[6] == 2 || pre[6] == 3) {
		if (fread(pre + 10, 1, 2, fp) != 2)
			return sb_error_set(err, SB_EFORMAT, "truncated .npy header");
		hlen = (size_t)pre[8] | ((size_t)pre[9] << 8) | ((size_t)pre[10] << 16) |
		       ((size_t)pre[11] << 24);
		pre_len = 12;
	} else {
		return sb_error_set(err, SB_EUNSUPPORTED, ".npy format version %d.%d not supported",
				    pre[6], pre[7]);
	}
	if (hlen > SB_NPY_MAX_HEADER)
		return sb_error_set(err, SB_ELIMIT, ".npy header of %zu bytes, limit %zu", hlen,
				    SB_NPY_MAX_HEADER);
	hdr = malloc(hlen + 1);
	if (!hdr)
		return sb_error_set(err, SB_ENOMEM, "out of memory");
	if (fread(hdr, 1, hlen, fp) != hlen) {
		free(hdr);
		return sb_error_set(err, SB_EFORMAT, "truncated .npy header");
	}
	hdr[hlen] = '\0';
	if (strlen(hdr) != hlen)
		rc = sb_error_set(err, SB_EFORMAT, "NUL byte in the .npy header");
	else
		rc = parse_dict(hdr, out, err);
	free(hdr);
	if (rc != SB_OK)
		return rc;
	rc = sb_shape_size(out->f64 ? SB_DTYPE_I64 : out->dtype, out->n_dims, out->shape,
			   &numel, &out->data_bytes, err);
	if (rc != SB_OK)
		return rc;
	out->header_bytes = pre_len + hlen;
	if (fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode)) {
		size_t size = (size_t)st.st_size;

		if (size < out->header_bytes || size - out->header_bytes != out->data_bytes)
			return sb_error_set(err, SB_EFORMAT,
					    "%zu data bytes, the header's shape needs %zu",
					    size < out->header_bytes ? 0 : size - out->header_bytes,
					    out->data_bytes);
	}
	out->row_bytes = out->shape[0] ? out->data_bytes / out->shape[0] : 0;
	return SB_OK;
}
