/*
 * checkpoint.h - a reader of PyTorch checkpoints (pytorch_model.bin, torch.save) that
 * treats the pickle inside as data and executes nothing.
 *
 * Byte layout of a torch.save file (the "zip" serialization, torch >= 1.6):
 *   1. A zip archive, every entry stored (method 0), usually with data descriptors
 *      (flag bit 3: sizes only in the central directory) and ZIP64 records for big
 *      files.  Storage data is padded to 64-byte boundaries by an extra field.
 *   2. `<prefix>/data.pkl`: a pickle (protocol 2) of the state dict:
 *        {name: torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
 *                                              requires_grad, backward_hooks[, metadata])}
 *      where each storage is a persistent id ('storage', torch.FloatStorage, KEY,
 *      LOCATION, NUMEL), and the dict may be a collections.OrderedDict with a _metadata
 *      attribute (set by BUILD).
 *   3. `<prefix>/data/<KEY>`: the raw little-endian elements of each storage.
 *   4. Optionally `<prefix>/version`, `<prefix>/byteorder` ("little"), `.data/...`.
 * The legacy format (before torch 1.6) is read too: five pickles in a row (magic number,
 * protocol version, sys_info, the state dict, the list of storage keys) followed by each
 * storage as an 8-byte element count and its bytes.
 *
 * The pickle reader is a small stack machine that only knows the opcodes a state dict
 * uses (PROTO, FRAME, EMPTY_DICT/TUPLE, MARK, TUPLE/TUPLE1-3, BINUNICODE,
 * SHORT_BINUNICODE, BININT/BININT1/BININT2, LONG1, NEWTRUE/NEWFALSE, NONE,
 * BINPUT/LONG_BINPUT/MEMOIZE, BINGET/LONG_BINGET, GLOBAL/STACK_GLOBAL, BINPERSID,
 * REDUCE, SETITEM(S), BUILD, STOP) and only the globals collections.OrderedDict,
 * torch._utils._rebuild_tensor_v2 and the torch.*Storage types.  REDUCE is evaluated
 * only for those callables, with the argument shapes torch writes.  Anything else is
 * refused with the opcode or global and its byte offset.  Stack, memo and nesting are
 * bounded; every zip offset and size is checked against the file size.
 */
#ifndef SB_CHECKPOINT_H
#define SB_CHECKPOINT_H

#include <stddef.h>

#include "errors.h"
#include "tensor.h"

/* Limits of the pickle machine (generous: a BERT state dict needs a few hundred). */
#define SB_CHECKPOINT_MAX_STACK ((size_t)1 << 20)       /* values on the stack */
#define SB_CHECKPOINT_MAX_MEMO ((size_t)1 << 22)        /* memo slots */
#define SB_CHECKPOINT_MAX_MARKS 64                      /* nested MARKs */
#define SB_CHECKPOINT_MAX_VALUES ((size_t)1 << 18)      /* values made, ~15 per tensor */
#define SB_CHECKPOINT_MAX_PICKLE ((size_t)64 << 20)     /* bytes of one pickle */

struct sb_checkpoint_entry {
	char *name;                     /* NUL-terminated, owned by the checkpoint */
	const char *storage_type;       /* "FloatStorage", "LongStorage", ... (static) */
	const char *dtype_name;         /* the same as safetensors spells it: "F32", "I64" */
	int dtype;                      /* enum sb_dtype, or -1 (Double/Bool/Short storages) */
	size_t itemsize;                /* bytes per element */
	int n_dims;
	size_t shape[SB_TENSOR_MAX_DIMS];
	size_t offset;                  /* absolute file offset of the first element */
	size_t nbytes;                  /* numel x itemsize, within the storage's zip entry */
};

struct sb_checkpoint {
	struct sb_checkpoint_entry *entries;    /* in pickle (insertion) order */
	size_t n_entries;
	char prefix[256];                       /* the archive folder, e.g. "pytorch_model/" */
};

/*
 * Parses the image file[0 .. size) of a torch.save file (zip or legacy).  label names the file in
 * messages ("pytorch_model.bin: archive/data.pkl: byte 49: global 'os system' is not
 * allowed").  On success fills *ck (free with sb_checkpoint_destroy).  Tensors are
 * only described (offsets into the file), never copied.  Non-contiguous strides are
 * refused (SB_EUNSUPPORTED), as are compressed or encrypted entries, big-endian
 * archives and (legacy format) views of storages.  Allocations are bounded by the size of data.pkl and of the central
 * directory, themselves checked against the file size.
 */
int sb_checkpoint_parse(struct sb_checkpoint *ck, const void *file, size_t size,
			const char *label, struct sb_error *err);

/* Frees what sb_checkpoint_parse() allocated and zeroes *ck; safe on a zeroed struct. */
void sb_checkpoint_destroy(struct sb_checkpoint *ck);

#endif
