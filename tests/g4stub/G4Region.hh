#ifndef G4STUB_REGION_HH
#define G4STUB_REGION_HH
#include "globals.hh"
class G4Region {
public:
    explicit G4Region(const G4String &name) : name_(name) {}
    const G4String &GetName() const { return name_; }
private:
    G4String name_;
};
#endif
