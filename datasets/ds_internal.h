/* Shared by the dataset readers (not installed). */
#ifndef DS_INTERNAL_H
#define DS_INTERNAL_H

#include "datasets/ds.h"

/* Renames names[0..n) in place by a mapping "NEW=OLD,NEW=OLD,..." (see
 * ds_read_opts.columns); `path` names the file in messages. */
int ds_map_columns(char **names, int64_t n, const char *spec, const char *path);
/* Applies opts->units and opts->particles_per_bx to a table just read
 * (a file stating other values is refused). */
int ds_apply_import_opts(ds_events *ev, const ds_read_opts *opts, const char *path);
/* "a,b,c" of n names into buf (cut with "..." when long), for messages. */
const char *ds_names_list(char *const *names, int64_t n, char *buf, size_t size);

#endif
