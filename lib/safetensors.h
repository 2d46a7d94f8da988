/*
 * safetensors.h - a validating reader of the safetensors format (Hugging Face).
 *
 * Byte layout of a file:
 *   1. 8 bytes: N, the header size, unsigned little-endian (at most 100 MB here, as in
 *      the reference implementation, and at most the file size - 8).
 *   2. N bytes: a UTF-8 JSON object, often padded with spaces to a multiple of 8:
 *        {"NAME": {"dtype": "F32", "shape": [768, 768], "data_offsets": [BEGIN, END]},
 *         ..., "__metadata__": {"KEY": "VALUE", ...}}
 *      Offsets are relative to the first byte after the header.
 *   3. The data: sorted by BEGIN, the tensors cover it exactly (each BEGIN equals the
 *      previous END, the first is 0, the last END is the end of the file).
 *
 * The parser works on a caller's memory image of the whole file (usually an mmap) and
 * copies nothing: entries give absolute file offsets.  Every rule above is checked, as
 * are shape x itemsize overflow, END - BEGIN equal to that size, duplicate names,
 * unknown dtypes and a __metadata__ that is not a map of strings.  Before the JSON is
 * parsed, its values are counted (SB_SAFETENSORS_MAX_VALUES), so that the tree stays
 * small whatever the header holds.
 */
#ifndef SB_SAFETENSORS_H
#define SB_SAFETENSORS_H

#include <stddef.h>

#include "errors.h"
#include "tensor.h"

struct sb_json;

/* The reference implementation's header limit. */
#define SB_SAFETENSORS_MAX_HEADER ((size_t)100 * 1000 * 1000)
/* JSON values in a header (about 9 per tensor): bounds the parsed tree to ~100 MB. */
#define SB_SAFETENSORS_MAX_VALUES ((size_t)1 << 20)

struct sb_safetensors_entry {
	const char *name;               /* NUL-terminated, owned by the parsed header */
	const char *dtype_name;         /* as in the file: "F32", "BF16", "I64", ... (static) */
	int dtype;                      /* enum sb_dtype, or -1 for dtypes sb has no enum for
					 * (F64, BOOL, I16, U16, U32, U64, F8_*) */
	size_t itemsize;                /* bytes per element */
	int n_dims;
	size_t shape[SB_TENSOR_MAX_DIMS];
	size_t offset;                  /* absolute byte offset of the data in the file */
	size_t nbytes;                  /* numel x itemsize == END - BEGIN */
};

struct sb_safetensors {
	struct sb_safetensors_entry *entries;   /* sorted by data offset (file order) */
	size_t n_entries;
	size_t header_size;                     /* N */
	size_t data_start;                      /* 8 + N: where offset 0 of the header lies */
	size_t n_metadata;                      /* members of __metadata__ */
	struct sb_json *header;                 /* the parsed header; owns the names */
};

/*
 * Parses and validates the image file[0 .. size) of a safetensors file.  label names the
 * file in messages ("model.safetensors: tensor 'x': ...").  On success fills *st (free
 * with sb_safetensors_destroy); entries borrow nothing from file.  On failure *st is
 * left empty and err says why: SB_ETRUNCATED (file shorter than its header says),
 * SB_ELIMIT (header over 100 MB, sizes overflowing), SB_EUNSUPPORTED (unknown dtype,
 * more than SB_TENSOR_MAX_DIMS dimensions), SB_EFORMAT (anything else malformed).
 * Allocations are bounded by the header size, itself bounded by the file size.
 */
int sb_safetensors_parse(struct sb_safetensors *st, const void *file, size_t size,
			 const char *label, struct sb_error *err);

/* Frees what sb_safetensors_parse() allocated and zeroes *st; safe on a zeroed struct. */
void sb_safetensors_destroy(struct sb_safetensors *st);

#endif
