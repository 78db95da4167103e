#ifndef G4STUB_FASTTRACK_HH
#define G4STUB_FASTTRACK_HH
#include "G4Track.hh"
class G4FastTrack {
public:
    explicit G4FastTrack(const G4Track *t) : t_(t) {}
    const G4Track *GetPrimaryTrack() const { return t_; }
private:
    const G4Track *t_;
};
#endif
