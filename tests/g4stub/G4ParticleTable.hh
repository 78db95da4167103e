#ifndef G4STUB_PARTICLETABLE_HH
#define G4STUB_PARTICLETABLE_HH
#include <map>
#include "G4Electron.hh"
#include "G4ParticleDefinition.hh"
#include "G4SystemOfUnits.hh"
// The species of the LUXE data (and a few more); FindParticle returns
// nullptr for anything else, as Geant4 does for an unknown code.
class G4ParticleTable {
public:
    static G4ParticleTable *GetParticleTable()
    {
        static G4ParticleTable t;
        return &t;
    }
    G4ParticleDefinition *FindParticle(G4int pdg)
    {
        if (pdg == 11)
            return G4Electron::Definition();
        auto it = defs_.find(pdg);
        return it == defs_.end() ? nullptr : &it->second;
    }
private:
    G4ParticleTable()
    {
        const std::pair<G4int, G4double> known[] = {
            {22, 0.0}, {-11, 0.51099895 * MeV}, {2112, 939.56542052 * MeV},
            {2212, 938.27208816 * MeV}, {13, 105.6583755 * MeV}, {-13, 105.6583755 * MeV},
            {211, 139.57039 * MeV}, {-211, 139.57039 * MeV}};
        for (const auto &k : known)
            defs_.emplace(k.first, G4ParticleDefinition(k.first, k.second));
    }
    std::map<G4int, G4ParticleDefinition> defs_;
};
#endif
