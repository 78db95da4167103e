#!/usr/bin/python3
"""Parity of gansim's significance and classifier metrics with scikit-learn and
scipy (developer-side check, not run by `make test`):

  mt_auc            vs sklearn.metrics.roc_auc_score (with and without sample_weight;
                    heavy ties, constant scores, unbalanced classes, 2 .. 200000 rows)
  mt_kolmogorov_sf  vs scipy.special.kolmogorov
  mt_ks_pvalue      vs scipy.special.kolmogorov(sqrt(n1 n2/(n1+n2)) d), and how far that
                    asymptotic form is from scipy.stats.ks_2samp(method="asymp") (reported)
  mt_chi2_pvalue    vs scipy.stats.chi2.sf
  mt_rank_corr      vs scipy.stats.spearmanr (unweighted, with ties)

Builds tests/parity/stats_driver.c against build/libgansim.a (run `make` first).
Needs python3-sklearn, python3-scipy, python3-numpy. Exit status 1 when a
tolerance is exceeded.

    /usr/bin/python3 tests/parity/stats_parity.py [--trials N] [--seed S]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
from scipy import special, stats
from sklearn.metrics import roc_auc_score

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def build_driver(tmp):
    lib = os.path.join(ROOT, "build", "libgansim.a")
    if not os.path.exists(lib):
        sys.exit("stats_parity: %s missing; run `make` first" % lib)
    exe = os.path.join(tmp, "stats_driver")
    subprocess.run(["cc", "-std=c11", "-O2", "-fopenmp", "-I", ROOT,
                    os.path.join(HERE, "stats_driver.c"), lib, "-lm", "-o", exe], check=True)
    return exe


def drive(exe, *args):
    out = subprocess.run([exe] + [str(a) for a in args], check=True, capture_output=True,
                         text=True).stdout.split()
    return [float(v) for v in out]


def scores(rng, kind, n):
    if kind == "normal":
        return rng.normal(0, 1, n)
    if kind == "ties":      # a coarse classifier: few distinct scores
        return rng.integers(0, 5, n).astype(float)
    if kind == "constant":  # every score equal: AUC exactly 0.5
        return np.full(n, 0.25)
    if kind == "wide":      # logits over many decades
        return np.sign(rng.normal(size=n)) * np.exp(rng.normal(0, 8, n))
    raise ValueError(kind)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    worst = {}

    def note(name, err):
        worst[name] = max(worst.get(name, 0.0), err)

    with tempfile.TemporaryDirectory() as tmp:
        exe = build_driver(tmp)
        path = os.path.join(tmp, "d.bin")
        for t in range(a.trials):
            n = int(rng.choice([2, 3, 10, 100, 1000, 20000, 200000]))
            kind = ["normal", "ties", "constant", "wide"][t % 4]
            s = scores(rng, kind, n)
            lab = (rng.random(n) < rng.uniform(0.05, 0.95)).astype(float)
            lab[0], lab[-1] = 0.0, 1.0  # both classes present
            s = s + lab * rng.uniform(0, 1) * (kind != "constant")  # some separation
            weighted = t % 3 == 0
            w = rng.exponential(1.0, n) if weighted else np.ones(n)
            np.concatenate([s, lab, w]).astype(np.float64).tofile(path)
            got = drive(exe, "auc", path, n, int(weighted))[0]
            ref = roc_auc_score(lab, s, sample_weight=w if weighted else None)
            note("auc weighted" if weighted else "auc", abs(got - ref))
        z = np.concatenate([np.linspace(0.01, 3.5, 150), [0.2, 0.5, 1.0, 1.17, 1.18, 1.19, 2.0]])
        got = drive(exe, "kolm", *z)
        note("kolmogorov_sf", max(abs(g - special.kolmogorov(v)) for g, v in zip(got, z)))
        for x, k in [(0.5, 1), (3.0, 1), (99, 99), (150, 99), (80, 99), (1e-3, 5), (1e3, 10),
                     (2500, 2499), (30, 3), (0.1, 200)]:
            got = drive(exe, "chi2", x, k)[0]
            ref = stats.chi2.sf(x, k)
            note("chi2_pvalue (rel)", abs(got - ref) / max(ref, 1e-300) if ref > 1e-290 else 0)
        ks_asymp = 0.0
        for _ in range(30):
            n1, n2 = int(rng.integers(100, 200000)), int(rng.integers(100, 200000))
            u, v = rng.normal(0, 1, n1), rng.normal(rng.uniform(0, 0.05), 1, n2)
            r = stats.ks_2samp(u, v, method="asymp")
            got = drive(exe, "ksp", repr(r.statistic), n1, n2)[0]
            ref = special.kolmogorov(np.sqrt(n1 * n2 / (n1 + n2)) * r.statistic)
            note("ks_pvalue", abs(got - ref))
            ks_asymp = max(ks_asymp, abs(got - r.pvalue))
        for t in range(20):
            n, f = int(rng.integers(5, 20000)), int(rng.integers(2, 7))
            x = rng.normal(size=(n, f))
            x[:, 1] = x[:, 0] * rng.uniform(-2, 2) + rng.normal(size=n)
            if t % 2:
                x = np.round(x)  # ties
            x = x.astype(np.float32)
            np.concatenate([x.ravel(), np.ones(n, np.float32)]).tofile(path)
            got = np.array(drive(exe, "rcorr", path, n, f, 0)).reshape(f, f)
            ref = stats.spearmanr(x.astype(np.float64)).correlation
            ref = np.array([[1.0, ref], [ref, 1.0]]) if f == 2 else ref
            note("rank_corr", float(np.max(np.abs(got - ref))))
    tol = {"auc": 1e-12, "auc weighted": 1e-9, "kolmogorov_sf": 1e-12,
           "chi2_pvalue (rel)": 1e-9, "ks_pvalue": 1e-12, "rank_corr": 1e-5}
    bad = False
    for k, v in worst.items():
        ok = v <= tol[k]
        bad |= not ok
        print("%-18s max |diff| %.3g (tolerance %.0e) %s" % (k, v, tol[k], "ok" if ok else "FAIL"))
    print("ks_pvalue vs ks_2samp(method='asymp'), which uses the finite-n kstwo: max |diff| %.3g"
          % ks_asymp)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
