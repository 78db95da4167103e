/* md_export — format and kind dispatch, and the file bookkeeping every
 * exporter shares (atomic writes, removal of a failed export's files). */
#include "models/md_export_internal.h"
#include "models/md_run.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/gs_h5.h"

int md_export_path(const md_export_ctx *x, const char *name, char *buf, size_t n)
{
    int w = snprintf(buf, n, "%s/%s", x->dir, name);
    if (w < 0 || (size_t)w >= n)
        return gs_error(GS_ERR_ARG, "export: path %s/%s too long", x->dir, name);
    return GS_OK;
}

void md_export_done(md_export_ctx *x, const char *path, const char *what)
{
    if (x->n < MD_EXPORT_MAX_FILES)
        snprintf(x->paths[x->n++], sizeof x->paths[0], "%s", path);
    if (x->opts->on_file)
        x->opts->on_file(x->opts->ud, path, what);
}

int md_export_graph(md_export_ctx *x, const ox_graph *g, const char *name, const char *what)
{
    char path[4096];
    if (x->n >= MD_EXPORT_MAX_FILES)
        return gs_error(GS_ERR_ARG, "export: more than %d files", MD_EXPORT_MAX_FILES);
    int rc = md_export_path(x, name, path, sizeof path);
    if (!rc)
        rc = ox_write(g, path);
    if (!rc)
        md_export_done(x, path, what);
    return rc;
}

FILE *md_export_open(md_export_ctx *x, const char *name, char *tmp, size_t ntmp, char *path,
                     size_t npath)
{
    if (x->n >= MD_EXPORT_MAX_FILES) {
        gs_error(GS_ERR_ARG, "export: more than %d files", MD_EXPORT_MAX_FILES);
        return NULL;
    }
    if (md_export_path(x, name, path, npath) || gs_tmp_path(tmp, ntmp, path))
        return NULL;
    FILE *f = fopen(tmp, "w");
    if (!f)
        gs_error(GS_ERR_IO, "%s: cannot create (%s)", tmp, strerror(errno));
    return f;
}

int md_export_close(md_export_ctx *x, FILE *f, const char *tmp, const char *path,
                    const char *what)
{
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        gs_discard(tmp);
        return gs_error(GS_ERR_IO, "%s: write failed", path);
    }
    int rc = gs_commit(tmp, path);
    if (!rc)
        md_export_done(x, path, what);
    return rc;
}

void md_export_warn(md_export_ctx *x, const char *fmt, ...)
{
    char *w = x->opts->warnings;
    size_t used = strlen(w), cap = sizeof x->opts->warnings;
    if (used + 2 >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w + used, cap - used - 1, fmt, ap);
    va_end(ap);
    used = strlen(w);
    w[used] = '\n';
    w[used + 1] = '\0';
}

void md_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

int md_export(const char *model, const char *dir, md_export_opts *opts)
{
    md_export_opts none = {0};
    if (!opts)
        opts = &none;
    opts->warnings[0] = '\0';
    if (!model || !dir || !*dir)
        return gs_error(GS_ERR_ARG, "export: need a model file and an output directory");
    if (opts->format && strcmp(opts->format, "onnx") != 0)
        return gs_error(GS_ERR_ARG, "export: unknown format '%s' (known: onnx)", opts->format);
    /* the kind decides the exporter (the registry); read it before creating anything */
    const md_kind *k;
    int rc = md_kind_of_file(model, &k);
    if (rc)
        return rc;
    if (!k->export_onnx)
        return gs_error(GS_ERR_FORMAT, "%s: a %s model cannot be exported to onnx", model,
                        k->file_kind);
    /* an interrupted run's model is not passed on as finished */
    md_model *mm;
    if ((rc = md_model_open_ex(model, opts->allow_partial ? MD_OPEN_ALLOW_PARTIAL : 0, &mm)))
        return rc;
    char notes[sizeof md_model_status_of(mm)->notes];
    snprintf(notes, sizeof notes, "%s", md_model_status_of(mm)->notes);
    md_model_close(mm);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return gs_error(GS_ERR_IO, "%s: cannot create directory (%s)", dir, strerror(errno));
    md_export_ctx *x = calloc(1, sizeof *x);
    if (!x)
        return gs_error(GS_ERR_NOMEM, "export: out of memory");
    x->dir = dir;
    x->opts = opts;
    for (char *q = notes, *nl; *q; q = nl + 1) {
        if ((nl = strchr(q, '\n')))
            *nl = '\0';
        md_export_warn(x, "%s: %s", model, q);
        if (!nl)
            break;
    }
    rc = k->export_onnx(x, model);
    if (rc) /* nothing half-written: a failed export leaves none of its files */
        for (int i = 0; i < x->n; i++)
            unlink(x->paths[i]);
    free(x);
    return rc;
}
