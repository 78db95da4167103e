/* md_export_zdc — the ZDC generator as ONNX in ALICE O2's convention.
 *
 * O2's ZDC fast simulation (Detectors/ZDC/fastsimulation and
 * ZDC/simulation/src/Detector.cxx in AliceO2) feeds a generator two inputs
 * by position: input 0 = 10 draws of N(0, 1), input 1 = the 9 particle
 * conditions (E, vx, vy, vz, px, py, pz, mass, charge) standardised as
 * (x - mean) / scale with the means and scales of a text file; it reads the
 * output as an image in log(1 + photons) space and applies expm1. The graph
 * below is the generator gansim samples with (md_zdc_inference): the
 * inference form, batch norm folded, the two upsampling convs as 2x2 phase
 * convs whose planes DepthToSpace interleaves. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/gs_h5.h"
#include "models/md_export_internal.h"
#include "models/md_zdc.h"

/* O2 draws exactly this many noise values per particle (Detector.cxx). */
#define O2_NOISE 10
#define O2_NCOND 9

static const char *weights(ox_graph *g, const char *hint, const nn_tensor *t)
{
    return ox_init_f32(g, hint, t->ndim, t->shape, t->data);
}

/* One phase conv of md_zdc_inference: [N, Cin, h, w] -> LeakyReLU of the
 * [N, Cout, 2h, 2w] image. conv2x2 pad 1 gives phase planes [N, 4 Cout,
 * h + 1, w + 1]; output pixel (2i + a, 2j + b) is plane (2a + b) at (i + a,
 * j + b) (nn.h, nn_phase_interleave). Cropping each plane to its window and
 * stacking the four in plane order gives exactly the channel layout of
 * DepthToSpace's DCR mode (channel (2a + b) Cout + c -> pixel offset (a, b)). */
static const char *phase_up(ox_graph *g, const char *x, const nn_tensor *w, const nn_tensor *b,
                            int64_t h, int64_t wd, float slope)
{
    const int64_t co = w->shape[0] / 4;
    const char *z = ox_node(g, "Conv", (const char *[]){x, weights(g, "phase.w", w),
                                                         weights(g, "phase.b", b)},
                            3,
                            (ox_attr[]){OX_INTS("kernel_shape", ((int64_t[]){2, 2}), 2),
                                        OX_INTS("pads", ((int64_t[]){1, 1, 1, 1}), 4),
                                        OX_INTS("strides", ((int64_t[]){1, 1}), 2)},
                            3);
    const char *axes = ox_vec_i64(g, "axes", 3, (int64_t[]){1, 2, 3});
    const char *ph[4];
    for (int a = 0; a < 2; a++)
        for (int bb = 0; bb < 2; bb++) {
            const int p = 2 * a + bb;
            const char *st = ox_vec_i64(g, "starts", 3, (int64_t[]){p * co, a, bb});
            const char *en = ox_vec_i64(g, "ends", 3, (int64_t[]){(p + 1) * co, a + h, bb + wd});
            ph[p] = ox_node(g, "Slice", (const char *[]){z, st, en, axes}, 4, NULL, 0);
        }
    const char *cat = ox_node(g, "Concat", ph, 4, (ox_attr[]){OX_INT("axis", 1)}, 1);
    const char *up = ox_node(g, "DepthToSpace", (const char *[]){cat}, 1,
                             (ox_attr[]){OX_INT("blocksize", 2), OX_STRING("mode", "DCR")}, 2);
    return ox_node(g, "LeakyRelu", (const char *[]){up}, 1,
                   (ox_attr[]){OX_FLOAT("alpha", slope)}, 1);
}

static int build_graph(ox_graph *g, const md_zdc_inference *v, int64_t noise_in)
{
    const md_zdc_gen *G = v->g;
    const int64_t nz = G->noise_dim, nc = G->n_cond;
    const char *noise = ox_input(g, "noise", 2, (int64_t[]){OX_BATCH, noise_in});
    const char *cond = ox_input(g, "conditions", 2, (int64_t[]){OX_BATCH, nc});
    /* O2 always feeds 10 values; a generator trained on fewer takes the first
     * nz of them (iid N(0, 1): the same distribution as nz fresh draws) */
    if (noise_in > nz)
        noise = ox_node(g, "Slice",
                        (const char *[]){noise, ox_vec_i64(g, "starts", 1, (int64_t[]){0}),
                                         ox_vec_i64(g, "ends", 1, (int64_t[]){nz}),
                                         ox_vec_i64(g, "axes", 1, (int64_t[]){1})},
                        4, NULL, 0);
    const char *x = ox_node(g, "Concat", (const char *[]){noise, cond}, 2,
                            (ox_attr[]){OX_INT("axis", 1)}, 1);
    x = ox_node(g, "Gemm", (const char *[]){x, weights(g, "fc.w", v->fc_w),
                                             weights(g, "fc.b", v->fc_b)},
                3, (ox_attr[]){OX_INT("transB", 1)}, 1);
    x = ox_node(g, "LeakyRelu", (const char *[]){x}, 1, (ox_attr[]){OX_FLOAT("alpha", G->slope)},
                1);
    x = ox_op2(g, "Reshape", x,
               ox_vec_i64(g, "shape", 4, (int64_t[]){-1, G->ch[0], G->h0, G->w0}));
    x = phase_up(g, x, v->phase_w[0], v->phase_b[0], G->h0, G->w0, G->slope);
    x = phase_up(g, x, v->phase_w[1], v->phase_b[1], 2 * G->h0, 2 * G->w0, G->slope);
    x = ox_node(g, "Conv", (const char *[]){x, weights(g, "conv.w", G->conv[2].w),
                                            weights(g, "conv.b", G->conv[2].b)},
                3,
                (ox_attr[]){OX_INTS("kernel_shape", ((int64_t[]){3, 3}), 2),
                            OX_INTS("pads", ((int64_t[]){1, 1, 1, 1}), 4)},
                2);
    x = ox_op1(g, "Relu", x);
    /* centre crop of the 4 h0 x 4 w0 plane (md_zdc_gen_fwd) */
    const int64_t top = (4 * G->h0 - G->h) / 2, left = (4 * G->w0 - G->w) / 2;
    x = ox_node(g, "Slice",
                (const char *[]){x, ox_vec_i64(g, "starts", 2, (int64_t[]){top, left}),
                                 ox_vec_i64(g, "ends", 2, (int64_t[]){top + G->h, left + G->w}),
                                 ox_vec_i64(g, "axes", 2, (int64_t[]){2, 3})},
                4, NULL, 0);
    return ox_output(g, "image", x, 4, (int64_t[]){OX_BATCH, 1, G->h, G->w});
}

static void csv_doubles(char *buf, size_t n, const double *v, int64_t k)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int64_t i = 0; i < k && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, i ? ",%.9g" : "%.9g", v[i]);
}

int md_export_zdc(md_export_ctx *x, const char *model)
{
    md_zdc_model *m = NULL;
    ox_graph *g = NULL;
    char *cols = NULL;
    int rc = md_zdc_load(model, &m);
    md_zdc_inference v;
    if (!rc)
        rc = md_zdc_inference_view(m, &v);
    if (rc)
        goto out;
    /* the condition names, when the training file had them */
    hid_t f;
    if (!(rc = gs_h5_open(model, 0, &f))) {
        if (gs_h5_attr_exists(f, ".", "cond_columns"))
            rc = gs_h5_attr_read_str(f, ".", "cond_columns", &cols);
        gs_h5_close(f);
    }
    if (rc)
        goto out;
    const md_zdc_gen *G = v.g;
    const int64_t nz = G->noise_dim, nc = G->n_cond;
    const int64_t noise_in = nz < O2_NOISE ? O2_NOISE : nz;
    const int o2 = nz <= O2_NOISE && nc == O2_NCOND;
    if (nz > O2_NOISE)
        md_export_warn(x, "the generator takes %lld noise values; O2 feeds %d, so this graph "
                          "does not run in O2 as is", (long long)nz, O2_NOISE);
    if (nc != O2_NCOND)
        md_export_warn(x, "the generator takes %lld conditions; O2 feeds %d", (long long)nc,
                       O2_NCOND);
    if ((rc = ox_new(&g, "zdc_generator",
                     "gansim ZDC generator: noise N(0,1) [N,noise] and standardised "
                     "conditions [N,n_cond] -> image [N,1,H,W] in log(1+photons) space")))
        goto out;
    rc = build_graph(g, &v, noise_in);
    char buf[2048];
    const pp_scaler *sc = v.scaler;
    ox_meta(g, "gansim_version", GANSIM_VERSION);
    ox_meta(g, "gansim_kind", "zdc_gan");
    ox_meta(g, "condition_columns", cols ? cols : "");
    /* gansim's image files carry no condition units; what O2 feeds (from
     * TParticle, Detector.cxx): the training conditions must be in these */
    ox_meta(g, "o2_feeds", "E GeV,vx cm,vy cm,vz cm,px GeV/c,py GeV/c,pz GeV/c,mass MeV,"
                           "charge |e|/3 (TParticlePDG::Charge)");
    csv_doubles(buf, sizeof buf, sc->shift, sc->f);
    ox_meta(g, "condition_means", buf);
    csv_doubles(buf, sizeof buf, sc->scale, sc->f);
    ox_meta(g, "condition_scales", buf);
    ox_meta(g, "noise_sigma", "1");
    snprintf(buf, sizeof buf, "%lld", (long long)nz);
    ox_meta(g, "noise_dim_used", buf);
    ox_meta(g, "output_space", "log1p");
    ox_meta(g, "output_units", "photons (after expm1)");
    snprintf(buf, sizeof buf, "%lld,%lld", (long long)G->h, (long long)G->w);
    ox_meta(g, "image_shape", buf);
    if (!rc)
        rc = md_export_graph(x, g, "generator.onnx", "ONNX generator (O2 convention)");
    /* O2's scales file: "#means", one float a line, an empty line, "#scales", ... */
    char tmp[4096], path[4096];
    FILE *s = rc ? NULL : md_export_open(x, "scales.txt", tmp, sizeof tmp, path, sizeof path);
    if (!rc && !s)
        rc = GS_ERR_IO;
    if (s) {
        fputs("#means\n", s);
        for (int64_t i = 0; i < sc->f; i++)
            fprintf(s, "%.9g\n", sc->shift[i]);
        fputs("\n#scales\n", s);
        for (int64_t i = 0; i < sc->f; i++)
            fprintf(s, "%.9g\n", sc->scale[i]);
        rc = md_export_close(x, s, tmp, path, "condition means and scales (O2 format)");
    }
    FILE *j = rc ? NULL : md_export_open(x, "manifest.json", tmp, sizeof tmp, path, sizeof path);
    if (!rc && !j)
        rc = GS_ERR_IO;
    if (j) {
        fprintf(j, "{\n  \"gansim_version\": ");
        md_json_str(j, GANSIM_VERSION);
        fprintf(j, ",\n  \"kind\": \"zdc_gan\",\n  \"format\": \"onnx\",\n"
                   "  \"ir_version\": %d,\n  \"opset\": %d,\n",
                OX_IR_VERSION, OX_OPSET);
        fprintf(j, "  \"model\": \"generator.onnx\",\n  \"scales\": \"scales.txt\",\n");
        fprintf(j, "  \"inputs\": [{\"name\": \"noise\", \"shape\": [\"N\", %lld], "
                   "\"distribution\": \"normal\", \"sigma\": 1, \"used\": %lld},\n"
                   "             {\"name\": \"conditions\", \"shape\": [\"N\", %lld], "
                   "\"standardised\": \"(x - mean) / scale, scales.txt\"}],\n",
                (long long)noise_in, (long long)nz, (long long)nc);
        fprintf(j, "  \"outputs\": [{\"name\": \"image\", \"shape\": [\"N\", 1, %lld, %lld], "
                   "\"space\": \"log1p\"}],\n",
                (long long)G->h, (long long)G->w);
        fprintf(j, "  \"condition_columns\": ");
        md_json_str(j, cols ? cols : "");
        fprintf(j, ",\n  \"o2_compatible\": %s\n}\n", o2 ? "true" : "false");
        rc = md_export_close(x, j, tmp, path, "manifest");
    }
out:
    ox_free(g);
    free(cols);
    md_zdc_free(m);
    return rc;
}
