/*
 * pickle.h - a pickle machine that reads a PyTorch state dict as data (private to
 * libsb; checkpoint.c drives it, see checkpoint.h for the formats).
 *
 * The machine is a stack of values with a memo, run over one pickle by
 * sb_pickle_run().  It knows only the opcodes a state dict uses (named in
 * pickle_ops.h) and only the globals collections.OrderedDict,
 * torch._utils._rebuild_tensor_v2 / _rebuild_parameter and the torch storage types;
 * REDUCE of those is reproduced as data after its arguments are checked, and nothing
 * is ever called.  Storages come from persistent ids: in the zip format each is the
 * zip entry <prefix>data/<key>, found through the archive's directory; in the legacy
 * format their file offsets are filled in later by the caller (data = SIZE_MAX until
 * then).  Stack, memo, marks, values and pickle length are bounded by the
 * SB_CHECKPOINT_MAX_* limits of checkpoint.h.
 */
#ifndef SB_PICKLE_H
#define SB_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "errors.h"
#include "tensor.h"
#include "zip.h"

enum sb_pickle_type {
	SB_PK_NONE, SB_PK_BOOL, SB_PK_INT, SB_PK_STR, SB_PK_TUPLE, SB_PK_LIST, SB_PK_DICT,
	SB_PK_GLOBAL, SB_PK_STORAGE, SB_PK_TENSOR
};

/* The Python names of the types, for messages: "None", "bool", ... */
extern const char *const sb_pickle_type_names[];

/* A torch storage class: FloatStorage and the others. */
struct sb_pickle_storage {
	const char *name;
	const char *dtype_name;         /* the safetensors spelling */
	int dtype;
	size_t itemsize;
};

/* A value made by the machine; every value is owned by the machine (see next). */
struct sb_pickle_val {
	enum sb_pickle_type type;
	int64_t i;                      /* BOOL, INT; GLOBAL: enum pk_global */
	const char *s;                  /* STR: into the pickle, not NUL-terminated */
	size_t len;                     /* STR: bytes; TUPLE/LIST/DICT: items (DICT: pairs) */
	size_t cap;                     /* LIST/DICT: allocated items/pairs */
	struct sb_pickle_val **items;   /* TUPLE/LIST: len; DICT: 2 x len (key, value) */
	/* STORAGE and TENSOR */
	const struct sb_pickle_storage *st;
	size_t data;                    /* STORAGE: absolute file offset, SIZE_MAX until known */
	size_t numel;
	struct sb_pickle_val *storage;  /* TENSOR: its storage */
	size_t offset;                  /* TENSOR: first element, in storage elements */
	int n_dims;                     /* TENSOR */
	size_t shape[SB_TENSOR_MAX_DIMS];
	struct sb_pickle_val *next;     /* every value, for freeing */
};

/*
 * The machine's state: set p, n, pos, label, err (and zip, prefix for the zip
 * format, or legacy and trailing_ok for the legacy one) in a zeroed struct, run it,
 * then free it with sb_pickle_free().
 */
struct sb_pickle {
	const unsigned char *p;         /* the pickle */
	size_t n, pos, op_pos;
	const unsigned char *file;
	const struct sb_zip *zip;
	const char *prefix;
	size_t prefix_len;
	const char *label;              /* "pytorch_model.bin: archive/data.pkl" */
	struct sb_error *err;
	int legacy;                     /* pre-1.6 format: storages located after the pickles */
	int trailing_ok;                /* more pickles or data follow STOP */

	struct sb_pickle_val **stack;
	size_t sp, stack_cap;
	size_t marks[SB_CHECKPOINT_MAX_MARKS];
	size_t n_marks;
	struct sb_pickle_val **memo;
	size_t n_memo, memo_cap;
	struct sb_pickle_val *all;      /* list of every allocated value */
	size_t n_values;
	int fail;                       /* status of the last failed pk_new() */
};

/*
 * Runs the pickle from k->pos to its STOP and sets *result to the one value it leaves
 * (owned by k, valid until sb_pickle_free()).  k->pos is left after the STOP.  Errors
 * name k->label and the opcode's byte offset.
 */
int sb_pickle_run(struct sb_pickle *k, struct sb_pickle_val **result);

/* Frees every value, the stack and the memo of k; k can then run another pickle. */
void sb_pickle_free(struct sb_pickle *k);

/* 1 if v is the str lit, else 0. */
int sb_pickle_is_str(const struct sb_pickle_val *v, const char *lit);

#endif
