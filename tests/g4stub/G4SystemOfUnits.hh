// CLHEP's units (Geant4's internal units: mm, ns, MeV).
#ifndef G4STUB_UNITS_HH
#define G4STUB_UNITS_HH
static constexpr double mm = 1.0, cm = 10.0, m = 1000.0;
static constexpr double ns = 1.0;
static constexpr double MeV = 1.0, GeV = 1000.0, keV = 1e-3;
#endif
