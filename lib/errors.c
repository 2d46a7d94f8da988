/*
 * errors.c - status codes and error messages.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"

const char *sb_strerror(int code)
{
	switch (code) {
	case SB_OK: return "success";
	case SB_EOF: return "end of input";
	case SB_ENOMEM: return "out of memory";
	case SB_EIO: return "input/output error";
	case SB_EFORMAT: return "malformed data";
	case SB_EINVAL: return "invalid argument";
	case SB_EUNSUPPORTED: return "not supported";
	case SB_ELIMIT: return "limit exceeded";
	case SB_ETRUNCATED: return "truncated input";
	case SB_EPIPE: return "broken pipe";
	case SB_EINTR: return "interrupted";
	case SB_ENOTFOUND: return "not found";
	case SB_EMISMATCH: return "mismatch";
	case SB_ETIMEOUT: return "timed out";
	case SB_EAGAIN: return "more input needed";
	default: return "unknown error";
	}
}

static void vset(struct sb_error *err, int code, const char *fmt, va_list ap)
{
	err->code = code;
	err->sys = 0;
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
}

int sb_error_set(struct sb_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	va_start(ap, fmt);
	vset(err, code, fmt, ap);
	va_end(ap);
	return code;
}

int sb_error_sys(struct sb_error *err, int code, int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (!err)
		return code;
	va_start(ap, fmt);
	vset(err, code, fmt, ap);
	va_end(ap);
	err->sys = errnum;
	n = strlen(err->msg);
	if (n < sizeof err->msg)
		snprintf(err->msg + n, sizeof err->msg - n, ": %s", strerror(errnum));
	return code;
}

int sb_error_prefix(struct sb_error *err, const char *fmt, ...)
{
	char pre[SB_ERROR_MSG_MAX];
	size_t np, nm;
	va_list ap;
	int n;

	if (!err)
		return SB_EINVAL;
	va_start(ap, fmt);
	n = vsnprintf(pre, sizeof pre, fmt, ap);
	va_end(ap);
	np = n < 0 ? 0 : (size_t)n >= sizeof pre ? sizeof pre - 1 : (size_t)n;
	nm = strnlen(err->msg, sizeof err->msg - 1);
	/* Keep as much of the old message as fits after the prefix. */
	if (np + nm > sizeof err->msg - 1)
		nm = sizeof err->msg - 1 > np ? sizeof err->msg - 1 - np : 0;
	memmove(err->msg + np, err->msg, nm);
	memcpy(err->msg, pre, np);
	err->msg[np + nm] = '\0';
	return err->code;
}

void sb_error_clear(struct sb_error *err)
{
	if (!err)
		return;
	err->code = SB_OK;
	err->sys = 0;
	err->msg[0] = '\0';
}
