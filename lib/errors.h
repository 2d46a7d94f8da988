/*
 * errors.h - status codes and the error struct shared by every libsb module.
 *
 * Functions that can fail return an int status: SB_OK (0) on success, a negative
 * SB_E* code otherwise.  When the caller passes a non-NULL struct sb_error, the
 * function also fills it with a one-line lowercase message naming the object and
 * the values involved.  libsb never prints and never exits.
 */
#ifndef SB_ERRORS_H
#define SB_ERRORS_H

#include "api.h"

#include <stddef.h>

enum sb_status {
	SB_OK = 0,
	SB_EOF = 1,              /* clean end of input: not an error */
	SB_ENOMEM = -1,          /* an allocation failed */
	SB_EIO = -2,             /* read/write/open failed (errno in sb_error.sys) */
	SB_EFORMAT = -3,         /* malformed input data */
	SB_EINVAL = -4,          /* invalid argument or option */
	SB_EUNSUPPORTED = -5,    /* valid but not supported (version, dtype, arch) */
	SB_ELIMIT = -6,          /* a size or count exceeds a limit */
	SB_ETRUNCATED = -7,      /* input ended inside a frame or before `end` */
	SB_EPIPE = -8,           /* the reader of our output went away */
	SB_EINTR = -9,           /* interrupted by a signal the caller asked to honour */
	SB_ENOTFOUND = -10,      /* a file, tensor, key or model is missing */
	SB_EMISMATCH = -11,      /* inputs that must agree do not (models, dims) */
	SB_ETIMEOUT = -12,       /* a peer did not answer in time */
	SB_EAGAIN = -13          /* no complete item yet; call again with more input */
};

#define SB_ERROR_MSG_MAX 512

struct sb_error {
	int code;                       /* one of enum sb_status */
	int sys;                        /* errno when the fault came from the OS, else 0 */
	char msg[SB_ERROR_MSG_MAX];     /* one line, no trailing newline */
};

/* Returns a static description of a status code. */
SB_API const char *sb_strerror(int code);

/*
 * Records an error in 'err' (if not NULL) and returns 'code', so callers can write
 * `return sb_error_set(err, SB_EFORMAT, "frame %zu: ...", n);`.
 */
SB_API int sb_error_set(struct sb_error *err, int code, const char *fmt, ...)
	       __attribute__((format(printf, 3, 4)));

/* Like sb_error_set() and also records errno in err->sys and appends strerror. */
SB_API int sb_error_sys(struct sb_error *err, int code, int errnum, const char *fmt, ...)
	       __attribute__((format(printf, 4, 5)));

/*
 * Prepends context to an error already recorded ("frame 12: " + msg).  Returns
 * err->code (or SB_EINVAL when err is NULL, which callers never rely on).
 */
SB_API int sb_error_prefix(struct sb_error *err, const char *fmt, ...)
	       __attribute__((format(printf, 2, 3)));

/* Clears the struct: code SB_OK, empty message. */
SB_API void sb_error_clear(struct sb_error *err);

#endif
