/* ox — a small ONNX graph builder: nodes, initializers, typed inputs and
 * outputs, metadata, written as one ModelProto file. Knows nothing of
 * gansim's networks or physics (models/ walks its own layers onto it).
 *
 * Serialisation is protobuf-c over the message code that protoc-c generates
 * at build time from the onnx.proto Debian's libonnx-dev ships (no
 * hand-written wire format). The files carry IR version OX_IR_VERSION and
 * import the default domain at OX_OPSET; both are what ONNX 1.12's checker
 * and ONNX Runtime 1.14 and later accept (docs/deploy.md).
 *
 * Model of use:
 *
 *     ox_graph *g;
 *     ox_new(&g, "generator", "gansim export of ...");
 *     const char *x = ox_input(g, "noise", 2, (int64_t[]){OX_BATCH, 10});
 *     const char *w = ox_init_f32(g, "fc.w", 2, (int64_t[]){64, 10}, data);
 *     const char *y = ox_node(g, "Gemm", (const char *[]){x, w}, 2,
 *                             (ox_attr[]){OX_INT("transB", 1)}, 1);
 *     ox_output(g, "image", y, 2, (int64_t[]){OX_BATCH, 64});
 *     ox_meta(g, "gansim_version", "0.1.0");
 *     int rc = ox_write(g, "generator.onnx");
 *     ox_free(g);
 *
 * Names: every value a builder call makes gets a unique name derived from
 * the hint ("fc.w", "Gemm_3", ...); graph inputs and outputs keep exactly
 * the name given. Errors are sticky like nn's: a failed call returns NULL,
 * every call given a NULL input returns NULL, and ox_write reports the first
 * error (gs_status codes, message in gs_errmsg()). Nothing is printed. */
#ifndef OX_H
#define OX_H

#include <stddef.h>
#include <stdint.h>

#include "core/gs_core.h"

/* IR version 8 (ONNX 1.10 - 1.12); default-domain opset 13 (ONNX 1.8): the
 * newest pair that every ONNX Runtime since 1.14 and the onnx 1.12 checker
 * both read. The graphs use only operators defined at or before opset 13. */
#define OX_IR_VERSION 8
#define OX_OPSET 13

/* A dimension of unknown size in ox_input / ox_output: the batch "N". */
#define OX_BATCH (-1)

typedef struct ox_graph ox_graph;

typedef enum { OX_ATTR_INT = 1, OX_ATTR_FLOAT, OX_ATTR_INTS, OX_ATTR_STRING } ox_attr_kind;

typedef struct {
    const char *name;
    ox_attr_kind kind;
    int64_t i;
    float f;
    const int64_t *ints;
    int n_ints;
    const char *s;
} ox_attr;

#define OX_INT(n, v) ((ox_attr){.name = (n), .kind = OX_ATTR_INT, .i = (v)})
#define OX_FLOAT(n, v) ((ox_attr){.name = (n), .kind = OX_ATTR_FLOAT, .f = (v)})
#define OX_INTS(n, arr, cnt) ((ox_attr){.name = (n), .kind = OX_ATTR_INTS, .ints = (arr), .n_ints = (cnt)})
#define OX_STRING(n, v) ((ox_attr){.name = (n), .kind = OX_ATTR_STRING, .s = (v)})

/* A new, empty graph. doc (may be NULL) becomes the model's doc_string. */
int ox_new(ox_graph **g, const char *graph_name, const char *doc);
void ox_free(ox_graph *g);

/* A float32 graph input of the given shape (OX_BATCH for the dynamic batch
 * dimension, named "N"). Returns its name (= name) or NULL. */
const char *ox_input(ox_graph *g, const char *name, int ndim, const int64_t *dims);
/* Declares value `value` as a float32 graph output called `name` (an
 * Identity node renames it when the two differ). */
int ox_output(ox_graph *g, const char *name, const char *value, int ndim, const int64_t *dims);

/* Constant tensors (initializers), copied. ndim 0 is a scalar. */
const char *ox_init_f32(ox_graph *g, const char *hint, int ndim, const int64_t *dims,
                        const float *data);
const char *ox_init_i64(ox_graph *g, const char *hint, int ndim, const int64_t *dims,
                        const int64_t *data);
/* Shorthands: a float32 / int64 scalar, and a 1-D int64 vector. */
const char *ox_scalar_f32(ox_graph *g, const char *hint, float v);
const char *ox_vec_i64(ox_graph *g, const char *hint, int n, const int64_t *v);

/* One node of the default domain with one output; returns the output's name.
 * in[i] may be "" for an omitted optional input. */
const char *ox_node(ox_graph *g, const char *op, const char *const *in, int n_in,
                    const ox_attr *attrs, int n_attrs);
/* Convenience wrappers for the common one- and two-input cases. */
const char *ox_op1(ox_graph *g, const char *op, const char *a);
const char *ox_op2(ox_graph *g, const char *op, const char *a, const char *b);

/* A metadata_props entry (key, value), copied. */
int ox_meta(ox_graph *g, const char *key, const char *value);

/* Serialises the model to path atomically (a temporary file renamed into
 * place): GS_OK, or the first error of the build, or GS_ERR_IO. */
int ox_write(const ox_graph *g, const char *path);
/* The serialised bytes (malloc'd, caller frees), for tests. */
int ox_serialise(const ox_graph *g, uint8_t **buf, size_t *len);

#endif
