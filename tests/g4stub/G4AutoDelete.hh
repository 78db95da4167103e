#ifndef G4STUB_AUTODELETE_HH
#define G4STUB_AUTODELETE_HH
#include <memory>
#include <vector>
// Geant4 deletes registered objects when their thread ends; so does this.
namespace G4AutoDelete {
template <typename T> void Register(T *p)
{
    thread_local std::vector<std::unique_ptr<T>> owned;
    owned.emplace_back(p);
}
} // namespace G4AutoDelete
#endif
