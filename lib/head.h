/*
 * head.h - the sequence-classification head of a cross-encoder: from the last hidden
 * state of each row's first token to num_labels logits, then sentence-transformers'
 * CrossEncoder activation.
 *
 *   BERT (BertForSequenceClassification):
 *     y[D] = tanh(Wp x + bp)   the pooler, Wp [D, D] 'bert.pooler.dense'
 *     z[N] = Wc y + bc         'classifier' [N, D]
 *   RoBERTa / XLM-RoBERTa / CamemBERT (*ForSequenceClassification):
 *     y[D] = tanh(Wd x + bd)   'classifier.dense' [D, D]
 *     z[N] = Wo y + bo         'classifier.out_proj' [N, D]
 *
 * x is the first position of the padded row ([CLS] / <s>), as transformers takes
 * hidden[:, 0].  The activation is CrossEncoder's default, a sigmoid when N is 1 and
 * none otherwise, or none when asked for the logits.
 */
#ifndef SB_HEAD_H
#define SB_HEAD_H

#include "api.h"

#include <stddef.h>

#include "errors.h"
#include "model.h"

struct sb_head;

/*
 * Binds the head of the opened model m, whose folder is dir (config.json is read again
 * for num_labels / id2label, which must agree with the classifier's rows).  logits: 1
 * for the raw logits, 0 for CrossEncoder's default activation.  Errors name the tensor
 * (missing, mis-shaped) or the field; DistilBERT's head is refused (SB_EUNSUPPORTED).
 * m must outlive the head.  *out is NULL on failure.
 */
SB_API int sb_head_open(struct sb_head **out, const struct sb_model *m, const char *dir, int logits,
			struct sb_error *err);

/* Frees the head; sets *h to NULL.  No operation if *h is NULL. */
SB_API void sb_head_close(struct sb_head **h);

/* num_labels: the width of a row of scores. */
SB_API size_t sb_head_labels(const struct sb_head *h);

/* "sigmoid" or "none": what follows the logits. */
SB_API const char *sb_head_activation(const struct sb_head *h);

/*
 * The scores of every row of m's last forward: out[rows, num_labels].  SB_EINVAL when
 * a row's first position is padding (left-padded rows: transformers would read the
 * hidden state of a pad there), naming the row; SB_ENOMEM.
 */
SB_API int sb_head_forward(struct sb_head *h, const struct sb_model *m, float *out,
			   struct sb_error *err);

#endif
