/* The species table of core/gs_pdg.h. */
#include "gs_pdg.h"

typedef struct {
    int32_t pdg;
    const char *name;
    double mass; /* GeV, Review of Particle Physics 2022 */
} pdg_species;

static const pdg_species SPECIES[] = {
    {22, "gamma", 0.0},
    {11, "e-", 0.51099895000e-3},
    {-11, "e+", 0.51099895000e-3},
    {13, "mu-", 0.1056583755},
    {-13, "mu+", 0.1056583755},
    {15, "tau-", 1.77686},
    {-15, "tau+", 1.77686},
    {12, "nu_e", 0.0},
    {-12, "nu_ebar", 0.0},
    {14, "nu_mu", 0.0},
    {-14, "nu_mubar", 0.0},
    {16, "nu_tau", 0.0},
    {-16, "nu_taubar", 0.0},
    {111, "pi0", 0.1349768},
    {211, "pi+", 0.13957039},
    {-211, "pi-", 0.13957039},
    {130, "K0L", 0.497611},
    {310, "K0S", 0.497611},
    {321, "K+", 0.493677},
    {-321, "K-", 0.493677},
    {2212, "p", 0.93827208816},
    {-2212, "pbar", 0.93827208816},
    {2112, "n", 0.93956542052},
    {-2112, "nbar", 0.93956542052},
    {3122, "Lambda", 1.115683},
    {-3122, "Lambdabar", 1.115683},
    {1000010020, "d", 1.87561294257},
    {1000020040, "alpha", 3.72737940660},
};
enum { N_SPECIES = (int)(sizeof SPECIES / sizeof SPECIES[0]) };

static const pdg_species *find(int32_t pdg)
{
    for (int i = 0; i < N_SPECIES; i++)
        if (SPECIES[i].pdg == pdg)
            return &SPECIES[i];
    return 0;
}

int gs_pdg_mass(int32_t pdg, double *mass_gev)
{
    const pdg_species *s = find(pdg);
    if (!s)
        return 0;
    if (mass_gev)
        *mass_gev = s->mass;
    return 1;
}

const char *gs_pdg_name(int32_t pdg)
{
    const pdg_species *s = find(pdg);
    return s ? s->name : 0;
}

int gs_pdg_count(void) { return N_SPECIES; }

int32_t gs_pdg_id(int i) { return i >= 0 && i < N_SPECIES ? SPECIES[i].pdg : 0; }
