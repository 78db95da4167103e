/* md_eval — what gansim-eval reports: a generated sample against a reference
 * sample, every number beside its real-vs-real noise floor.
 *
 * The floor. Sampling noise alone makes two samples of the same truth
 * differ; a metric means something only against that difference. With a
 * second reference sample (ref2, e.g. another simulation run) the floor is
 * ref vs ref2; without one, ref is split at random into halves A and B and
 * the floor is A vs B. In both cases the comparison and the floor use the
 * same sample sizes: the generated sample (and ref2 / B) are cut to the
 * same number of rows, m = min(n_gen, n_ref2 or |B|), drawn at random. A
 * ratio metric/floor near 1 means the generated sample is as close to the
 * reference as a second real sample; the verdicts (docs/metrics.md) read
 * the ratios. Image sets whose generated file is row-aligned with the
 * reference (same conditions in every row, as gansim-sample --conditions
 * writes) compare A with the generated images of B's conditions.
 *
 * Event tables (columns, units, /pdg, /weights as datasets/ reads them):
 * per-feature KL, JS, KS (+ p-value), χ²/ndf, W1 (in the feature's unit);
 * derived physics quantities r = sqrt(x² + y²), the kinetic energy
 * E_kin = sqrt(p² + m²) − m from the PDG mass (|p| when a species' mass or
 * the momentum unit is unknown) and the polar angle theta of the momentum;
 * 2-D histogram KL of x-y, r-t, E-r, E-t; the rank-correlation matrix
 * difference; a classifier two-sample test (md_classifier); all of it per
 * region (r < r0 or not) and per species as far as they apply.
 * Image sets: the ZDC channel sums, total intensity and max-pixel position.
 *
 * Results: metrics.json text, a terminal summary, the tables of the HTML
 * report, and plots (data files + gnuplot script through mt_plot). */
#ifndef MD_EVAL_H
#define MD_EVAL_H

#include "datasets/ds.h"
#include "metrics/mt_plot.h"
#include "models/md_classifier.h"

typedef struct {
    const char *real_name, *gen_name, *ref2_name; /* shown in the report (may be NULL) */
    uint64_t seed;        /* split, subsamples, classifier (1) */
    double r0;            /* inner/outer radius, unit of x (500) */
    int classifier;       /* run the classifier test (1) */
    md_cls_cfg cls;       /* its configuration (md_cls_defaults) */
    int64_t nbins2d;      /* cells per axis of the 2-D histograms (50) */
    int channel_map;      /* image sets: ZDC channel map, an mt_zdc_map (0 research) */
} md_eval_opts;

void md_eval_defaults(md_eval_opts *o);

typedef struct {
    char *json;       /* metrics.json */
    char *summary;    /* terminal summary */
    char *tables;     /* HTML fragment: the summary and detail tables */
    int n_bad, n_marginal; /* verdict counts of the summary rows */
} md_eval_report;

void md_eval_report_free(md_eval_report *r);

/* Event tables: ref (the reference), ref2 (a second reference, or NULL: split
 * ref), gen. Columns of gen and ref2 are matched to ref's by name. Plots go
 * to pl (NULL: none). Errors: GS_ERR_FORMAT (columns differ, too few rows:
 * each compared sample needs >= 2 rows), GS_ERR_NOMEM, or the metric's. */
int md_eval_events(const ds_events *ref, const ds_events *ref2, const ds_events *gen,
                   const md_eval_opts *o, mt_plot *pl, md_eval_report *out);
/* Image sets (same h × w). */
int md_eval_images(const ds_images *ref, const ds_images *ref2, const ds_images *gen,
                   const md_eval_opts *o, mt_plot *pl, md_eval_report *out);

/* The report page: a static HTML document (no script, no network) with the
 * tables, the training table (train_table, preformatted text, or NULL),
 * plots_note (or NULL) and, when with_plots, every PNG of pl (by file name,
 * relative to the page) with its caption. *html is malloc'd. */
int md_eval_html(const md_eval_report *r, const md_eval_opts *o, const mt_plot *pl,
                 int with_plots, const char *plots_note, const char *train_table, char **html);

#endif
