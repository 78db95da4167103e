/* Shared pieces of the per-kind exporters (md_export_*.c). Not installed. */
#ifndef MD_EXPORT_INTERNAL_H
#define MD_EXPORT_INTERNAL_H

#include <stdio.h>

#include "models/md_export.h"
#include "onnx/ox.h"

#define MD_EXPORT_MAX_FILES 80

/* The files of one export, so that a failure removes them all. */
typedef struct md_export_ctx md_export_ctx;
struct md_export_ctx {
    const char *dir;
    md_export_opts *opts;
    int n;
    char paths[MD_EXPORT_MAX_FILES][4096];
};

/* dir/name into buf (GS_ERR_ARG when too long). */
int md_export_path(const md_export_ctx *x, const char *name, char *buf, size_t n);
/* Records a written file and tells the caller's on_file. */
void md_export_done(md_export_ctx *x, const char *path, const char *what);
/* Writes a graph to dir/name and records it. */
int md_export_graph(md_export_ctx *x, const ox_graph *g, const char *name, const char *what);
/* A text file written through a temporary: open, (caller writes), close. */
FILE *md_export_open(md_export_ctx *x, const char *name, char *tmp, size_t ntmp, char *path,
                     size_t npath);
int md_export_close(md_export_ctx *x, FILE *f, const char *tmp, const char *path,
                    const char *what);
/* Appends a warning line to opts->warnings. */
void md_export_warn(md_export_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* JSON string (escaped, quoted). */
void md_json_str(FILE *f, const char *s);

int md_export_zdc(md_export_ctx *x, const char *model);
int md_export_luxe(md_export_ctx *x, const char *model);

#endif
