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
 * Titles and labels are printed literally (no gnuplot markup). */
#ifndef MT_PLOT_H
#define MT_PLOT_H

#include <stdint.h>

#include "metrics/mt.h"

typedef struct mt_plot mt_plot;

int mt_plot_open(mt_plot **out, const char *dir);
void mt_plot_free(mt_plot *p);

/* Real vs generated histogram (same binning) as densities, with a ratio panel
 * gen/real below. A log binning is drawn on a log x axis as density per
 * decade. The y axis is logarithmic when the nonzero bin contents span
 * more than a factor MT_PLOT_LOGY_RANGE. */
#define MT_PLOT_LOGY_RANGE 100.0
/* Callers switch to log binning for positive data spanning more than this. */
#define MT_PLOT_LOGX_RANGE 1000.0
int mt_plot_hist(mt_plot *p, const char *name, const char *title, const char *xlabel,
                 const mt_binning *b, const double *real, const double *gen);

/* Two 2-D histograms (counts[bx.nbins * by.nbins], row-major in x) side by side,
 * log colour scale, empty cells blank. Linear binnings only. */
int mt_plot_hist2d(mt_plot *p, const char *name, const char *title, const char *xlabel,
                   const char *ylabel, const mt_binning *bx, const mt_binning *by,
                   const double *real, const double *gen);

/* A grid: k real images on the top row, k generated on the bottom (h×w each,
 * row 0 drawn on top), colour = log10(1 + pixel). */
int mt_plot_images(mt_plot *p, const char *name, const char *title, const float *real,
                   const float *gen, int64_t k, int64_t h, int64_t w);

/* Training curves from a log of "key=value key=value ..." lines. Every line
 * with a numeric step= is a record; every other numeric key is plotted against
 * step: keys starting with "loss" share one panel, keys containing "kl" another,
 * each remaining key gets its own (at most MT_PLOT_MAX_PANELS panels, extra keys
 * are left out). GS_ERR_FORMAT when the log has no record. */
#define MT_PLOT_MAX_PANELS 8
int mt_plot_trainlog(mt_plot *p, const char *name, const char *log_path);

/* Writes the collected script atomically to script_path. */
int mt_plot_write_script(mt_plot *p, const char *script_path);

/* PNGs the script produces: count, and the i-th path (tmp = 1: the name the
 * script writes, tmp = 0: the final name). */
int64_t mt_plot_count(const mt_plot *p);
const char *mt_plot_png(const mt_plot *p, int64_t i, int tmp);

#endif
