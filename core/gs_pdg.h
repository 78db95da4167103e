/* gs_pdg — the one table of particle species gansim knows by PDG id: name
 * and mass. Shared by datasets/ (HepMC3 energies E = sqrt(p^2 + m^2)) and
 * metrics/ (kinetic energy, species names in reports), which may not use
 * each other; it lives in core/ for that reason.
 *
 * Masses in GeV from the Review of Particle Physics 2022 (Workman et al.,
 * PTEP 2022, 083C01); nuclei (PDG ids 100ZZZAAAI) carry the nuclear, not the
 * atomic, mass. Neutrinos are massless here. Covered: γ, e±, μ±, τ±, the
 * three neutrinos and antineutrinos, π0, π±, K0_L, K0_S, K±, p, p̄, n, n̄,
 * Λ, Λ̄, the deuteron and the α. */
#ifndef GS_PDG_H
#define GS_PDG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 1 and *mass_gev (if non-NULL) set when `pdg` is in the table, 0 otherwise
 * (*mass_gev untouched). */
int gs_pdg_mass(int32_t pdg, double *mass_gev);

/* Short name ("gamma", "e-", "n", "nbar", ...) or NULL when unknown. */
const char *gs_pdg_name(int32_t pdg);

/* The table's size and its i-th id (0 <= i < gs_pdg_count()), for messages
 * that list what is known and for tests. */
int gs_pdg_count(void);
int32_t gs_pdg_id(int i);

#ifdef __cplusplus
}
#endif

#endif
