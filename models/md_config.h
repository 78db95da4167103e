/* md_config — table-driven model configuration.
 *
 * Each model describes its config struct with a table of fields (key, type,
 * offset, range, help). The same table parses INI files (through libinih;
 * "[train]\nbatch = 256" is the key "train.batch"), applies `--set
 * key=value` overrides, validates ranges, prints the documented defaults for
 * --help, and serialises the config into checkpoints, so every key is
 * settable everywhere and unknown keys are always an error. */
#ifndef MD_CONFIG_H
#define MD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MD_IVEC_MAX 16
#define MD_STR_MAX 256

typedef struct {
    int n;
    int64_t v[MD_IVEC_MAX];
} md_ivec;

typedef enum {
    MD_CFG_INT,     /* int64_t */
    MD_CFG_FLOAT,   /* double */
    MD_CFG_BOOL,    /* int: true/false/1/0/yes/no/on/off */
    MD_CFG_STR,     /* char[MD_STR_MAX] */
    MD_CFG_ENUM,    /* int: index into the comma-separated `choices` */
    MD_CFG_IVEC     /* md_ivec: comma-separated integers */
} md_cfg_type;

typedef struct {
    const char *key;
    md_cfg_type type;
    size_t offset;
    double lo, hi;          /* inclusive range for INT, FLOAT and IVEC elements */
    const char *choices;    /* ENUM: "a,b,c" */
    const char *help;
} md_cfg_field;

/* Table terminator: {NULL} */
int md_cfg_set(const md_cfg_field *tab, void *obj, const char *key, const char *value);
/* "key=value" */
int md_cfg_set_kv(const md_cfg_field *tab, void *obj, const char *kv);
int md_cfg_load_ini(const md_cfg_field *tab, void *obj, const char *path);
/* The same on INI text in memory; `name` stands in for the file in messages. */
int md_cfg_load_ini_string(const md_cfg_field *tab, void *obj, const char *text,
                           const char *name);
/* "key = value\n" for every field; malloc'd, NULL on allocation failure. */
char *md_cfg_dump(const md_cfg_field *tab, const void *obj);
/* Parses a dump back (used when loading a checkpoint). */
int md_cfg_parse_dump(const md_cfg_field *tab, void *obj, const char *text);
/* Documentation of every key with its default (obj holds defaults). */
void md_cfg_print_help(const md_cfg_field *tab, const void *obj, FILE *out);

#endif
