#!/usr/bin/python3
"""Developer-side parity check (not part of `make test`): gansim's quantile
transform (via bin/gansim-prep) against scikit-learn's QuantileTransformer.

Usage: /usr/bin/python3 tests/parity/quantile_parity.py [N]
Needs python3-sklearn python3-h5py python3-numpy (apt). Generates a toy LUXE
file, fits both implementations (normal and uniform output, 1000 quantiles,
no subsampling), and prints the max abs difference of transform and
inverse. sklearn is fed float64 (gansim computes in double from the float32
file); otherwise sklearn rounds the intermediate uniform value to float32,
which alone moves the normal tails by ~1e-2."""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
from sklearn.preprocessing import QuantileTransformer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("GANSIM_BIN", os.path.join(ROOT, "bin"))


def run(*args):
    subprocess.run([os.path.join(BIN, args[0])] + list(args[1:]), check=True)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
    worst = 0.0
    with tempfile.TemporaryDirectory() as d:
        data = os.path.join(d, "data.h5")
        run("gansim-datagen", "luxe", "-n", str(n), "--seed", "7", "-o", data)
        with h5py.File(data, "r") as f:
            x = f["events"][:].astype(np.float64)
        # a few hand-made edge values: exactly the extremes, beyond them, ties
        probe = np.vstack([x[:5000], x.min(0), x.max(0), x.min(0) - 1, x.max(0) + 1])
        with h5py.File(os.path.join(d, "probe.h5"), "w") as f:
            f["events"] = probe.astype(np.float32)
            f["events"].attrs["columns"] = "x,y,px,py,pz,t"
        probe32 = probe.astype(np.float32).astype(np.float64)
        for out in ("normal", "uniform"):
            qt_path = os.path.join(d, "qt_%s.h5" % out)
            run("gansim-prep", "fit", "--in", data, "-o", qt_path, "--output", out)
            sk = QuantileTransformer(n_quantiles=1000, output_distribution=out,
                                     subsample=10 * n, random_state=0).fit(x)
            with h5py.File(qt_path, "r") as f:
                q = f["quantile_transform/quantiles"][:]
            dq = np.max(np.abs(q - sk.quantiles_))
            t_path = os.path.join(d, "t_%s.h5" % out)
            run("gansim-prep", "transform", "--qt", qt_path, "--in",
                os.path.join(d, "probe.h5"), "-o", t_path)
            with h5py.File(t_path, "r") as f:
                t_gs = f["events"][:].astype(np.float64)
            t_sk = sk.transform(probe32)
            dt = np.max(np.abs(t_gs - t_sk))
            i_path = os.path.join(d, "i_%s.h5" % out)
            run("gansim-prep", "inverse", "--qt", qt_path, "--in", t_path, "-o", i_path)
            with h5py.File(i_path, "r") as f:
                i_gs = f["events"][:].astype(np.float64)
            i_sk = sk.inverse_transform(t_gs)
            # inverse compared relative to each feature's scale (x in mm, p in GeV)
            scale = np.maximum(np.abs(sk.quantiles_).max(0), 1e-30)
            di = np.max(np.abs(i_gs - i_sk) / scale)
            print("%-7s quantiles max|diff| %.3g  transform max|diff| %.3g  "
                  "inverse max|diff|/feature-scale %.3g" % (out, dq, dt, di))
            worst = max(worst, dt, di)
    print("worst %.3g (goal <= 1e-5): %s" % (worst, "OK" if worst <= 1e-5 else "FAIL"))
    return 0 if worst <= 1e-5 else 1


if __name__ == "__main__":
    sys.exit(main())
