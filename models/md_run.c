#include "models/md_run.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "models/md_luxe.h"
#include "models/md_zdc.h"

/* ---- the registry ------------------------------------------------------------ */
/* A new model kind is one more line here (and its own files). */
static const md_kind *const kinds[] = {&md_kind_luxe, &md_kind_zdc, NULL};

const md_kind *const *md_kinds(void) { return kinds; }

const md_kind *md_kind_find(const char *name)
{
    for (int i = 0; name && kinds[i]; i++)
        if (!strcmp(name, kinds[i]->name) || !strcmp(name, kinds[i]->file_kind))
            return kinds[i];
    return NULL;
}

/* The kind named by an open file's gansim_kind attribute. */
static int kind_of(hid_t f, const char *path, const md_kind **k)
{
    *k = NULL;
    if (!gs_h5_attr_exists(f, ".", "gansim_kind"))
        return gs_error(GS_ERR_FORMAT, "%s: not a gansim model (no gansim_kind attribute)", path);
    char *name = NULL;
    int rc = gs_h5_attr_read_str(f, ".", "gansim_kind", &name);
    for (int i = 0; !rc && kinds[i] && !*k; i++)
        if (!strcmp(name, kinds[i]->file_kind))
            *k = kinds[i];
    if (!rc && !*k)
        rc = gs_error(GS_ERR_FORMAT, "%s: unknown model kind '%s' (not supported by this "
                      "gansim)", path, name);
    free(name);
    return rc;
}

int md_kind_of_file(const char *path, const md_kind **k)
{
    *k = NULL;
    hid_t f;
    int rc = gs_h5_open(path, 0, &f);
    if (rc)
        return rc;
    rc = kind_of(f, path, k);
    gs_h5_close(f);
    return rc;
}

/* ---- sampling ------------------------------------------------------------------ */
struct md_model {
    const md_kind *kind;
    void *handle;
};

int md_model_open(const char *path, md_model **out)
{
    *out = NULL;
    if (!path)
        return gs_error(GS_ERR_ARG, "no model path");
    const md_kind *k;
    int rc = md_kind_of_file(path, &k);
    if (rc)
        return rc;
    md_model *m = calloc(1, sizeof *m);
    if (!m)
        return gs_error(GS_ERR_NOMEM, "out of memory");
    m->kind = k;
    if ((rc = k->open(path, &m->handle))) {
        free(m);
        return rc;
    }
    *out = m;
    return GS_OK;
}

void md_model_close(md_model *m)
{
    if (!m)
        return;
    m->kind->close(m->handle);
    free(m);
}

const md_kind *md_model_kind(const md_model *m) { return m->kind; }
void *md_model_handle(md_model *m) { return m->handle; }

/* ---- pieces of the driver ----------------------------------------------------------- */
int md_run_reduce(const md_run *run, nn_params *ps)
{
    return run->par.reduce_grads ? run->par.reduce_grads(run->par.ud, ps) : GS_OK;
}

void md_record_add(md_record *r, const char *key, double v)
{
    const size_t room = sizeof r->buf - r->len;
    const int n = snprintf(r->buf + r->len, room, " %s=%.6g", key, v);
    if (n > 0 && (size_t)n < room)
        r->len += (size_t)n;
    else
        r->buf[r->len] = '\0'; /* the key did not fit: dropped whole */
}

static volatile sig_atomic_t signal_stop;

static void on_signal(int sig) { signal_stop = sig; }

const volatile sig_atomic_t *md_stop_on_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return &signal_stop;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One file, written to a temporary and renamed: a crash never leaves a
 * partial file under the final name. */
static int write_file(const md_run *run, const char *path, int with_train)
{
    char tmp[4096];
    int rc = gs_tmp_path(tmp, sizeof tmp, path);
    if (rc)
        return rc;
    hid_t f;
    if ((rc = gs_h5_create(tmp, &f)))
        return rc;
    char *cfgtext = md_cfg_dump(run->kind->cfg_fields, run->cfg);
    rc = cfgtext ? gs_h5_attr_write_str(f, ".", "config", cfgtext)
                 : gs_error(GS_ERR_NOMEM, "out of memory");
    free(cfgtext);
    if (!rc)
        rc = gs_h5_attr_write_str(f, ".", "gansim_kind", run->kind->file_kind);
    if (!rc)
        rc = gs_h5_attr_write_str(f, ".", "gansim_version", GANSIM_VERSION);
    if (!rc)
        rc = run->kind->save(run, f, with_train);
    if (!rc)
        rc = gs_h5_attr_write_str(f, ".", "state", with_train ? "training" : "final");
    int crc = gs_h5_close(f);
    if (!rc)
        rc = crc;
    if (rc) {
        gs_discard(tmp);
        return gs_error_wrap(rc, path);
    }
    return gs_commit(tmp, path);
}

/* last.h5 (everything, to resume from), then model.h5 (for sampling). */
static int save_all(const md_run *run, const char *dir)
{
    if (run->par.rank != 0)
        return GS_OK;
    char path[4096];
    snprintf(path, sizeof path, "%s/last.h5", dir);
    int rc = write_file(run, path, 1);
    if (!rc) {
        snprintf(path, sizeof path, "%s/model.h5", dir);
        rc = write_file(run, path, 0);
    }
    return rc;
}

int md_kind_read_config(hid_t f, const char *path, const md_kind *k, void *cfg)
{
    char *kind = NULL, *text = NULL;
    int rc = gs_h5_attr_exists(f, ".", "gansim_kind")
                 ? gs_h5_attr_read_str(f, ".", "gansim_kind", &kind)
                 : gs_error(GS_ERR_FORMAT, "not a gansim model (no gansim_kind attribute)");
    if (!rc && strcmp(kind, k->file_kind))
        rc = gs_error(GS_ERR_FORMAT, "a %s model, not a %s model", kind, k->file_kind);
    if (!rc)
        rc = gs_h5_attr_read_str(f, ".", "config", &text);
    (k->cfg_stored_default ? k->cfg_stored_default : k->cfg_default)(cfg);
    if (!rc)
        rc = md_cfg_parse_dump(k->cfg_fields, cfg, text);
    free(kind);
    free(text);
    return rc ? gs_error_wrap(rc, path) : GS_OK;
}

/* One train.log record: [sub=NAME] step=N [sub_step=K] losses metrics speed. */
static void log_record(FILE *log, const md_run *run, int k, int64_t total,
                       const md_losses *L, const md_record *rec, double steps_per_s,
                       double elapsed)
{
    const md_kind *kd = run->kind;
    if (kd->parts_in_log)
        fprintf(log, "sub=%s step=%lld sub_step=%lld", run->parts[k].name, (long long)total,
                (long long)run->parts[k].step);
    else
        fprintf(log, "step=%lld", (long long)total);
    for (int i = 0; i < L->n && kd->loss_names[i]; i++)
        fprintf(log, " %s=%.6g", kd->loss_names[i], L->v[i]);
    fprintf(log, "%s steps_per_s=%.3f elapsed_s=%.1f\n", rec->buf, steps_per_s, elapsed);
    fflush(log);
}

/* ---- the driver ----------------------------------------------------------------------- */
int md_train(const md_kind *kind, const void *cfg_in, const void *data,
             const md_train_opts *opts, int *stopped)
{
    *stopped = 0;
    const int writer = opts->par.rank == 0;
    char path[4096];
    void *cfg = malloc(kind->cfg_size);
    md_run *run = calloc(1, sizeof *run);
    md_record *rec = malloc(sizeof *rec);
    if (!cfg || !run || !rec) {
        free(cfg);
        free(run);
        free(rec);
        return gs_error(GS_ERR_NOMEM, "out of memory");
    }
    memcpy(cfg, cfg_in, kind->cfg_size);
    for (int k = 0; k < MD_MAX_PARTS; k++) {
        run->parts[k].best = NAN;
        run->parts[k].best_step = -1;
    }
    run->kind = kind;
    run->cfg = cfg;
    run->data = data;
    run->par = opts->par;
    FILE *log = NULL;
    hid_t from = -1;
    int rc = GS_OK;
    if (opts->resume) {
        snprintf(path, sizeof path, "%s/last.h5", opts->out_dir);
        if ((rc = gs_h5_open(path, 0, &from)) ||
            (rc = md_kind_read_config(from, path, kind, cfg))) {
            gs_error_wrap(rc, "--resume");
            goto out;
        }
    }
    rc = kind->init(run, from);
    if (from >= 0)
        gs_h5_close(from);
    if (rc)
        goto out;
    run->current = 0;
    int64_t done = 0, total = 0;
    for (int k = 0; k < run->n_parts; k++) {
        done += run->parts[k].step;
        total += run->parts[k].steps;
        if (run->parts[k].step >= run->parts[k].steps && run->current == k)
            run->current = k + 1;
    }
    if (writer) {
        snprintf(path, sizeof path, "%s/train.log", opts->out_dir);
        if (!(log = fopen(path, opts->resume ? "a" : "w"))) {
            rc = gs_error(GS_ERR_IO, "%s: cannot write the training log", path);
            goto out;
        }
        if (!opts->resume) {
            kind->log_header(run, log);
            for (const char *q = run->notes; q && *q;) { /* one "# " line per note */
                const char *nl = strchr(q, '\n');
                int len = nl ? (int)(nl - q) : (int)strlen(q);
                fprintf(log, "# %.*s\n", len, q);
                q += len + (nl != NULL);
            }
            fflush(log);
        }
    }
    const double t0 = now_s();
    const int64_t done0 = done;
    int saved = 0;
    const char *notes = writer && !opts->resume && run->notes && run->notes[0] ? run->notes
                                                                             : NULL;
    for (int k = run->current; k < run->n_parts; k++) {
        md_part *p = &run->parts[k];
        run->current = k;
        md_progress pr = {.kind = kind, .steps = total, .part = k, .n_parts = run->n_parts,
                          .part_name = p->name, .part_steps = p->steps, .score = NAN,
                          .best = p->best};
        while (p->step < p->steps) {
            md_losses L = {0};
            if ((rc = kind->step(run, k, &L))) {
                if (kind->parts_in_log)
                    gs_error_wrap(rc, p->name);
                goto out; /* last.h5 keeps the last good state */
            }
            p->step++;
            done++;
            const double el = now_s() - t0;
            pr.step = done;
            pr.part_step = p->step;
            pr.losses = L;
            pr.steps_per_s = (double)(done - done0) / (el > 0 ? el : 1e-9);
            pr.eta_s = (double)(total - done) / (pr.steps_per_s > 0 ? pr.steps_per_s : 1);
            pr.evaluated = 0;
            pr.notes = notes;
            notes = NULL;
            const int last_step = p->step == p->steps;
            if (writer && (p->step % run->eval_every == 0 || last_step)) {
                double score = NAN;
                rec->len = 0;
                rec->buf[0] = '\0';
                if ((rc = kind->evaluate(run, k, rec, &score)))
                    goto out;
                if (!(score >= p->best)) { /* also when best is NaN */
                    p->best = score;
                    p->best_step = p->step;
                    if ((rc = kind->keep_best(run, k)))
                        goto out;
                }
                pr.score = score;
                pr.best = p->best;
                pr.evaluated = 1;
                log_record(log, run, k, done, &L, rec, pr.steps_per_s, el);
            }
            if (opts->progress)
                opts->progress(opts->progress_ud, &pr);
            int stop = opts->stop ? (int)*opts->stop : 0;
            if (run->par.any && run->par.any(run->par.ud, stop != 0) && !stop)
                stop = 1; /* another rank was asked to stop */
            if (stop || p->step % run->ckpt_every == 0 || last_step) {
                if (last_step)
                    run->current = k + 1;
                if ((rc = save_all(run, opts->out_dir)))
                    goto out;
                saved = 1;
            }
            if (stop) {
                *stopped = stop;
                goto out;
            }
        }
    }
    run->current = run->n_parts;
    if (!saved) /* resumed a finished run: still leave a consistent pair of files */
        rc = save_all(run, opts->out_dir);
out:
    if (log)
        fclose(log);
    kind->free(run);
    free(rec);
    free(run);
    free(cfg);
    return rc;
}
