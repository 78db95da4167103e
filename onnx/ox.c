/* ox — the ONNX graph builder over protobuf-c's generated onnx messages.
 *
 * Every allocation the builder makes (messages, strings, arrays) is recorded
 * in one list and freed by ox_free, so the protobuf-c structs can point into
 * each other freely without an ownership scheme per field. */
#include "onnx/ox.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"

typedef struct {
    void *p;
} ox_alloc;

struct ox_graph {
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset;
    Onnx__OperatorSetIdProto *opsets[1];
    /* growing arrays of pointers into the message */
    Onnx__NodeProto **nodes;
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits, cap_inits;
    Onnx__ValueInfoProto **ins, **outs;
    size_t n_ins, n_outs, cap_ins, cap_outs;
    Onnx__StringStringEntryProto **meta;
    size_t n_meta, cap_meta;
    /* every block to free */
    void **blocks;
    size_t n_blocks, cap_blocks;
    uint64_t counter;   /* unique name suffixes */
    int err;            /* first error (sticky) */
};

/* ---- memory ----------------------------------------------------------------- */
static int fail(ox_graph *g, int code, const char *fmt, const char *a)
{
    if (!g->err) {
        g->err = code;
        gs_error(code, fmt, a ? a : "");
    }
    return code;
}

static void *keep(ox_graph *g, void *p)
{
    if (!p) {
        fail(g, GS_ERR_NOMEM, "onnx export: out of memory%s", "");
        return NULL;
    }
    if (g->n_blocks == g->cap_blocks) {
        size_t cap = g->cap_blocks ? 2 * g->cap_blocks : 64;
        void **nb = realloc(g->blocks, cap * sizeof *nb);
        if (!nb) {
            free(p);
            fail(g, GS_ERR_NOMEM, "onnx export: out of memory%s", "");
            return NULL;
        }
        g->blocks = nb;
        g->cap_blocks = cap;
    }
    g->blocks[g->n_blocks++] = p;
    return p;
}

static void *zalloc(ox_graph *g, size_t n, size_t size)
{
    return keep(g, calloc(n ? n : 1, size));
}

static char *sdup(ox_graph *g, const char *s)
{
    return keep(g, strdup(s));
}

/* Appends p to a growing pointer array. */
static int push(ox_graph *g, void ***arr, size_t *n, size_t *cap, void *p)
{
    if (!p)
        return g->err ? g->err : GS_ERR_NOMEM;
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 16;
        void **na = realloc(*arr, c * sizeof *na);
        if (!na)
            return fail(g, GS_ERR_NOMEM, "onnx export: out of memory%s", "");
        *arr = na;
        *cap = c;
    }
    (*arr)[(*n)++] = p;
    return GS_OK;
}
#define PUSH(g, field, p) push((g), (void ***)&(g)->field, &(g)->n_##field, &(g)->cap_##field, (p))

/* hint + "_" + counter: unique across the graph (inputs keep their own names,
 * which never end in "_<digits>" by the tools' choice; a clash would be
 * caught by the checker). */
static char *fresh(ox_graph *g, const char *hint)
{
    char buf[160];
    snprintf(buf, sizeof buf, "%s_%llu", hint, (unsigned long long)g->counter++);
    return sdup(g, buf);
}

/* ---- graph ---------------------------------------------------------------------- */
int ox_new(ox_graph **out, const char *graph_name, const char *doc)
{
    *out = NULL;
    ox_graph *g = calloc(1, sizeof *g);
    if (!g)
        return gs_error(GS_ERR_NOMEM, "onnx export: out of memory");
    onnx__model_proto__init(&g->model);
    onnx__graph_proto__init(&g->graph);
    onnx__operator_set_id_proto__init(&g->opset);
    g->opset.domain = "";
    g->opset.has_version = 1;
    g->opset.version = OX_OPSET;
    g->opsets[0] = &g->opset;
    g->model.has_ir_version = 1;
    g->model.ir_version = OX_IR_VERSION;
    g->model.n_opset_import = 1;
    g->model.opset_import = g->opsets;
    g->model.producer_name = "gansim";
    g->model.producer_version = GANSIM_VERSION;
    g->model.has_model_version = 1;
    g->model.model_version = 1;
    g->graph.name = sdup(g, graph_name ? graph_name : "graph");
    if (doc)
        g->model.doc_string = sdup(g, doc);
    if (g->err) {
        int rc = g->err;
        ox_free(g);
        return rc;
    }
    *out = g;
    return GS_OK;
}

void ox_free(ox_graph *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n_blocks; i++)
        free(g->blocks[i]);
    free(g->blocks);
    free(g->nodes);
    free(g->inits);
    free(g->ins);
    free(g->outs);
    free(g->meta);
    free(g);
}

/* A float tensor type of the given shape (OX_BATCH -> symbolic "N"). */
static Onnx__ValueInfoProto *value_info(ox_graph *g, const char *name, int ndim,
                                        const int64_t *dims)
{
    Onnx__ValueInfoProto *vi = zalloc(g, 1, sizeof *vi);
    Onnx__TypeProto *tp = zalloc(g, 1, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = zalloc(g, 1, sizeof *tt);
    Onnx__TensorShapeProto *sh = zalloc(g, 1, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **dv = zalloc(g, (size_t)ndim, sizeof *dv);
    if (!vi || !tp || !tt || !sh || !dv)
        return NULL;
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    for (int i = 0; i < ndim; i++) {
        Onnx__TensorShapeProto__Dimension *d = zalloc(g, 1, sizeof *d);
        if (!d)
            return NULL;
        onnx__tensor_shape_proto__dimension__init(d);
        if (dims[i] < 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = "N";
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i];
        }
        dv[i] = d;
    }
    sh->n_dim = (size_t)ndim;
    sh->dim = dv;
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->name = sdup(g, name);
    vi->type = tp;
    return vi->name ? vi : NULL;
}

static int check_shape(ox_graph *g, const char *what, int ndim, const int64_t *dims)
{
    if (ndim < 0 || ndim > 8 || (ndim > 0 && !dims))
        return fail(g, GS_ERR_ARG, "onnx export: bad shape for %s", what);
    return GS_OK;
}

const char *ox_input(ox_graph *g, const char *name, int ndim, const int64_t *dims)
{
    if (!g || !name || g->err || check_shape(g, name, ndim, dims))
        return NULL;
    Onnx__ValueInfoProto *vi = value_info(g, name, ndim, dims);
    if (!vi || PUSH(g, ins, vi))
        return NULL;
    return vi->name;
}

int ox_output(ox_graph *g, const char *name, const char *value, int ndim, const int64_t *dims)
{
    if (!g)
        return GS_ERR_ARG;
    if (g->err)
        return g->err;
    if (!name || !value)
        return fail(g, GS_ERR_ARG, "onnx export: output %s has no value", name);
    if (check_shape(g, name, ndim, dims))
        return g->err;
    if (strcmp(name, value) != 0) {
        /* rename through an Identity node so the output carries the given name */
        Onnx__NodeProto *n = zalloc(g, 1, sizeof *n);
        char **in = zalloc(g, 1, sizeof *in), **out = zalloc(g, 1, sizeof *out);
        if (!n || !in || !out)
            return g->err;
        onnx__node_proto__init(n);
        in[0] = sdup(g, value);
        out[0] = sdup(g, name);
        n->n_input = n->n_output = 1;
        n->input = in;
        n->output = out;
        n->op_type = "Identity";
        n->name = fresh(g, "output");
        if (g->err || PUSH(g, nodes, n))
            return g->err;
    }
    Onnx__ValueInfoProto *vi = value_info(g, name, ndim, dims);
    if (!vi)
        return g->err;
    return PUSH(g, outs, vi);
}

static const char *add_init(ox_graph *g, const char *hint, int ndim, const int64_t *dims,
                            int32_t type, const void *data, size_t elem)
{
    if (!g || g->err || !hint || check_shape(g, hint, ndim, dims))
        return NULL;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0 || gs_mul_overflow(n, (size_t)dims[i], &n)) {
            fail(g, GS_ERR_ARG, "onnx export: bad initializer shape for %s", hint);
            return NULL;
        }
    }
    if (n > 0 && !data) {
        fail(g, GS_ERR_ARG, "onnx export: initializer %s has no data", hint);
        return NULL;
    }
    Onnx__TensorProto *t = zalloc(g, 1, sizeof *t);
    int64_t *d = zalloc(g, (size_t)ndim, sizeof *d);
    uint8_t *raw = zalloc(g, n, elem);
    if (!t || !d || !raw)
        return NULL;
    onnx__tensor_proto__init(t);
    /* a scalar has no dims (NULL) and an empty tensor no data: memcpy's
     * arguments must be valid pointers even for 0 bytes (C11 7.24.1) */
    if (ndim > 0)
        memcpy(d, dims, (size_t)ndim * sizeof *d);
    /* raw_data is little-endian by the ONNX spec: gansim runs on
     * little-endian hosts (x86-64, aarch64), where the bytes are as in memory */
    if (n > 0)
        memcpy(raw, data, n * elem);
    t->n_dims = (size_t)ndim;
    t->dims = d;
    t->has_data_type = 1;
    t->data_type = type;
    t->has_raw_data = 1;
    t->raw_data.len = n * elem;
    t->raw_data.data = raw;
    t->name = fresh(g, hint);
    if (!t->name || PUSH(g, inits, t))
        return NULL;
    return t->name;
}

const char *ox_init_f32(ox_graph *g, const char *hint, int ndim, const int64_t *dims,
                        const float *data)
{
    return add_init(g, hint, ndim, dims, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, data,
                    sizeof(float));
}

const char *ox_init_i64(ox_graph *g, const char *hint, int ndim, const int64_t *dims,
                        const int64_t *data)
{
    return add_init(g, hint, ndim, dims, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, data,
                    sizeof(int64_t));
}

const char *ox_scalar_f32(ox_graph *g, const char *hint, float v)
{
    return ox_init_f32(g, hint, 0, NULL, &v);
}

const char *ox_vec_i64(ox_graph *g, const char *hint, int n, const int64_t *v)
{
    return ox_init_i64(g, hint, 1, (int64_t[]){n}, v);
}

static Onnx__AttributeProto *attribute(ox_graph *g, const ox_attr *a)
{
    Onnx__AttributeProto *p = zalloc(g, 1, sizeof *p);
    if (!p)
        return NULL;
    onnx__attribute_proto__init(p);
    p->name = sdup(g, a->name ? a->name : "");
    p->has_type = 1;
    switch (a->kind) {
    case OX_ATTR_INT:
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        p->has_i = 1;
        p->i = a->i;
        break;
    case OX_ATTR_FLOAT:
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
        p->has_f = 1;
        p->f = a->f;
        break;
    case OX_ATTR_INTS: {
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
        int64_t *v = zalloc(g, (size_t)a->n_ints, sizeof *v);
        if (!v || a->n_ints < 0 || (a->n_ints > 0 && !a->ints))
            return NULL;
        if (a->n_ints)
            memcpy(v, a->ints, (size_t)a->n_ints * sizeof *v);
        p->n_ints = (size_t)a->n_ints;
        p->ints = v;
        break;
    }
    case OX_ATTR_STRING: {
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
        char *s = sdup(g, a->s ? a->s : "");
        if (!s)
            return NULL;
        p->has_s = 1;
        p->s.data = (uint8_t *)s;
        p->s.len = strlen(s);
        break;
    }
    default:
        fail(g, GS_ERR_ARG, "onnx export: attribute %s has no kind", a->name);
        return NULL;
    }
    return p->name ? p : NULL;
}

const char *ox_node(ox_graph *g, const char *op, const char *const *in, int n_in,
                    const ox_attr *attrs, int n_attrs)
{
    if (!g || g->err || !op || n_in < 0 || n_attrs < 0)
        return NULL;
    for (int i = 0; i < n_in; i++)
        if (!in[i])
            return NULL; /* an earlier call failed: its error is already recorded */
    Onnx__NodeProto *n = zalloc(g, 1, sizeof *n);
    char **ins = zalloc(g, (size_t)n_in, sizeof *ins), **outs = zalloc(g, 1, sizeof *outs);
    Onnx__AttributeProto **at = zalloc(g, (size_t)n_attrs, sizeof *at);
    if (!n || !ins || !outs || !at)
        return NULL;
    onnx__node_proto__init(n);
    for (int i = 0; i < n_in; i++)
        if (!(ins[i] = sdup(g, in[i])))
            return NULL;
    for (int i = 0; i < n_attrs; i++)
        if (!(at[i] = attribute(g, &attrs[i])))
            return NULL;
    n->op_type = sdup(g, op);
    n->name = fresh(g, op);
    outs[0] = fresh(g, op);
    n->n_input = (size_t)n_in;
    n->input = ins;
    n->n_output = 1;
    n->output = outs;
    n->n_attribute = (size_t)n_attrs;
    n->attribute = at;
    if (!n->op_type || !n->name || !outs[0] || PUSH(g, nodes, n))
        return NULL;
    return outs[0];
}

const char *ox_op1(ox_graph *g, const char *op, const char *a)
{
    return ox_node(g, op, (const char *[]){a}, 1, NULL, 0);
}

const char *ox_op2(ox_graph *g, const char *op, const char *a, const char *b)
{
    return ox_node(g, op, (const char *[]){a, b}, 2, NULL, 0);
}

int ox_meta(ox_graph *g, const char *key, const char *value)
{
    if (!g)
        return GS_ERR_ARG;
    if (g->err)
        return g->err;
    if (!key || !value)
        return fail(g, GS_ERR_ARG, "onnx export: metadata entry %s without a value", key);
    Onnx__StringStringEntryProto *e = zalloc(g, 1, sizeof *e);
    if (!e)
        return g->err;
    onnx__string_string_entry_proto__init(e);
    e->key = sdup(g, key);
    e->value = sdup(g, value);
    if (g->err)
        return g->err;
    return PUSH(g, meta, e);
}

/* ---- output ------------------------------------------------------------------------ */
/* The message is assembled on a copy, so serialising leaves the builder usable. */
static void assemble(const ox_graph *g, Onnx__ModelProto *m, Onnx__GraphProto *gr)
{
    *gr = g->graph;
    gr->n_node = g->n_nodes;
    gr->node = g->nodes;
    gr->n_initializer = g->n_inits;
    gr->initializer = g->inits;
    gr->n_input = g->n_ins;
    gr->input = g->ins;
    gr->n_output = g->n_outs;
    gr->output = g->outs;
    *m = g->model;
    m->graph = gr;
    m->n_metadata_props = g->n_meta;
    m->metadata_props = g->meta;
}

int ox_serialise(const ox_graph *g, uint8_t **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    if (!g)
        return gs_error(GS_ERR_ARG, "onnx export: no graph");
    if (g->err)
        return g->err;
    if (g->n_outs == 0 || g->n_ins == 0)
        return gs_error(GS_ERR_STATE, "onnx export: the graph has no inputs or no outputs");
    Onnx__ModelProto m;
    Onnx__GraphProto gr;
    assemble(g, &m, &gr);
    size_t n = onnx__model_proto__get_packed_size(&m);
    uint8_t *b = malloc(n ? n : 1);
    if (!b)
        return gs_error(GS_ERR_NOMEM, "onnx export: out of memory for %zu bytes", n);
    size_t w = onnx__model_proto__pack(&m, b);
    if (w != n) {
        free(b);
        return gs_error(GS_ERR_STATE, "onnx export: packed %zu of %zu bytes", w, n);
    }
    *buf = b;
    *len = n;
    return GS_OK;
}

int ox_write(const ox_graph *g, const char *path)
{
    uint8_t *buf;
    size_t len;
    int rc = ox_serialise(g, &buf, &len);
    if (rc)
        return rc;
    char tmp[4096];
    if ((rc = gs_tmp_path(tmp, sizeof tmp, path))) {
        free(buf);
        return rc;
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        free(buf);
        return gs_error(GS_ERR_IO, "%s: cannot create (%s)", tmp, strerror(errno));
    }
    size_t w = fwrite(buf, 1, len, f);
    int cerr = fclose(f);
    free(buf);
    if (w != len || cerr != 0) {
        gs_discard(tmp);
        return gs_error(GS_ERR_IO, "%s: write failed", path);
    }
    return gs_commit(tmp, path);
}
