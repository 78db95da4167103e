#include "core/gs_core.h"

#include <math.h>

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void gs_rng_seed(gs_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

uint64_t gs_rng_next(gs_rng *r)
{
    uint64_t *s = r->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

gs_rng gs_rng_split(gs_rng *r)
{
    gs_rng child;
    gs_rng_seed(&child, gs_rng_next(r));
    return child;
}

double gs_rng_uniform(gs_rng *r)
{
    return (double)(gs_rng_next(r) >> 11) * 0x1.0p-53;
}

double gs_rng_uniform_pos(gs_rng *r)
{
    return ((double)(gs_rng_next(r) >> 12) + 0.5) * 0x1.0p-52;
}

double gs_rng_normal(gs_rng *r)
{
    double u1 = gs_rng_uniform_pos(r), u2 = gs_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double gs_rng_exponential(gs_rng *r, double mean)
{
    return -mean * log(gs_rng_uniform_pos(r));
}

double gs_rng_gamma(gs_rng *r, double shape)
{
    if (shape < 1.0) /* boost: G(a) = G(a+1) * U^(1/a) */
        return gs_rng_gamma(r, shape + 1.0) * pow(gs_rng_uniform_pos(r), 1.0 / shape);
    const double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = gs_rng_normal(r);
            v = 1.0 + c * x;
        } while (v <= 0.0);
        v = v * v * v;
        double u = gs_rng_uniform_pos(r);
        if (u < 1.0 - 0.0331 * x * x * x * x || log(u) < 0.5 * x * x + d * (1.0 - v + log(v)))
            return d * v;
    }
}

uint64_t gs_rng_poisson(gs_rng *r, double mean)
{
    if (!(mean > 0.0))
        return 0;
    if (mean < 30.0) { /* Knuth: multiply uniforms until below e^-mean */
        double l = exp(-mean), p = 1.0;
        uint64_t k = 0;
        do {
            k++;
            p *= gs_rng_uniform(r);
        } while (p > l);
        return k - 1;
    }
    /* Large mean: Poisson(m) = Poisson(m - g) + (g events) via a gamma split
     * (Ahrens–Dieter style recursion), exact in distribution. */
    double n = floor(0.875 * mean);
    double g = gs_rng_gamma(r, n);
    if (g > mean) {
        /* all remaining arrivals lie before g: binomial(n - 1, mean / g) */
        uint64_t k = 0;
        double p = mean / g;
        for (uint64_t i = 0; i + 1 < (uint64_t)n; i++)
            k += gs_rng_uniform(r) < p;
        return k;
    }
    return (uint64_t)n + gs_rng_poisson(r, mean - g);
}

uint64_t gs_rng_below(gs_rng *r, uint64_t n)
{
    if (n == 0)
        return 0;
    uint64_t lim = UINT64_MAX - UINT64_MAX % n, x;
    do {
        x = gs_rng_next(r);
    } while (x >= lim);
    return x % n;
}

void gs_rng_fill_normal(gs_rng *r, float *out, int64_t n, float mean, float std)
{
    int64_t i = 0;
    for (; i + 1 < n; i += 2) {
        double u1 = gs_rng_uniform_pos(r), u2 = gs_rng_uniform(r);
        double rad = sqrt(-2.0 * log(u1)), a = 2.0 * M_PI * u2;
        out[i] = mean + std * (float)(rad * cos(a));
        out[i + 1] = mean + std * (float)(rad * sin(a));
    }
    if (i < n)
        out[i] = mean + std * (float)gs_rng_normal(r);
}

void gs_rng_fill_uniform(gs_rng *r, float *out, int64_t n, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = lo + (hi - lo) * (float)gs_rng_uniform(r);
}

void gs_rng_shuffle_i64(gs_rng *r, int64_t *idx, int64_t n)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)gs_rng_below(r, (uint64_t)i + 1);
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
