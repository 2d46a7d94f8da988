/*
 * sb.h - the public interface of libsb, the core of the sb suite.
 *
 * Include this one header.  Link with `pkg-config --libs sb`.
 */
#ifndef SB_H
#define SB_H

#ifdef __cplusplus
extern "C" {
#endif

#include "api.h"
#include "errors.h"
#include "buf.h"
#include "tensor.h"
#include "frame.h"
#include "transport.h"
#include "reader.h"
#include "stage.h"
#include "hub.h"
#include "tokenizer.h"
#include "weights.h"
#include "compute.h"
#include "model.h"
#include "head.h"
#include "pooling.h"
#include "similarity.h"
#include "modules.h"
#include "search.h"
#include "scores.h"

#ifdef __cplusplus
}
#endif

#endif
