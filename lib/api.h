/*
 * api.h - the mark of libsb's stable interface.
 *
 * libsb is compiled with -fvisibility=hidden: a function is exported from the shared
 * library only when its declaration in an installed header carries SB_API.  Helpers
 * shared between libsb's own files, and with its programs and tests, are declared in
 * private headers (not installed) without the mark; the programs and tests link them
 * from the non-installed libsbprivate.la, never through libsb.so.
 */
#ifndef SB_API_H
#define SB_API_H

#if defined(__GNUC__) || defined(__clang__)
#define SB_API __attribute__((visibility("default")))
#else
#define SB_API
#endif

#endif
