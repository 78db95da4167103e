// Stand-in for the few Geant4 declarations that docs/embedding.md's sketch
// touches, so `make test` can compile, link and run the sketch without
// Geant4. Same names and signatures as Geant4 11; behaviour reduced to
// what the driver (run_sketch.cpp) checks. Not a Geant4 replacement.
#ifndef G4STUB_GLOBALS_HH
#define G4STUB_GLOBALS_HH

#include <cstdint>
#include <stdexcept>
#include <string>

using G4bool = bool;
using G4int = int;
using G4long = long;
using G4double = double;
using G4String = std::string;

enum G4ExceptionSeverity { FatalException, FatalErrorInArgument, RunMustBeAborted, JustWarning };

// Geant4 aborts the run on a fatal exception; the stand-in throws so the
// driver can check that the sketch reports its failures.
struct G4StubFatal : std::runtime_error {
    using std::runtime_error::runtime_error;
};

inline void G4Exception(const char *origin, const char *code, G4ExceptionSeverity severity,
                        const char *description)
{
    if (severity != JustWarning)
        throw G4StubFatal(std::string(origin) + "/" + code + ": " + description);
}

#endif
