/*
 * json.h - a small, bounded JSON reader (RFC 8259) for model folder files:
 * config.json, tokenizer.json, safetensors headers, sentence-transformers configs.
 *
 * sb_json_parse() builds a tree owned by the returned root.  Input is untrusted:
 * depth is limited, sizes are checked, invalid UTF-8 and lone surrogates in \u
 * escapes are rejected, numbers keep an exact int64 when they are integers.
 */
#ifndef SB_JSON_H
#define SB_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

enum sb_json_type {
	SB_JSON_NULL, SB_JSON_FALSE, SB_JSON_TRUE, SB_JSON_NUMBER,
	SB_JSON_STRING, SB_JSON_ARRAY, SB_JSON_OBJECT
};

struct sb_json {
	enum sb_json_type type;
	char *key;              /* member name when inside an object (NUL-terminated), else NULL */
	size_t key_len;
	double num;             /* SB_JSON_NUMBER */
	int64_t i;              /* SB_JSON_NUMBER: exact value when is_int */
	int is_int;             /* the literal was an integer that fits int64 */
	char *str;              /* SB_JSON_STRING: decoded UTF-8, NUL-terminated (may hold NUL) */
	size_t len;             /* string length in bytes */
	struct sb_json *items;  /* SB_JSON_ARRAY / SB_JSON_OBJECT: n_items children */
	size_t n_items;
};

enum {
	SB_JSON_NO_DUPLICATES = 1       /* reject objects with repeated member names */
};

#define SB_JSON_DEFAULT_MAX_DEPTH 64

/*
 * Parses n bytes of text.  On success *out is the root (free with sb_json_free).
 * On failure *out is NULL and err says what and at which byte offset ("json: byte
 * 1234: expected ':'").  max_depth 0 means SB_JSON_DEFAULT_MAX_DEPTH.
 */
int sb_json_parse(const char *text, size_t n, int flags, size_t max_depth,
		  struct sb_json **out, struct sb_error *err);

/* Reads and parses a whole file (at most max_bytes; 0: 256 MiB). */
int sb_json_parse_file(const char *path, int flags, size_t max_bytes, struct sb_json **out,
		       struct sb_error *err);

/* Frees the tree and sets *j to NULL; no operation if *j is NULL. */
void sb_json_free(struct sb_json **j);

/* Member 'key' of an object (first match), or NULL if absent or obj is not an object. */
const struct sb_json *sb_json_get(const struct sb_json *obj, const char *key);

/*
 * Typed accessors for optional members: return SB_OK and set *out when present and
 * of the right type, SB_ENOTFOUND when absent (or null), SB_EFORMAT with a message
 * naming the key when present with another type or out of range.
 */
int sb_json_get_int(const struct sb_json *obj, const char *key, int64_t *out, struct sb_error *err);
int sb_json_get_num(const struct sb_json *obj, const char *key, double *out, struct sb_error *err);
int sb_json_get_bool(const struct sb_json *obj, const char *key, int *out, struct sb_error *err);
int sb_json_get_str(const struct sb_json *obj, const char *key, const char **out,
		    struct sb_error *err);

#endif
