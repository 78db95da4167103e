/* Reverse-mode differentiation over the context's tape.
 *
 * The tape is the creation order of nodes, so walking it backwards from y
 * visits every node after all of its consumers: a valid reverse topological
 * order with no sorting. Gradients are accumulated in each tensor's gacc,
 * tagged with the pass's epoch so that no clearing pass is needed (params
 * live outside the tape and would otherwise keep stale pointers). */
#include "nn/nn_internal.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    nn_ctx *c;
    nn_tensor *node;    /* the node whose rule is running */
    uint64_t ep;
    nn_tensor *params;  /* list through gnext */
    /* recycling (nn_backward): gradients replaced by a sum this iteration */
    nn_tensor *replaced[NN_MAX_SRC];
    int n_replaced;
} pass;

static int accumulate(pass *ps, nn_tensor *t, nn_tensor *g)
{
    if (t->gepoch != ps->ep || !t->gacc) {
        t->gacc = g;
        t->gepoch = ps->ep;
        if (t->is_param) {
            t->gnext = ps->params;
            ps->params = t;
        }
        return GS_OK;
    }
    nn_tensor *old = t->gacc;
    t->gacc = nn_add(ps->c, t->gacc, g);
    if (ps->n_replaced < NN_MAX_SRC)
        ps->replaced[ps->n_replaced++] = old;
    return t->gacc ? GS_OK : GS_ERR_NOMEM;
}

/* Whether buffer b is some gradient still to be read: the gradient of a node
 * older than `t` (not yet processed, leaves included) or of a parameter. */
static bool still_read(const pass *ps, const nn_tensor *t, const float *b)
{
    for (const nn_tensor *s = t->prev; s; s = s->prev)
        if (s->gepoch == ps->ep && s->gacc && s->gacc->data == b)
            return true;
    for (const nn_tensor *p = ps->params; p; p = p->gnext)
        if (p->gacc && p->gacc->data == b)
            return true;
    return false;
}

static void release_if_dead(pass *ps, const nn_tensor *t, nn_tensor *cand)
{
    if (cand && cand->made_in == ps->ep && cand->recycle_bytes && cand->data &&
        !still_read(ps, t, cand->data))
        nn_ctx_release(ps->c, cand);
}

void nn_bwd_done_with(nn_ctx *c, nn_tensor *g)
{
    pass *ps = nn_ctx_pass(c);
    if (ps && g)
        release_if_dead(ps, ps->node, g);
}

/* After t's rule: t's own gradient, the rule's nodes (newer than `mark`)
 * and the partial sums accumulate replaced are dead unless a pending
 * gradient is (or aliases) one of them. Only recyclable (large, made in
 * this pass) buffers are considered; forward values never are. */
static void release_dead(pass *ps, nn_tensor *t, const nn_tensor *mark)
{
    release_if_dead(ps, t, t->gacc);
    for (nn_tensor *s = nn_ctx_tape(ps->c); s && s != mark; s = s->prev)
        release_if_dead(ps, t, s);
    for (int i = 0; i < ps->n_replaced; i++)
        release_if_dead(ps, t, ps->replaced[i]);
    ps->n_replaced = 0;
}

/* Marks (nepoch = ep) every tape node that depends on one of wrt[0..n-1]:
 * the tape is walked oldest first, so a node's inputs are marked before it. */
static int mark_needed(nn_ctx *c, uint64_t ep, int n, nn_tensor *const *wrt)
{
    int64_t cnt = 0;
    for (nn_tensor *t = nn_ctx_tape(c); t; t = t->prev)
        cnt++;
    nn_tensor **order = nn_scratch(c, (size_t)(cnt ? cnt : 1) * sizeof *order);
    if (!order)
        return GS_ERR_NOMEM;
    int64_t k = cnt;
    for (nn_tensor *t = nn_ctx_tape(c); t; t = t->prev)
        order[--k] = t;
    for (int i = 0; i < n; i++)
        wrt[i]->nepoch = ep;
    for (int64_t i = 0; i < cnt; i++) {
        nn_tensor *t = order[i];
        for (int s = 0; s < NN_MAX_SRC; s++)
            if (t->src[s] && t->src[s]->nepoch == ep) {
                t->nepoch = ep;
                break;
            }
    }
    return GS_OK;
}

/* n / wrt: nn_grad's targets (gradients of nodes that lead nowhere else
 * are not built); n = 0: nn_backward, every input that requires grad. */
static int run_pass(pass *ps, nn_tensor *y, bool create_graph, int n, nn_tensor *const *wrt)
{
    nn_ctx *c = ps->c;
    if (!y) {
        /* a copy: gs_error writes the buffer gs_errmsg() points into */
        char why[256];
        snprintf(why, sizeof why, "%s", gs_errmsg());
        return gs_error(GS_ERR_ARG, "nn: gradient of a failed expression (%s)", why);
    }
    if (y->n != 1)
        return gs_error(GS_ERR_ARG, "nn: gradient needs a scalar output, got %lld elements",
                        (long long)y->n);
    ps->ep = nn_ctx_next_epoch(c);
    ps->params = NULL;
    if (!y->requires_grad)
        return GS_OK;
    if (n > 0) {
        int mrc = mark_needed(c, ps->ep, n, wrt);
        if (mrc)
            return mrc;
        nn_ctx_set_need_epoch(c, ps->ep);
    }

    bool saved = nn_ctx_grad_enabled(c);
    nn_set_grad_enabled(c, create_graph);
    /* Recycle only in nn_backward: with create_graph the gradients are graph
     * values someone may differentiate, and nn_grad returns the gradients of
     * arbitrary (also interior) nodes, which must outlive the pass. */
    const bool recycle = !create_graph && n == 0;
    ps->n_replaced = 0;
    nn_ctx_set_made_in(c, recycle ? ps->ep : 0);
    nn_ctx_set_pass(c, recycle ? ps : NULL);
    int rc = GS_OK;
    nn_tensor *one = nn_new(c, 1, (int64_t[]){1});
    if (!one) {
        rc = GS_ERR_NOMEM;
        goto out;
    }
    one->data[0] = 1.0f;
    y->gacc = one;
    y->gepoch = ps->ep;
    for (nn_tensor *t = y; t; t = t->prev) {
        if (t->gepoch != ps->ep || !t->gacc || t->op == NN_OP_LEAF || !t->requires_grad)
            continue;
        nn_tensor *g[NN_MAX_SRC] = {NULL, NULL, NULL};
        const nn_tensor *mark = nn_ctx_tape(c);
        ps->node = t;
        uint64_t fails = nn_ctx_failures(c);
        nn_op_table[t->op]->bwd(c, t, t->gacc, g);
        if (nn_ctx_failures(c) != fails) {
            rc = GS_ERR_NOMEM;  /* a rule's op failed; the message says which */
            goto out;
        }
        for (int k = 0; k < NN_MAX_SRC; k++) {
            nn_tensor *s = t->src[k];
            if (!nn_wants(c, s))
                continue;
            if (!g[k])
                continue;  /* no gradient for this input (zero a.e. or constant) */
            if ((rc = accumulate(ps, s, g[k])) != GS_OK)
                goto out;
        }
        if (recycle)
            release_dead(ps, t, mark);
    }
out:
    nn_ctx_set_made_in(c, 0);
    nn_ctx_set_pass(c, NULL);
    nn_set_grad_enabled(c, saved);
    nn_ctx_set_need_epoch(c, 0);
    return rc;
}

int nn_grad(nn_ctx *c, nn_tensor *y, int n, nn_tensor *const *wrt, nn_tensor **out,
            bool create_graph)
{
    pass ps = {.c = c};
    int rc = run_pass(&ps, y, create_graph, n, wrt);
    if (rc != GS_OK)
        return rc;
    for (int i = 0; i < n; i++) {
        nn_tensor *w = wrt[i];
        if (w->gepoch == ps.ep && w->gacc)
            out[i] = w->gacc;
        else if (!(out[i] = nn_zeros(c, w->ndim, w->shape)))
            return GS_ERR_NOMEM;
    }
    return GS_OK;
}

int nn_backward(nn_ctx *c, nn_tensor *y)
{
    pass ps = {.c = c};
    int rc = run_pass(&ps, y, false, 0, NULL);
    if (rc != GS_OK)
        return rc;
    for (nn_tensor *p = ps.params; p; p = p->gnext) {
        const float *g = p->gacc->data;
        float *acc = p->grad;
        const int64_t n_ = p->n;
#pragma omp simd
        for (int64_t i = 0; i < n_; i++)
            acc[i] += g[i];
    }
    return GS_OK;
}
