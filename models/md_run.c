#include "models/md_run.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "models/md_luxe.h"
#include "models/md_zdc.h"
#include "models/md_zdcflow.h"

/* ---- the registry ------------------------------------------------------------ */
/* A new model kind is one more line here (and its own files). */
static const md_kind *const kinds[] = {&md_kind_luxe, &md_kind_zdc, &md_kind_zdcflow, NULL};

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

/* ---- how far training got ---------------------------------------------------------
 * Written by the driver into model.h5 and last.h5 (root attributes, comma-
 * separated, one entry per part): part_names, part_steps (taken),
 * part_budget (to take), part_min_steps (the kind's floor, 0 = none). */

static int read_i64_list(hid_t f, const char *name, int64_t *v, int n, const char *path)
{
    char *s = NULL;
    char **items = NULL;
    int64_t k = 0;
    int rc = gs_h5_attr_read_str(f, ".", name, &s);
    if (!rc)
        rc = gs_h5_split_csv(s, &items, &k);
    if (!rc && k != n)
        rc = gs_error(GS_ERR_FORMAT, "%s: attribute %s has %lld entries for %d parts", path,
                      name, (long long)k, n);
    for (int64_t i = 0; !rc && i < k; i++)
        if (gs_parse_i64(items[i], &v[i]) || v[i] < 0)
            rc = gs_error(GS_ERR_FORMAT, "%s: attribute %s: '%s' is not a step count", path,
                          name, items[i]);
    gs_h5_free_strv(items, k);
    free(s);
    return rc;
}

int md_model_status_read(hid_t f, const char *path, md_model_status *st)
{
    memset(st, 0, sizeof *st);
    if (!gs_h5_attr_exists(f, ".", "part_names"))
        return GS_OK; /* written before gansim recorded it: finished as far as we know */
    char *names = NULL;
    char **nv = NULL;
    int64_t n = 0;
    int rc = gs_h5_attr_read_str(f, ".", "part_names", &names);
    if (!rc)
        rc = gs_h5_split_csv(names, &nv, &n);
    free(names);
    if (!rc && (n < 1 || n > MD_MAX_PARTS))
        rc = gs_error(GS_ERR_FORMAT, "%s: attribute part_names names %lld parts", path,
                      (long long)n);
    int64_t step[MD_MAX_PARTS], budget[MD_MAX_PARTS], floor_[MD_MAX_PARTS];
    if (!rc)
        rc = read_i64_list(f, "part_steps", step, (int)n, path);
    if (!rc)
        rc = read_i64_list(f, "part_budget", budget, (int)n, path);
    if (!rc)
        rc = read_i64_list(f, "part_min_steps", floor_, (int)n, path);
    if (rc) {
        gs_h5_free_strv(nv, n);
        return rc;
    }
    st->n_parts = (int)n;
    size_t used = 0;
    const size_t room = sizeof st->notes;
    int n_missing = 0;
    for (int k = 0; k < n; k++) {
        st->step += step[k];
        st->steps += budget[k];
        n_missing += step[k] < budget[k];
    }
    st->partial = n_missing > 0;
    for (int k = 0; k < n && used < room; k++) {
        const char *nm = nv[k][0] ? nv[k] : "the model";
        int w = 0;
        if (step[k] < budget[k])
            w = snprintf(st->notes + used, room - used, "%s%s trained %lld of its %lld steps",
                         used ? "\n" : "", nm, (long long)step[k], (long long)budget[k]);
        else if (step[k] == 0)
            w = snprintf(st->notes + used, room - used, "%s%s was never trained (0 steps)",
                         used ? "\n" : "", nm);
        else if (step[k] < floor_[k])
            w = snprintf(st->notes + used, room - used,
                         "%s%s trained %lld steps, under its floor of %lld", used ? "\n" : "",
                         nm, (long long)step[k], (long long)floor_[k]);
        if (w > 0)
            used += (size_t)w < room - used ? (size_t)w : room - used - 1;
    }
    gs_h5_free_strv(nv, n);
    return GS_OK;
}

/* ---- sampling ------------------------------------------------------------------ */
struct md_model {
    const md_kind *kind;
    void *handle;
    md_model_status status;
};

int md_model_open_ex(const char *path, unsigned flags, md_model **out)
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
    hid_t f;
    if (!(rc = gs_h5_open(path, 0, &f))) {
        rc = md_model_status_read(f, path, &m->status);
        gs_h5_close(f);
    }
    if (!rc && m->status.partial && !(flags & MD_OPEN_ALLOW_PARTIAL)) {
        char what[sizeof m->status.notes + 256];
        size_t w = 0;
        for (const char *q = m->status.notes; *q && w + 3 < sizeof what; q++) {
            if (*q == '\n') { /* one line: ", " between the notes */
                what[w++] = ',';
                what[w++] = ' ';
            } else {
                what[w++] = *q;
            }
        }
        what[w] = '\0';
        rc = gs_error(GS_ERR_STATE, "%s: a partial model: its training stopped after %lld of "
                      "%lld steps (%s); finish it with gansim-train --resume, or use it anyway "
                      "with --allow-partial", path, (long long)m->status.step,
                      (long long)m->status.steps, what);
    }
    if (rc || (rc = k->open(path, &m->handle))) {
        free(m);
        return rc;
    }
    *out = m;
    return GS_OK;
}

int md_model_open(const char *path, md_model **out) { return md_model_open_ex(path, 0, out); }

const md_model_status *md_model_status_of(const md_model *m) { return &m->status; }

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
int md_run_reduce(const md_run *run, nn_params *ps, float *extra, int n_extra)
{
    return run->par.reduce_grads ? run->par.reduce_grads(run->par.ud, ps, extra, n_extra)
                                 : GS_OK;
}

int md_run_mean_data(const md_run *run, nn_params *ps)
{
    return run->par.mean_data ? run->par.mean_data(run->par.ud, ps) : GS_OK;
}

int md_run_check_same(const md_run *run, int k, nn_params *ps)
{
    if (!run->par.check_same || run->ckpt_every <= 0 ||
        (run->parts[k].step + 1) % run->ckpt_every != 0)
        return GS_OK;
    return run->par.check_same(run->par.ud, ps);
}

void md_run_note(md_run *run, const char *fmt, ...)
{
    const size_t used = strlen(run->notes), room = sizeof run->notes - used;
    if (room < 2)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(run->notes + used, room - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        run->notes[used] = '\0';
    else
        strcat(run->notes, "\n");
}

/* Shows the pending notes (opts->note) and logs them as '#' lines. */
static void flush_notes(md_run *run, const md_train_opts *opts, FILE *log)
{
    for (char *q = run->notes; *q;) {
        char *nl = strchr(q, '\n');
        if (nl)
            *nl = '\0';
        if (*q) {
            if (opts->note)
                opts->note(opts->note_ud, q);
            if (log)
                fprintf(log, "# %s\n", q);
        }
        q = nl ? nl + 1 : q + strlen(q);
    }
    run->notes[0] = '\0';
    if (log)
        fflush(log);
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
int md_run_write(const md_run *run, const char *path, int with_train)
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
    /* how an MPI run was (last) trained: "2 ranks x 1 thread". Not for one
     * process: its files stay the same for any thread count. */
    if (!rc && run->par.layout && run->par.n_ranks > 1)
        rc = gs_h5_attr_write_str(f, ".", "layout", run->par.layout);
    if (!rc)
        rc = run->kind->save(run, f, with_train);
    /* how far each part got: sampling refuses a partial model (md_model_open) */
    char names[MD_MAX_PARTS * 65 + 1] = "", steps[MD_MAX_PARTS * 21 + 1] = "",
         budget[MD_MAX_PARTS * 21 + 1] = "", floor_[MD_MAX_PARTS * 21 + 1] = "";
    int complete = 1;
    for (int k = 0; k < run->n_parts; k++) {
        const md_part *p = &run->parts[k];
        const char *sep = k ? "," : "";
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", sep, p->name);
        snprintf(steps + strlen(steps), sizeof steps - strlen(steps), "%s%lld", sep,
                 (long long)p->step);
        snprintf(budget + strlen(budget), sizeof budget - strlen(budget), "%s%lld", sep,
                 (long long)p->steps);
        snprintf(floor_ + strlen(floor_), sizeof floor_ - strlen(floor_), "%s%lld", sep,
                 (long long)p->min_steps);
        complete &= p->step >= p->steps;
    }
    if (!rc)
        rc = gs_h5_attr_write_str(f, ".", "part_names", names);
    if (!rc)
        rc = gs_h5_attr_write_str(f, ".", "part_steps", steps);
    if (!rc)
        rc = gs_h5_attr_write_str(f, ".", "part_budget", budget);
    if (!rc)
        rc = gs_h5_attr_write_str(f, ".", "part_min_steps", floor_);
    if (!rc)
        rc = gs_h5_attr_write_str(f, ".", "state",
                                  with_train ? "training" : complete ? "final" : "partial");
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
    int rc = md_run_write(run, path, 1);
    if (!rc) {
        snprintf(path, sizeof path, "%s/model.h5", dir);
        rc = md_run_write(run, path, 0);
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

/* ---- a run without the loop --------------------------------------------------------- */
int md_run_open(const md_kind *kind, const void *cfg, const void *data, const char *resume_from,
                int64_t resume_iters, const md_parallel *par, md_run **out)
{
    *out = NULL;
    md_run *run = calloc(1, sizeof *run);
    void *c = malloc(kind->cfg_size);
    if (!run || !c) {
        free(run);
        free(c);
        return gs_error(GS_ERR_NOMEM, "out of memory");
    }
    memcpy(c, cfg, kind->cfg_size);
    for (int k = 0; k < MD_MAX_PARTS; k++) {
        run->parts[k].best = NAN;
        run->parts[k].best_step = -1;
    }
    run->kind = kind;
    run->cfg = c;
    run->data = data;
    if (par)
        run->par = *par;
    hid_t from = -1;
    int rc = GS_OK;
    if (resume_from && ((rc = gs_h5_open(resume_from, 0, &from)) ||
                        (rc = md_kind_read_config(from, resume_from, kind, c))))
        gs_error_wrap(rc, "--resume");
    if (!rc && resume_from && resume_iters > 0) { /* continue to this many steps in total */
        char kv[64];
        snprintf(kv, sizeof kv, "train.iters=%lld", (long long)resume_iters);
        if ((rc = md_cfg_set_kv(kind->cfg_fields, c, kv)))
            gs_error_wrap(rc, "--resume --iters");
    }
    if (!rc)
        rc = kind->init(run, from);
    if (from >= 0)
        gs_h5_close(from);
    if (rc) {
        md_run_close(run);
        return rc;
    }
    for (int k = 0; k < run->n_parts && run->parts[k].step >= run->parts[k].steps; k++)
        run->current = k + 1;
    *out = run;
    return GS_OK;
}

int md_run_step(md_run *run, int k, md_losses *out)
{
    int rc = run->kind->step(run, k, out);
    if (!rc)
        run->parts[k].step++;
    else if (run->kind->parts_in_log)
        gs_error_wrap(rc, run->parts[k].name);
    return rc;
}

void md_run_close(md_run *run)
{
    if (!run)
        return;
    run->kind->free(run);
    free((void *)run->cfg);
    free(run);
}

/* ---- the driver ----------------------------------------------------------------------- */
int md_train(const md_kind *kind, const void *cfg, const void *data, const md_train_opts *opts,
             int *stopped)
{
    *stopped = 0;
    const int writer = opts->par.rank == 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/last.h5", opts->out_dir);
    md_run *run;
    int rc = md_run_open(kind, cfg, data, opts->resume ? path : NULL, opts->resume_iters,
                         &opts->par, &run);
    if (rc)
        return rc;
    md_record *rec = malloc(sizeof *rec);
    FILE *log = NULL;
    if (!rec) {
        rc = gs_error(GS_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* validation the kinds share, before anything is written */
    {
        int zero = 0;
        char which[256] = "";
        for (int k = 0; k < run->n_parts; k++) {
            const md_part *p = &run->parts[k];
            if (p->step > p->steps) {
                rc = gs_error(GS_ERR_ARG, "--resume --iters %lld: %s%salready took %lld steps, "
                              "more than the %lld it gets now; give a larger --iters",
                              (long long)opts->resume_iters, p->name, p->name[0] ? " " : "",
                              (long long)p->step, (long long)p->steps);
                goto out;
            }
            if (p->steps == 0 && zero++ < 4)
                snprintf(which + strlen(which), sizeof which - strlen(which), "%s%s",
                         zero > 1 ? ", " : "", p->name);
        }
        if (zero && !opts->allow_untrained) {
            rc = gs_error(GS_ERR_ARG, "%d of %d sub-models would get 0 training steps (%s%s) "
                          "and be sampled untrained; raise train.iters (--iters), or allow it "
                          "(gansim-train --allow-untrained)", zero, run->n_parts, which,
                          zero > 4 ? ", ..." : "");
            goto out;
        }
        for (int k = 0; k < run->n_parts && zero; k++)
            if (run->parts[k].steps == 0)
                md_run_note(run, "WARNING: sub-model %s gets 0 training steps "
                            "(--allow-untrained): sampled untrained", run->parts[k].name);
    }
    if (writer && opts->prepare && (rc = opts->prepare(opts->prepare_ud)))
        goto out;
    int64_t done = 0, total = 0;
    for (int k = 0; k < run->n_parts; k++) {
        done += run->parts[k].step;
        total += run->parts[k].steps;
    }
    if (writer) {
        snprintf(path, sizeof path, "%s/train.log", opts->out_dir);
        if (!(log = fopen(path, opts->resume ? "a" : "w"))) {
            rc = gs_error(GS_ERR_IO, "%s: cannot write the training log", path);
            goto out;
        }
        if (!opts->resume)
            kind->log_header(run, log);
        if (run->par.layout) /* no key=value: log readers take those for records */
            fprintf(log, "# %s: %s\n", opts->resume ? "resumed as" : "layout", run->par.layout);
        fflush(log);
    }
    flush_notes(run, opts, log);
    const double t0 = now_s();
    const int64_t done0 = done;
    int saved = 0;
    for (int k = run->current; k < run->n_parts; k++) {
        md_part *p = &run->parts[k];
        run->current = k;
        md_progress pr = {.kind = kind, .steps = total, .part = k, .n_parts = run->n_parts,
                          .part_name = p->name, .part_steps = p->steps, .score = NAN,
                          .best = p->best};
        while (p->step < p->steps) {
            md_losses L = {0};
            if ((rc = md_run_step(run, k, &L)))
                goto out; /* last.h5 keeps the last good state */
            done++;
            const double el = now_s() - t0;
            pr.step = done;
            pr.part_step = p->step;
            pr.losses = L;
            pr.steps_per_s = (double)(done - done0) / (el > 0 ? el : 1e-9);
            pr.eta_s = (double)(total - done) / (pr.steps_per_s > 0 ? pr.steps_per_s : 1);
            pr.evaluated = 0;
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
            if (run->par.any) /* another rank may have been asked to stop */
                stop = run->par.any(run->par.ud, stop);
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
    free(rec);
    md_run_close(run);
    return rc;
}
