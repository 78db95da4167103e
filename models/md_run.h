/* md_run — the model kinds and the one training driver.
 *
 * A model kind ("luxe", "zdc") is one md_kind table entry: its configuration
 * (fields and defaults), how it reads its training data, the pieces of a
 * training run (init, step, evaluate, keep-best, save, free) and how it is
 * opened for sampling. Everything around those pieces is the driver's,
 * md_train, written once for every kind:
 *
 *   resume        last.h5 opened once: its kind checked, its configuration
 *                 read (it rules over the caller's), the kind restores from it
 *   train.log     the kind's header lines, then one key=value record per
 *                 evaluation: [sub=NAME] step=N [sub_step=K] <losses>
 *                 <the kind's metrics> steps_per_s=.. elapsed_s=..
 *   progress      a report after every step (losses, score, speed, ETA)
 *   evaluation    every eval_every steps of a part and at its last step;
 *                 lower is better; the best is kept (keep_best)
 *   checkpoints   every ckpt_every steps, at the end of each part and on a
 *                 stop request: last.h5 (complete state) and model.h5 (for
 *                 sampling), each written to a temporary and renamed
 *   stop          a flag (set from a signal handler, md_stop_on_signals):
 *                 the driver saves and returns
 *
 * A run is a sequence of parts trained one after the other, each with its
 * own step count, evaluation and best: LUXE's sub-models; a ZDC run is one
 * part. Data-parallel training (several processes on one model) plugs in
 * through md_parallel: the kinds call md_run_reduce between every backward
 * pass and its optimizer update, and only the writer rank evaluates, logs
 * and saves. Under MD_DISTRIBUTE_SUBMODELS the driver instead gives each
 * rank whole parts and gathers them at checkpoints (md_kind.save_part /
 * load_part); the kind sees one process.
 *
 * The registry (md_kind_find, md_kind_of_file, md_kinds) is what tools and
 * the embedding API dispatch on; a new kind is one entry in md_run.c's list.
 * File formats, the configuration keys and train.log are described in
 * docs/formats.md. */
#ifndef MD_RUN_H
#define MD_RUN_H

#include <signal.h>
#include <stdio.h>

#include "core/gs_h5.h"
#include "datasets/ds.h"
#include "models/md_config.h"
#include "nn/nn.h"

#define MD_MAX_PARTS 64
#define MD_MAX_LOSSES 8

typedef struct md_kind md_kind;
typedef struct md_run md_run;
typedef struct md_export_ctx md_export_ctx; /* models/md_export_internal.h */

/* ---- training in several processes ------------------------------------------ */
/* How the ranks share a run (md_parallel.distribute):
 *   MD_DISTRIBUTE_DATA      every rank trains every part on its slices of
 *                           each batch, gradients summed (data parallelism)
 *   MD_DISTRIBUTE_SUBMODELS each rank trains whole parts (LUXE sub-models),
 *                           assigned longest-first by their steps left; the
 *                           ranks meet once per step to agree on stops and
 *                           checkpoints, where each sends rank 0 the state
 *                           of its parts (md_kind.save_part / load_part) and
 *                           rank 0 writes last.h5 and model.h5. A part's
 *                           random streams depend on (seed, part) alone, so
 *                           the result is a one-process run's, bit for bit. */
enum { MD_DISTRIBUTE_DATA = 0, MD_DISTRIBUTE_SUBMODELS = 1 };

/* Hooks for training in several processes (one rank each, every rank with
 * the same configuration, data and seed). All NULL / 0 for one process.
 * models/md_dist.h builds them from a gs_comm. */
typedef struct {
    int rank, n_ranks;              /* rank 0 is the writer */
    int distribute;                 /* MD_DISTRIBUTE_* */
    /* "2 ranks x 1 thread": stated in train.log's header and, for runs of
     * several ranks, as model.h5's and last.h5's root attribute "layout"
     * (NULL: not stated). */
    const char *layout;
    /* Sums every p->grad of ps over the ranks, in place, and n_extra floats
     * with them (a step's loss terms, so that every rank and the log see the
     * whole batch's); every rank ends with the same sums. Each rank's
     * gradients are its slices' share of the global batch mean (md_wgan), so
     * the sum is the full-batch gradient. Called by every rank between the
     * backward pass and the optimizer update of each network, in the same
     * order on every rank. */
    int (*reduce_grads)(void *ud, nn_params *ps, float *extra, int n_extra);
    /* Replaces every tensor's data in ps by its mean over the ranks (batch-norm
     * running statistics, which each rank updates from its own rows). */
    int (*mean_data)(void *ud, nn_params *ps);
    /* GS_OK when ps holds the same bytes on every rank (a hash compared over
     * the ranks), else an error naming the step's divergence. Kinds call it
     * at each checkpoint: the ranks' copies of the model must never drift. */
    int (*check_same)(void *ud, nn_params *ps);
    /* The largest flag over the ranks: a stop request (a signal number) seen
     * by one rank stops them all at the same step, with the same number. */
    int (*any)(void *ud, int flag);
    /* MD_DISTRIBUTE_SUBMODELS: element-wise max of n int64 over the ranks
     * (every rank ends with it), and blocking bytes between two ranks (the
     * receiver knows the size). */
    int (*max_i64)(void *ud, int64_t *v, int n);
    int (*send)(void *ud, const void *buf, int64_t bytes, int dest);
    int (*recv)(void *ud, void *buf, int64_t bytes, int src);
    void *ud;
} md_parallel;

/* ---- what a run reports ----------------------------------------------------- */
typedef struct {
    int n;
    double v[MD_MAX_LOSSES];        /* in the order of the kind's loss_names */
} md_losses;

typedef struct {
    const md_kind *kind;
    int64_t step, steps;            /* steps taken / to take, over all parts */
    int part, n_parts;
    const char *part_name;          /* "inner.n" (LUXE sub-model), "" for one part */
    int64_t part_step, part_steps;  /* within the part */
    md_losses losses;               /* this step's; names: kind->loss_names */
    double score, best;             /* last evaluation of this part (kind->score_name)
                                       and its best; NaN until the first */
    double steps_per_s, eta_s;      /* this session's speed; seconds to the end */
    /* The training step's own speed: steps after this session's first over
     * the seconds spent in them (evaluations, checkpoints and the warm-up
     * step left out; under MPI the wait for the other ranks counted). NaN
     * until the second step. */
    double step_rate;
    int evaluated;                  /* this report follows an evaluation */
} md_progress;

typedef void (*md_progress_fn)(void *ud, const md_progress *p);

typedef struct {
    const char *out_dir;            /* writes model.h5, last.h5, train.log there */
    int resume;                     /* continue from out_dir/last.h5 (its config rules) */
    /* > 0 with resume: train.iters over the checkpoint's value, so a run
     * (finished or not) continues to this many steps in total */
    int64_t resume_iters;
    /* A part (sub-model) whose step budget is 0 would be sampled untrained:
     * an error unless this is set. */
    int allow_untrained;
    /* Called once, after init accepted the configuration and the data and
     * before anything is written (writer rank only): creates and locks the
     * output directory. NULL: out_dir must exist. So a run that fails its
     * validation leaves nothing behind. */
    int (*prepare)(void *ud);
    void *prepare_ud;
    /* Each line the user must see (dropped or under-trained parts, ...): also
     * written to train.log as a '#' line. NULL: train.log only. */
    void (*note)(void *ud, const char *line);
    void *note_ud;
    /* Nonzero: save and return; the value comes back in *stopped (a signal
     * number from md_stop_on_signals, or whatever the caller stored). */
    const volatile sig_atomic_t *stop;
    md_progress_fn progress;
    void *progress_ud;
    md_parallel par;                /* zero: one process */
} md_train_opts;

/* Trains a model of kind k from cfg (the kind's config struct) on data (the
 * kind's data: what kind->data_read returns). GS_OK also when stopped
 * through opts->stop: then *stopped is the flag's value and last.h5 holds
 * the state to resume from; else *stopped = 0. */
int md_train(const md_kind *k, const void *cfg, const void *data, const md_train_opts *opts,
             int *stopped);

/* Installs SIGINT and SIGTERM handlers that set the returned flag to the
 * signal's number (for md_train_opts.stop). For tools; a library embedding
 * gansim keeps its own handlers and passes its own flag. */
const volatile sig_atomic_t *md_stop_on_signals(void);

/* ---- the run the driver hands to a kind -------------------------------------- */
typedef struct {
    char name[64];                  /* "" when the run has one part */
    int64_t step, steps;            /* taken (the driver counts) / budget (init sets) */
    int64_t min_steps;              /* the floor the kind's budget rule aims for (init
                                       may set it; 0 = none): a part trained fewer steps
                                       is reported when its model is opened */
    double best;                    /* lowest evaluation score, NaN before the first */
    int64_t best_step;              /* -1 before the first */
} md_part;

struct md_run {
    const md_kind *kind;
    const void *cfg;                /* the kind's configuration (the checkpoint's on resume) */
    const void *data;
    void *state;                    /* the kind's training state (init sets it) */
    int n_parts;                    /* init sets n_parts and each part's name and steps */
    md_part parts[MD_MAX_PARTS];
    int current;                    /* the part being trained (== n_parts when done) */
    int64_t eval_every, ckpt_every; /* init sets them (steps of a part) */
    /* What the kind sees: the data-parallel hooks (zero under
     * MD_DISTRIBUTE_SUBMODELS, where each rank trains its parts alone) */
    md_parallel par;
    md_parallel place;              /* this process's place among the ranks (the driver's) */
    char notes[8192];               /* md_run_note lines not yet shown */
};

/* A line the user must see (a part dropped or under-trained, ...), from a
 * kind's init or later: the driver shows it through md_train_opts.note
 * (gansim-train: stderr) and writes it to train.log as a '#' line. */
void md_run_note(md_run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A run without md_train's loop, for tools and benchmarks that step a model
 * themselves (gansim-bench times md_run_step: exactly the step gansim-train
 * takes). md_run_open copies cfg, restores from resume_from (a last.h5, its
 * configuration ruling; resume_iters > 0 replaces its train.iters, to
 * continue a run to that many steps in total) when not NULL, and builds the kind's state on data
 * (which must outlive the run); par may be NULL. md_run_step takes one step
 * of part k and counts it. md_run_write writes what md_train writes, model.h5
 * (with_train 0) or last.h5 (1), through a temporary renamed into place.
 * md_run_close frees (NULL is fine). */
int md_run_open(const md_kind *k, const void *cfg, const void *data, const char *resume_from,
                int64_t resume_iters, const md_parallel *par, md_run **run);
int md_run_step(md_run *run, int k, md_losses *out);
int md_run_write(const md_run *run, const char *path, int with_train);
void md_run_close(md_run *run);

/* The data-parallel reduction of one network's gradients and n_extra loss
 * terms (md_parallel.reduce_grads; a no-op in one process): kinds call it
 * after each backward pass, before the update. */
int md_run_reduce(const md_run *run, nn_params *ps, float *extra, int n_extra);
/* md_parallel.mean_data (a no-op in one process). */
int md_run_mean_data(const md_run *run, nn_params *ps);
/* md_parallel.check_same when part k's step (counted after this one) is a
 * checkpoint step; a no-op in one process. */
int md_run_check_same(const md_run *run, int k, nn_params *ps);

/* One evaluation's metrics, " key=value" (%.6g) appended to a line of
 * train.log (fixed size: appending never allocates; overflow drops keys). */
typedef struct {
    char buf[8192];
    size_t len;
} md_record;

void md_record_add(md_record *r, const char *key, double v);

/* ---- sampling a trained model --------------------------------------------------- */
/* What a model draws, by output class (a kind fills one of the two). */
typedef struct {
    int64_t (*n_features)(const void *m);
    const char *(*column)(const void *m, int64_t i);  /* NULL out of range */
    const char *(*unit)(const void *m, int64_t i);    /* "" when unknown */
    double (*particles_per_bx)(const void *m);        /* 0 when unknown */
    /* n particles (rows shuffled), original coordinates, units, species */
    int (*sample)(void *m, int64_t n, uint64_t seed, ds_events *out);
    /* k bunch crossings, Poisson(particles_per_bx) each; bx[i] the crossing of row i */
    int (*sample_bx)(void *m, int64_t k, uint64_t seed, ds_events *out, int64_t **bx);
    /* The same productions in chunks (models/md_produce.h): n particles, or
     * k_bx bunch crossings when k_bx > 0 (n is then ignored). Chunk c is a
     * function of (model, seed, c) alone; sample / sample_bx are the chunks
     * in order. *bx: per-row crossings (malloc'd) when k_bx > 0, else NULL. */
    int64_t (*n_chunks)(const void *m, int64_t n, int64_t k_bx);
    int (*sample_chunk)(void *m, int64_t n, int64_t k_bx, uint64_t seed, int64_t c,
                        ds_events *out, int64_t **bx);
} md_events_ops;

typedef struct {
    int64_t (*n_cond)(const void *m);
    void (*image_shape)(const void *m, int64_t *h, int64_t *w);
    /* k images per condition row (cond [n, n_cond], original units): out
     * holds n·k images, row i·k + j for condition i, and the conditions */
    int (*sample)(void *m, const float *cond, int64_t n, int64_t k, uint64_t seed,
                  ds_images *out);
    /* The same production in chunks of whole images (models/md_produce.h):
     * chunk c of the n·k images is a function of (model, cond, seed, c)
     * alone; cheapest when a handle is asked for increasing c. */
    int64_t (*n_chunks)(const void *m, int64_t n, int64_t k);
    int (*sample_chunk)(void *m, const float *cond, int64_t n, int64_t k, uint64_t seed,
                        int64_t c, ds_images *out);
} md_images_ops;

/* ---- the kind table ---------------------------------------------------------------- */
struct md_kind {
    const char *name;               /* gansim-train's first argument: "luxe" */
    const char *file_kind;          /* the files' gansim_kind attribute: "luxe_wgan" */
    const char *summary;            /* one line for --help */

    /* configuration: a struct of cfg_size bytes described by cfg_fields */
    const md_cfg_field *cfg_fields;
    size_t cfg_size;
    void (*cfg_default)(void *cfg);
    /* Defaults under a stored configuration (md_kind_read_config): keys a file
     * written before them lacks take the values that file was trained with.
     * NULL = cfg_default. */
    void (*cfg_stored_default)(void *cfg);

    /* training data */
    const char *data_help;          /* what --data takes */
    int (*data_read)(const char *path, const ds_read_opts *o, void **data);
    /* The configuration's say on reading the data (data.columns, data.units,
     * ... as ds_read_opts), or NULL: so that --resume reads the data as the
     * run first did. Fields it leaves alone keep the caller's values. */
    void (*data_opts)(const void *cfg, ds_read_opts *o);
    void (*data_free)(void *data);
    /* "4000 events, 6 features" for the tool's first line */
    void (*data_describe)(const void *data, char *buf, size_t n);

    /* training: the driver calls init once, then step / evaluate / keep_best
     * / save as it goes, and free at the end (also after a failed init) */
    const char *const *loss_names;  /* NULL-terminated: train.log keys, in md_losses order */
    const char *const *loss_labels; /* short labels for a progress line; NULL = not shown */
    const char *score_name;         /* train.log key of the evaluation score: "kl_mean" */
    const char *score_label;        /* its progress label: "KL" */
    int parts_in_log;               /* records say sub=NAME and sub_step= */
    /* Builds the state for run->cfg on run->data: sets run->state, n_parts,
     * each part's name and steps, eval_every and ckpt_every. When resume_from
     * is an open last.h5 (else < 0), restores the training state from it,
     * with each part's step, best and best_step. */
    int (*init)(md_run *run, hid_t resume_from);
    /* One training step of part k (the driver counts it in parts[k].step). */
    int (*step)(md_run *run, int k, md_losses *out);
    /* Evaluates part k: *score (lower is better) and the metrics of its
     * train.log record. */
    int (*evaluate)(md_run *run, int k, md_record *rec, double *score);
    /* The model just evaluated is part k's best: snapshot it (sampling uses it). */
    int (*keep_best)(md_run *run, int k);
    /* Header lines of a new train.log ("# ..."). */
    void (*log_header)(const md_run *run, FILE *log);
    /* Everything but the root attributes gansim_kind, gansim_version, config
     * and state (the driver writes those): with_train for last.h5. */
    int (*save)(const md_run *run, hid_t file, int with_train);
    /* MD_DISTRIBUTE_SUBMODELS: part k's training state (what last.h5 holds
     * of it beyond the driver's step/best attributes) into group g, and back
     * from such a group, whichever rank wrote it. NULL: the kind trains one
     * model and cannot be distributed by parts. */
    int (*save_part)(const md_run *run, int k, hid_t g);
    int (*load_part)(md_run *run, int k, hid_t g);
    void (*free)(md_run *run);

    /* sampling: open a model.h5 (or last.h5) for drawing */
    int (*open)(const char *path, void **model);
    void (*close)(void *model);
    const md_events_ops *events;    /* exactly one of the two */
    const md_images_ops *images;
    /* Sampling-time settings of an opened model (gansim-sample --set KEY=VALUE,
     * md_model_set): key and value as md_cfg_set takes them; GS_ERR_ARG for a
     * key that is not a sampling setting or a bad value, the model unchanged.
     * sample_keys names the keys for --help ("sample.steps, sample.solver").
     * NULL / NULL: the kind has none. */
    int (*sample_set)(void *model, const char *key, const char *value);
    const char *sample_keys;

    /* deployment: writes the model's ONNX files through x (md_export);
     * NULL when the kind has no exporter */
    int (*export_onnx)(md_export_ctx *x, const char *model_path);
};

/* The registry. md_kind_find: by name or file kind ("luxe" or "luxe_wgan");
 * NULL if none. md_kinds: every kind, NULL-terminated. */
const md_kind *md_kind_find(const char *name);
const md_kind *const *md_kinds(void);
/* The kind of a model or checkpoint file (its gansim_kind attribute);
 * GS_ERR_FORMAT when the file is no gansim model or of an unknown kind. */
int md_kind_of_file(const char *path, const md_kind **k);
/* The configuration stored in an open model or checkpoint file (path for
 * messages) into cfg (k's config struct, defaults first); GS_ERR_FORMAT when
 * the file is of another kind. */
int md_kind_read_config(hid_t f, const char *path, const md_kind *k, void *cfg);

/* A model opened for sampling, whatever its kind. */
typedef struct md_model md_model;

/* How far the training of a model file got, from the attributes the driver
 * writes (files without them count as finished). partial: some part took
 * fewer steps than its budget (an interrupted run; model.h5 then has
 * state="partial"). notes: one line per part below its floor or never
 * trained, and for a partial model what is missing; "" when none. */
typedef struct {
    int partial;
    int n_parts;
    int64_t step, steps;            /* over all parts */
    char notes[4096];
} md_model_status;

int md_model_status_read(hid_t f, const char *path, md_model_status *st);

/* Opens a model for sampling. A partial model (interrupted training) is
 * refused (GS_ERR_STATE, naming the file and the missing steps) unless
 * MD_OPEN_ALLOW_PARTIAL. */
enum { MD_OPEN_ALLOW_PARTIAL = 1 };
int md_model_open_ex(const char *path, unsigned flags, md_model **m);
int md_model_open(const char *path, md_model **m);
/* What md_model_status_read said of the opened file. */
const md_model_status *md_model_status_of(const md_model *m);
void md_model_close(md_model *m);
const md_kind *md_model_kind(const md_model *m);
/* A sampling setting "key=value" of the opened model (md_kind.sample_set):
 * GS_ERR_ARG when the kind has none, the key is not one or the value is bad
 * (the message names the keys the kind takes). */
int md_model_set(md_model *m, const char *kv);
/* The kind's own handle (md_luxe_model *, md_zdc_model *), for its functions. */
void *md_model_handle(md_model *m);

#endif
