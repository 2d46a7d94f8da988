/*
 * ident.h - what an embeddings stream says it is (its meta: model, fingerprint, pooling,
 * precision, encoder arithmetic; its tensor's dtype and width), and the one rule that
 * refuses to compare rows of different models.  Used by the cosine stage (input against
 * corpus) and by sb-index (queries against the rows of an index).
 */
#ifndef SB_PLUGIN_IDENT_H
#define SB_PLUGIN_IDENT_H

#include <stddef.h>

#include "frame.h"

struct sb_ident {
	int set;
	char fingerprint[128];	   /* meta model_fingerprint: the weights */
	char model[256];	   /* meta model: the name or folder given */
	char pooling[96];	   /* meta pooling */
	char precision[16];	   /* meta precision: float32, int8, binary... */
	char encode_precision[16]; /* meta encode_precision: arithmetic of the encoder */
	enum sb_dtype dtype;
	size_t width; /* tensor columns: floats, or bytes when packed binary */
};

/*
 * Reads the identity of an embeddings frame into *id and points *t at its tensor
 * 'sentence_embedding' (borrowed from f).  SB_EFORMAT for another kind, a missing tensor
 * or a shape other than [rows, D]; SB_EUNSUPPORTED for dtypes other than float32, int8,
 * uint8.
 */
int sb_ident_read(const struct sb_frame *f, struct sb_ident *id, struct sb_tensor **t,
		  struct sb_error *err);

/*
 * Refuses (SB_EMISMATCH) rows got whose width, dtype or precision differ from want's,
 * and unless allow_mixed, rows of another model (fingerprints decide when both sides
 * have one, model names otherwise), pooling or encoder arithmetic.  Meta missing on one
 * side refuses nothing.  what names the rows checked ("row 12", "corpus FILE"), other
 * the rows they are compared with ("earlier rows", "the queries").
 */
int sb_ident_check(int allow_mixed, const struct sb_ident *want, const struct sb_ident *got,
		   const char *what, const char *other, struct sb_error *err);

#endif
