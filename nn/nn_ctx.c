/* Context, arena and node creation.
 *
 * The arena is one 64-byte-aligned block, used from both ends: node structs
 * and small buffers from the bottom, tensor data of NN_RECYCLE_MIN bytes or
 * more from the top. Released buffers (nn_ctx_release: dead gradients in
 * nn_backward, values nothing reads again) go to a free list that new
 * tensors take from first. When a step needs more, the block is retired
 * and the step goes on in a new one twice as large; the next reset frees
 * them all and regrows one block to the step's total, so a sequence of
 * identical steps stops allocating after its first step. */
#include "nn/nn_internal.h"
#include "core/gs_cpu.h"

#include <omp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>

#define NN_ALIGN 64

typedef struct nn_chunk {
    struct nn_chunk *next;
    char *mem;
} nn_chunk;

struct nn_ctx {
    char *base;
    size_t cap, used, top, step_total, high_water;  /* used: from the bottom, top: from the end */
    nn_chunk *extra;        /* overflow blocks of this step */
    uint64_t n_mallocs;
    uint64_t n_fail;        /* failed node creations */
    nn_tensor *tape;        /* last node; ->prev links back */
    int64_t n_nodes;
    uint64_t need_epoch;    /* nn_grad pruning (nn_internal.h), 0 = off */
    bool grad_enabled, training;
    /* Released buffers of this step (nn_ctx_release), linked through their
     * first bytes, in address order; new nodes take them before the arena. */
    struct nn_freebuf *free;
    uint64_t made_in;       /* stamped on new nodes (nn_ctx_set_made_in) */
    void *pass;             /* the recycling backward pass running (nn_autodiff.c) */
    bool grew;              /* this step outgrew the block it started with */
};

#define NN_BLOCK_MIN ((size_t)4 << 20)  /* smallest block taken when the arena grows */

struct nn_freebuf {
    struct nn_freebuf *next;
    size_t bytes;
};

nn_ctx *nn_ctx_new(void)
{
    /* an incomplete op table row would drop gradients or call NULL: refuse
     * to run at all (a few dozen reads, no state) */
    if (nn_op_table_check())
        return NULL;
    nn_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        gs_error(GS_ERR_NOMEM, "nn: out of memory for a context");
        return NULL;
    }
    c->grad_enabled = true;
    c->training = true;
    return c;
}

static void free_extra(nn_ctx *c)
{
    while (c->extra) {
        nn_chunk *k = c->extra;
        c->extra = k->next;
        free(k->mem);
        free(k);
    }
}

void nn_ctx_free(nn_ctx *c)
{
    if (!c)
        return;
    free_extra(c);
    free(c->base);
    free(c);
}

void nn_ctx_reset(nn_ctx *c)
{
    if (c->grew) {
        /* Last step overflowed: regrow to its peak, with headroom. */
        c->grew = false;
        free_extra(c);
        free(c->base);
        size_t want = c->step_total + c->step_total / 4;
        want = (want + NN_ALIGN - 1) / NN_ALIGN * NN_ALIGN;
        c->base = aligned_alloc(NN_ALIGN, want);
        c->cap = c->base ? want : 0;
        if (c->base)
            c->n_mallocs++;
    }
    c->used = 0;
    c->top = 0;
    c->step_total = 0;
    c->tape = NULL;
    c->n_nodes = 0;
    c->free = NULL;
}

static size_t rounded(size_t bytes)
{
    size_t sz = (bytes + NN_ALIGN - 1) / NN_ALIGN * NN_ALIGN;
    return sz ? sz : NN_ALIGN;
}

void nn_release(nn_ctx *c, nn_tensor *t)
{
    /* views share their source's buffer and own none (recycle_bytes 0) */
    if (c && t && !t->requires_grad && !t->is_param)
        nn_ctx_release(c, t);
}

void nn_ctx_set_made_in(nn_ctx *c, uint64_t pass) { c->made_in = pass; }
void nn_ctx_set_pass(nn_ctx *c, void *pass) { c->pass = pass; }
void *nn_ctx_pass(const nn_ctx *c) { return c->pass; }

/* The free list is kept in address order so that a released block merges
 * with free neighbours: temporaries made one after another and dead
 * together become one block that a larger gradient can use. */
void nn_ctx_release(nn_ctx *c, nn_tensor *t)
{
    if (!t->recycle_bytes || !t->data)
        return;
    struct nn_freebuf *f = (struct nn_freebuf *)(void *)t->data, **p = &c->free, *prev = NULL;
    f->bytes = t->recycle_bytes;
    while (*p && *p < f) {
        prev = *p;
        p = &(*p)->next;
    }
    f->next = *p;
    *p = f;
    if (f->next && (char *)f + f->bytes == (char *)f->next) {
        f->bytes += f->next->bytes;
        f->next = f->next->next;
    }
    if (prev && (char *)prev + prev->bytes == (char *)f) {
        prev->bytes += f->bytes;
        prev->next = f->next;
    }
    /* a released tensor must never be read again: fail loudly if it is */
    t->data = NULL;
    t->recycle_bytes = 0;
}

static void count_bytes(nn_ctx *c, size_t sz)
{
    c->step_total += sz;
    if (c->step_total > c->high_water)
        c->high_water = c->step_total;
}

/* No released block is large enough: if one lies at the low end of the
 * top region, extend it downwards by the difference instead of taking a
 * whole new buffer (a gradient slightly larger than the one just freed,
 * e.g. the phase planes' after the block output's). */
static float *grow_lowest(nn_ctx *c, size_t sz, size_t *got)
{
    char *low = c->base ? c->base + c->cap - c->top : NULL;
    struct nn_freebuf **p = &c->free;
    while (*p && (char *)*p != low)
        p = &(*p)->next;
    if (!low || !*p)
        return NULL;
    const size_t extra = sz - (*p)->bytes;
    if (c->used + c->top + extra > c->cap)
        return NULL;
    *p = (*p)->next;
    c->top += extra;
    count_bytes(c, extra);
    *got = sz;
    return (float *)(void *)(low - extra);
}

/* Best fit among the released blocks; a block with enough left over is
 * split and its tail stays free. *got = the bytes handed out. */
static float *take_free(nn_ctx *c, size_t bytes, size_t *got)
{
    const size_t sz = rounded(bytes);
    struct nn_freebuf **best = NULL;
    for (struct nn_freebuf **p = &c->free; *p; p = &(*p)->next)
        if ((*p)->bytes >= sz && (!best || (*p)->bytes < (*best)->bytes))
            best = p;
    if (!best)
        return grow_lowest(c, sz, got);
    struct nn_freebuf *f = *best;
    if (f->bytes - sz >= NN_RECYCLE_MIN) {
        struct nn_freebuf *tail = (struct nn_freebuf *)(void *)((char *)f + sz);
        tail->bytes = f->bytes - sz;
        tail->next = f->next;
        *best = tail;
        *got = sz;
    } else {
        *best = f->next;
        *got = f->bytes;
    }
    return (float *)(void *)f;
}

/* The block is used from both ends: node structs and small buffers from
 * the bottom, tensor data of NN_RECYCLE_MIN bytes or more from the top, so
 * that large buffers lie next to each other and released neighbours merge
 * into blocks that fit larger tensors (nn_ctx_release). */
static void *arena_alloc(nn_ctx *c, size_t bytes, bool high)
{
    const size_t sz = rounded(bytes);
    count_bytes(c, sz);
    if (c->base && c->used + c->top + sz <= c->cap) {
        if (high) {
            c->top += sz;
            return c->base + c->cap - c->top;
        }
        void *p = c->base + c->used;
        c->used += sz;
        return p;
    }
    /* Full: retire the block (kept until the reset, which regrows to the
     * step's total) and go on in a new one at least twice as large, used
     * from both ends like the first, so that buffers recycle in the first
     * step too and its peak is no higher than the later steps'. Untouched
     * pages of a block cost address space, not memory. */
    size_t want = sz > 2 * c->cap ? sz : 2 * c->cap;
    if (want < NN_BLOCK_MIN)
        want = NN_BLOCK_MIN;
    nn_chunk *k = c->base ? malloc(sizeof *k) : NULL;
    char *mem = (k || !c->base) ? aligned_alloc(NN_ALIGN, want) : NULL;
    if (!mem) {
        free(k);
        c->n_fail++;
        gs_error(GS_ERR_NOMEM, "nn: arena cannot grow by %zu bytes", sz);
        return NULL;
    }
    c->n_mallocs++;
    if (k) {
        k->mem = c->base;
        k->next = c->extra;
        c->extra = k;
    }
    c->grew = true;
    c->base = mem;
    c->cap = want;
    c->used = 0;
    c->top = 0;
    if (high) {
        c->top = sz;
        return mem + want - sz;
    }
    c->used = sz;
    return mem;
}

void *nn_scratch(nn_ctx *c, size_t bytes) { return arena_alloc(c, bytes, false); }

void nn_ctx_get_stats(const nn_ctx *c, nn_ctx_stats *s)
{
    s->arena_bytes = c->cap;
    s->high_water = c->high_water;
    s->used = c->step_total;
    s->n_mallocs = c->n_mallocs;
    s->n_nodes = c->n_nodes;
}

void nn_set_grad_enabled(nn_ctx *c, bool on) { c->grad_enabled = on; }
bool nn_get_grad_enabled(const nn_ctx *c) { return c->grad_enabled; }
void nn_set_training(nn_ctx *c, bool on) { c->training = on; }
bool nn_is_training(const nn_ctx *c) { return c->training; }

/* Internal accessors used by the autodiff walker. */
nn_tensor *nn_ctx_tape(nn_ctx *c) { return c->tape; }
/* Pass numbers are unique across all contexts of the process, not per
 * context: a parameter used by several contexts (data-parallel shards,
 * a sampler beside a trainer) carries the tag of whichever pass touched it
 * last, and a per-context count could make another context's pass look
 * current and hand it a stale gradient from a rewound arena. */
static _Atomic uint64_t pass_counter;

uint64_t nn_ctx_next_epoch(nn_ctx *c)
{
    (void)c;
    return atomic_fetch_add(&pass_counter, 1) + 1;
}
bool nn_ctx_grad_enabled(const nn_ctx *c) { return c->grad_enabled; }
uint64_t nn_ctx_failures(const nn_ctx *c) { return c->n_fail; }
void nn_ctx_set_need_epoch(nn_ctx *c, uint64_t ep) { c->need_epoch = ep; }
uint64_t nn_ctx_need_epoch(const nn_ctx *c) { return c->need_epoch; }

nn_tensor *nn_fail(nn_ctx *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gs_error(GS_ERR_ARG, "%s", msg);
    c->n_fail++;
    return NULL;
}

/* 0 until nn_set_threads: then OpenMP's default of the calling thread rules. */
static _Atomic int process_threads;

void nn_set_threads(int n)
{
    if (n < 1)
        n = 1;
    atomic_store(&process_threads, n);
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

const char *nn_blas_advice(void)
{
    /* OpenBLAS's x86-64 cores from before AVX, in its own spelling */
    static const char *const pre_avx[] = {"Prescott", "Core2",   "Penryn",  "Dunnington",
                                          "Nehalem",  "Atom",    "Katmai",  "Coppermine",
                                          "Northwood", "Banias", "Opteron", "Barcelona"};
    static _Thread_local char msg[320];
    if (getenv("OPENBLAS_CORETYPE"))
        return NULL;
    /* the level gansim's own kernels run at: GANSIM_ISA=v2 stands for an
     * old CPU, where the old kernels are right */
    const gs_isa hw = gs_cpu_isa();
    if (hw < GS_ISA_V3)
        return NULL;
    const char *core = openblas_get_corename();
    int old = 0;
    for (size_t i = 0; core && i < sizeof pre_avx / sizeof pre_avx[0]; i++)
        old |= strcmp(core, pre_avx[i]) == 0;
    if (!old)
        return NULL;
    const char *want = hw >= GS_ISA_V4 ? "SkylakeX" : "Haswell";
    snprintf(msg, sizeof msg,
             "OpenBLAS does not know this CPU and runs its %s (SSE) kernels although the CPU has "
             "%s: matrix products run up to ~15x slower than they could; start the program with "
             "OPENBLAS_CORETYPE=%s (docs/performance.md)",
             core, hw >= GS_ISA_V4 ? "AVX-512" : "AVX2", want);
    return msg;
}

int nn_get_threads(void)
{
    const int n = atomic_load(&process_threads);
    return n > 0 ? n : omp_get_max_threads();
}

int nn_threads_begin(void)
{
    const int saved = omp_get_max_threads(), n = atomic_load(&process_threads);
    /* OpenBLAS's OpenMP build follows the calling thread's OpenMP count at
     * every call, so this one setting reaches both. */
    if (n > 0 && n != saved)
        omp_set_num_threads(n);
    return saved;
}

void nn_threads_end(int saved)
{
    if (omp_get_max_threads() != saved)
        omp_set_num_threads(saved);
}

int nn_run_jobs(int n_jobs, int width, int (*job)(void *arg, int i, int slot), void *arg)
{
    if (width > n_jobs)
        width = n_jobs;
    if (width < 1)
        width = 1;
    int first_fail = n_jobs; /* lowest failing job index */
    int first_rc = GS_OK;
    char msg[512] = "";
    /* A team of one is not an active parallel region, and OpenBLAS would
     * then thread by the count below: setting it to 1 inside each job is
     * what makes every job single-threaded, in a team of any size (also
     * when the caller is itself inside a parallel region: one thread). */
#pragma omp parallel for num_threads(width) schedule(static, 1)
    for (int i = 0; i < n_jobs; i++) {
        omp_set_num_threads(1);
        const int rc = job(arg, i, omp_get_thread_num());
        if (rc) {
#pragma omp critical(nn_run_jobs_fail)
            if (i < first_fail) {
                first_fail = i;
                first_rc = rc;
                snprintf(msg, sizeof msg, "%s", gs_errmsg());
            }
        }
    }
    if (first_rc)
        return gs_error(first_rc, "%s", msg);
    return GS_OK;
}

/* ---- nodes ---------------------------------------------------------------- */
int64_t nn_shape_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    return n;
}

int64_t nn_inner(const nn_tensor *t) { return t->ndim > 0 ? t->n / t->shape[0] : 1; }

bool nn_same_shape(const nn_tensor *a, const nn_tensor *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return false;
    return true;
}

nn_tensor *nn_node(nn_ctx *c, int op, int ndim, const int64_t *shape, nn_tensor *s0,
                   nn_tensor *s1, nn_tensor *s2, bool alias_s0)
{
    const int n_src = nn_op_table[op]->n_src;
    nn_tensor *src[NN_MAX_SRC] = {s0, s1, s2};
    for (int i = 0; i < n_src; i++)
        if (!src[i]) {
            c->n_fail++;
            return NULL;  /* an earlier op failed: propagate, keep its message */
        }
    if (ndim < 1 || ndim > NN_MAX_DIMS) {
        gs_error(GS_ERR_ARG, "nn: %s: rank %d not in 1..%d", nn_op_table[op]->name, ndim,
                 NN_MAX_DIMS);
        c->n_fail++;
        return NULL;
    }
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) {
            gs_error(GS_ERR_ARG, "nn: %s: negative dimension", nn_op_table[op]->name);
            c->n_fail++;
            return NULL;
        }
    nn_tensor *t = nn_scratch(c, sizeof *t);
    if (!t)
        return NULL;
    memset(t, 0, sizeof *t);
    t->op = op;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->n = nn_shape_numel(ndim, shape);
    if (alias_s0) {
        t->data = s0->data;
    } else {
        const size_t bytes = (size_t)t->n * sizeof(float);
        /* only buffers big enough to matter are recycled (and big enough
         * to hold the free-list link) */
        if (bytes >= NN_RECYCLE_MIN) {
            t->data = take_free(c, bytes, &t->recycle_bytes);
            if (!t->data) {
                t->data = arena_alloc(c, bytes, true);
                t->recycle_bytes = rounded(bytes);
            }
        } else {
            t->data = nn_scratch(c, bytes);
        }
        if (!t->data)
            return NULL;
    }
    bool rg = false;
    for (int i = 0; i < n_src; i++) {
        t->src[i] = src[i];
        rg |= src[i]->requires_grad;
    }
    t->requires_grad = rg && c->grad_enabled;
    t->made_in = c->made_in;
    t->prev = c->tape;
    c->tape = t;
    c->n_nodes++;
    return t;
}

nn_tensor *nn_run(nn_tensor *y)
{
    if (y && nn_op_table[y->op]->fwd)
        nn_op_table[y->op]->fwd(y);
    return y;
}

nn_tensor *nn_new(nn_ctx *c, int ndim, const int64_t *shape)
{
    return nn_node(c, NN_OP_LEAF, ndim, shape, NULL, NULL, NULL, false);
}

nn_tensor *nn_zeros(nn_ctx *c, int ndim, const int64_t *shape)
{
    nn_tensor *t = nn_new(c, ndim, shape);
    if (t)
        memset(t->data, 0, (size_t)t->n * sizeof(float));
    return t;
}

nn_tensor *nn_input(nn_ctx *c, int ndim, const int64_t *shape, const float *data)
{
    nn_tensor *t = nn_new(c, ndim, shape);
    if (t)
        memcpy(t->data, data, (size_t)t->n * sizeof(float));
    return t;
}

void nn_set_requires_grad(nn_tensor *t, bool on)
{
    if (t)
        t->requires_grad = on;
}
