#!/usr/bin/python3
"""Parity of gansim's W1 and KS with scipy (developer-side check, not run by `make test`).

Builds tests/parity/w1_driver.c against build/libgansim.a (run `make` first),
draws random samples (different sizes, heavy ties, weights, wide dynamic range,
single values), and compares mt_w1_ks with scipy.stats.wasserstein_distance and
scipy.stats.ks_2samp(...).statistic. Needs python3-numpy and python3-scipy.
Exit status 1 when any relative difference exceeds 1e-6.

    /usr/bin/python3 tests/parity/w1_parity.py [--trials N] [--seed S]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
from scipy import stats

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TOL = 1e-6


def build_driver(tmp):
    lib = os.path.join(ROOT, "build", "libgansim.a")
    if not os.path.exists(lib):
        sys.exit("w1_parity: %s missing; run `make` first" % lib)
    exe = os.path.join(tmp, "w1_driver")
    subprocess.run(["cc", "-std=c11", "-O2", "-fopenmp", "-I", ROOT,
                    os.path.join(HERE, "w1_driver.c"), lib, "-lm", "-o", exe], check=True)
    return exe


def run(exe, tmp, u, v, uw=None, vw=None):
    path = os.path.join(tmp, "s.bin")
    parts = [u, v] + ([uw, vw] if uw is not None else [])
    np.concatenate([p.astype(np.float32) for p in parts]).tofile(path)
    out = subprocess.run([exe, path, str(len(u)), str(len(v)), "1" if uw is not None else "0"],
                         check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300) if b != 0 else abs(a)


def sample(rng, kind, n):
    if kind == "normal":
        return rng.normal(rng.uniform(-5, 5), rng.uniform(0.1, 10), n)
    if kind == "ties":
        return rng.integers(-5, 6, n).astype(float)
    if kind == "lognormal":  # many decades, like LUXE energies and times
        return np.exp(rng.normal(0, 6, n))
    if kind == "mixed":
        return np.where(rng.random(n) < 0.5, rng.normal(0, 1, n), rng.integers(0, 3, n))
    raise ValueError(kind)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    worst = {"w1": 0.0, "w1_weighted": 0.0, "ks": 0.0}
    cases = 0
    with tempfile.TemporaryDirectory() as tmp:
        exe = build_driver(tmp)
        sizes = [1, 2, 7, 100, 1000, 20000, 200000]
        for t in range(args.trials):
            kind = ["normal", "ties", "lognormal", "mixed"][t % 4]
            nu, nv = rng.choice(sizes), rng.choice(sizes)
            # round through float32: the C side sees float32, scipy gets the same values
            u = sample(rng, kind, nu).astype(np.float32).astype(np.float64)
            v = sample(rng, kind, nv).astype(np.float32).astype(np.float64)
            w1, ks = run(exe, tmp, u, v)
            worst["w1"] = max(worst["w1"], rel(w1, stats.wasserstein_distance(u, v)))
            worst["ks"] = max(worst["ks"], rel(ks, stats.ks_2samp(u, v).statistic))
            uw = rng.uniform(0, 3, nu).astype(np.float32).astype(np.float64)
            vw = rng.exponential(1, nv).astype(np.float32).astype(np.float64)
            uw[0] += 0.5  # keep the sums positive
            vw[0] += 0.5
            w1w, _ = run(exe, tmp, u, v, uw, vw)
            ref = stats.wasserstein_distance(u, v, uw, vw)
            worst["w1_weighted"] = max(worst["w1_weighted"], rel(w1w, ref))
            cases += 1
    for k, val in worst.items():
        print("%-12s max relative difference %.3g over %d cases" % (k, val, cases))
    ok = all(val <= TOL for val in worst.values())
    print("parity: %s (tolerance %g)" % ("OK" if ok else "FAILED", TOL))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
