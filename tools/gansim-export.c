/* gansim-export — write a trained model in a format the experiments'
 * frameworks load (docs/deploy.md). Thin: the exporters are models/md_export*.c. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "models/md_export.h"
#include "tools/tool_common.h"

static const char *prog = "gansim-export";

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gansim-export --model run/model.h5 -o DIR [--format onnx]\n"
            "\n"
            "Writes the model's generator(s) into DIR (created when missing):\n"
            "  zdc_gan    generator.onnx + scales.txt in ALICE O2's ZDC fast-simulation\n"
            "             convention: input 0 noise [N,10] ~ N(0,1), input 1 the conditions\n"
            "             standardised with scales.txt (O2's #means/#scales text format),\n"
            "             output [N,1,H,W] in log(1+photons) space\n"
            "  luxe_wgan  one sub<k>_<name>.onnx per sub-model, noise [N,noise_dim] ~ N(0,1)\n"
            "             in, particles [N,F] out in the training file's columns and units\n"
            "and manifest.json describing the files (LUXE: species, region, proportion and\n"
            "particles_per_bx of each sub-model). ONNX IR version 8, opset 13: ONNX Runtime\n"
            "1.14+ and the onnx 1.12 checker read them.\n"
            "\n"
            "  --model FILE   model.h5 written by gansim-train\n"
            "  -o DIR         output directory\n"
            "  --format F     onnx (the only format today; the default)\n"
            "  -q, --quiet    do not list the files written\n"
            "  --allow-partial  export a model whose training was interrupted (refused\n"
            "                 otherwise)\n"
            "  --help, --version\n"
            "exit codes: 0 ok, 1 runtime failure (nothing of the export left behind), 2 usage error\n");
}

static void on_file(void *ud, const char *path, const char *what)
{
    if (!*(const int *)ud)
        printf("%s  (%s)\n", path, what);
}

int main(int argc, char **argv)
{
    const char *model = NULL, *dir = NULL, *format = "onnx";
    int quiet = 0;
    int allow_partial = 0;
    static const struct option lo[] = {{"model", required_argument, 0, 'm'},
                                       {"allow-partial", no_argument, 0, 'P'},
                                       {"format", required_argument, 0, 'f'},
                                       {"quiet", no_argument, 0, 'q'},
                                       {"help", no_argument, 0, 'h'},
                                       {"version", no_argument, 0, 'V'},
                                       {0, 0, 0, 0}};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'o': dir = optarg; break;
        case 'f': format = optarg; break;
        case 'q': quiet = 1; break;
        case 'P': allow_partial = 1; break;
        case 'h': usage(stdout); return GS_EXIT_OK;
        case 'V': printf("%s %s\n", prog, GANSIM_VERSION); return GS_EXIT_OK;
        default: return gs_tool_getopt_fail(prog, c, argv, optind);
        }
    }
    if (optind < argc) {
        gs_tool_err(prog, "unexpected argument '%s' (see --help)", argv[optind]);
        return GS_EXIT_USAGE;
    }
    if (!model || !dir) {
        gs_tool_err(prog, "need --model and -o (see --help)");
        return GS_EXIT_USAGE;
    }
    if (strcmp(format, "onnx") != 0) {
        gs_tool_err(prog, "--format: '%s' is not a known format (known: onnx)", format);
        return GS_EXIT_USAGE;
    }
    char manifest[4200];
    snprintf(manifest, sizeof manifest, "%s/manifest.json", dir);
    const gs_tool_file ins[] = {{"--model", model}}, outs[] = {{"-o", manifest}};
    if (gs_tool_guard_io(prog, ins, 1, outs, 1))
        return GS_EXIT_USAGE;
    /* the run directory the model comes from is not exported while another
     * process trains or resumes it (nor trained while this exports) */
    gs_dir_lock_t lk = {.fd = -1};
    char run[4096];
    if (gs_tool_run_dir_of(model, run, sizeof run) && gs_dir_lock(run, "gansim-export", &lk)) {
        gs_tool_err(prog, "%s", gs_errmsg());
        return GS_EXIT_FAIL;
    }
    md_export_opts o = {.format = format, .on_file = on_file, .ud = &quiet,
                        .allow_partial = allow_partial};
    int rc = md_export(model, dir, &o);
    gs_dir_unlock(&lk);
    if (rc) {
        gs_tool_err(prog, "%s", gs_errmsg());
        return GS_EXIT_FAIL;
    }
    for (char *w = o.warnings, *nl; *w; w = nl + 1) {
        if (!(nl = strchr(w, '\n')))
            break;
        *nl = '\0';
        gs_tool_err(prog, "warning: %s", w);
    }
    return GS_EXIT_OK;
}
