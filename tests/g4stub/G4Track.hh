#ifndef G4STUB_TRACK_HH
#define G4STUB_TRACK_HH
#include "G4DynamicParticle.hh"
#include "G4ThreeVector.hh"
#include "globals.hh"
class G4Track {
public:
    G4Track(const G4DynamicParticle &p, G4double time, const G4ThreeVector &pos, G4int parent = 0)
        : p_(p), time_(time), pos_(pos), parent_(parent) {}
    G4double GetGlobalTime() const { return time_; }
    const G4ThreeVector &GetPosition() const { return pos_; }
    G4int GetParentID() const { return parent_; }
    const G4DynamicParticle *GetDynamicParticle() const { return &p_; }
private:
    G4DynamicParticle p_;
    G4double time_;
    G4ThreeVector pos_;
    G4int parent_;
};
#endif
