#ifndef G4STUB_PARTICLEDEFINITION_HH
#define G4STUB_PARTICLEDEFINITION_HH
#include "globals.hh"
class G4ParticleDefinition {
public:
    G4ParticleDefinition(G4int pdg, G4double mass) : pdg_(pdg), mass_(mass) {}
    G4int GetPDGEncoding() const { return pdg_; }
    G4double GetPDGMass() const { return mass_; }
private:
    G4int pdg_;
    G4double mass_;
};
#endif
