#ifndef G4STUB_DYNAMICPARTICLE_HH
#define G4STUB_DYNAMICPARTICLE_HH
#include "G4ParticleDefinition.hh"
#include "G4ThreeVector.hh"
class G4DynamicParticle {
public:
    G4DynamicParticle(const G4ParticleDefinition *def, const G4ThreeVector &momentum)
        : def_(def), p_(momentum) {}
    const G4ParticleDefinition *GetDefinition() const { return def_; }
    const G4ThreeVector &GetMomentum() const { return p_; }
private:
    const G4ParticleDefinition *def_;
    G4ThreeVector p_;
};
#endif
