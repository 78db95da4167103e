/* Chunked productions, one writer (md_produce.h). */
#include "models/md_produce.h"

#include <stdlib.h>
#include <string.h>

enum { TAG_HEAD = 11, TAG_X, TAG_PDG, TAG_W, TAG_BX, TAG_IMG, TAG_COND };

/* One production in progress: the layout, rank 0's writer and its receive
 * buffers (grown to the largest chunk seen, then reused). */
typedef struct {
    const md_chunk_source *src;
    int events, with_bx, has_pdg, has_w;
    int64_t f, px, nc;                /* event columns; image pixels, conditions */
    ds_events_writer *ew;
    ds_images_writer *iw;
    int64_t cap;
    float *x, *w, *img, *cond;
    int32_t *pdg;
    int64_t *bx;
    ds_events ev_like;
    ds_images im_like;
} prod;

static int grow(prod *p, int64_t n)
{
    if (n <= p->cap)
        return GS_OK;
    int bad = 0;
#define GROW(ptr, count)                                                                   \
    do {                                                                                   \
        void *q_ = realloc(ptr, (size_t)(count) * sizeof *(ptr) + 1);                      \
        if (q_)                                                                            \
            ptr = q_;                                                                      \
        else                                                                               \
            bad = 1;                                                                       \
    } while (0)
    if (p->events) {
        GROW(p->x, n * p->f);
        if (p->has_pdg)
            GROW(p->pdg, n);
        if (p->has_w)
            GROW(p->w, n);
        if (p->with_bx)
            GROW(p->bx, n);
    } else {
        if (p->px)
            GROW(p->img, n * p->px);
        if (p->nc)
            GROW(p->cond, n * p->nc);
    }
#undef GROW
    if (bad)
        return gs_error(GS_ERR_NOMEM, "out of memory for a chunk of %lld rows", (long long)n);
    p->cap = n;
    return GS_OK;
}

/* Makes chunk c on this rank: rows into *ev / *im (the source's buffers). */
static int make(prod *p, int64_t c, ds_events *ev, const int64_t **bx, ds_images *im)
{
    *bx = NULL;
    int rc = p->events ? p->src->events(p->src->ud, c, ev, bx) : p->src->images(p->src->ud, c, im);
    if (rc)
        return rc;
    if (p->events && (ev->f != p->f || (p->with_bx && ev->n > 0 && !*bx)))
        return gs_error(GS_ERR_STATE, "chunk %lld does not match the production's layout",
                        (long long)c);
    return GS_OK;
}

static int64_t rows_of(const prod *p, const ds_events *ev, const ds_images *im)
{
    return p->events ? ev->n : im->n;
}

/* Sends a made chunk to rank 0: its row count, then its arrays. */
static int send_chunk(prod *p, gs_comm *cm, const ds_events *ev, const int64_t *bx,
                      const ds_images *im)
{
    const int64_t n = rows_of(p, ev, im);
    int64_t head = n;
    int rc = gs_comm_send(cm, &head, sizeof head, 0, TAG_HEAD);
    if (rc || n == 0)
        return rc;
    if (p->events) {
        rc = gs_comm_send(cm, ev->x, n * p->f * (int64_t)sizeof(float), 0, TAG_X);
        if (!rc && p->has_pdg)
            rc = gs_comm_send(cm, ev->pdg, n * (int64_t)sizeof(int32_t), 0, TAG_PDG);
        if (!rc && p->has_w)
            rc = gs_comm_send(cm, ev->weights, n * (int64_t)sizeof(float), 0, TAG_W);
        if (!rc && p->with_bx)
            rc = gs_comm_send(cm, bx, n * (int64_t)sizeof(int64_t), 0, TAG_BX);
    } else {
        if (p->px)
            rc = gs_comm_send(cm, im->images, n * p->px * (int64_t)sizeof(float), 0, TAG_IMG);
        if (!rc && p->nc)
            rc = gs_comm_send(cm, im->cond, n * p->nc * (int64_t)sizeof(float), 0, TAG_COND);
    }
    return rc;
}

/* Rank 0: receives rank k's chunk into the receive buffers. *failed: the
 * sender reported that making it failed (head < 0). */
static int recv_chunk(prod *p, gs_comm *cm, int k, ds_events *ev, const int64_t **bx,
                      ds_images *im, int *failed)
{
    int64_t n;
    *failed = 0;
    int rc = gs_comm_recv(cm, &n, sizeof n, k, TAG_HEAD);
    if (rc)
        return rc;
    if (n < 0) {
        *failed = 1;
        return GS_OK;
    }
    if ((rc = grow(p, n)))
        return rc;
    *ev = p->ev_like;
    *im = p->im_like;
    ev->n = im->n = n;
    *bx = NULL;
    if (n == 0)
        return GS_OK;
    if (p->events) {
        ev->x = p->x;
        ev->pdg = p->has_pdg ? p->pdg : NULL;
        ev->weights = p->has_w ? p->w : NULL;
        rc = gs_comm_recv(cm, p->x, n * p->f * (int64_t)sizeof(float), k, TAG_X);
        if (!rc && p->has_pdg)
            rc = gs_comm_recv(cm, p->pdg, n * (int64_t)sizeof(int32_t), k, TAG_PDG);
        if (!rc && p->has_w)
            rc = gs_comm_recv(cm, p->w, n * (int64_t)sizeof(float), k, TAG_W);
        if (!rc && p->with_bx) {
            rc = gs_comm_recv(cm, p->bx, n * (int64_t)sizeof(int64_t), k, TAG_BX);
            *bx = p->bx;
        }
    } else {
        im->images = p->img;
        im->cond = p->cond;
        if (p->px)
            rc = gs_comm_recv(cm, p->img, n * p->px * (int64_t)sizeof(float), k, TAG_IMG);
        if (!rc && p->nc)
            rc = gs_comm_recv(cm, p->cond, n * p->nc * (int64_t)sizeof(float), k, TAG_COND);
    }
    return rc;
}

static int append(prod *p, const ds_events *ev, const int64_t *bx, const ds_images *im)
{
    return p->events ? ds_events_writer_append(p->ew, ev, bx) : ds_images_writer_append(p->iw, im);
}

static int produce(prod *p, const char *path, const md_produce_opts *o, int64_t *rows,
                   int *stopped)
{
    gs_comm *cm = o ? o->comm : NULL;
    const int r = gs_comm_rank(cm), np = gs_comm_size(cm);
    const int64_t n_chunks = p->src->n_chunks;
    *stopped = 0;
    if (rows)
        *rows = 0;
    if (n_chunks < 1)
        return gs_error(GS_ERR_ARG, "%s: a production of %lld chunks", path, (long long)n_chunks);
    int rc = GS_OK;
    /* rank 0 opens the output first; the others learn whether it could */
    int64_t open_rc = 0;
    if (r == 0) {
        const ds_write_opts *wo = o ? &o->write : NULL;
        open_rc = p->events ? ds_events_writer_open(path, &p->ev_like, p->with_bx, wo, &p->ew)
                            : ds_images_writer_open(path, &p->im_like, wo, &p->iw);
    }
    if ((rc = gs_comm_max_i64(cm, &open_rc, 1)))
        return rc;
    if (open_rc)
        return r == 0 ? (int)open_rc
                      : gs_error((int)open_rc, "%s: rank 0 could not create the output", path);
    int64_t written = 0, done = 0;
    /* flags agreed after each round: [stop signal, 1 + first failing rank] */
    int64_t flags[2] = {0, 0};
    for (int64_t c0 = 0; c0 < n_chunks && !flags[0] && !flags[1]; c0 += np) {
        int64_t my_fail = 0;
        ds_events ev;
        ds_images im;
        const int64_t *bx;
        if (r > 0) {
            if (c0 + r < n_chunks) {
                int mrc = make(p, c0 + r, &ev, &bx, &im);
                if (mrc) {
                    rc = mrc;
                    my_fail = r + 1;
                    int64_t head = -1; /* rank 0 waits for this chunk: say it failed */
                    int src = gs_comm_send(cm, &head, sizeof head, 0, TAG_HEAD);
                    if (src)
                        return src;
                } else if ((rc = send_chunk(p, cm, &ev, bx, &im))) {
                    return rc; /* the link is broken: nothing to agree on */
                }
            }
        } else {
            for (int k = 0; k < np && c0 + k < n_chunks; k++) {
                int failed = 0, crc;
                if (k == 0) {
                    crc = make(p, c0, &ev, &bx, &im);
                    failed = crc != GS_OK;
                } else {
                    crc = recv_chunk(p, cm, k, &ev, &bx, &im, &failed);
                    if (crc) /* lost a peer: the protocol cannot go on */
                        return crc;
                    if (failed)
                        crc = gs_error(GS_ERR_STATE, "rank %d failed making chunk %lld (its "
                                       "message is above)", k, (long long)(c0 + k));
                }
                if (!failed && !my_fail && !(crc = append(p, &ev, bx, &im))) {
                    written += rows_of(p, &ev, &im);
                    done++;
                    if (o && o->progress)
                        o->progress(o->progress_ud, done, n_chunks, written);
                }
                if (crc && !my_fail) {
                    rc = crc;
                    my_fail = k + 1; /* keep receiving: the round's messages are in flight */
                }
            }
        }
        int64_t f[2] = {o && o->stop ? (int64_t)*o->stop : 0, my_fail};
        int arc = gs_comm_max_i64(cm, f, 2);
        if (arc)
            return arc;
        flags[0] = f[0];
        flags[1] = f[1];
    }
    /* rank 0 commits (or removes) the file; everyone learns the outcome */
    int64_t fin = 0;
    if (r == 0) {
        if (flags[0] || flags[1]) {
            p->events ? ds_events_writer_discard(p->ew) : ds_images_writer_discard(p->iw);
        } else {
            fin = p->events ? ds_events_writer_close(p->ew) : ds_images_writer_close(p->iw);
            if (fin)
                rc = (int)fin;
        }
        p->ew = NULL;
        p->iw = NULL;
    }
    int arc = gs_comm_max_i64(cm, &fin, 1);
    if (arc)
        return arc;
    if (flags[1]) {
        if (!rc) /* another rank failed: say which */
            rc = gs_error(GS_ERR_STATE, "stopped: rank %d failed (its message is above)",
                          (int)flags[1] - 1);
        return rc;
    }
    if (fin)
        return r == 0 ? rc : gs_error((int)fin, "%s: rank 0 could not finish the output", path);
    if (flags[0]) {
        *stopped = (int)flags[0];
        return GS_OK;
    }
    int64_t total = written;
    if ((rc = gs_comm_bcast(cm, &total, sizeof total, 0)))
        return rc;
    if (rows)
        *rows = total;
    return GS_OK;
}

static void prod_free(prod *p)
{
    if (p->ew)
        ds_events_writer_discard(p->ew);
    if (p->iw)
        ds_images_writer_discard(p->iw);
    free(p->x);
    free(p->w);
    free(p->pdg);
    free(p->bx);
    free(p->img);
    free(p->cond);
}

int md_produce_events(const md_chunk_source *src, const ds_events *like, int with_bx,
                      const char *path, const md_produce_opts *o, int64_t *rows, int *stopped)
{
    if (!src || !src->events || !like || like->f < 1)
        return gs_error(GS_ERR_ARG, "%s: an event production needs a source and columns", path);
    prod p = {.src = src, .events = 1, .with_bx = with_bx, .has_pdg = like->pdg != NULL,
              .has_w = like->weights != NULL, .f = like->f, .ev_like = *like};
    int rc = produce(&p, path, o, rows, stopped);
    prod_free(&p);
    return rc;
}

int md_produce_images(const md_chunk_source *src, const ds_images *like, const char *path,
                      const md_produce_opts *o, int64_t *rows, int *stopped)
{
    if (!src || !src->images || !like)
        return gs_error(GS_ERR_ARG, "%s: an image production needs a source and a layout", path);
    prod p = {.src = src, .events = 0, .px = like->h * like->w, .nc = like->c, .im_like = *like};
    int rc = produce(&p, path, o, rows, stopped);
    prod_free(&p);
    return rc;
}
