#ifndef G4STUB_ELECTRON_HH
#define G4STUB_ELECTRON_HH
#include "G4ParticleDefinition.hh"
#include "G4SystemOfUnits.hh"
class G4Electron : public G4ParticleDefinition {
public:
    static G4Electron *Definition()
    {
        static G4Electron e;
        return &e;
    }
private:
    G4Electron() : G4ParticleDefinition(11, 0.51099895 * MeV) {}
};
#endif
