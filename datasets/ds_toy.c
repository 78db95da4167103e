/* Toy simulators standing in for Geant4 (docs/datasets.md). Every constant and
 * formula here is documented in docs/datasets.md; keep the two in step.
 * Single-threaded and sequential, so (n, seed) fixes the output bit for bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/ds.h"

#define C_MM_PER_NS 299.792458

/* ---- small samplers ------------------------------------------------------ */

/* dN/dE ∝ E^-a on [lo, hi], inverse CDF (a != 1). */
static double power_law(gs_rng *r, double a, double lo, double hi)
{
    double u = gs_rng_uniform(r), b = 1.0 - a;
    double l = pow(lo, b), h = pow(hi, b);
    return pow(l + u * (h - l), 1.0 / b);
}

static double log_uniform(gs_rng *r, double lo, double hi)
{
    return lo * exp(gs_rng_uniform(r) * log(hi / lo));
}

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ---- LUXE ----------------------------------------------------------------- */

enum { SP_N = 0, SP_G, SP_EM, SP_EP, SP_COUNT };

static const int32_t luxe_pdg[SP_COUNT] = {2112, 22, 11, -11};
static const double luxe_mass[SP_COUNT] = {0.93956542, 0.0, 0.00051099895, 0.00051099895};
/* abundances: neutrons 4x photons, e- and e+ rarer */
static const double luxe_frac[SP_COUNT] = {0.72, 0.18, 0.06, 0.04};
/* fraction of each species in the beam-axis core (the rest is halo) */
static const double luxe_core_frac[SP_COUNT] = {0.30, 0.55, 0.65, 0.65};
static const double luxe_core_sigma[SP_COUNT] = {60.0, 35.0, 25.0, 25.0};  /* mm */
static const double luxe_halo_scale[SP_COUNT] = {700.0, 450.0, 350.0, 350.0}; /* mm */
#define LUXE_HALO_X0 (-250.0)  /* mm: halo centre, off axis (asymmetric shielding) */
#define LUXE_R_MAX 3000.0      /* mm: halo radius cut */
#define LUXE_SRC_DEPTH 1500.0  /* mm: virtual source depth inside the dump */

/* Energy components (also chooses direction smear and timing classes). */
enum { EC_SLOW_N, EC_EVAP_N, EC_CASC_N, EC_G_CONT, EC_G_CAPT, EC_G_ANNI, EC_E_CONT,
       EC_E_COMPTON };

static int luxe_energy(gs_rng *r, int sp, double *t_kin)
{
    double u = gs_rng_uniform(r), t;
    int ec;
    switch (sp) {
    case SP_N:
        if (u < 0.25) { /* thermal/epithermal remnant, log-normal in T */
            ec = EC_SLOW_N;
            t = pow(10.0, -7.0 + 0.6 * gs_rng_normal(r));
        } else if (u < 0.80) { /* evaporation: T e^{-T/Θ}, Θ = 1.2 MeV */
            ec = EC_EVAP_N;
            t = 1.2e-3 * gs_rng_gamma(r, 2.0);
        } else { /* cascade tail */
            ec = EC_CASC_N;
            t = power_law(r, 1.8, 0.02, 1.0);
        }
        break;
    case SP_G:
        if (u < 0.08) { /* n capture on H, 2.223 MeV */
            ec = EC_G_CAPT;
            t = 2.2232e-3 * (1.0 + 0.005 * gs_rng_normal(r));
        } else if (u < 0.14) { /* e+ annihilation */
            ec = EC_G_ANNI;
            t = 0.511e-3 * (1.0 + 0.005 * gs_rng_normal(r));
        } else {
            ec = EC_G_CONT;
            t = power_law(r, 1.6, 2e-4, 1.0);
        }
        break;
    case SP_EM:
        if (u < 0.45) {
            ec = EC_E_COMPTON;
            t = pow(10.0, -3.0 + 0.35 * gs_rng_normal(r));
        } else {
            ec = EC_E_CONT;
            t = power_law(r, 1.3, 5e-4, 1.0);
        }
        break;
    default:
        ec = EC_E_CONT;
        t = power_law(r, 1.2, 1e-3, 1.0);
        break;
    }
    *t_kin = clampd(t, 1e-9, 1.5);
    return ec;
}

/* Direction smear (rad-like Gaussian on the unit vector) and the fraction
 * emitted isotropically (Lambert cosine law) per energy component. */
static void luxe_dir_params(int ec, double *sigma, double *lambert)
{
    switch (ec) {
    case EC_SLOW_N: *sigma = 0.0; *lambert = 1.0; break;
    case EC_EVAP_N: *sigma = 0.9; *lambert = 0.5; break;
    case EC_CASC_N: *sigma = 0.25; *lambert = 0.0; break;
    case EC_G_CONT: *sigma = 0.35; *lambert = 0.15; break;
    case EC_G_CAPT:
    case EC_G_ANNI: *sigma = 0.0; *lambert = 1.0; break;
    case EC_E_COMPTON: *sigma = 0.6; *lambert = 0.1; break;
    default: *sigma = 0.5; *lambert = 0.1; break;
    }
}

/* log10 of the emission delay in ns (added to the flight time). */
static double luxe_log_delay(gs_rng *r, int ec, double t_kin)
{
    double u = gs_rng_uniform(r);
    switch (ec) {
    case EC_SLOW_N:
    case EC_EVAP_N:
    case EC_CASC_N: {
        double lt = log10(t_kin);
        /* moderation: the slower the neutron, the later (≈ 1.1 decades of
         * delay per decade of energy below 1 MeV) */
        double m = lt < -3.0 ? 1.0 + 1.1 * (-3.0 - lt) : 1.0;
        return clampd(m + 0.4 * gs_rng_normal(r), 0.0, 8.0);
    }
    case EC_G_CAPT: return 3.0 + 3.5 * u; /* capture after thermalisation */
    default:
        if (u < 0.9)
            return 0.8 + 0.3 * gs_rng_normal(r);
        return 2.0 + 4.0 * gs_rng_uniform(r); /* delayed (activation, capture) */
    }
}

static void luxe_particle(gs_rng *r, float *row, int32_t *pdg, int *in_core)
{
    double u = gs_rng_uniform(r), acc = 0;
    int sp = SP_COUNT - 1;
    for (int s = 0; s < SP_COUNT; s++) {
        acc += luxe_frac[s];
        if (u < acc) {
            sp = s;
            break;
        }
    }
    /* position on the dump face */
    double x, y;
    *in_core = gs_rng_uniform(r) < luxe_core_frac[sp];
    if (*in_core) {
        x = luxe_core_sigma[sp] * gs_rng_normal(r);
        y = luxe_core_sigma[sp] * gs_rng_normal(r);
    } else {
        double rad;
        do
            rad = gs_rng_exponential(r, luxe_halo_scale[sp]);
        while (rad > LUXE_R_MAX);
        double ph = 2.0 * M_PI * gs_rng_uniform(r);
        x = LUXE_HALO_X0 + rad * cos(ph);
        y = rad * sin(ph);
    }
    double t_kin;
    int ec = luxe_energy(r, sp, &t_kin);
    double m = luxe_mass[sp];
    double p = sqrt(t_kin * (t_kin + 2.0 * m));
    /* direction: from a virtual source on the axis at depth L through (x, y),
     * smeared; a Lambert fraction is isotropic over the backward hemisphere */
    double sigma, lambert, dx, dy, dz;
    luxe_dir_params(ec, &sigma, &lambert);
    if (gs_rng_uniform(r) < lambert) {
        double ct = sqrt(gs_rng_uniform_pos(r)), st = sqrt(1.0 - ct * ct);
        double ph = 2.0 * M_PI * gs_rng_uniform(r);
        dx = st * cos(ph);
        dy = st * sin(ph);
        dz = -ct;
    } else {
        double d = sqrt(x * x + y * y + LUXE_SRC_DEPTH * LUXE_SRC_DEPTH);
        dx = x / d + sigma * gs_rng_normal(r);
        dy = y / d + sigma * gs_rng_normal(r);
        dz = -LUXE_SRC_DEPTH / d + sigma * gs_rng_normal(r);
        if (dz > 0)
            dz = -dz; /* only particles crossing the face backwards are recorded */
        if (dz > -1e-3)
            dz = -1e-3;
        double nrm = sqrt(dx * dx + dy * dy + dz * dz);
        dx /= nrm;
        dy /= nrm;
        dz /= nrm;
    }
    double e_tot = t_kin + m, beta = p / e_tot;
    double path = sqrt(x * x + y * y + LUXE_SRC_DEPTH * LUXE_SRC_DEPTH);
    double t = path / (beta * C_MM_PER_NS) + pow(10.0, luxe_log_delay(r, ec, t_kin));
    row[0] = (float)x;
    row[1] = (float)y;
    row[2] = (float)(p * dx);
    row[3] = (float)(p * dy);
    row[4] = (float)(p * dz);
    row[5] = (float)(t < 1e8 ? t : 1e8);
    *pdg = luxe_pdg[sp];
}

int ds_toy_luxe_ex(int64_t n, uint64_t seed, const ds_toy_opts *opts, ds_events *out)
{
    static const char *const cols[6] = {"x", "y", "px", "py", "pz", "t"};
    static const char *const units[6] = {"mm", "mm", "GeV", "GeV", "GeV", "ns"};
    memset(out, 0, sizeof *out);
    if (n < 1)
        return gs_error(GS_ERR_ARG, "luxe toy: n = %lld, need at least 1", (long long)n);
    int ww = opts && opts->with_weights;
    int rc = ds_events_alloc(out, n, 6, cols, units, 1, ww);
    if (rc)
        return rc;
    out->particles_per_bx = DS_LUXE_PARTICLES_PER_BX;
    gs_rng r, rw;
    gs_rng_seed(&r, seed);
    rw = gs_rng_split(&r); /* weights: own stream, particles unchanged by --weights */
    for (int64_t i = 0; i < n; i++) {
        int core;
        luxe_particle(&r, out->x + i * 6, out->pdg + i, &core);
        if (ww) {
            /* Geant4-biasing-like: splitting / Russian roulette leaves weights
             * 2^-k; the halo was oversampled, so it carries the small ones */
            int k = 0;
            double pk = core ? 0.1 : 0.5;
            while (k < 6 && gs_rng_uniform(&rw) < pk)
                k++;
            out->weights[i] = ldexpf(1.0f, -k);
        }
        if (opts && opts->progress && ((i + 1) % 65536 == 0 || i + 1 == n))
            opts->progress(opts->user, i + 1, n);
    }
    return GS_OK;
}

int ds_toy_luxe(int64_t n, uint64_t seed, ds_events *out)
{
    return ds_toy_luxe_ex(n, seed, NULL, out);
}

/* ---- ZDC ------------------------------------------------------------------ */

#define ZDC_PITCH 0.4       /* cm per pixel (56 x 30 -> 22.4 x 12 cm) */
#define ZDC_Z0 11250.0      /* cm from the nominal vertex to the ZDC face */
#define ZDC_KICK 2500.0     /* cm*GeV: magnetic deflection q*K/p in x */
#define ZDC_X_OFF (ZDC_KICK / 1300.0) /* detector centred on 1300 GeV q=+1 */
#define ZDC_THETA_SIGMA 3.5e-4        /* rad, tx and ty */
#define ZDC_PHOTONS_PER_GEV 0.6
#define ZDC_DUD_PROB 0.07   /* late start / punch-through: almost no light */
#define ZDC_LN_SIGMA 0.7    /* log-normal light-yield fluctuation */
#define ZDC_TOWER_EFF 0.9   /* (row + col) odd fibres: tower PMTs, less light */

typedef struct {
    double mass, charge, prob, yield;
} zdc_species;

static const zdc_species zdc_sp[] = {
    {0.93827209, 1.0, 0.70, 1.0},   /* p */
    {0.93956542, 0.0, 0.10, 1.0},   /* n */
    {0.13957039, 1.0, 0.08, 0.8},   /* pi+ */
    {0.13957039, -1.0, 0.06, 0.8},  /* pi- */
    {0.493677, 1.0, 0.03, 0.9},     /* K+ */
    {0.93827209, -1.0, 0.03, 1.0},  /* pbar */
};
#define ZDC_NSP ((int)(sizeof zdc_sp / sizeof zdc_sp[0]))

void ds_toy_zdc_condition(gs_rng *r, float cond[DS_ZDC_NCOND])
{
    double u = gs_rng_uniform(r), acc = 0;
    int s = ZDC_NSP - 1;
    for (int i = 0; i < ZDC_NSP; i++) {
        acc += zdc_sp[i].prob;
        if (u < acc) {
            s = i;
            break;
        }
    }
    double e = log_uniform(r, 250.0, 2600.0), m = zdc_sp[s].mass;
    double p = sqrt(e * e - m * m);
    double tx = ZDC_THETA_SIGMA * gs_rng_normal(r), ty = ZDC_THETA_SIGMA * gs_rng_normal(r);
    double pz = p / sqrt(1.0 + tx * tx + ty * ty);
    cond[0] = (float)e;
    cond[1] = (float)(0.5 * gs_rng_normal(r)); /* vx, cm */
    cond[2] = (float)(0.5 * gs_rng_normal(r)); /* vy, cm */
    cond[3] = (float)(5.0 * gs_rng_normal(r)); /* vz, cm */
    cond[4] = (float)(tx * pz);
    cond[5] = (float)(ty * pz);
    cond[6] = (float)pz;
    cond[7] = (float)m;
    cond[8] = (float)zdc_sp[s].charge;
}

/* Adds amp * (pixel integrals of a 2-D Gaussian at (mr, mc) with widths
 * (sr, sc), in pixel units) to lam [h, w]. Separable: 1-D integrals via erf.
 * h, w <= ZDC_MAX_SIDE. */
#define ZDC_MAX_SIDE 64
static void add_gauss(double *lam, int h, int w, double amp, double mr, double mc, double sr,
                      double sc)
{
    double gr[ZDC_MAX_SIDE], gc[ZDC_MAX_SIDE];
    double kr = 1.0 / (sqrt(2.0) * sr), kc = 1.0 / (sqrt(2.0) * sc);
    /* far-away centres (a particle that misses the grid by metres) must not
     * overflow the int conversion: clamp before, the test below drops them */
    double fr0 = floor(mr - 6 * sr), fr1 = ceil(mr + 6 * sr);
    double fc0 = floor(mc - 6 * sc), fc1 = ceil(mc + 6 * sc);
    if (fr1 < 0 || fc1 < 0 || fr0 >= h || fc0 >= w)
        return; /* entirely off the grid: light lost */
    int r0 = fr0 < 0 ? 0 : (int)fr0, c0 = fc0 < 0 ? 0 : (int)fc0;
    int r1 = fr1 > h - 1 ? h - 1 : (int)fr1, c1 = fc1 > w - 1 ? w - 1 : (int)fc1;
    for (int i = r0; i <= r1; i++)
        gr[i] = 0.5 * (erf((i + 1 - mr) * kr) - erf((i - mr) * kr));
    for (int j = c0; j <= c1; j++)
        gc[j] = 0.5 * (erf((j + 1 - mc) * kc) - erf((j - mc) * kc));
    for (int i = r0; i <= r1; i++) {
        double a = amp * gr[i];
        for (int j = c0; j <= c1; j++)
            lam[i * w + j] += a * gc[j];
    }
}

void ds_toy_zdc_render(gs_rng *r, const float cond[DS_ZDC_NCOND], float *img)
{
    double e = cond[0], vx = cond[1], vy = cond[2], vz = cond[3];
    double px = cond[4], py = cond[5], pz = cond[6], m = cond[7], q = cond[8];
    double p = sqrt(px * px + py * py + pz * pz);
    double yield = 1.0;
    for (int i = 0; i < ZDC_NSP; i++)
        if (fabs(zdc_sp[i].mass - m) < 1e-3 && zdc_sp[i].charge == q)
            yield = zdc_sp[i].yield;
    /* straight line from the vertex to the ZDC plane, plus the magnetic kick */
    double zz = ZDC_Z0 - vz, x = 0, y = 0;
    if (pz > 0) {
        x = vx + px / pz * zz + (p > 0 ? q * ZDC_KICK / p : 0) - ZDC_X_OFF;
        y = vy + py / pz * zz;
    } else {
        x = 1e9; /* going the wrong way: never reaches the detector */
    }
    double mc = (x + 0.5 * DS_ZDC_W * ZDC_PITCH) / ZDC_PITCH;  /* col 0 at -x */
    double mr = (0.5 * DS_ZDC_H * ZDC_PITCH - y) / ZDC_PITCH;  /* row 0 on top (+y) */
    /* light yield: energy x efficiency x big fluctuation */
    double mult = gs_rng_uniform(r) < ZDC_DUD_PROB
                      ? 0.03 * gs_rng_uniform(r)
                      : exp(ZDC_LN_SIGMA * gs_rng_normal(r) - 0.5 * ZDC_LN_SIGMA * ZDC_LN_SIGMA);
    double ntot = ZDC_PHOTONS_PER_GEV * e * yield * mult;
    double lam[DS_ZDC_H * DS_ZDC_W];
    memset(lam, 0, sizeof lam);
    /* shower: where it starts fluctuates; a narrow core, a broad elongated
     * halo and 0..several displaced sub-clusters with random shares */
    double sr0 = mr + 1.0 * gs_rng_normal(r), sc0 = mc + 0.7 * gs_rng_normal(r);
    double f_core = 0.3 + 0.3 * gs_rng_uniform(r), f_halo = 0.25;
    double f_sub = 1.0 - f_core - f_halo;
    int nsub = (int)gs_rng_poisson(r, 2.0);
    add_gauss(lam, DS_ZDC_H, DS_ZDC_W, ntot * f_core, sr0, sc0, 1.0, 0.9);
    add_gauss(lam, DS_ZDC_H, DS_ZDC_W, ntot * f_halo, sr0, sc0, 3.6, 2.6);
    if (nsub == 0) {
        add_gauss(lam, DS_ZDC_H, DS_ZDC_W, ntot * f_sub, sr0, sc0, 1.6, 1.4);
    } else {
        double share[16], tot = 0;
        if (nsub > 16)
            nsub = 16;
        for (int k = 0; k < nsub; k++)
            tot += share[k] = gs_rng_gamma(r, 1.0);
        for (int k = 0; k < nsub; k++) {
            double sr = 0.6 + 0.9 * gs_rng_uniform(r);
            add_gauss(lam, DS_ZDC_H, DS_ZDC_W, ntot * f_sub * share[k] / tot, sr0 + 4.0 * gs_rng_normal(r),
                      sc0 + 3.0 * gs_rng_normal(r), sr, sr * 0.9);
        }
    }
    for (int i = 0; i < DS_ZDC_H; i++)
        for (int j = 0; j < DS_ZDC_W; j++) {
            double l = lam[i * DS_ZDC_W + j] * (((i + j) & 1) ? ZDC_TOWER_EFF : 1.0);
            img[i * DS_ZDC_W + j] = l > 1e-7 ? (float)gs_rng_poisson(r, l) : 0.0f;
        }
}

int ds_toy_zdc_ex(int64_t n, uint64_t seed, const ds_toy_opts *opts, ds_images *out)
{
    memset(out, 0, sizeof *out);
    if (n < 1)
        return gs_error(GS_ERR_ARG, "zdc toy: n = %lld, need at least 1", (long long)n);
    int rc = ds_images_alloc(out, n, DS_ZDC_H, DS_ZDC_W, DS_ZDC_NCOND);
    if (rc)
        return rc;
    gs_rng r;
    gs_rng_seed(&r, seed);
    const int64_t px = DS_ZDC_H * DS_ZDC_W;
    int64_t i = 0;
    while (i < n) {
        float c[DS_ZDC_NCOND];
        ds_toy_zdc_condition(&r, c);
        /* 1..4 images per condition, so per-condition diversity is measurable */
        int64_t rep = 1 + (int64_t)gs_rng_below(&r, 4);
        for (int64_t k = 0; k < rep && i < n; k++, i++) {
            memcpy(out->cond + i * DS_ZDC_NCOND, c, sizeof c);
            ds_toy_zdc_render(&r, c, out->images + i * px);
            if (opts && opts->progress && ((i + 1) % 4096 == 0 || i + 1 == n))
                opts->progress(opts->user, i + 1, n);
        }
    }
    return GS_OK;
}

int ds_toy_zdc(int64_t n, uint64_t seed, ds_images *out)
{
    return ds_toy_zdc_ex(n, seed, NULL, out);
}

/* ---- neutron ZDC (ZN) ------------------------------------------------------ */
/* A neutral hadron (or photon) from the interaction point reaches the neutron
 * calorimeter on a straight line: no magnetic bending. The 44 × 44 grid of
 * quartz fibres at 0.16 cm pitch (7.04 × 7.04 cm, the ALICE ZN face) sits on
 * the beam axis at the same distance as the proton toy's. Hadronic showers
 * are wider than in the proton toy relative to the pixel (the pitch is 2.5x
 * finer) and round (no dipole dispersion); photons give compact EM showers. */
#define ZN_PITCH 0.16       /* cm per pixel (44 x 44 -> 7.04 x 7.04 cm) */
#define ZN_Z0 11250.0       /* cm from the nominal vertex to the ZN face */
#define ZN_THETA_SIGMA 1.5e-4 /* rad, tx and ty: ~10 px at the face, tails off the grid */
#define ZN_PHOTONS_PER_GEV 0.5
#define ZN_DUD_PROB 0.05    /* hadrons: late start / leakage, almost no light */
#define ZN_LN_SIGMA_HAD 0.6 /* log-normal light-yield fluctuation, hadrons */
#define ZN_LN_SIGMA_EM 0.15 /* and photons */
#define ZN_TOWER_EFF 0.9    /* (row + col) odd fibres get less light, as the proton toy */

typedef struct {
    double mass, prob, yield;
    int em; /* photon: electromagnetic shower */
} zn_species;

static const zn_species zn_sp[] = {
    {0.93956542, 0.80, 1.0, 0}, /* n */
    {0.0, 0.10, 1.2, 1},        /* γ */
    {0.497611, 0.05, 0.9, 0},   /* K0L */
    {0.93956542, 0.03, 1.0, 0}, /* n̄ (same mass as n: same light and shape) */
    {1.115683, 0.02, 1.0, 0},   /* Λ */
};
#define ZN_NSP ((int)(sizeof zn_sp / sizeof zn_sp[0]))

void ds_toy_zn_condition(gs_rng *r, float cond[DS_ZDC_NCOND])
{
    double u = gs_rng_uniform(r), acc = 0;
    int s = ZN_NSP - 1;
    for (int i = 0; i < ZN_NSP; i++) {
        acc += zn_sp[i].prob;
        if (u < acc) {
            s = i;
            break;
        }
    }
    double e = log_uniform(r, 250.0, 2600.0), m = zn_sp[s].mass;
    double p = sqrt(e * e - m * m);
    double tx = ZN_THETA_SIGMA * gs_rng_normal(r), ty = ZN_THETA_SIGMA * gs_rng_normal(r);
    double pz = p / sqrt(1.0 + tx * tx + ty * ty);
    cond[0] = (float)e;
    cond[1] = (float)(0.5 * gs_rng_normal(r)); /* vx, cm */
    cond[2] = (float)(0.5 * gs_rng_normal(r)); /* vy, cm */
    cond[3] = (float)(5.0 * gs_rng_normal(r)); /* vz, cm */
    cond[4] = (float)(tx * pz);
    cond[5] = (float)(ty * pz);
    cond[6] = (float)pz;
    cond[7] = (float)m;
    cond[8] = 0.0f;
}

void ds_toy_zn_render(gs_rng *r, const float cond[DS_ZDC_NCOND], float *img)
{
    double e = cond[0], vx = cond[1], vy = cond[2], vz = cond[3];
    double px = cond[4], py = cond[5], pz = cond[6], m = cond[7];
    /* the species by mass (the charge column is ignored: the ZN sees neutrals) */
    int s = 0;
    double best = INFINITY;
    for (int i = 0; i < ZN_NSP; i++)
        if (fabs(zn_sp[i].mass - m) < best) {
            best = fabs(zn_sp[i].mass - m);
            s = i;
        }
    const int em = zn_sp[s].em;
    double x = 1e9, y = 0; /* going the wrong way: never reaches the detector */
    if (pz > 0) {
        double zz = ZN_Z0 - vz;
        x = vx + px / pz * zz;
        y = vy + py / pz * zz;
    }
    double mc = (x + 0.5 * DS_ZN_W * ZN_PITCH) / ZN_PITCH; /* col 0 at -x */
    double mr = (0.5 * DS_ZN_H * ZN_PITCH - y) / ZN_PITCH; /* row 0 on top (+y) */
    double mult;
    if (em)
        mult = exp(ZN_LN_SIGMA_EM * gs_rng_normal(r) - 0.5 * ZN_LN_SIGMA_EM * ZN_LN_SIGMA_EM);
    else
        mult = gs_rng_uniform(r) < ZN_DUD_PROB
                   ? 0.03 * gs_rng_uniform(r)
                   : exp(ZN_LN_SIGMA_HAD * gs_rng_normal(r) -
                         0.5 * ZN_LN_SIGMA_HAD * ZN_LN_SIGMA_HAD);
    double ntot = ZN_PHOTONS_PER_GEV * e * zn_sp[s].yield * mult;
    double lam[DS_ZN_H * DS_ZN_W];
    memset(lam, 0, sizeof lam);
    double sr0 = mr + gs_rng_normal(r), sc0 = mc + gs_rng_normal(r);
    if (em) {
        /* EM shower: compact core and a narrow halo */
        add_gauss(lam, DS_ZN_H, DS_ZN_W, 0.7 * ntot, sr0, sc0, 1.2, 1.2);
        add_gauss(lam, DS_ZN_H, DS_ZN_W, 0.3 * ntot, sr0, sc0, 3.5, 3.5);
    } else {
        /* hadronic shower: a round core, a wide halo and 0..several displaced
         * EM sub-clusters (π0s) with random shares */
        double f_core = 0.25 + 0.25 * gs_rng_uniform(r), f_halo = 0.35;
        double f_sub = 1.0 - f_core - f_halo;
        int nsub = (int)gs_rng_poisson(r, 3.0);
        add_gauss(lam, DS_ZN_H, DS_ZN_W, ntot * f_core, sr0, sc0, 2.0, 2.0);
        add_gauss(lam, DS_ZN_H, DS_ZN_W, ntot * f_halo, sr0, sc0, 7.0, 7.0);
        if (nsub == 0) {
            add_gauss(lam, DS_ZN_H, DS_ZN_W, ntot * f_sub, sr0, sc0, 3.0, 3.0);
        } else {
            double share[16], tot = 0;
            if (nsub > 16)
                nsub = 16;
            for (int k = 0; k < nsub; k++)
                tot += share[k] = gs_rng_gamma(r, 1.0);
            for (int k = 0; k < nsub; k++) {
                double sw = 1.0 + 1.5 * gs_rng_uniform(r);
                add_gauss(lam, DS_ZN_H, DS_ZN_W, ntot * f_sub * share[k] / tot,
                          sr0 + 5.0 * gs_rng_normal(r), sc0 + 5.0 * gs_rng_normal(r), sw, sw);
            }
        }
    }
    for (int i = 0; i < DS_ZN_H; i++)
        for (int j = 0; j < DS_ZN_W; j++) {
            double l = lam[i * DS_ZN_W + j] * (((i + j) & 1) ? ZN_TOWER_EFF : 1.0);
            img[i * DS_ZN_W + j] = l > 1e-7 ? (float)gs_rng_poisson(r, l) : 0.0f;
        }
}

int ds_toy_zn_ex(int64_t n, uint64_t seed, const ds_toy_opts *opts, ds_images *out)
{
    memset(out, 0, sizeof *out);
    if (n < 1)
        return gs_error(GS_ERR_ARG, "zdc-neutron toy: n = %lld, need at least 1",
                        (long long)n);
    int rc = ds_images_alloc(out, n, DS_ZN_H, DS_ZN_W, DS_ZDC_NCOND);
    if (rc)
        return rc;
    gs_rng r;
    gs_rng_seed(&r, seed);
    const int64_t px = DS_ZN_H * DS_ZN_W;
    int64_t i = 0;
    while (i < n) {
        float c[DS_ZDC_NCOND];
        ds_toy_zn_condition(&r, c);
        /* 1..4 images per condition, as the proton toy */
        int64_t rep = 1 + (int64_t)gs_rng_below(&r, 4);
        for (int64_t k = 0; k < rep && i < n; k++, i++) {
            memcpy(out->cond + i * DS_ZDC_NCOND, c, sizeof c);
            ds_toy_zn_render(&r, c, out->images + i * px);
            if (opts && opts->progress && ((i + 1) % 4096 == 0 || i + 1 == n))
                opts->progress(opts->user, i + 1, n);
        }
    }
    return GS_OK;
}
