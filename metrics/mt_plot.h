/* mt_plot — gnuplot scripts and data files for evaluation plots.
 *
 * Writes plain-text data files (atomically) into a directory and collects one
 * gnuplot script that turns them into PNGs (pngcairo terminal). It never runs
 * gnuplot itself: the caller runs `gnuplot SCRIPT` and then moves each PNG
 * from its temporary name (mt_plot_png(p, i, 1)) to its final name
 * (mt_plot_png(p, i, 0)) with gs_commit(), so a failed or missing gnuplot
 * leaves no partial PNG behind, only the data files and the script.
 *
 * Names given to the functions become file names: NAME.dat and NAME.png in
 * the directory; characters outside [A-Za-z0-9_.-] are replaced by '_'.
 * Titles, labels and legends are printed literally (gnuplot's enhanced-text
 * markup is switched off for them); tick labels of log axes read 10^k.
 *
 * The comparison plots always show three samples: the reference ("real A"),
 * the generated sample, and a second reference sample of the same truth
 * ("real B"), whose difference from A is the noise floor every
 * generated-vs-real difference is to be read against. */
#ifndef MT_PLOT_H
#define MT_PLOT_H

#include <stdint.h>

#include "metrics/mt.h"

typedef struct mt_plot mt_plot;

int mt_plot_open(mt_plot **out, const char *dir);
void mt_plot_free(mt_plot *p);

/* ---- 1-D histograms with ratio panels ------------------------------------ */
/* The y axis of a histogram is logarithmic when the nonzero densities span
 * more than a factor MT_PLOT_LOGY_RANGE. */
#define MT_PLOT_LOGY_RANGE 100.0
/* Positive data spanning more than this factor are binned (and drawn) on a
 * log axis, as density per decade (mt_binning_auto's log_range). */
#define MT_PLOT_LOGX_RANGE 1000.0

/* One sample histogrammed on a panel's binning with MT_FLOW_DROP. */
typedef struct {
    const double *counts;   /* [nbins] weight in each bin; NULL = sample absent */
    const double *sumw2;    /* [nbins] Σw² per bin; NULL = unweighted (Σw² = counts) */
    double under, over;     /* weight below / above the binning's range */
    double total;           /* weight in the bins (under + over + total = all) */
} mt_plot_series;

typedef struct {
    mt_binning b;
    const char *title;      /* panel title, e.g. "t (species n)" */
    const char *xlabel;     /* quantity and unit, e.g. "t [ns]" */
    const char *note;       /* one line under the title (metrics vs floor), or NULL */
    mt_plot_series ref, gen, ref2; /* ref2.counts NULL: no floor sample */
} mt_plot_panel;

/* Panels in a grid of ncols columns, each: densities of ref (steps), gen
 * (steps with Poisson error bars, Σw² when weighted) on top, normalised to
 * each sample's whole weight (under/overflow included, so what falls outside
 * the range is missing area, and its share is printed in the panel as
 * "below range" / "above range"); below, gen/ref and ref2/ref with error
 * bars (σ of the ratio from both samples' errors). legend[3] names ref, gen,
 * ref2 ("real A", "generated", "real B"). */
int mt_plot_hist_panels(mt_plot *p, const char *name, const char *title,
                        const char *const legend[3], int ncols, int npanels,
                        const mt_plot_panel *panels);

/* ---- 2-D comparison ------------------------------------------------------- */
/* Four panels side by side: ref and gen as the share of each sample per cell
 * on one logarithmic colour scale; the pull map (gen − ref)/σ per cell and the
 * same for ref2 (the floor), on one diverging scale ±5 (σ² from both samples'
 * Σw², empty-in-both cells blank). counts/sumw2 [bx.nbins * by.nbins]
 * row-major in x (as mt_hist2d; sumw2 NULL = counts). Log binnings are drawn
 * in log10 coordinates with 10^k tick labels. equal_axes: one unit on both
 * axes (x–y maps). ref2 may be NULL (then three panels). */
typedef struct {
    const double *counts, *sumw2;
} mt_plot_hist2;

int mt_plot_hist2d_cmp(mt_plot *p, const char *name, const char *title, const char *note,
                       const char *xlabel, const char *ylabel, const mt_binning *bx,
                       const mt_binning *by, int equal_axes, const mt_plot_hist2 *ref,
                       const mt_plot_hist2 *gen, const mt_plot_hist2 *ref2,
                       const char *const legend[3]);

/* ---- correlation matrices -------------------------------------------------- */
/* Three f×f panels: ref's matrix, gen − ref, ref2 − ref (the floor), values
 * printed in the cells; names[f] label the axes. ref2 may be NULL. */
int mt_plot_corr(mt_plot *p, const char *name, const char *title, const char *note,
                 const char *const *names, int64_t f, const double *ref, const double *gen,
                 const double *ref2, const char *const legend[3]);

/* ---- images -------------------------------------------------------------- */
/* A grid: k real images on the top row, k generated on the bottom (h×w each,
 * row 0 drawn on top, column and row indices on the axes), one colour scale
 * log10(1 + pixel) with a colour bar labelled with `unit`. */
int mt_plot_images(mt_plot *p, const char *name, const char *title, const char *unit,
                   const float *real, const float *gen, int64_t k, int64_t h, int64_t w);

/* ---- training curves ------------------------------------------------------- */
/* From a log of "key=value key=value ..." lines. Every line with a numeric
 * step= is a record; a non-numeric sub= names the sub-model it belongs to.
 * Each numeric key gets its own panel (at most MT_PLOT_MAX_PANELS; keys that
 * are bookkeeping — step, sub_step, steps_per_s, step_rate, elapsed_s, best_*,
 * kl_floor — get none, per-feature kl_<f>/w1_ch<k> only without sub-models),
 * one labelled line per sub-model against the sub-model's own step
 * (sub_step when logged); kl_mean panels are logarithmic and show each
 * sub-model's kl_floor (when logged) dashed in the same colour.
 * GS_ERR_FORMAT when the log has no record. */
#define MT_PLOT_MAX_PANELS 8
int mt_plot_trainlog(mt_plot *p, const char *name, const char *log_path);

/* Writes the collected script atomically to script_path. */
int mt_plot_write_script(mt_plot *p, const char *script_path);

/* PNGs the script produces: count, the i-th path (tmp = 1: the name the
 * script writes, tmp = 0: the final name) and its caption (the title). */
int64_t mt_plot_count(const mt_plot *p);
const char *mt_plot_png(const mt_plot *p, int64_t i, int tmp);
const char *mt_plot_caption(const mt_plot *p, int64_t i);

/* How many records (lines with a numeric step=) the training log holds: 0 for
 * a gansim-train log whose run has not reached its first checkpoint (only
 * the "# gansim ..." header). GS_ERR_IO when it cannot be read, GS_ERR_FORMAT
 * when it is not a training log (neither that header nor a record: another
 * kind of file given by mistake). The plot and the summary below refuse a
 * log without records; callers that can do without them ask here first. */
int mt_trainlog_records(const char *log_path, int64_t *n_records);

/* ---- training summary ------------------------------------------------------- */
/* Per-sub-model quality table from a training log (the LUXE trainer's
 * "# sub=NAME rows=N proportion=P steps=S" header lines and its records with
 * sub=, sub_step=, kl_mean= and kl_floor=; a log without sub= is one model,
 * with w1_mean= when it has no kl_mean). Text, one row per sub-model: rows,
 * steps done / planned, final and best value (and the step of the best),
 * the floor, best/floor. *text is malloc'd. GS_ERR_FORMAT without records. */
int mt_trainlog_summary(const char *log_path, char **text);

#endif
