/* md_export — a trained model in the formats the experiments' frameworks
 * load (docs/deploy.md). One format today, "onnx":
 *
 *  zdc_gan   DIR/generator.onnx   inputs "noise" [N, max(noise_dim, 10)] (N(0, 1)
 *                                 draws; the first noise_dim are used) and
 *                                 "conditions" [N, n_cond] standardised with
 *                                 DIR/scales.txt; output "image" [N, 1, H, W] in
 *                                 log(1 + photons) space — ALICE O2's ZDC
 *                                 fast-simulation convention
 *            DIR/scales.txt       the condition means and scales in O2's text format
 *  luxe_wgan DIR/<sub>.onnx       one graph per sub-model: input "noise"
 *                                 [N, noise_dim], output "particles" [N, F] in the
 *                                 training file's columns and units (inverse
 *                                 quantile transform and coordinate/log inverses
 *                                 inside the graph)
 *  both      DIR/manifest.json    what was written, the inputs and outputs, and
 *                                 (LUXE) each sub-model's species, region,
 *                                 proportion and particles_per_bx.
 *
 * Graphs are inference graphs: batch norm folded, no dropout, a dynamic batch
 * dimension "N", metadata_props with gansim_version, gansim_kind, columns and
 * units. IR version and opset: onnx/ox.h. */
#ifndef MD_EXPORT_H
#define MD_EXPORT_H

#include "core/gs_core.h"

/* Called once per file written (path inside dir, and what it is). */
typedef void (*md_export_file_fn)(void *ud, const char *path, const char *what);

typedef struct {
    const char *format;          /* "onnx" (NULL = onnx) */
    md_export_file_fn on_file;   /* may be NULL */
    void *ud;
    int allow_partial;           /* export a model whose training was interrupted */
    /* warnings for the caller to show (e.g. a ZDC model O2 cannot feed):
     * '\n'-separated, "" when none; written by md_export */
    char warnings[1024];
} md_export_opts;

/* Exports the gansim model file `model` (model.h5 of gansim-train) into
 * `dir` (created when missing; files in it are replaced atomically). On an
 * error no file of this export is left behind. A partial model (training
 * interrupted: md_model_status_read) is refused unless opts->allow_partial;
 * sub-models short of their steps or floor become warnings. Errors:
 * GS_ERR_ARG (unknown format), GS_ERR_IO, GS_ERR_FORMAT (not a gansim model,
 * or a kind that cannot be exported), GS_ERR_STATE (partial), GS_ERR_NOMEM. */
int md_export(const char *model, const char *dir, md_export_opts *opts);

#endif
