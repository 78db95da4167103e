#ifndef G4STUB_FASTSTEP_HH
#define G4STUB_FASTSTEP_HH
#include <memory>
#include <vector>
#include "G4DynamicParticle.hh"
#include "G4FastTrack.hh"
#include "G4Track.hh"
// Records what a model asks for, and refuses what Geant4 refuses: more
// secondaries than announced with SetNumberOfSecondaryTracks (Geant4 then
// returns no track).
class G4FastStep {
public:
    void KillPrimaryTrack() { killed = true; }
    void SetNumberOfSecondaryTracks(G4int n)
    {
        announced = n;
        tracks.clear();
        tracks.reserve((size_t)(n > 0 ? n : 0));
        local.clear();
    }
    G4int GetNumberOfSecondaryTracks() { return (G4int)tracks.size(); }
    // Geant4 copies the dynamic particle: the caller keeps ownership of its own.
    G4Track *CreateSecondaryTrack(const G4DynamicParticle &p, G4ThreeVector position, G4double time,
                                  G4bool localCoordinates = true)
    {
        if (announced < 0 || (G4int)tracks.size() >= announced)
            return nullptr;
        tracks.push_back(std::make_unique<G4Track>(p, time, position, 1));
        local.push_back(localCoordinates);
        return tracks.back().get();
    }
    bool killed = false;
    G4int announced = -1;
    std::vector<std::unique_ptr<G4Track>> tracks;
    std::vector<bool> local;
};
#endif
