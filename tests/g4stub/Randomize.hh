#ifndef G4STUB_RANDOMIZE_HH
#define G4STUB_RANDOMIZE_HH
#include <random>
// Geant4 gives each worker thread its own engine, reseeded per event from
// the master: so does the stand-in (per thread; the driver seeds it).
inline std::mt19937_64 &g4stub_engine()
{
    thread_local std::mt19937_64 e(12345);
    return e;
}
inline double g4stub_uniform()
{
    return std::uniform_real_distribution<double>(0.0, 1.0)(g4stub_engine());
}
#define G4UniformRand() g4stub_uniform()
#endif
