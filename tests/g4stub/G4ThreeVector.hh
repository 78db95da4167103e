#ifndef G4STUB_THREEVECTOR_HH
#define G4STUB_THREEVECTOR_HH
#include <cmath>
class G4ThreeVector {
public:
    G4ThreeVector(double x = 0, double y = 0, double z = 0) : x_(x), y_(y), z_(z) {}
    double x() const { return x_; }
    double y() const { return y_; }
    double z() const { return z_; }
    double mag() const { return std::sqrt(x_ * x_ + y_ * y_ + z_ * z_); }
private:
    double x_, y_, z_;
};
#endif
