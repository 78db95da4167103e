/* gansim-prep — fit a quantile transform on an event table and apply it
 * (or its inverse). Thin: the logic is preprocess/pp_quantile.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gs_h5.h"
#include "datasets/ds.h"
#include "preprocess/pp.h"
#include "tools/tool_common.h"

static const char *prog = "gansim-prep";

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gansim-prep fit --in data.h5 -o qt.h5 [--n-quantiles 1000]\n"
            "                       [--output normal|uniform] [--subsample N] [--seed S]\n"
            "       gansim-prep transform|inverse --qt qt.h5 --in A.h5 -o B.h5\n"
            "\n"
            "fit        fits a quantile transform (scikit-learn QuantileTransformer\n"
            "           semantics) on every feature of the event table (.h5 or .csv)\n"
            "transform  maps an event table through the fitted transform\n"
            "inverse    maps it back; /pdg, /weights and particles_per_bx are kept\n"
            "\n"
            "fit options (scikit-learn's names):\n"
            "  --n-quantiles N   quantiles per feature (default 1000; at most the rows used)\n"
            "  --output D        normal (default) or uniform: the output distribution\n"
            "  --subsample N     fit on N random rows (default: every row)\n"
            "  --seed S          picks the --subsample rows (default 0)\n"
            "\n"
            "reading the event table:\n" GS_TOOL_IMPORT_HELP
            "  --help, --version\n"
            "exit codes: 0 ok, 1 runtime failure, 2 usage error\n");
}

static ds_read_opts import;

static int do_fit(const char *in, const char *outp, const pp_quantile_opts *o)
{
    ds_events ev;
    int rc = gs_tool_read_events(in, &import, &ev);
    if (rc)
        return rc;
    pp_quantile qt;
    rc = pp_quantile_fit(&qt, ev.x, ev.n, ev.f, o);
    if (rc) {
        gs_error_wrap(rc, in);
        ds_events_free(&ev);
        return rc;
    }
    qt.columns = gs_h5_join_csv(ev.columns, ev.f);
    if (ev.units)
        qt.units = gs_h5_join_csv(ev.units, ev.f);
    if (!qt.columns || (ev.units && !qt.units))
        rc = gs_error(GS_ERR_NOMEM, "out of memory");
    if (!rc)
        rc = pp_quantile_save_file(&qt, outp);
    pp_quantile_free(&qt);
    ds_events_free(&ev);
    return rc;
}

static int do_apply(const char *qtp, const char *in, const char *outp, int inverse)
{
    pp_quantile qt;
    int rc = pp_quantile_load_file(&qt, qtp);
    if (rc)
        return rc;
    ds_events ev;
    rc = gs_tool_read_events(in, &import, &ev);
    if (rc) {
        pp_quantile_free(&qt);
        return rc;
    }
    char *cols = gs_h5_join_csv(ev.columns, ev.f);
    if (ev.f != qt.f)
        rc = gs_error(GS_ERR_FORMAT, "%s: has %lld features, %s was fitted on %lld", in,
                      (long long)ev.f, qtp, (long long)qt.f);
    else if (!cols)
        rc = gs_error(GS_ERR_NOMEM, "out of memory");
    else if (qt.columns && strcmp(cols, qt.columns))
        rc = gs_error(GS_ERR_FORMAT, "%s: columns '%s' differ from '%s' in %s", in, cols,
                      qt.columns, qtp);
    free(cols);
    if (!rc)
        rc = inverse ? pp_quantile_inverse(&qt, ev.x, ev.x, ev.n)
                     : pp_quantile_transform(&qt, ev.x, ev.x, ev.n);
    if (!rc) {
        /* transformed values are dimensionless; the inverse restores the
         * units recorded at fit time */
        gs_h5_free_strv(ev.units, ev.f);
        ev.units = NULL;
        if (inverse && qt.units) {
            int64_t nu;
            rc = gs_h5_split_csv(qt.units, &ev.units, &nu);
            if (!rc && nu != ev.f) {
                gs_h5_free_strv(ev.units, nu);
                ev.units = NULL;
            }
        }
    }
    if (!rc)
        rc = ds_events_write(outp, &ev);
    ds_events_free(&ev);
    pp_quantile_free(&qt);
    return rc;
}

int main(int argc, char **argv)
{
    const char *cmd = NULL, *in = NULL, *outp = NULL, *qtp = NULL;
    pp_quantile_opts o;
    pp_quantile_opts_default(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return GS_EXIT_OK;
        }
        if (!strcmp(a, "--version")) {
            printf("gansim-prep %s\n", GANSIM_VERSION);
            return GS_EXIT_OK;
        }
        if (a[0] != '-') {
            if (cmd) {
                gs_tool_err(prog, "unexpected argument '%s'", a);
                return GS_EXIT_USAGE;
            }
            cmd = a;
            continue;
        }
        if (i + 1 >= argc) {
            gs_tool_err(prog, "option %s needs a value (or is unknown; try --help)", a);
            return GS_EXIT_USAGE;
        }
        const char *v = argv[++i];
        long long ll;
        int imp = gs_tool_import_opt(prog, a, v, &import);
        if (imp < 0)
            return GS_EXIT_USAGE;
        if (imp) {
            continue;
        } else if (!strcmp(a, "--in")) {
            in = v;
        } else if (!strcmp(a, "-o")) {
            outp = v;
        } else if (!strcmp(a, "--qt")) {
            qtp = v;
        } else if (!strcmp(a, "--n-quantiles")) {
            if (gs_tool_int_opt(prog, "--n-quantiles", v, 1, 100000000, &ll))
                return GS_EXIT_USAGE;
            o.n_quantiles = ll;
        } else if (!strcmp(a, "--subsample")) {
            if (gs_tool_parse_i64(v, 1, 0x7fffffffffffffffLL, &ll)) {
                gs_tool_err(prog, "--subsample: '%s' is not an integer >= 1", v);
                return GS_EXIT_USAGE;
            }
            o.subsample = ll;
        } else if (!strcmp(a, "--seed")) {
            if (gs_tool_parse_i64(v, 0, 0x7fffffffffffffffLL, &ll)) {
                gs_tool_err(prog, "--seed: '%s' is not an integer >= 0", v);
                return GS_EXIT_USAGE;
            }
            o.seed = (uint64_t)ll;
        } else if (!strcmp(a, "--output")) {
            if (!strcmp(v, "normal"))
                o.output = PP_NORMAL;
            else if (!strcmp(v, "uniform"))
                o.output = PP_UNIFORM;
            else {
                gs_tool_err(prog, "--output: '%s' is not normal or uniform", v);
                return GS_EXIT_USAGE;
            }
        } else {
            gs_tool_err(prog, "unknown option %s (try --help)", a);
            return GS_EXIT_USAGE;
        }
    }
    if (!cmd) {
        gs_tool_err(prog, "missing command: fit, transform or inverse (try --help)");
        return GS_EXIT_USAGE;
    }
    int fit = !strcmp(cmd, "fit"), inverse = !strcmp(cmd, "inverse");
    if (!fit && !inverse && strcmp(cmd, "transform")) {
        gs_tool_err(prog, "unknown command '%s', expected fit, transform or inverse", cmd);
        return GS_EXIT_USAGE;
    }
    if (!in || !outp || (!fit && !qtp)) {
        gs_tool_err(prog, "%s needs --in and -o%s (try --help)", cmd, fit ? "" : " and --qt");
        return GS_EXIT_USAGE;
    }
    const gs_tool_file ins[] = {{"--in", in}, {"--qt", fit ? NULL : qtp}}, outs[] = {{"-o", outp}};
    if (gs_tool_guard_io(prog, ins, 2, outs, 1))
        return GS_EXIT_USAGE;
    gs_tool_cleanup_on_signals(prog, outp);
    int rc = fit ? do_fit(in, outp, &o) : do_apply(qtp, in, outp, inverse);
    if (rc) {
        gs_tool_err(prog, "%s", gs_errmsg());
        return GS_EXIT_FAIL;
    }
    return GS_EXIT_OK;
}
