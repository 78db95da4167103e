#include "models/md_config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/gs_core.h"

static const md_cfg_field *find(const md_cfg_field *tab, const char *key)
{
    for (; tab->key; tab++)
        if (strcmp(tab->key, key) == 0)
            return tab;
    return NULL;
}

/* integers, also as exact scientific notation (train.iters=1e5) */
static int parse_int(const char *s, int64_t *v) { return gs_parse_i64(s, v); }

static int choice_index(const char *choices, const char *s)
{
    int i = 0;
    const char *p = choices;
    size_t len = strlen(s);
    while (*p) {
        const char *q = strchr(p, ',');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        if (n == len && strncmp(p, s, n) == 0)
            return i;
        i++;
        p = q ? q + 1 : p + n;
    }
    return -1;
}

int md_cfg_set(const md_cfg_field *tab, void *obj, const char *key, const char *value)
{
    const md_cfg_field *f = find(tab, key);
    if (!f)
        return gs_error(GS_ERR_ARG, "unknown config key '%s'", key);
    char *dst = (char *)obj + f->offset;
    switch (f->type) {
    case MD_CFG_INT: {
        int64_t v;
        if (parse_int(value, &v))
            return gs_error(GS_ERR_ARG, "%s: '%s' is not an integer", key, value);
        if (v < f->lo || v > f->hi)
            return gs_error(GS_ERR_ARG, "%s: %lld is outside [%.0f, %.0f]", key, (long long)v,
                            f->lo, f->hi); /* integer bounds: no exponent (1.04858e+06) */
        *(int64_t *)dst = v;
        return GS_OK;
    }
    case MD_CFG_FLOAT: {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        while (isspace((unsigned char)*end))
            end++;
        if (end == value || *end || errno || !isfinite(v))
            return gs_error(GS_ERR_ARG, "%s: '%s' is not a finite number", key, value);
        if (v < f->lo || v > f->hi)
            return gs_error(GS_ERR_ARG, "%s: %g is outside [%g, %g]", key, v, f->lo, f->hi);
        *(double *)dst = v;
        return GS_OK;
    }
    case MD_CFG_BOOL: {
        static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off"};
        for (int i = 0; i < 4; i++) {
            if (strcasecmp(value, yes[i]) == 0) {
                *(int *)dst = 1;
                return GS_OK;
            }
            if (strcasecmp(value, no[i]) == 0) {
                *(int *)dst = 0;
                return GS_OK;
            }
        }
        return gs_error(GS_ERR_ARG, "%s: '%s' is not a boolean (true/false)", key, value);
    }
    case MD_CFG_STR:
        if (strlen(value) >= MD_STR_MAX)
            return gs_error(GS_ERR_ARG, "%s: value longer than %d characters", key, MD_STR_MAX - 1);
        strcpy(dst, value);
        return GS_OK;
    case MD_CFG_ENUM: {
        int i = choice_index(f->choices, value);
        if (i < 0)
            return gs_error(GS_ERR_ARG, "%s: '%s' is not one of %s", key, value, f->choices);
        *(int *)dst = i;
        return GS_OK;
    }
    case MD_CFG_IVEC: {
        md_ivec v = {0};
        const char *p = value;
        while (*p) {
            char item[64];
            const char *q = strchr(p, ',');
            size_t n = q ? (size_t)(q - p) : strlen(p);
            if (n == 0 || n >= sizeof item || v.n == MD_IVEC_MAX)
                return gs_error(GS_ERR_ARG, "%s: '%s' is not a list of at most %d integers", key,
                                value, MD_IVEC_MAX);
            memcpy(item, p, n);
            item[n] = '\0';
            int64_t x;
            if (parse_int(item, &x) || x < f->lo || x > f->hi)
                return gs_error(GS_ERR_ARG, "%s: element '%s' is not an integer in [%g, %g]", key,
                                item, f->lo, f->hi);
            v.v[v.n++] = x;
            p = q ? q + 1 : p + n;
        }
        if (v.n == 0)
            return gs_error(GS_ERR_ARG, "%s: empty list", key);
        *(md_ivec *)dst = v;
        return GS_OK;
    }
    }
    return gs_error(GS_ERR_ARG, "%s: bad field type", key);
}

int md_cfg_set_kv(const md_cfg_field *tab, void *obj, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return gs_error(GS_ERR_ARG, "'%s' is not key=value", kv);
    char key[128];
    size_t n = (size_t)(eq - kv);
    if (n >= sizeof key)
        return gs_error(GS_ERR_ARG, "config key too long in '%s'", kv);
    memcpy(key, kv, n);
    key[n] = '\0';
    return md_cfg_set(tab, obj, key, eq + 1);
}

/* Where libinih reads from: our own reader counts lines so that an error
 * from the handler can be told apart from (and ordered against) a syntax
 * error, which libinih reports only as "the first bad line". */
typedef struct {
    FILE *fp;          /* a file, or */
    const char *text;  /* the rest of an in-memory string */
    int line;          /* lines handed to libinih so far (its own line count) */
} ini_src;

static char *ini_read(char *buf, int size, void *stream)
{
    ini_src *src = stream;
    char *r = NULL;
    if (src->fp) {
        r = fgets(buf, size, src->fp);
    } else if (*src->text && size > 1) {
        int n = 0;
        while (n < size - 1 && src->text[n] && src->text[n] != '\n')
            n++;
        if (n < size - 1 && src->text[n] == '\n')
            n++;
        memcpy(buf, src->text, (size_t)n);
        buf[n] = '\0';
        src->text += n;
        r = buf;
    }
    if (r)
        src->line++;
    return r;
}

typedef struct {
    const md_cfg_field *tab;
    void *obj;
    const ini_src *src;
    int rc, line;       /* the first handler error and its line */
    char msg[512];
} ini_state;

static int ini_cb(void *user, const char *section, const char *name, const char *value)
{
    ini_state *st = user;
    char key[256];
    int n = section && *section ? snprintf(key, sizeof key, "%s.%s", section, name)
                                : snprintf(key, sizeof key, "%s", name);
    /* a cut key could silently name a different, valid key */
    int rc = n < 0 || (size_t)n >= sizeof key
                 ? gs_error(GS_ERR_ARG, "config key '%.40s...' is too long", key)
                 : md_cfg_set(st->tab, st->obj, key, value);
    if (rc && !st->rc) {
        st->rc = rc;
        st->line = st->src->line;
        snprintf(st->msg, sizeof st->msg, "%s", gs_errmsg());
    }
    return rc == GS_OK;
}

static int ini_run(ini_src *src, const md_cfg_field *tab, void *obj, const char *path)
{
    ini_state st = {.tab = tab, .obj = obj, .src = src};
    int r = ini_parse_stream(ini_read, src, ini_cb, &st);
    if (r == -1)
        return gs_error(GS_ERR_IO, "%s: cannot open config file", path);
    if (r == -2)
        return gs_error(GS_ERR_NOMEM, "%s: out of memory while parsing", path);
    /* r is the first bad line, whichever kind of error it was */
    if (r > 0 && (!st.rc || r < st.line))
        return gs_error(GS_ERR_ARG, "%s:%d: syntax error", path, r);
    if (st.rc)
        return gs_error(st.rc, "%s:%d: %s", path, st.line, st.msg);
    return GS_OK;
}

int md_cfg_load_ini(const md_cfg_field *tab, void *obj, const char *path)
{
    /* fopen() succeeds on a directory and reading it then looks like an
     * empty file, so check for a regular file first */
    FILE *fp = fopen(path, "r");
    if (!fp)
        return gs_error(GS_ERR_IO, "%s: cannot open config file: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(fp);
        return gs_error(GS_ERR_IO, "%s: config is not a regular file", path);
    }
    ini_src src = {.fp = fp};
    int rc = ini_run(&src, tab, obj, path);
    if (!rc && ferror(fp))
        rc = gs_error(GS_ERR_IO, "%s: read error", path);
    fclose(fp);
    return rc;
}

int md_cfg_load_ini_string(const md_cfg_field *tab, void *obj, const char *text,
                           const char *name)
{
    ini_src src = {.text = text ? text : ""};
    return ini_run(&src, tab, obj, name);
}

static int format_value(const md_cfg_field *f, const void *obj, char *buf, size_t n)
{
    const char *src = (const char *)obj + f->offset;
    switch (f->type) {
    case MD_CFG_INT: return snprintf(buf, n, "%lld", (long long)*(const int64_t *)src);
    case MD_CFG_FLOAT: {
        /* shortest of %.15g / %.17g that reads back exactly: 0.2, not 0.20000000000000001 */
        double v = *(const double *)src;
        int len = snprintf(buf, n, "%.15g", v);
        if (strtod(buf, NULL) != v)
            len = snprintf(buf, n, "%.17g", v);
        return len;
    }
    case MD_CFG_BOOL: return snprintf(buf, n, "%s", *(const int *)src ? "true" : "false");
    case MD_CFG_STR: return snprintf(buf, n, "%s", src);
    case MD_CFG_ENUM: {
        int idx = *(const int *)src, i = 0;
        const char *p = f->choices;
        while (i < idx && p && (p = strchr(p, ',')))
            p++, i++;
        size_t len = p ? strcspn(p, ",") : 0;
        return snprintf(buf, n, "%.*s", (int)len, p ? p : "");
    }
    case MD_CFG_IVEC: {
        const md_ivec *v = (const md_ivec *)src;
        size_t used = 0;
        buf[0] = '\0';
        for (int i = 0; i < v->n && used < n; i++)
            used += (size_t)snprintf(buf + used, n - used, i ? ",%lld" : "%lld",
                                     (long long)v->v[i]);
        return (int)used;
    }
    }
    return 0;
}

char *md_cfg_dump(const md_cfg_field *tab, const void *obj)
{
    size_t cap = 4096, used = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    out[0] = '\0';
    for (; tab->key; tab++) {
        char val[MD_STR_MAX + 64];
        format_value(tab, obj, val, sizeof val);
        size_t need = strlen(tab->key) + strlen(val) + 5;
        if (used + need >= cap) {
            cap = 2 * cap + need;
            char *o2 = realloc(out, cap);
            if (!o2) {
                free(out);
                return NULL;
            }
            out = o2;
        }
        used += (size_t)snprintf(out + used, cap - used, "%s = %s\n", tab->key, val);
    }
    return out;
}

int md_cfg_parse_dump(const md_cfg_field *tab, void *obj, const char *text)
{
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char line[MD_STR_MAX + 160];
        if (n >= sizeof line)
            return gs_error(GS_ERR_FORMAT, "config line too long");
        memcpy(line, p, n);
        line[n] = '\0';
        char *eq = strstr(line, " = ");
        if (eq) {
            *eq = '\0';
            /* keys a newer gansim wrote are refused like any unknown key */
            int rc = md_cfg_set(tab, obj, line, eq + 3);
            if (rc)
                return rc;
        }
        p = nl ? nl + 1 : p + n;
    }
    return GS_OK;
}

void md_cfg_print_help(const md_cfg_field *tab, const void *obj, FILE *out)
{
    for (; tab->key; tab++) {
        char val[MD_STR_MAX + 64];
        format_value(tab, obj, val, sizeof val);
        fprintf(out, "  %-24s %-14s %s", tab->key, val, tab->help ? tab->help : "");
        if (tab->type == MD_CFG_ENUM)
            fprintf(out, " (%s)", tab->choices);
        fputc('\n', out);
    }
}
