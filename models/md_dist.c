/* Data-parallel hooks over a gs_comm (md_dist.h). */
#include "models/md_dist.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct md_dist {
    gs_comm *comm;
    char layout[96];
    int distribute;     /* MD_DISTRIBUTE_* */
    float *buf;
    int64_t cap;        /* floats in buf */
    int64_t bucket;     /* bytes; 0 whole, < 0 per tensor */
    md_dist_stats st;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int md_dist_new(gs_comm *c, int threads, md_dist **out)
{
    *out = NULL;
    md_dist *d = calloc(1, sizeof *d);
    if (!d)
        return gs_error(GS_ERR_NOMEM, "out of memory");
    d->comm = c;
    gs_comm_layout(c, threads, d->layout, sizeof d->layout);
    *out = d;
    return GS_OK;
}

void md_dist_free(md_dist *d)
{
    if (!d)
        return;
    free(d->buf);
    free(d);
}

const char *md_dist_layout(const md_dist *d) { return d->layout; }
void md_dist_set_bucket(md_dist *d, int64_t bytes) { d->bucket = bytes; }

void md_dist_set_distribute(md_dist *d, int distribute)
{
    d->distribute = distribute;
    if (distribute == MD_DISTRIBUTE_SUBMODELS && !strstr(d->layout, ", sub-models"))
        strncat(d->layout, ", sub-models distributed", sizeof d->layout - strlen(d->layout) - 1);
}
md_dist_stats md_dist_get_stats(const md_dist *d) { return d->st; }

static int reserve(md_dist *d, int64_t n)
{
    if (n <= d->cap)
        return GS_OK;
    float *b = realloc(d->buf, (size_t)n * sizeof *b);
    if (!b)
        return gs_error(GS_ERR_NOMEM, "out of memory for a %lld-float all-reduce buffer",
                        (long long)n);
    d->buf = b;
    d->cap = n;
    return GS_OK;
}

static int sum(md_dist *d, float *v, int64_t n)
{
    d->st.calls++;
    d->st.bytes += n * (int64_t)sizeof(float);
    return gs_comm_sum_f32(d->comm, v, n);
}

/* Packs tensors [i0, i1) of ps (and the extras when last) into buf, sums,
 * unpacks. */
static int packed(md_dist *d, nn_params *ps, int i0, int i1, float *extra, int n_extra)
{
    int64_t n = n_extra;
    for (int i = i0; i < i1; i++)
        n += ps->p[i]->n;
    int rc = reserve(d, n);
    if (rc)
        return rc;
    int64_t off = 0;
    for (int i = i0; i < i1; i++) {
        memcpy(d->buf + off, ps->p[i]->grad, (size_t)ps->p[i]->n * sizeof(float));
        off += ps->p[i]->n;
    }
    if (n_extra)
        memcpy(d->buf + off, extra, (size_t)n_extra * sizeof(float));
    if ((rc = sum(d, d->buf, n)))
        return rc;
    off = 0;
    for (int i = i0; i < i1; i++) {
        memcpy(ps->p[i]->grad, d->buf + off, (size_t)ps->p[i]->n * sizeof(float));
        off += ps->p[i]->n;
    }
    if (n_extra)
        memcpy(extra, d->buf + off, (size_t)n_extra * sizeof(float));
    return GS_OK;
}

static int reduce_grads(void *ud, nn_params *ps, float *extra, int n_extra)
{
    md_dist *d = ud;
    const double t0 = now();
    int rc = GS_OK;
    /* parameters that take no gradient here (requires_grad off) still have
     * a buffer: every rank sends the same tensors, so the layout agrees */
    for (int i = 0; i < ps->n && !rc; i++)
        if (!ps->p[i]->grad)
            rc = gs_error(GS_ERR_STATE, "all-reduce: %s has no gradient buffer", ps->p[i]->name);
    if (rc)
        return rc;
    if (d->bucket == 0) {
        rc = packed(d, ps, 0, ps->n, extra, n_extra);
    } else if (d->bucket < 0) {
        for (int i = 0; i < ps->n && !rc; i++)
            rc = sum(d, ps->p[i]->grad, ps->p[i]->n);
        if (!rc && n_extra)
            rc = sum(d, extra, n_extra);
    } else {
        int i0 = 0;
        while (i0 < ps->n && !rc) {
            int i1 = i0 + 1;
            int64_t bytes = ps->p[i0]->n * (int64_t)sizeof(float);
            while (i1 < ps->n && bytes + ps->p[i1]->n * (int64_t)sizeof(float) <= d->bucket)
                bytes += ps->p[i1++]->n * (int64_t)sizeof(float);
            const int last = i1 == ps->n;
            rc = packed(d, ps, i0, i1, last ? extra : NULL, last ? n_extra : 0);
            i0 = i1;
        }
    }
    d->st.seconds += now() - t0;
    return rc;
}

static int mean_data(void *ud, nn_params *ps)
{
    md_dist *d = ud;
    const double t0 = now();
    int64_t n = 0;
    for (int i = 0; i < ps->n; i++)
        n += ps->p[i]->n;
    int rc = reserve(d, n);
    if (rc)
        return rc;
    int64_t off = 0;
    for (int i = 0; i < ps->n; i++) {
        memcpy(d->buf + off, ps->p[i]->data, (size_t)ps->p[i]->n * sizeof(float));
        off += ps->p[i]->n;
    }
    if ((rc = sum(d, d->buf, n)))
        return rc;
    const float inv = 1.0f / (float)gs_comm_size(d->comm);
    off = 0;
    for (int i = 0; i < ps->n; i++)
        for (int64_t k = 0; k < ps->p[i]->n; k++)
            ps->p[i]->data[k] = d->buf[off++] * inv;
    d->st.seconds += now() - t0;
    return GS_OK;
}

static int check_same(void *ud, nn_params *ps)
{
    md_dist *d = ud;
    uint64_t h;
    const int same = md_dist_same_params(d, ps, &h);
    if (same < 0)
        return -same;
    if (!same)
        return gs_error(GS_ERR_STATE, "rank %d: the parameters differ from the other ranks' "
                        "(hash %016llx): the ranks no longer train the same model",
                        gs_comm_rank(d->comm), (unsigned long long)h);
    return GS_OK;
}

static int any(void *ud, int flag)
{
    md_dist *d = ud;
    int64_t v = flag;
    /* a failed all-reduce means a peer is gone: stop (with SIGTERM's number) */
    return gs_comm_max_i64(d->comm, &v, 1) ? 15 : (int)v;
}

static int max_i64(void *ud, int64_t *v, int n)
{
    md_dist *d = ud;
    return gs_comm_max_i64(d->comm, v, n);
}

static int send_bytes(void *ud, const void *buf, int64_t bytes, int dest)
{
    md_dist *d = ud;
    return gs_comm_send(d->comm, buf, bytes, dest, 7);
}

static int recv_bytes(void *ud, void *buf, int64_t bytes, int src)
{
    md_dist *d = ud;
    return gs_comm_recv(d->comm, buf, bytes, src, 7);
}

void md_dist_parallel(md_dist *d, md_parallel *p)
{
    memset(p, 0, sizeof *p);
    p->rank = gs_comm_rank(d->comm);
    p->n_ranks = gs_comm_size(d->comm);
    p->layout = d->layout;
    p->distribute = d->distribute;
    if (p->n_ranks > 1) {
        p->max_i64 = max_i64;
        p->send = send_bytes;
        p->recv = recv_bytes;
        p->reduce_grads = reduce_grads;
        p->mean_data = mean_data;
        p->check_same = check_same;
        p->any = any;
        p->ud = d;
    }
}

int md_dist_same_params(md_dist *d, const nn_params *ps, uint64_t *hash)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a over the parameters' bytes */
    for (int i = 0; i < ps->n; i++) {
        const unsigned char *b = (const unsigned char *)ps->p[i]->data;
        for (size_t k = 0; k < (size_t)ps->p[i]->n * sizeof(float); k++)
            h = (h ^ b[k]) * 1099511628211ULL;
    }
    if (hash)
        *hash = h;
    /* max and min of the hash (as two's-complement halves) agree iff all equal */
    int64_t v[4] = {(int64_t)(h >> 32), (int64_t)(h & 0xffffffffu), -(int64_t)(h >> 32),
                    -(int64_t)(h & 0xffffffffu)};
    int rc = gs_comm_max_i64(d->comm, v, 4);
    if (rc)
        return -rc;
    return v[0] == -v[2] && v[1] == -v[3];
}
