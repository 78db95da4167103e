/* LUXE feature space and sub-model planning (md_luxe_internal.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/md_luxe_internal.h"

static int64_t col_index(char *const *cols, int64_t f, const char *name)
{
    for (int64_t i = 0; i < f; i++)
        if (strcmp(cols[i], name) == 0)
            return i;
    return -1;
}

void md_luxe_fspace_free(md_luxe_fspace *s)
{
    gs_h5_free_strv(s->columns, s->f);
    gs_h5_free_strv(s->mcolumns, s->f);
    gs_h5_free_strv(s->log_names, s->n_log);
    memset(s, 0, sizeof *s);
}

void md_luxe_subspace_init(md_luxe_subspace *ss, const md_luxe_fspace *fs, const pp_frame *fr)
{
    memset(ss, 0, sizeof *ss);
    ss->frame = *fr;
    const int64_t at[4] = {fs->fcols.x, fs->fcols.y, fs->fcols.px, fs->fcols.py};
    for (int64_t i = 0; i < fs->f; i++)
        ss->mname[i] = fs->mcolumns[i];
    for (int k = 0; k < 4; k++)
        if (at[k] >= 0 && pp_frame_name(fr, k))
            ss->mname[at[k]] = pp_frame_name(fr, k);
    for (int64_t i = 0; i < fs->f; i++)
        for (int64_t k = 0; k < fs->n_log; k++)
            if (!strcmp(ss->mname[i], fs->log_names[k]))
                ss->log_col[i] = 1;
}

int md_luxe_fspace_init(md_luxe_fspace *s, const md_luxe_cfg *cfg, char *const *columns,
                        int64_t f)
{
    memset(s, 0, sizeof *s);
    if (f < 1 || f > 64)
        return gs_error(GS_ERR_ARG, "luxe: %lld features (1..64 supported)", (long long)f);
    s->f = f;
    s->columns = calloc((size_t)f, sizeof *s->columns);
    s->mcolumns = calloc((size_t)f, sizeof *s->mcolumns);
    if (!s->columns || !s->mcolumns)
        return gs_error(GS_ERR_NOMEM, "luxe: out of memory");
    for (int64_t i = 0; i < f; i++) {
        s->columns[i] = strdup(columns[i]);
        s->mcolumns[i] = strdup(columns[i]);
        if (!s->columns[i] || !s->mcolumns[i])
            return gs_error(GS_ERR_NOMEM, "luxe: out of memory");
    }
    s->ix = col_index(s->columns, f, "x");
    s->iy = col_index(s->columns, f, "y");
    const int frames = cfg->position != 1; /* region frames own x and y (region, hole, disc) */
    s->cyl = (pp_cyl_cols){frames ? -1 : s->ix, frames ? -1 : s->iy,
                           col_index(s->columns, f, "px"), col_index(s->columns, f, "py"),
                           col_index(s->columns, f, "pz")};
    s->fcols = (pp_frame_cols){s->ix, s->iy, s->cyl.px, s->cyl.py};
    s->cylindrical = cfg->coords == 1;
    if (cfg->coords == 2 && (!frames || s->cyl.px < 0 || s->cyl.py < 0))
        return gs_error(GS_ERR_ARG, "luxe: data.coords=local needs data.position=region (or hole, disc) and "
                                    "columns px, py");
    if (s->cylindrical) {
        if (s->ix < 0 || s->iy < 0 || s->cyl.px < 0 || s->cyl.py < 0 || s->cyl.pz < 0) {
            char *have = gs_h5_join_csv(s->columns, f);
            gs_error(GS_ERR_ARG, "luxe: data.coords=cylindrical (the default) needs columns "
                     "x,y,px,py,pz; the data has %s (rename them with --columns x=X,..., or "
                     "train other columns with --set data.coords=cartesian --set "
                     "data.log_features=...)", have ? have : "?");
            free(have);
            return GS_ERR_ARG;
        }
        const struct { int64_t i; const char *n; } ren[] = {{s->cyl.x, "r"}, {s->cyl.y, "phi"},
            {s->cyl.px, "p"}, {s->cyl.py, "theta"}, {s->cyl.pz, "phi_p"}};
        for (int k = 0; k < 5; k++) {
            if (ren[k].i < 0)
                continue;
            free(s->mcolumns[ren[k].i]);
            if (!(s->mcolumns[ren[k].i] = strdup(ren[k].n)))
                return gs_error(GS_ERR_NOMEM, "luxe: out of memory");
        }
    }
    if (s->ix < 0 || s->iy < 0)
        s->fcols.x = s->fcols.y = -1;
    if (cfg->log_features[0]) {
        int rc = gs_h5_split_csv(cfg->log_features, &s->log_names, &s->n_log);
        if (rc)
            return rc;
        /* every name must be a model-space feature of some frame */
        for (int64_t k = 0; k < s->n_log; k++) {
            const char *nm = s->log_names[k];
            int known = col_index(s->mcolumns, f, nm) >= 0;
            if (frames && s->ix >= 0 && s->iy >= 0)
                known |= !strcmp(nm, "r") || !strcmp(nm, "phi") ||
                         (cfg->coords == 2 && (!strcmp(nm, "p_r") || !strcmp(nm, "p_phi")));
            if (!known) {
                char *have = gs_h5_join_csv(s->mcolumns, f);
                gs_error(GS_ERR_ARG, "luxe: data.log_features names '%s', not a model-space "
                         "feature (they are %s%s; rename the data's columns with --columns, or "
                         "set data.log_features)", nm, have ? have : "?",
                         frames ? ", and r, phi in ring regions" : "");
                free(have);
                return GS_ERR_ARG;
            }
        }
    }
    return GS_OK;
}

int md_luxe_to_model_space(const md_luxe_fspace *s, const md_luxe_subspace *ss, float *t,
                           int64_t n, const char *what)
{
    if (s->fcols.x >= 0)
        pp_frame_forward(&ss->frame, &s->fcols, t, n, s->f);
    if (s->cylindrical)
        pp_to_cylindrical(t, n, s->f, &s->cyl);
    for (int64_t i = 0; i < s->f; i++) {
        if (!ss->log_col[i])
            continue;
        int64_t bad = pp_log_column(t, n, s->f, i, 0.0);
        if (bad)
            return gs_error(GS_ERR_ARG,
                            "luxe: %s: feature '%s' has %lld values <= 0 and cannot be "
                            "log-transformed (remove it from data.log_features)",
                            what, ss->mname[i], (long long)bad);
    }
    return GS_OK;
}

void md_luxe_from_model_space(const md_luxe_fspace *s, const md_luxe_subspace *ss, float *t,
                              int64_t n)
{
    for (int64_t i = 0; i < s->f; i++)
        if (ss->log_col[i])
            pp_exp_column(t, n, s->f, i, 0.0);
    if (s->cylindrical)
        pp_from_cylindrical(t, n, s->f, &s->cyl);
    if (s->fcols.x >= 0)
        pp_frame_inverse(&ss->frame, &s->fcols, t, n, s->f);
}

int md_luxe_regions_init(md_luxe_regions *r, const md_luxe_cfg *cfg)
{
    memset(r, 0, sizeof *r);
    if (cfg->region_mode == 0) {
        r->n_regions = 1;
        strcpy(r->region_names[0], "all");
        r->frame[0] = (pp_frame){.kind = PP_FRAME_POLAR, .r_lo = 0, .r_hi = INFINITY};
        return GS_OK;
    }
    char **items;
    int64_t n;
    const char *src = cfg->region_mode == 1 ? cfg->radii : cfg->rects;
    char *copy = strdup(src);
    if (!copy)
        return gs_error(GS_ERR_NOMEM, "luxe: out of memory");
    if (cfg->region_mode == 2) /* rectangles are ';'-separated, their bounds ','-separated */
        for (char *p = copy; *p; p++) {
            if (*p == ',')
                *p = '&';
            else if (*p == ';')
                *p = ',';
        }
    int rc = gs_h5_split_csv(copy, &items, &n);
    free(copy);
    if (rc)
        return rc;
    if (n < 1 || n >= MD_LUXE_MAX_SUB / 2) {
        gs_h5_free_strv(items, n);
        return gs_error(GS_ERR_ARG, "luxe: %s: need 1..%d regions", cfg->region_mode == 1 ?
                        "split.radii" : "split.rects", MD_LUXE_MAX_SUB / 2 - 1);
    }
    for (int64_t i = 0; i < n && !rc; i++) {
        if (cfg->region_mode == 1) {
            char *end;
            double v = strtod(items[i], &end);
            if (*end || !(v > 0) || (i > 0 && v <= r->radii[i - 1]))
                rc = gs_error(GS_ERR_ARG, "split.radii: '%s' is not an increasing list of "
                                          "positive radii", cfg->radii);
            r->radii[r->nradii++] = v;
        } else {
            for (char *p = items[i]; *p; p++)
                if (*p == '&')
                    *p = ',';
            if (pp_rect_parse(items[i], &r->rects[r->nrect++]))
                rc = gs_error(GS_ERR_ARG, "split.rects: cannot parse '%s'", items[i]);
        }
    }
    gs_h5_free_strv(items, n);
    if (rc)
        return rc;
    if (cfg->region_mode == 1) {
        r->n_regions = (int)n + 1;
        for (int i = 0; i < r->n_regions; i++) {
            if (r->n_regions == 2)
                strcpy(r->region_names[i], i == 0 ? "inner" : "outer");
            else
                snprintf(r->region_names[i], sizeof r->region_names[i], "ring%d", i);
            r->frame[i] = (pp_frame){.kind = PP_FRAME_POLAR, .r_lo = i ? r->radii[i - 1] : 0,
                                     .r_hi = i < r->nradii ? r->radii[i] : INFINITY};
        }
    } else {
        /* a region that is not one rectangle (the rest, or a rectangle that an
         * earlier one overlaps) is trained in rectangular pieces, so that
         * every sub-model's region is a box in x, y */
        int np = 0;
        int prc = pp_rect_pieces(r->rects, r->nrect, r->pieces, r->piece_of, MD_LUXE_MAX_SUB / 2, &np);
        if (prc)
            return gs_error_wrap(prc, "split.rects");
        r->n_regions = np;
        for (int i = 0; i < np; i++) {
            int same = 0, idx = 0;
            for (int j = 0; j < np; j++) {
                same += r->piece_of[j] == r->piece_of[i];
                idx += j < i && r->piece_of[j] == r->piece_of[i];
            }
            char base[16];
            if (r->piece_of[i] < r->nrect)
                snprintf(base, sizeof base, "rect%d", (int)r->piece_of[i]);
            else
                snprintf(base, sizeof base, "rest");
            if (same > 1)
                snprintf(r->region_names[i], sizeof r->region_names[i], "%s_%d", base, idx);
            else
                snprintf(r->region_names[i], sizeof r->region_names[i], "%s", base);
            r->frame[i] = (pp_frame){.kind = PP_FRAME_BOX, .box = r->pieces[i]};
        }
    }
    return GS_OK;
}

static const char *species_name(int32_t pdg)
{
    switch (pdg) {
    case 2112: return "n";
    case 22: return "gamma";
    case 11: return "e-";
    case -11: return "e+";
    case 2212: return "p";
    default: return NULL;
    }
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int md_luxe_plan_subs(const md_luxe_cfg *cfg, const ds_events *ev, const md_luxe_fspace *fs,
                      const md_luxe_regions *rg, md_luxe_plan *plan, int *n_plan, char *notes,
                      size_t nnotes)
{
    const int64_t n = ev->n;
    *n_plan = 0;
    notes[0] = '\0';
    if (n < 1)
        return gs_error(GS_ERR_ARG, "luxe: no events");
    if (cfg->region_mode != 0 && (fs->ix < 0 || fs->iy < 0)) {
        char *have = gs_h5_join_csv(fs->columns, fs->f);
        gs_error(GS_ERR_ARG, "luxe: a region split (split.regions) needs columns x and y; the "
                 "data has %s (rename them with --columns x=X,y=Y, or split.regions=none)",
                 have ? have : "?");
        free(have);
        return GS_ERR_ARG;
    }
    /* distinct species, sorted, with their counts */
    int32_t codes[MD_LUXE_MAX_CODES];
    int64_t counts[MD_LUXE_MAX_CODES] = {0};
    int ncodes = 0;
    for (int64_t i = 0; i < n && ev->pdg; i++) {
        int k = 0;
        while (k < ncodes && codes[k] != ev->pdg[i])
            k++;
        if (k == ncodes) {
            if (ncodes == MD_LUXE_MAX_CODES)
                return gs_error(GS_ERR_ARG, "luxe: more than %d distinct species", MD_LUXE_MAX_CODES);
            codes[ncodes++] = ev->pdg[i];
        }
    }
    qsort(codes, (size_t)ncodes, sizeof *codes, cmp_i32);
    int32_t *cell = malloc((size_t)n * sizeof *cell);
    uint8_t *code_of = malloc((size_t)n);
    if (!cell || !code_of) {
        free(cell);
        free(code_of);
        return gs_error(GS_ERR_NOMEM, "luxe: out of memory");
    }
    for (int64_t i = 0; i < n && ev->pdg; i++) {
        const int32_t *hit = bsearch(&ev->pdg[i], codes, (size_t)ncodes, sizeof *codes, cmp_i32);
        code_of[i] = (uint8_t)(hit - codes);
        counts[code_of[i]]++;
    }
    /* species group of each code: its own, or the shared "other" group */
    int group_of[MD_LUXE_MAX_CODES] = {0}, n_groups = 0, other = -1;
    char gname[MD_LUXE_MAX_CODES + 1][24];
    for (int k = 0; k < ncodes; k++) {
        if (cfg->split_species && counts[k] >= cfg->min_species_rows) {
            const char *sn = species_name(codes[k]);
            if (sn)
                snprintf(gname[n_groups], sizeof gname[0], "%s", sn);
            else
                snprintf(gname[n_groups], sizeof gname[0], "pdg%d", codes[k]);
            group_of[k] = n_groups++;
        } else {
            if (other < 0) {
                other = n_groups++;
                strcpy(gname[other], cfg->split_species ? "other" : "all");
            }
            group_of[k] = other;
        }
    }
    if (!ev->pdg) {
        n_groups = 1;
        strcpy(gname[0], "all");
    }
    /* cell of each row, and rows per cell */
    const int n_cells = rg->n_regions * n_groups;
    int64_t *cell_rows = calloc((size_t)n_cells, sizeof *cell_rows);
    if (!cell_rows) {
        free(cell);
        free(code_of);
        return gs_error(GS_ERR_NOMEM, "luxe: out of memory");
    }
    if (cfg->region_mode == 1)
        pp_label_radius(ev->x, n, ev->f, fs->ix, fs->iy, rg->radii, rg->nradii, cell);
    else if (cfg->region_mode == 2)
        pp_label_pieces(ev->x, n, ev->f, fs->ix, fs->iy, rg->rects, rg->nrect, rg->pieces,
                        rg->piece_of, rg->n_regions, cell);
    else
        memset(cell, 0, (size_t)n * sizeof *cell);
    for (int64_t i = 0; i < n; i++) {
        cell[i] = cell[i] * n_groups + (ev->pdg ? group_of[code_of[i]] : 0);
        cell_rows[cell[i]]++;
    }
    int rc = GS_OK;
    int sub_of_cell[MD_LUXE_MAX_SUB * MD_LUXE_MAX_CODES];
    for (int cidx = 0; cidx < n_cells; cidx++) {
        const int r = cidx / n_groups, g = cidx % n_groups;
        sub_of_cell[cidx] = -1;
        char name[64];
        if (rg->n_regions > 1 && n_groups > 1)
            snprintf(name, sizeof name, "%.31s.%.23s", rg->region_names[r], gname[g]);
        else
            snprintf(name, sizeof name, "%.31s", rg->n_regions > 1 ? rg->region_names[r] : gname[g]);
        if (cell_rows[cidx] == 0)
            continue;
        if (cell_rows[cidx] < cfg->min_rows) {
            size_t used = strlen(notes);
            snprintf(notes + used, nnotes - used,
                     "sub-model %s has %lld rows (< split.min_rows = %lld): not modelled\n", name,
                     (long long)cell_rows[cidx], (long long)cfg->min_rows);
            continue;
        }
        if (*n_plan == MD_LUXE_MAX_SUB) {
            rc = gs_error(GS_ERR_ARG, "luxe: more than %d sub-models", MD_LUXE_MAX_SUB);
            break;
        }
        md_luxe_plan *p = &plan[*n_plan];
        memset(p, 0, sizeof *p);
        snprintf(p->name, sizeof p->name, "%s", name);
        p->region = r;
        p->frame = rg->frame[r];
        if (cfg->position == 1)
            p->frame = (pp_frame){.kind = PP_FRAME_NONE};
        else if (cfg->position == 2 && p->frame.kind == PP_FRAME_POLAR && isinf(p->frame.r_hi))
            p->frame.kind = PP_FRAME_HOLE; /* no seam; (r, phi) only where r is bounded */
        else if (cfg->position == 3 && p->frame.kind == PP_FRAME_POLAR && p->frame.r_lo == 0 &&
                 isfinite(p->frame.r_hi))
            p->frame.kind = PP_FRAME_DISC; /* the core as a point, not a ring about r = 0 */
        p->frame.local_p = cfg->coords == 2;
        for (int k = 0; k < ncodes; k++)
            if (group_of[k] == g)
                p->codes[p->ncodes++] = codes[k];
        if (!(p->rows = malloc((size_t)cell_rows[cidx] * sizeof *p->rows))) {
            rc = gs_error(GS_ERR_NOMEM, "luxe: out of memory");
            break;
        }
        sub_of_cell[cidx] = (*n_plan)++;
    }
    /* one pass fills the rows, weights and species shares of every sub-model */
    double wcode[MD_LUXE_MAX_SUB][MD_LUXE_MAX_CODES];
    memset(wcode, 0, sizeof wcode);
    for (int64_t i = 0; i < n && !rc; i++) {
        int k = sub_of_cell[cell[i]];
        if (k < 0)
            continue;
        md_luxe_plan *p = &plan[k];
        double wi = ev->weights ? ev->weights[i] : 1.0;
        p->rows[p->n_rows++] = i;
        p->weight += wi;
        if (ev->pdg)
            for (int j = 0; j < p->ncodes; j++)
                if (p->codes[j] == ev->pdg[i])
                    wcode[k][j] += wi;
    }
    double wtot = 0;
    for (int k = 0; k < *n_plan; k++) {
        wtot += plan[k].weight;
        for (int j = 0; j < plan[k].ncodes; j++)
            plan[k].probs[j] = plan[k].weight > 0 ? wcode[k][j] / plan[k].weight : 0;
    }
    for (int k = 0; k < *n_plan; k++)
        plan[k].proportion = wtot > 0 ? plan[k].weight / wtot : 0;
    free(cell);
    free(code_of);
    free(cell_rows);
    if (!rc && *n_plan == 0)
        rc = gs_error(GS_ERR_ARG, "luxe: no sub-model has at least %lld rows",
                      (long long)cfg->min_rows);
    return rc;
}
