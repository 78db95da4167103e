#ifndef G4STUB_POISSON_HH
#define G4STUB_POISSON_HH
#include "Randomize.hh"
#include "globals.hh"
inline G4long G4Poisson(G4double mean)
{
    return std::poisson_distribution<G4long>(mean)(g4stub_engine());
}
#endif
