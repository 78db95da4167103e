#!/usr/bin/python3
"""LUXE fidelity check, developer side (Debian's python3-numpy/-h5py/-sklearn/-matplotlib).

Compares a generated event table with a real one and puts every number beside
its real-vs-real noise floor, computed on a second, independent real sample of
the same size as the generated one (--real2), or on the two halves of --real.

  /usr/bin/python3 bench/luxe_fid.py --real test.h5 --real2 test2.h5 --gen gen.h5 [--plots DIR]

Metrics (definitions as gansim-eval's where it has them):
  KL per feature: 100 linear bins on the real sample's 0.1-99.9 % range, under- and
    overflow clamped into the end bins, eps = 1e-6 smoothing, natural log
    (metrics/mt.h); also on log10 t.
  x-y 2-D KL: the same on a 50 x 50 grid (each axis on its 0.1-99.9 % range).
  Classifier AUC: a gradient-boosted classifier (sklearn HistGradientBoosting) on
    x, y, px, py, pz, log10 t, r, species; trained on half, ROC AUC on the other half.
  Region fractions: inner r < R0, outer r >= R0 (R0 = 500 mm) with binomial sigma.
  Late tail: particles with t > 1e6 ns, gen / real.
Prints a table; --json FILE writes everything.
"""
import argparse
import json
import sys

import h5py
import numpy as np

EPS = 1e-6
SPECIES = {2112: "n", 22: "gamma", 11: "e-", -11: "e+", 2212: "p", 13: "mu-"}


def load(path):
    with h5py.File(path, "r") as f:
        d = f["events"]
        cols = d.attrs.get("columns", f.attrs.get("columns"))
        if isinstance(cols, bytes):
            cols = cols.decode()
        x = np.asarray(d[...], dtype=np.float64)
        pdg = np.asarray(f["pdg"][...]) if "pdg" in f else np.zeros(len(x), np.int32)
    return x, pdg, str(cols).split(",")


def hist_p(v, lo, hi, nb):
    v = np.clip(v, lo, hi)
    c, _ = np.histogram(v, bins=nb, range=(lo, hi))
    p = c / max(c.sum(), 1)
    return (p + EPS) / (1 + nb * EPS)


def kl1(real, gen, nb=100):
    lo, hi = np.quantile(real, [0.001, 0.999])
    if hi <= lo:
        lo, hi = lo - 0.5 * max(1, abs(lo)), lo + 0.5 * max(1, abs(lo))
    p, q = hist_p(real, lo, hi, nb), hist_p(gen, lo, hi, nb)
    return float(np.sum(p * np.log(p / q)))


def kl2(rx, ry, gx, gy, nb=50):
    if len(rx) < 50 or len(gx) < 50:
        return float("nan")  # a subset this small (or empty) has no 2-D histogram
    ex = np.linspace(*np.quantile(rx, [0.001, 0.999]), nb + 1)
    ey = np.linspace(*np.quantile(ry, [0.001, 0.999]), nb + 1)

    def h(x, y):
        x = np.clip(x, ex[0], ex[-1])
        y = np.clip(y, ey[0], ey[-1])
        c, _, _ = np.histogram2d(x, y, bins=[ex, ey])
        p = c.ravel() / max(c.sum(), 1)
        return (p + EPS) / (1 + p.size * EPS)

    p, q = h(rx, ry), h(gx, gy)
    return float(np.sum(p * np.log(p / q)))


def features(x, cols):
    i = {c: k for k, c in enumerate(cols)}
    out = {c: x[:, i[c]] for c in cols}
    if "t" in i:
        out["log10t"] = np.log10(np.maximum(x[:, i["t"]], 1e-30))
    return out


def kl_table(r, rp, g, gp, cols, mask_r=None, mask_g=None):
    fr, fg = features(r, cols), features(g, cols)
    res = {}
    for k in fr:
        a, b = fr[k], fg[k]
        if mask_r is not None:
            a, b = a[mask_r], b[mask_g]
        if len(a) < 50 or len(b) < 50:
            return None
        res[k] = kl1(a, b)
    res["mean"] = float(np.mean([res[c] for c in cols]))
    return res


def auc(r, rp, g, gp, cols, seed=0, nmax=200000):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    rng = np.random.default_rng(seed)

    def feats(x, p):
        f = features(x, cols)
        cols2 = [c for c in cols if c != "t"] + ["log10t"]
        m = np.stack([f[c] for c in cols2], 1)
        rr = np.hypot(f["x"], f["y"])[:, None]
        sp = np.searchsorted(codes, p)[:, None].astype(np.float64)  # species as 0..k-1
        return np.concatenate([m, rr, sp], 1)

    codes = np.unique(np.concatenate([rp, gp]))
    n = min(len(r), len(g), nmax)
    ir, ig = rng.permutation(len(r))[:n], rng.permutation(len(g))[:n]
    X = np.concatenate([feats(r[ir], rp[ir]), feats(g[ig], gp[ig])])
    y = np.concatenate([np.zeros(n), np.ones(n)])
    perm = rng.permutation(2 * n)
    X, y = X[perm], y[perm]
    h = n
    clf = HistGradientBoostingClassifier(max_iter=200, random_state=seed,
                                         categorical_features=[X.shape[1] - 1])
    clf.fit(X[:h], y[:h])
    return float(roc_auc_score(y[h:], clf.predict_proba(X[h:])[:, 1]))


def summary(r, rp, g, gp, cols, r0, do_auc):
    out = {}
    rr, rg = np.hypot(r[:, 0], r[:, 1]), np.hypot(g[:, 0], g[:, 1])
    out["all"] = kl_table(r, rp, g, gp, cols)
    out["inner"] = kl_table(r, rp, g, gp, cols, rr < r0, rg < r0)
    out["outer"] = kl_table(r, rp, g, gp, cols, rr >= r0, rg >= r0)
    for code, name in SPECIES.items():
        out[name] = kl_table(r, rp, g, gp, cols, rp == code, gp == code)
        for reg, mr, mg in (("inner", rr < r0, rg < r0), ("outer", rr >= r0, rg >= r0)):
            out[f"{reg}.{name}"] = kl_table(r, rp, g, gp, cols, mr & (rp == code),
                                            mg & (gp == code))
    out["xy2d"] = kl2(r[:, 0], r[:, 1], g[:, 0], g[:, 1])
    out["xy2d_outer"] = kl2(r[rr >= r0, 0], r[rr >= r0, 1], g[rg >= r0, 0], g[rg >= r0, 1])
    it = cols.index("t")
    out["tail_1e6"] = [int((r[:, it] > 1e6).sum()), int((g[:, it] > 1e6).sum())]
    out["n"] = [len(r), len(g)]
    out["outer_n"] = [int((rr >= r0).sum()), int((rg >= r0).sum())]
    out["rmax"] = [float(rr.max()), float(rg.max())]
    out["species_n"] = {SPECIES[c]: [int((rp == c).sum()), int((gp == c).sum())]
                        for c in SPECIES}
    if do_auc:
        out["auc"] = auc(r, rp, g, gp, cols)
    return out


def plots(r, rp, g, gp, cols, d, r0):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm
    for name, lim in (("xy", 3000), ("xy_zoom", 900)):
        fig, ax = plt.subplots(1, 2, figsize=(12, 5.4))
        h = []
        for a, x, t in ((ax[0], r, "real"), (ax[1], g, "generated")):
            c, xe, ye = np.histogram2d(x[:, 0], x[:, 1], bins=150,
                                       range=[[-lim, lim], [-lim, lim]])
            h.append(c)
        vmax = max(hh.max() for hh in h)
        for a, c, t in ((ax[0], h[0], "real"), (ax[1], h[1], "generated")):
            im = a.imshow(c.T + 0.5, origin="lower", extent=[-lim, lim, -lim, lim],
                          norm=LogNorm(vmin=0.5, vmax=vmax), cmap="viridis")
            a.add_patch(plt.Circle((0, 0), r0, fill=False, color="w", lw=0.6, ls="--"))
            a.set_title(f"{t} ({len(x)} particles)")
            a.set_xlabel("x [mm]")
            a.set_ylabel("y [mm]")
        fig.colorbar(im, ax=ax, label="particles / bin")
        fig.savefig(f"{d}/{name}.png", dpi=80)
        plt.close(fig)
    fr, fg = features(r, cols), features(g, cols)
    keys = [c for c in cols if c != "t"] + ["log10t"]
    fig, ax = plt.subplots(2, len(keys), figsize=(3.2 * len(keys), 5.5),
                           gridspec_kw={"height_ratios": [3, 1]})
    for j, k in enumerate(keys):
        lo, hi = np.quantile(fr[k], [0.001, 0.999])
        e = np.linspace(lo, hi, 101)
        cr, _ = np.histogram(fr[k], e)
        cg, _ = np.histogram(fg[k], e)
        cg = cg * len(fr[k]) / len(fg[k])
        ax[0, j].stairs(cr, e, label="real")
        ax[0, j].stairs(cg, e, label="gen", color="r")
        ax[0, j].set_yscale("log")
        ax[0, j].set_title(k)
        with np.errstate(divide="ignore", invalid="ignore"):
            ax[1, j].stairs(cg / cr, e, color="r")
        ax[1, j].axhline(1, color="k", lw=0.5)
        ax[1, j].set_ylim(0.5, 1.5)
    ax[0, 0].legend()
    fig.tight_layout()
    fig.savefig(f"{d}/hist.png", dpi=70)
    plt.close(fig)


def fmt_row(name, m, fl):
    if m is None or fl is None:
        return f"{name:14s}  (too few rows)"
    keys = [k for k in m if k != "mean"]
    s = " ".join(f"{m[k]:.4f}/{fl[k]:.4f}" for k in keys)
    return f"{name:14s} mean {m['mean']:.4f} floor {fl['mean']:.4f} ratio " \
           f"{m['mean'] / fl['mean']:5.1f} | {s}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--real", required=True)
    ap.add_argument("--real2", help="second real sample for the floor (else halves of --real)")
    ap.add_argument("--gen", required=True)
    ap.add_argument("--r0", type=float, default=500.0)
    ap.add_argument("--plots")
    ap.add_argument("--no-auc", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    r, rp, cols = load(a.real)
    g, gp, gcols = load(a.gen)
    if gcols != cols:
        sys.exit(f"columns differ: {cols} vs {gcols}")
    if a.real2:
        r2, r2p, _ = load(a.real2)
    else:
        h = len(r) // 2
        r, rp, r2, r2p = r[:h], rp[:h], r[h:], rp[h:]
    n = min(len(g), len(r2))
    g, gp, r2, r2p = g[:n], gp[:n], r2[:n], r2p[:n]
    model = summary(r, rp, g, gp, cols, a.r0, not a.no_auc)
    floor = summary(r, rp, r2, r2p, cols, a.r0, not a.no_auc)
    print(f"KL model/floor (features: {', '.join(cols)}, log10t; mean over {', '.join(cols)})")
    for k in model:
        if isinstance(model[k], dict) and "mean" in model[k] or model[k] is None:
            print(fmt_row(k, model[k], floor[k]))
    print(f"xy 2-D KL: model {model['xy2d']:.4f} floor {floor['xy2d']:.4f} ratio "
          f"{model['xy2d'] / floor['xy2d']:.1f};  outer: {model['xy2d_outer']:.4f} / "
          f"{floor['xy2d_outer']:.4f} ratio {model['xy2d_outer'] / floor['xy2d_outer']:.1f}")
    if "auc" in model:
        print(f"classifier AUC: model {model['auc']:.4f}  floor {floor['auc']:.4f}")
    nr, ng = model["n"]
    for lab, key in (("outer r>=R0", "outer_n"), ("t>1e6 ns", "tail_1e6")):
        cr, cg = model[key]
        c2 = floor[key][1]
        exp = cr * ng / nr
        sig = np.sqrt(exp * (1 - cr / nr)) if 0 < cr < nr else 1.0
        rel = max(exp, 1.0)  # an empty real subset (one region only) has no relative error
        print(f"{lab:12s} real {cr} (scaled {exp:.0f})  gen {cg} ({(cg - exp) / rel * 100:+.1f} %,"
              f" {(cg - exp) / sig:+.1f} sigma)  real2 {c2} ({(c2 - exp) / rel * 100:+.1f} %)")
    for sname, (cr, cg) in model["species_n"].items():
        exp = cr * ng / nr
        print(f"species {sname:6s} real {cr} gen {cg} ({(cg - exp) / max(exp, 1) * 100:+.1f} %)")
    print(f"max r: real {model['rmax'][0]:.0f} mm, gen {model['rmax'][1]:.0f} mm")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"model": model, "floor": floor}, f, indent=1)
    if a.plots:
        plots(r, rp, g, gp, cols, a.plots, a.r0)


if __name__ == "__main__":
    main()
