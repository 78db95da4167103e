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
    if (!rc && run->place.layout && run->place.n_ranks > 1)
        rc = gs_h5_attr_write_str(f, ".", "layout", run->place.layout);
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
    if (run->place.rank != 0)
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

/* One train.log record: [sub=NAME] step=N [sub_step=K] losses metrics speed,
 * into line (n bytes; a cut record still ends in a newline). */
static void format_record(char *line, size_t n, const md_run *run, int k, int64_t total,
                          const md_losses *L, const md_record *rec, double steps_per_s,
                          double step_rate, double elapsed)
{
    const md_kind *kd = run->kind;
    size_t u = 0;
#define PUT(...)                                                                       \
    do {                                                                               \
        int m_ = snprintf(line + u, n - u, __VA_ARGS__);                               \
        u = m_ < 0 ? u : u + (size_t)m_ < n ? u + (size_t)m_ : n - 1;                  \
    } while (0)
    if (kd->parts_in_log)
        PUT("sub=%s step=%lld sub_step=%lld", run->parts[k].name, (long long)total,
            (long long)run->parts[k].step);
    else
        PUT("step=%lld", (long long)total);
    for (int i = 0; i < L->n && kd->loss_names[i]; i++)
        PUT(" %s=%.6g", kd->loss_names[i], L->v[i]);
    PUT("%s steps_per_s=%.3f", rec->buf, steps_per_s);
    if (step_rate == step_rate) /* not NaN: a second step was timed */
        PUT(" step_rate=%.3f", step_rate);
    PUT(" elapsed_s=%.1f\n", elapsed);
#undef PUT
    if (u + 1 >= n && n > 1)
        line[n - 2] = '\n';
}

static void log_record(FILE *log, const md_run *run, int k, int64_t total,
                       const md_losses *L, const md_record *rec, double steps_per_s,
                       double step_rate, double elapsed)
{
    char line[sizeof rec->buf + 1024];
    format_record(line, sizeof line, run, k, total, L, rec, steps_per_s, step_rate, elapsed);
    fputs(line, log);
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
        run->place = *par;
    run->par = run->place;
    int rc = GS_OK;
    if (run->place.distribute == MD_DISTRIBUTE_SUBMODELS) {
        /* each rank trains whole parts alone: the kind sees one process */
        run->par = (md_parallel){.rank = 0, .n_ranks = 1, .layout = run->place.layout};
        if (!kind->save_part || !kind->load_part)
            rc = gs_error(GS_ERR_ARG, "--distribute submodels: a %s run is one model, it has no "
                          "sub-models to share out; use --distribute data", kind->name);
    }
    hid_t from = -1;
    if (!rc && resume_from && ((rc = gs_h5_open(resume_from, 0, &from)) ||
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
/* Evaluates part k, keeps its best, and says so in pr. */
static int evaluate_part(md_run *run, int k, md_record *rec, md_progress *pr)
{
    md_part *p = &run->parts[k];
    double score = NAN;
    rec->len = 0;
    rec->buf[0] = '\0';
    int rc = run->kind->evaluate(run, k, rec, &score);
    if (rc)
        return rc;
    if (!(score >= p->best)) { /* also when best is NaN */
        p->best = score;
        p->best_step = p->step;
        if ((rc = run->kind->keep_best(run, k)))
            return rc;
    }
    pr->score = score;
    pr->best = p->best;
    pr->evaluated = 1;
    return GS_OK;
}

/* ---- sub-models distributed over ranks (MD_DISTRIBUTE_SUBMODELS) ---------------------- */
/* Longest processing time first: the parts, by steps left (their cost at a
 * common batch and width), largest first, each to the rank with the least
 * work so far (ties: the lower rank, then the lower part index). Within 4/3
 * of the best split (Graham 1969). owner[k] = -1 for a part with no steps
 * left. The same on every rank: it depends on the parts alone. */
static void assign_parts(const md_run *run, int n_ranks, int *owner, int64_t *load)
{
    int order[MD_MAX_PARTS], n = 0;
    for (int r = 0; r < n_ranks; r++)
        load[r] = 0;
    for (int k = 0; k < run->n_parts; k++) {
        owner[k] = -1;
        if (run->parts[k].steps > run->parts[k].step)
            order[n++] = k;
    }
    for (int i = 1; i < n; i++) /* insertion sort: steps left descending, index ascending */
        for (int j = i; j > 0; j--) {
            const md_part *a = &run->parts[order[j - 1]], *b = &run->parts[order[j]];
            if (b->steps - b->step > a->steps - a->step) {
                const int t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            } else {
                break;
            }
        }
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int r = 1; r < n_ranks; r++)
            if (load[r] < load[best])
                best = r;
        owner[order[i]] = best;
        load[best] += run->parts[order[i]].steps - run->parts[order[i]].step;
    }
}

/* Text a rank keeps for rank 0 (its train.log records) until a checkpoint. */
typedef struct {
    char *s;
    size_t len, cap;
} text_buf;

static int text_add(text_buf *t, const char *line)
{
    const size_t n = strlen(line);
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16384;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *s = realloc(t->s, cap);
        if (!s)
            return gs_error(GS_ERR_NOMEM, "out of memory for the training log");
        t->s = s;
        t->cap = cap;
    }
    memcpy(t->s + t->len, line, n + 1);
    t->len += n;
    return GS_OK;
}

/* A coordinated checkpoint: every rank > 0 sends rank 0 the state of its
 * parts that moved since its last send (an in-memory HDF5 file, group
 * part<k> per part with the driver's step/best attributes and the kind's
 * save_part) and its pending log records; rank 0 loads them (load_part),
 * appends the records to train.log in rank order and writes last.h5 and
 * model.h5. Called by every rank. */
static int gather_parts(md_run *run, const int *owner, int64_t *sent_step, text_buf *logbuf,
                        FILE *log, const char *dir)
{
    const md_parallel *pl = &run->place;
    int rc = GS_OK;
    if (pl->rank > 0) {
        hid_t f = H5I_INVALID_HID;
        void *img = NULL;
        size_t len = 0;
        int any = 0;
        for (int k = 0; k < run->n_parts; k++)
            any |= owner[k] == pl->rank && run->parts[k].step != sent_step[k];
        if (any && !(rc = gs_h5_create_mem("parts.h5", &f))) {
            for (int k = 0; !rc && k < run->n_parts; k++) {
                const md_part *p = &run->parts[k];
                if (owner[k] != pl->rank || p->step == sent_step[k])
                    continue;
                char name[32];
                hid_t g;
                snprintf(name, sizeof name, "part%d", k);
                if ((rc = gs_h5_group_create(f, name, &g)))
                    break;
                rc = gs_h5_attr_write_i64(g, ".", "step", p->step);
                if (!rc)
                    rc = gs_h5_attr_write_f64(g, ".", "best", p->best);
                if (!rc)
                    rc = gs_h5_attr_write_i64(g, ".", "best_step", p->best_step);
                if (!rc)
                    rc = run->kind->save_part(run, k, g);
                H5Gclose(g);
            }
            if (!rc)
                rc = gs_h5_image(f, &img, &len);
            gs_h5_close(f);
        }
        int64_t hdr[2] = {rc ? -1 : (int64_t)len, rc ? 0 : (int64_t)logbuf->len};
        int src = pl->send(pl->ud, hdr, sizeof hdr, 0);
        if (!src && hdr[0] > 0)
            src = pl->send(pl->ud, img, hdr[0], 0);
        if (!src && hdr[1] > 0)
            src = pl->send(pl->ud, logbuf->s, hdr[1], 0);
        free(img);
        if (!rc && !src) {
            for (int k = 0; k < run->n_parts; k++)
                if (owner[k] == pl->rank)
                    sent_step[k] = run->parts[k].step;
            logbuf->len = 0;
        }
        return rc ? rc : src;
    }
    /* rank 0: its own records, every other rank's parts and records, then the files */
    if (log && logbuf->len)
        fputs(logbuf->s, log);
    logbuf->len = 0;
    for (int r = 1; r < pl->n_ranks; r++) {
        int64_t hdr[2];
        int rrc = pl->recv(pl->ud, hdr, sizeof hdr, r);
        if (rrc)
            return rrc;
        if (hdr[0] < 0) {
            if (!rc)
                rc = gs_error(GS_ERR_STATE, "rank %d could not pack its sub-models for the "
                              "checkpoint", r);
            continue;
        }
        char *img = hdr[0] > 0 ? malloc((size_t)hdr[0]) : NULL;
        char *text = hdr[1] > 0 ? malloc((size_t)hdr[1] + 1) : NULL;
        if ((hdr[0] > 0 && !img) || (hdr[1] > 0 && !text)) {
            free(img);
            free(text);
            return gs_error(GS_ERR_NOMEM, "out of memory for rank %d's sub-models", r);
        }
        if (hdr[0] > 0)
            rrc = pl->recv(pl->ud, img, hdr[0], r);
        if (!rrc && hdr[1] > 0)
            rrc = pl->recv(pl->ud, text, hdr[1], r);
        hid_t f = H5I_INVALID_HID;
        if (!rrc && hdr[0] > 0 && !rc && !(rc = gs_h5_open_image(img, (size_t)hdr[0],
                                                                 "parts.h5", &f))) {
            for (int k = 0; !rc && k < run->n_parts; k++) {
                char name[32];
                snprintf(name, sizeof name, "part%d", k);
                if (gs_h5_exists(f, name) != 1)
                    continue;
                md_part *p = &run->parts[k];
                hid_t g;
                if ((rc = gs_h5_group_open(f, name, &g)))
                    break;
                rc = gs_h5_attr_read_i64(g, ".", "step", &p->step);
                if (!rc)
                    rc = gs_h5_attr_read_f64(g, ".", "best", &p->best);
                if (!rc)
                    rc = gs_h5_attr_read_i64(g, ".", "best_step", &p->best_step);
                if (!rc)
                    rc = run->kind->load_part(run, k, g);
                H5Gclose(g);
                if (rc)
                    gs_error_wrap(rc, p->name);
            }
            gs_h5_close(f);
        }
        if (!rrc && text && log) {
            text[hdr[1]] = '\0';
            fputs(text, log);
        }
        free(img);
        free(text);
        if (rrc)
            return rrc;
    }
    if (log)
        fflush(log);
    if (rc)
        return rc;
    int cur = 0;
    while (cur < run->n_parts && run->parts[cur].step >= run->parts[cur].steps)
        cur++;
    run->current = cur;
    return save_all(run, dir);
}

/* The loop of MD_DISTRIBUTE_SUBMODELS: each rank steps its own parts one
 * after the other; after every step the ranks agree (one max over three
 * integers) on a stop request, a checkpoint (every ckpt_every steps, when a
 * part ends, on stop) and whether any rank has work left. A rank whose parts
 * are done waits in that agreement. Records carry the step number a
 * one-process run gives them (the parts before k, plus k's step), so
 * train.log holds the same records, grouped by rank between checkpoints. */
static int train_parts(md_run *run, const md_train_opts *opts, FILE *log, md_record *rec,
                       int *stopped)
{
    const md_parallel *pl = &run->place;
    if (!pl->max_i64 || !pl->send || !pl->recv)
        return gs_error(GS_ERR_ARG, "--distribute submodels needs the communicator's "
                        "max/send/recv hooks");
    int owner[MD_MAX_PARTS];
    int64_t load[1024], sent_step[MD_MAX_PARTS], offset[MD_MAX_PARTS];
    if (pl->n_ranks > 1024)
        return gs_error(GS_ERR_ARG, "--distribute submodels: at most 1024 ranks");
    assign_parts(run, pl->n_ranks, owner, load);
    int64_t off = 0, mine = 0, mine_done = 0;
    for (int k = 0; k < run->n_parts; k++) {
        offset[k] = off;
        off += run->parts[k].steps;
        sent_step[k] = run->parts[k].step;
        if (owner[k] == pl->rank)
            mine += run->parts[k].steps - run->parts[k].step;
    }
    for (int r = 0; r < pl->n_ranks; r++) {
        char names[1024] = "";
        int n = 0;
        for (int k = 0; k < run->n_parts; k++)
            if (owner[k] == r)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                         n++ ? ", " : "", run->parts[k].name);
        if (n)
            md_run_note(run, "rank %d trains %s (%lld steps)", r, names, (long long)load[r]);
        else
            md_run_note(run, "rank %d has no sub-model to train (%d ranks for %d sub-models "
                        "with steps left): it waits", r, pl->n_ranks, run->n_parts);
    }
    flush_notes(run, opts, log);
    text_buf logbuf = {0};
    const double t0 = now_s();
    double step_s = 0;
    int rc = GS_OK;
    int64_t tick = 0;
    int k = 0;
    md_progress pr = {.kind = run->kind, .steps = mine, .n_parts = run->n_parts, .score = NAN,
                      .best = NAN, .step_rate = NAN};
    for (;;) {
        while (k < run->n_parts && (owner[k] != pl->rank || run->parts[k].step >= run->parts[k].steps))
            k++;
        int part_ended = 0;
        if (k < run->n_parts) {
            md_part *p = &run->parts[k];
            if (pr.part != k || !pr.part_name) {
                pr.part = k;
                pr.part_name = p->name;
                pr.part_steps = p->steps;
                pr.score = NAN;
                pr.best = p->best;
            }
            md_losses L = {0};
            const double ts = now_s();
            if ((rc = md_run_step(run, k, &L)))
                break; /* last.h5 keeps the last good state */
            mine_done++;
            const double te = now_s(), el = te - t0;
            if (mine_done > 1)
                step_s += te - ts;
            pr.step = mine_done;
            pr.part_step = p->step;
            pr.losses = L;
            pr.steps_per_s = (double)mine_done / (el > 0 ? el : 1e-9);
            pr.step_rate = mine_done > 1 && step_s > 0 ? (double)(mine_done - 1) / step_s : NAN;
            pr.eta_s = (double)(mine - mine_done) / (pr.steps_per_s > 0 ? pr.steps_per_s : 1);
            pr.evaluated = 0;
            part_ended = p->step == p->steps;
            if (p->step % run->eval_every == 0 || part_ended) {
                if ((rc = evaluate_part(run, k, rec, &pr)))
                    break;
                char line[sizeof rec->buf + 1024];
                format_record(line, sizeof line, run, k, offset[k] + p->step, &L, rec,
                              pr.steps_per_s, pr.step_rate, el);
                if ((rc = text_add(&logbuf, line)))
                    break;
            }
            if (opts->progress)
                opts->progress(opts->progress_ud, &pr);
        }
        tick++;
        int left = 0;
        for (int j = k; j < run->n_parts; j++)
            left |= owner[j] == pl->rank && run->parts[j].step < run->parts[j].steps;
        int64_t v[3] = {opts->stop ? (int64_t)*opts->stop : 0,
                        tick % run->ckpt_every == 0 || part_ended, left};
        if ((rc = pl->max_i64(pl->ud, v, 3)))
            break;
        if (v[0] || v[1] || !v[2])
            if ((rc = gather_parts(run, owner, sent_step, &logbuf, log, opts->out_dir)))
                break;
        if (v[0]) {
            *stopped = (int)v[0];
            break;
        }
        if (!v[2])
            break;
    }
    free(logbuf.s);
    return rc;
}


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
                /* the budgets add up to --iters: the steps taken in all are
                 * the least it can be (more when the split gives this part
                 * less than it took) */
                long long taken = 0;
                for (int j = 0; j < run->n_parts; j++)
                    taken += run->parts[j].step;
                rc = gs_error(GS_ERR_ARG, "--resume --iters %lld: %s%salready took %lld steps, "
                              "more than the %lld it gets now; give a larger --iters (the run "
                              "has taken %lld steps in all)",
                              (long long)opts->resume_iters, p->name, p->name[0] ? " " : "",
                              (long long)p->step, (long long)p->steps, taken);
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
        if (run->place.layout) /* no key=value: log readers take those for records */
            fprintf(log, "# %s: %s\n", opts->resume ? "resumed as" : "layout",
                    run->place.layout);
        fflush(log);
    }
    /* The ranks leave their setup (data, quantile transforms) at different
     * times; meet here, so that the first step's all-reduce does not count
     * that skew (seconds, measured) as training time. */
    if (run->place.max_i64) {
        int64_t ready = 0;
        if ((rc = run->place.max_i64(run->place.ud, &ready, 1)))
            goto out;
    }
    if (run->place.distribute == MD_DISTRIBUTE_SUBMODELS && run->place.n_ranks > 1) {
        rc = train_parts(run, opts, log, rec, stopped);
        goto out;
    }
    flush_notes(run, opts, log);
    const double t0 = now_s();
    const int64_t done0 = done;
    double step_s = 0; /* seconds in the steps after this session's first */
    int saved = 0;
    for (int k = run->current; k < run->n_parts; k++) {
        md_part *p = &run->parts[k];
        run->current = k;
        md_progress pr = {.kind = kind, .steps = total, .part = k, .n_parts = run->n_parts,
                          .part_name = p->name, .part_steps = p->steps, .score = NAN,
                          .best = p->best, .step_rate = NAN};
        while (p->step < p->steps) {
            md_losses L = {0};
            const double ts = now_s();
            if ((rc = md_run_step(run, k, &L)))
                goto out; /* last.h5 keeps the last good state */
            done++;
            const double te = now_s(), el = te - t0;
            if (done - done0 > 1)
                step_s += te - ts;
            pr.step = done;
            pr.part_step = p->step;
            pr.losses = L;
            pr.steps_per_s = (double)(done - done0) / (el > 0 ? el : 1e-9);
            pr.step_rate = done - done0 > 1 && step_s > 0 ? (double)(done - done0 - 1) / step_s
                                                          : NAN;
            pr.eta_s = (double)(total - done) / (pr.steps_per_s > 0 ? pr.steps_per_s : 1);
            pr.evaluated = 0;
            const int last_step = p->step == p->steps;
            if (writer && (p->step % run->eval_every == 0 || last_step)) {
                if ((rc = evaluate_part(run, k, rec, &pr)))
                    goto out;
                log_record(log, run, k, done, &L, rec, pr.steps_per_s, pr.step_rate, el);
            }
            if (opts->progress)
                opts->progress(opts->progress_ud, &pr);
            int stop = opts->stop ? (int)*opts->stop : 0;
            if (run->place.any) /* another rank may have been asked to stop */
                stop = run->place.any(run->place.ud, stop);
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
