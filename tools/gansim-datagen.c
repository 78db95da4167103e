/* gansim-datagen — toy simulation data (datasets/ds_toy.c) written as an
 * HDF5 event table (luxe) or image set (zdc, zdc-neutron). Thin: parsing and messages. */
#include <stdio.h>
#include <string.h>

#include "datasets/ds.h"
#include "tools/tool_common.h"

static const char *prog = "gansim-datagen";

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gansim-datagen luxe|zdc|zdc-neutron -n N --seed S -o FILE [--weights]\n"
            "\n"
            "Writes toy simulation data (formulas in docs/datasets.md):\n"
            "  luxe   particles crossing a 16.5 GeV e- beam-dump face backwards:\n"
            "         /events [N, 6] x,y,px,py,pz,t (mm,mm,GeV,GeV,GeV,ns), /pdg [N]\n"
            "  zdc    56x30 proton-ZDC photon-count images with 9 conditions:\n"
            "         /images [N, 56, 30], /conditions [N, 9]\n"
            "  zdc-neutron  44x44 neutron-ZDC images of neutral particles (no magnetic\n"
            "         bending, wider hadronic showers): /images [N, 44, 44], /conditions [N, 9]\n"
            "\n"
            "options:\n"
            "  -n N         number of particles / images (required, >= 1)\n"
            "  --seed S     RNG seed (default 1); same seed => identical file\n"
            "  -o FILE      output HDF5 file (written atomically)\n"
            "  --weights    luxe: add Geant4-biasing-like /weights\n"
            "  --help       this text\n"
            "  --version    print the version\n"
            "exit codes: 0 ok, 1 runtime failure, 2 usage error\n");
}

static void progress(void *user, int64_t done, int64_t total)
{
    gs_tool_progress((const char *)user, done, total);
}

int main(int argc, char **argv)
{
    const char *kind = NULL, *outp = NULL;
    long long n = -1, seed = 1;
    int weights = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return GS_EXIT_OK;
        } else if (!strcmp(a, "--version")) {
            printf("gansim-datagen %s\n", GANSIM_VERSION);
            return GS_EXIT_OK;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--seed") || !strcmp(a, "-o")) {
            if (i + 1 >= argc) {
                gs_tool_err(prog, "option %s needs a value", a);
                return GS_EXIT_USAGE;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "-n")) {
                if (gs_tool_int_opt(prog, "-n", v, 1, 1000000000000LL, &n))
                    return GS_EXIT_USAGE;
            } else if (!strcmp(a, "--seed")) {
                if (gs_tool_parse_i64(v, 0, 0x7fffffffffffffffLL, &seed)) {
                    gs_tool_err(prog, "--seed: '%s' is not an integer >= 0", v);
                    return GS_EXIT_USAGE;
                }
            } else {
                outp = v;
            }
        } else if (!strcmp(a, "--weights")) {
            weights = 1;
        } else if (a[0] == '-') {
            gs_tool_err(prog, "unknown option %s (try --help)", a);
            return GS_EXIT_USAGE;
        } else if (!kind) {
            kind = a;
        } else {
            gs_tool_err(prog, "unexpected argument '%s'", a);
            return GS_EXIT_USAGE;
        }
    }
    if (!kind || (strcmp(kind, "luxe") && strcmp(kind, "zdc") && strcmp(kind, "zdc-neutron"))) {
        gs_tool_err(prog, kind ? "unknown kind '%s', expected luxe, zdc or zdc-neutron"
                               : "missing kind (luxe, zdc or zdc-neutron)%s", kind ? kind : "");
        return GS_EXIT_USAGE;
    }
    if (n < 1 || !outp || !outp[0]) {
        gs_tool_err(prog, "%s is required (try --help)", n < 1 ? "-n N" : "-o FILE");
        return GS_EXIT_USAGE;
    }
    if (weights && strcmp(kind, "luxe")) {
        gs_tool_err(prog, "--weights applies to luxe only");
        return GS_EXIT_USAGE;
    }
    /* before generating: the data are made in memory and written at the end */
    if (gs_check_out_path(outp)) {
        gs_tool_err(prog, "%s", gs_errmsg());
        return GS_EXIT_FAIL;
    }
    /* the whole set is held in memory: refuse what this machine cannot hold
     * (beyond its RAM the kernel would kill the process, or a neighbour) */
    const double row_bytes = !strcmp(kind, "luxe") ? 6 * 4 + 4 + (weights ? 4 : 0)
                             : !strcmp(kind, "zdc") ? (56 * 30 + 9) * 4
                                                    : (44 * 44 + 9) * 4;
    const double need = (double)n * row_bytes;
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0 && need > (double)pages * (double)page) {
        gs_tool_err(prog, "-n %lld: %s needs %.3g GB of memory, this machine has %.3g GB; "
                          "write several files with other seeds",
                    n, kind, need / 1e9, (double)pages * (double)page / 1e9);
        return GS_EXIT_FAIL;
    }
    gs_tool_cleanup_on_signals(prog, outp);
    ds_toy_opts opts = {.with_weights = weights, .user = (void *)"generating"};
    if (n >= 100000)
        opts.progress = progress;
    int rc;
    if (!strcmp(kind, "luxe")) {
        ds_events ev;
        rc = ds_toy_luxe_ex(n, (uint64_t)seed, &opts, &ev);
        if (!rc)
            rc = ds_events_write(outp, &ev);
        ds_events_free(&ev);
    } else {
        ds_images im;
        rc = !strcmp(kind, "zdc") ? ds_toy_zdc_ex(n, (uint64_t)seed, &opts, &im)
                                  : ds_toy_zn_ex(n, (uint64_t)seed, &opts, &im);
        if (!rc)
            rc = ds_images_write(outp, &im);
        ds_images_free(&im);
    }
    if (rc) {
        gs_tool_err(prog, "%s", gs_errmsg());
        return GS_EXIT_FAIL;
    }
    return GS_EXIT_OK;
}
