/* mt — gansim's evaluation metrics (docs/metrics.md).
 *
 * Works on plain float/double arrays; knows nothing of nn/ or datasets/.
 * Every function that can fail returns a gs_status and leaves a message in
 * gs_errmsg(); nothing here prints, exits, or keeps global state, so all of
 * it may be called from several threads on different data.
 *
 * Promises (the exact definitions; docs/metrics.md has the longer story):
 *
 *  Binning. nbins >= 1 bins between lo and hi. Linear: edge_i = lo + i(hi-lo)/nbins.
 *    Log: edge_i = lo·(hi/lo)^(i/nbins), needs 0 < lo < hi. Bins are [edge_i, edge_i+1),
 *    the last one closed, [edge_nbins-1, hi] (as numpy.histogram). Values below lo are
 *    underflow (for log bins also every v <= 0), above hi overflow, NaN is counted
 *    apart and never binned. MT_FLOW_DROP keeps under/overflow out of the bins
 *    (only counted in mt_hist_stats); MT_FLOW_CLAMP adds them to the first/last bin.
 *
 *  Quantiles: numpy's default ("linear"): sorted s[0..n-1], position q·(n-1),
 *    linear interpolation between the two neighbours.
 *
 *  KL(P‖Q) = Σ_i p_i ln(p_i / q_i) over smoothed distributions: counts are
 *    normalised to sum 1, then ε is added to every bin and the result renormalised,
 *    p_i = (c_i/Σc + ε) / (1 + nbins·ε). Natural log; 0·ln 0 = 0; with ε = 0 a bin
 *    with p_i > 0, q_i = 0 gives +INFINITY.
 *  JS(P,Q) = ½KL(P‖M) + ½KL(Q‖M), M = (P+Q)/2, on the same smoothed P and Q.
 *    Symmetric, 0 <= JS <= ln 2.
 *
 *  W1 (earth mover's distance between two 1-D empirical distributions):
 *    W1 = ∫ |F_u(x) − F_v(x)| dx, exactly as scipy.stats.wasserstein_distance
 *    (weights optional, NULL = all 1; normalised by their sum). Computed in double
 *    by sorting both samples (LSD radix sort, O(N)) and merging the step CDFs.
 *  KS = sup_x |F_u(x) − F_v(x)| with right-continuous empirical (weighted) CDFs;
 *    unweighted it is scipy.stats.ks_2samp(u, v).statistic.
 *    Samples for W1/KS must be finite, n >= 1; weights finite, >= 0, sum > 0.
 *
 *  χ² between two histograms (bins with c1_i + c2_i = 0, resp. a zero
 *    denominator, are skipped; ndf = number of bins used − 1):
 *    unweighted (ROOT's "UU"): χ² = Σ (N2·c1_i − N1·c2_i)² / (N1·N2·(c1_i + c2_i)),
 *    weighted  (ROOT's "WW" without the low-statistics correction):
 *      χ² = Σ (W2·c1_i − W1·c2_i)² / (W2²·s1_i + W1²·s2_i), s = Σ w² per bin,
 *    N, W = total content of each histogram. Report χ²/ndf.
 *
 *  Correlation: Pearson, two passes in double. A constant column has correlation
 *    0 with every other column and 1 with itself.
 *
 *  ZDC channels, two maps (mt_zdc_map), row 0 on top, top = r < h/2, left = c < w/2
 *    (integer division); the five masks partition the image in both:
 *    research (MT_ZDC_MAP_RESEARCH, the default; the ALICE group's research
 *      code): pixel (r, c) with (r + c) even is channel 5; with
 *      (r + c) odd a quadrant channel: ch1 bottom-left, ch2 bottom-right, ch3 top-left,
 *      ch4 top-right.
 *    o2 (MT_ZDC_MAP_O2; ALICE's production framework O2, Detectors/ZDC/fastsimulation,
 *      processors::calculateChannels): the opposite colouring, (r + c) even are the
 *      quadrant channels ch1 top-left, ch2 top-right, ch3 bottom-left, ch4 bottom-right
 *      and (r + c) odd is channel 5.
 *  Max pixel: (row, col) of the largest value, the first in row-major order on ties
 *    (numpy.argmax); NaN pixels are never the maximum.
 */
#ifndef MT_H
#define MT_H

#include <stddef.h>
#include <stdint.h>

#include "core/gs_core.h"

/* ---- binning and histograms ------------------------------------------- */
typedef enum { MT_SCALE_LINEAR = 0, MT_SCALE_LOG = 1 } mt_scale;
typedef enum { MT_FLOW_DROP = 0, MT_FLOW_CLAMP = 1 } mt_flow;

typedef struct {
    int64_t nbins;
    double lo, hi;
    mt_scale scale;
} mt_binning;

typedef struct {
    double underflow, overflow; /* weight below lo / above hi (before clamping) */
    double nan;                 /* weight of NaN values (never binned) */
    double total;               /* weight put into the bins */
} mt_hist_stats;

int mt_binning_linear(mt_binning *b, double lo, double hi, int64_t nbins);
int mt_binning_log(mt_binning *b, double lo, double hi, int64_t nbins);
/* Linear bins on [quantile(qlo), quantile(qhi)] of x (non-finite values ignored;
 * at least one finite value needed). A degenerate range (all values equal) is
 * widened to lo ± 0.5·max(1, |lo|). The design's "100 bins on the real data's
 * 0.1–99.9 % range" is mt_binning_from_quantiles(b, real, n, 100, 0.001, 0.999). */
int mt_binning_from_quantiles(mt_binning *b, const float *x, int64_t n, int64_t nbins,
                              double qlo, double qhi);
/* Bin of v: 0..nbins-1, -1 underflow, nbins overflow, -2 NaN. */
int64_t mt_bin_index(const mt_binning *b, double v);
/* Edge i, 0 <= i <= nbins (edge 0 = lo, edge nbins = hi). */
double mt_bin_edge(const mt_binning *b, int64_t i);

/* counts[nbins] (and sumw2[nbins] when not NULL) are overwritten. w: NULL = 1. */
int mt_hist1d(const mt_binning *b, mt_flow flow, const float *x, const float *w, int64_t n,
              double *counts, double *sumw2, mt_hist_stats *st);
/* 2-D: counts[bx.nbins * by.nbins], row-major (index ix * by.nbins + iy). A pair
 * with either coordinate NaN counts as NaN; otherwise under/overflow in either. */
int mt_hist2d(const mt_binning *bx, const mt_binning *by, mt_flow flow, const float *x,
              const float *y, const float *w, int64_t n, double *counts, mt_hist_stats *st);

/* Quantile q in [0, 1] of an ascending array (numpy "linear"). */
double mt_quantile_sorted(const double *sorted, int64_t n, double q);

/* ---- divergences on histograms (counts >= 0, finite, nonzero sum) ----- */
#define MT_EPS_DEFAULT 1e-6
int mt_kl(const double *p, const double *q, int64_t nbins, double eps, double *out);
int mt_js(const double *p, const double *q, int64_t nbins, double eps, double *out);
/* sumw2_*: NULL for both = unweighted formula, both given = weighted formula. */
int mt_chi2(const double *c1, const double *sumw2_1, const double *c2, const double *sumw2_2,
            int64_t nbins, double *chi2, int64_t *ndf);

/* ---- sample distances (u: nu values, v: nv values; weights NULL = 1) --- */
int mt_w1(const float *u, const float *uw, int64_t nu, const float *v, const float *vw,
          int64_t nv, double *out);
int mt_ks(const float *u, const float *uw, int64_t nu, const float *v, const float *vw,
          int64_t nv, double *out);
/* both with one sort; either output may be NULL */
int mt_w1_ks(const float *u, const float *uw, int64_t nu, const float *v, const float *vw,
             int64_t nv, double *w1, double *ks);
/* the same on double samples and weights */
int mt_w1_ks_d(const double *u, const double *uw, int64_t nu, const double *v,
               const double *vw, int64_t nv, double *w1, double *ks);

/* ---- correlations ------------------------------------------------------ */
/* x: [n, f] row-major, n >= 2; out: [f, f]. */
int mt_corr(const float *x, int64_t n, int64_t f, double *out);
/* Frobenius norm and max |a_ij − b_ij| of the difference; either output may be NULL. */
int mt_corr_diff(const double *a, const double *b, int64_t f, double *frob, double *maxabs);

/* ---- ZDC images ---------------------------------------------------------- */
#define MT_ZDC_NCH 5
typedef enum { MT_ZDC_MAP_RESEARCH = 0, MT_ZDC_MAP_O2 = 1 } mt_zdc_map;
/* "research" / "o2" -> map; GS_ERR_ARG for anything else. */
int mt_zdc_map_parse(const char *name, mt_zdc_map *out);
const char *mt_zdc_map_name(mt_zdc_map map);
/* channel 1..5 of pixel (row, col) in an h×w image under a map; 0 when out of range */
int mt_zdc_channel_map(mt_zdc_map map, int64_t h, int64_t w, int64_t row, int64_t col);
/* the research map */
int mt_zdc_channel(int64_t h, int64_t w, int64_t row, int64_t col);
/* out[5] = sums of channels 1..5 of one h×w image */
int mt_zdc_channel_sums(const float *img, int64_t h, int64_t w, double out[MT_ZDC_NCH]);
/* ALICE O2's map (AliceO2 Detectors/ZDC/fastsimulation, Processors.cxx
 * calculateChannels, written for the 44×44 neutron ZDC; here for any h×w):
 * (row + col) EVEN is one of four quadrant channels, 1 = (row < h/2,
 * col < w/2), 2 = (row < h/2, col >= w/2), 3 = (row >= h/2, col < w/2),
 * 4 = the rest; (row + col) ODD is channel 5. The parity is the opposite of
 * mt_zdc_channel's, so O2's channel 5 is gansim's channels 1-4 together
 * (docs/deploy.md). Channel 1..5; 0 when out of range. */
int mt_zdc_o2_channel(int64_t h, int64_t w, int64_t row, int64_t col);
/* out[5] = O2's channel sums of one h×w image (photon space, before O2's lround) */
int mt_zdc_o2_channel_sums(const float *img, int64_t h, int64_t w, double out[MT_ZDC_NCH]);
/* one h×w image: (row, col) of the maximum */
int mt_max_pixel(const float *img, int64_t h, int64_t w, int64_t *row, int64_t *col);
double mt_total_intensity(const float *img, int64_t h, int64_t w);
/* n images [n, h, w] in one pass; any output may be NULL:
 * ch[n * 5], total[n], max_row[n], max_col[n]. */
int mt_zdc_features(const float *imgs, int64_t n, int64_t h, int64_t w, double *ch,
                    double *total, double *max_row, double *max_col);
/* the same with the channel sums under `map` (mt_zdc_features = research map) */
int mt_zdc_features_map(mt_zdc_map map, const float *imgs, int64_t n, int64_t h, int64_t w,
                        double *ch, double *total, double *max_row, double *max_col);

/* ---- significance ------------------------------------------------------- */
/* Survival function of the Kolmogorov distribution, Q(z) = P(K > z) =
 * 2 Σ_{k>=1} (−1)^{k−1} exp(−2k²z²) (scipy.special.kolmogorov, ROOT's
 * TMath::KolmogorovProb); the theta-function form below z = 1.18. */
double mt_kolmogorov_sf(double z);
/* Two-sample KS p-value, asymptotic: Q(sqrt(n1 n2 / (n1 + n2)) · d). Sample
 * sizes may be effective sizes (Σw)²/Σw² for weighted samples. NaN when a
 * size is not positive. Good to a few % at n1 n2/(n1 + n2) >= 100. */
double mt_ks_pvalue(double d, double n1, double n2);
/* P(χ²_ndf > chi2) = Q(ndf/2, chi2/2), the regularised upper incomplete
 * gamma (scipy.stats.chi2.sf); NaN for ndf < 1. */
double mt_chi2_pvalue(double chi2, int64_t ndf);

/* ROC AUC of scores for a binary label (1 = positive), exact: the
 * Mann–Whitney statistic P(s_pos > s_neg) + ½ P(s_pos = s_neg), weighted by
 * w (NULL = 1), which equals the trapezoidal area under the ROC curve with
 * tied scores as one point (sklearn.metrics.roc_auc_score with
 * sample_weight). Scores finite, weights finite >= 0, both classes with
 * positive weight. O(n) radix sort. */
int mt_auc(const double *score, const uint8_t *label, const double *w, int64_t n, double *auc);
/* Standard deviation of the AUC of an uninformative classifier (Mann–Whitney
 * null): sqrt((n_pos + n_neg + 1) / (12 n_pos n_neg)). */
double mt_auc_sigma0(double n_pos, double n_neg);

/* Rank correlation matrix out[f, f] of x [n, f]: the Pearson correlation of
 * the columns' weighted mid-grades u = (W(< x) + ½ W(= x)) / W. Unweighted
 * (w NULL) this is Spearman's ρ with ties given their mean rank
 * (scipy.stats.spearmanr). Invariant under monotone maps of each column and
 * insensitive to tails spanning decades, which Pearson's r on raw times and
 * energies is not. Values finite, n >= 2. */
int mt_rank_corr(const float *x, const float *w, int64_t n, int64_t f, double *out);

/* ---- metric sets (what gansim-eval and training logs report) ----------- */
typedef struct {
    int64_t nbins;       /* 100 */
    double qlo, qhi;     /* 0.001, 0.999: binning on the real sample's range */
    mt_flow flow;        /* MT_FLOW_CLAMP: mass outside the real range still counts */
    double eps;          /* MT_EPS_DEFAULT */
    double log_range;    /* > 0: a positive feature whose range spans more than this
                          * factor gets log bins on the same range (times, energies);
                          * 0 (default): always linear */
} mt_compare_opts;

/* The defaults above. */
mt_compare_opts mt_compare_defaults(void);

/* Binning on the [quantile(qlo), quantile(qhi)] range of x (as
 * mt_binning_from_quantiles; non-finite values ignored), logarithmic when
 * log_range > 0, the range is positive and hi/lo > log_range. When log_range
 * > 0, x >= 0 and quantile(qlo) = 0, the log range starts at quantile(qlo)
 * of the positive values instead if that makes it wider than log_range (the
 * zeros are then underflow). Integer-valued x (counts) gets log bins only
 * when the narrowest is at least 1 wide. */
int mt_binning_auto(mt_binning *b, const float *x, int64_t n, int64_t nbins, double qlo,
                    double qhi, double log_range);

typedef struct {
    double kl, js, w1, ks; /* kl = KL(real ‖ gen) on the shared binning */
    double ks_p;           /* two-sample KS p-value (mt_ks_pvalue; effective sizes
                            * (Σw)²/Σw² when weighted) */
    double chi2_ndf;       /* χ²/ndf of the histogram pair (mt_chi2: Poisson errors,
                            * the weighted form when either side has weights) */
    int64_t ndf;
} mt_feature_metrics;

/* One feature: real (nr values, weights rw or NULL) vs generated. */
int mt_compare_1d(const float *real, const float *rw, int64_t nr, const float *gen,
                  const float *gw, int64_t ng, const mt_compare_opts *opts,
                  mt_feature_metrics *out);
/* The noise floor beside the comparison: ref against gen (out_gen) and ref
 * against a second sample of the same truth, ref2 (out_floor), on the one
 * binning taken from ref; each sample is sorted once. ref2 may be NULL (then
 * out_floor may be NULL too and is not written). */
int mt_compare_1d_floor(const float *ref, const float *rw, int64_t nr, const float *ref2,
                        const float *r2w, int64_t nr2, const float *gen, const float *gw,
                        int64_t ng, const mt_compare_opts *opts, mt_feature_metrics *out_gen,
                        mt_feature_metrics *out_floor);
/* Every column of two row-major tables [nr, f] and [ng, f]. Masks (NULL = all
 * rows) select the rows that take part; out[f]. Fails (GS_ERR_ARG) when a mask
 * leaves no row. Non-finite values are skipped per column. */
int mt_compare_table(const float *real, const float *rw, const uint8_t *rmask, int64_t nr,
                     const float *gen, const float *gw, const uint8_t *gmask, int64_t ng,
                     int64_t f, const mt_compare_opts *opts, mt_feature_metrics *out);
/* The same with the floor: three tables of f columns (ref2 may be NULL). */
int mt_compare_table_floor(const float *ref, const float *rw, const uint8_t *rmask, int64_t nr,
                           const float *ref2, const float *r2w, const uint8_t *r2mask,
                           int64_t nr2, const float *gen, const float *gw,
                           const uint8_t *gmask, int64_t ng, int64_t f,
                           const mt_compare_opts *opts, mt_feature_metrics *out_gen,
                           mt_feature_metrics *out_floor);

/* 2-D histogram with Σw² per cell (sumw2 may be NULL); as mt_hist2d. */
int mt_hist2d_w2(const mt_binning *bx, const mt_binning *by, mt_flow flow, const float *x,
                 const float *y, const float *w, int64_t n, double *counts, double *sumw2,
                 mt_hist_stats *st);

/* Divergences of two 2-D histograms, as the 1-D ones: KL(real ‖ gen) and JS
 * over the bx.nbins × by.nbins cells (ε-smoothed as mt_kl), χ²/ndf with
 * Poisson (weighted) errors. */
typedef struct {
    double kl, js, chi2_ndf;
    int64_t ndf;
} mt_pair_metrics;

/* (x, y) pairs of ref, ref2 (may be NULL: no floor) and gen on the given
 * binnings, under/overflow clamped into the edge cells (MT_FLOW_CLAMP), pairs
 * with a NaN skipped. */
int mt_compare_2d_floor(const mt_binning *bx, const mt_binning *by, const float *rx,
                        const float *ry, const float *rw, int64_t nr, const float *r2x,
                        const float *r2y, const float *r2w, int64_t nr2, const float *gx,
                        const float *gy, const float *gw, int64_t ng, double eps,
                        mt_pair_metrics *out_gen, mt_pair_metrics *out_floor);

typedef struct {
    double ch_w1[MT_ZDC_NCH], ch_mean_w1; /* W1 of the 5 channel sums, their mean */
    double intensity_w1;                  /* W1 of the total intensity */
    double max_row_w1, max_col_w1;        /* W1 of the max-pixel row and column */
} mt_image_metrics;

/* research channel map */
int mt_compare_images(const float *real, int64_t nr, const float *gen, int64_t ng, int64_t h,
                      int64_t w, mt_image_metrics *out);
int mt_compare_images_map(mt_zdc_map map, const float *real, int64_t nr, const float *gen,
                          int64_t ng, int64_t h, int64_t w, mt_image_metrics *out);

/* Same-condition pairs: the conditional counterpart of the marginal metrics
 * above. Pair i is two images made for one set of conditions — a real image
 * and the one generated for its conditions, or (the noise floor) two real
 * images of the same conditions — so what differs between a pair is the
 * shower-to-shower fluctuation plus, for a generator, its conditioning error
 * (a shower drawn in the wrong place, one drawn where the particle missed the
 * detector, a wrong brightness). The marginal W1s cannot see these: a
 * generator that draws the right showers for the wrong conditions matches
 * every marginal. Pixels count with max(pixel, 0) photons. */
typedef struct {
    int64_t n_pairs;       /* pairs compared */
    int64_t n_showers;     /* pairs whose images both hold >= min_photons */
    double centroid_dist;  /* median distance [pixels] of the two images' photon-weighted
                            * centroids (row, column), over the n_showers pairs; NaN if
                            * none */
    double empty_mismatch; /* fraction of pairs where exactly one image holds < min_photons
                            * (a shower against none) */
    double log_intensity;  /* median |ln((1 + S_a) / (1 + S_b))| of the photon totals S */
} mt_same_cond_metrics;

/* Pairs (a_i, b_i), i < n: a_i is image ia[i] of a [., h, w] and b_i image
 * ib[i] of b (an index list NULL = 0, 1, ...). min_photons >= 0: below it an
 * image counts as empty (no shower, no centroid). GS_ERR_ARG for n < 1, NULL
 * images or out, a bad size or min_photons; GS_ERR_NOMEM. */
int mt_compare_same_cond(const float *a, const int64_t *ia, const float *b, const int64_t *ib,
                         int64_t n, int64_t h, int64_t w, double min_photons,
                         mt_same_cond_metrics *out);

#endif
