#ifndef G4STUB_VFASTSIMULATIONMODEL_HH
#define G4STUB_VFASTSIMULATIONMODEL_HH
#include "G4FastStep.hh"
#include "G4FastTrack.hh"
#include "G4ParticleDefinition.hh"
#include "G4Region.hh"
#include "globals.hh"
using G4Envelope = G4Region;
class G4VFastSimulationModel {
public:
    G4VFastSimulationModel(const G4String &name, G4Envelope *envelope, G4bool unique = false)
        : name_(name), envelope_(envelope) { (void)unique; }
    virtual ~G4VFastSimulationModel() = default;
    virtual G4bool IsApplicable(const G4ParticleDefinition &) = 0;
    virtual G4bool ModelTrigger(const G4FastTrack &) = 0;
    virtual void DoIt(const G4FastTrack &, G4FastStep &) = 0;
    const G4String &GetName() const { return name_; }
    G4Envelope *GetEnvelope() const { return envelope_; }
private:
    G4String name_;
    G4Envelope *envelope_;
};
#endif
