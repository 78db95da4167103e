#!/usr/bin/python3
"""Parity of nn_spectral_norm with numpy's SVD (developer-side check, not run by `make test`).

Builds tests/parity/specnorm_driver.c against build/libgansim.a (run `make` first). For
random weights of the D shapes of the zdc model (flattened conv weights [out, in*9] and
dense layers) it runs 100 training-mode calls (one power iteration each) and compares
sigma = W / W_sn with the largest singular value from numpy.linalg.svd, and |u| with the
first left singular vector (up to sign). Power iteration converges like (s2/s1)^(2n), so a
shape whose two largest singular values are within 1 % (random uniform 128 x 4617) is
reported but not judged. Needs python3-numpy.
Exit status 1 when sigma's relative difference exceeds 1e-4 on a judged shape (u, whose
error is the square root of sigma's, is printed).

    /usr/bin/python3 tests/parity/specnorm_parity.py
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHAPES = [(32, 9), (64, 288), (128, 576), (128, 4617), (1, 128), (8, 3)]


def main():
    lib = os.path.join(ROOT, "build", "libgansim.a")
    if not os.path.exists(lib):
        sys.exit("specnorm_parity: %s missing; run `make` first" % lib)
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "drv")
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "hdf5-serial"],
                               capture_output=True, text=True).stdout.split()
        subprocess.run(["cc", "-std=c11", "-O2", "-fopenmp", "-I", ROOT,
                        os.path.join(HERE, "specnorm_driver.c"), lib, "-o", exe] + flags +
                       ["-lhdf5", "-linih", "-lopenblas", "-lm"], check=True)
        worst = 0.0
        for seed, (out, k) in enumerate(SHAPES, start=1):
            txt = subprocess.run([exe, str(out), str(k), "100", str(seed)], check=True,
                                 capture_output=True, text=True).stdout.split()
            v = np.array([float(t) for t in txt])
            w = v[:out * k].reshape(out, k)
            sigma, u = v[out * k], v[out * k + 1:]
            uu, s, _ = np.linalg.svd(w.astype(np.float64))
            ds = abs(sigma - s[0]) / s[0]
            du = 1 - abs(float(np.dot(u, uu[:, 0])))
            gap = s[1] / s[0] if len(s) > 1 else 0.0
            judged = gap < 0.99
            if judged:
                worst = max(worst, ds)
            print("[%4d x %4d] sigma %.6g svd %.6g rel %.2e  1-|u.u_svd| %.2e  (s2/s1 %.3f)%s"
                  % (out, k, sigma, s[0], ds, du, gap, "" if judged else "  not judged"))
        print("worst %.2e" % worst)
        return 1 if worst > 1e-4 else 0


if __name__ == "__main__":
    sys.exit(main())
