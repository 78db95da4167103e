#!/usr/bin/python3
"""A second beam-dump-like toy, written apart from datasets/ds_toy.c, to check
that the LUXE pipeline is not tuned to its own toy (developer side: Debian's
python3-numpy and python3-h5py).

  /usr/bin/python3 bench/toy_dump2.py -n 300000 --seed 1 -o dump2.h5

What differs from `gansim-datagen luxe`, on purpose:
  - species: n 0.50, gamma 0.33, e- 0.05, e+ 0.03, p 0.05, mu- 0.04 (six, two
    of them absent from the other toy);
  - core: an elliptical Gaussian (sigma_x 80 mm, sigma_y 40 mm) centred at
    x = +100 mm (the other toy: round, on the axis);
  - halo: a King profile, density ~ (1 + r^2/a^2)^-beta (a = 400 mm, beta = 2.0,
    a power-law tail, not exponential), truncated at 4000 mm, centred at
    y = +150 mm, with a quadrupole azimuthal modulation 1 + 0.5 cos(2 phi);
  - energies: log-normal mixtures per species;
  - direction: polar angle from the -z axis atan(r / 2500 mm) smeared by
    0.3 rad, azimuth the position's +- 0.5 rad (halo) or uniform (core);
  - time strongly correlated with the radius: log10(t / ns) = 1 + 2 r / (1 m)
    + a slow-neutron term + N(0, 0.5), clipped to [1, 1e8] ns.
Writes /events [N, 6] float32 (x,y,px,py,pz,t in mm,mm,GeV,GeV,GeV,ns), /pdg int32
and particles_per_bx = 5000.
"""
import argparse

import h5py
import numpy as np

SPECIES = [(2112, 0.50, 0.9395654), (22, 0.33, 0.0), (11, 0.05, 0.000511),
           (-11, 0.03, 0.000511), (2212, 0.05, 0.9382721), (13, 0.04, 0.1056584)]
CORE_FRAC = {2112: 0.25, 22: 0.5, 11: 0.6, -11: 0.6, 2212: 0.2, 13: 0.7}


def king_radius(rng, n, a=400.0, beta=2.0, rmax=4000.0):
    out = np.empty(0)
    while len(out) < n:
        u = rng.random(2 * n)
        r = a * np.sqrt((1 - u) ** (1 / (1 - beta)) - 1)
        out = np.concatenate([out, r[r < rmax]])
    return out[:n]


def quadrupole_phi(rng, n):
    out = np.empty(0)
    while len(out) < n:
        phi = rng.uniform(-np.pi, np.pi, 2 * n)
        keep = rng.random(2 * n) * 1.5 < 1 + 0.5 * np.cos(2 * phi)
        out = np.concatenate([out, phi[keep]])
    return out[:n]


def kinetic_energy(rng, code, n):
    if code == 2112:
        slow = rng.random(n) < 0.3
        return np.where(slow, 10 ** rng.normal(-6.5, 1.0, n), 10 ** rng.normal(-2.5, 0.6, n))
    if code == 22:
        line = rng.random(n) < 0.1
        return np.where(line, 0.511e-3 * (1 + 0.003 * rng.normal(size=n)),
                        rng.exponential(2e-3, n) + 1e-5)
    if code in (11, -11):
        return 10 ** rng.normal(-2.0, 0.5, n)
    if code == 2212:
        return 10 ** rng.normal(-1.2, 0.3, n)
    return 10 ** rng.normal(0.0, 0.2, n)


def generate(n, seed):
    rng = np.random.default_rng(seed)
    codes = np.array([s[0] for s in SPECIES])
    probs = np.array([s[1] for s in SPECIES])
    which = rng.choice(len(SPECIES), n, p=probs / probs.sum())
    x = np.empty(n)
    y = np.empty(n)
    px = np.empty(n)
    py = np.empty(n)
    pz = np.empty(n)
    t = np.empty(n)
    for k, (code, _, mass) in enumerate(SPECIES):
        idx = np.flatnonzero(which == k)
        m = len(idx)
        core = rng.random(m) < CORE_FRAC[code]
        xs = np.where(core, 100 + 80 * rng.normal(size=m), 0.0)
        ys = np.where(core, 40 * rng.normal(size=m), 0.0)
        nh = int((~core).sum())
        rh = king_radius(rng, nh)
        ph = quadrupole_phi(rng, nh)
        xs[~core] = rh * np.cos(ph)
        ys[~core] = 150 + rh * np.sin(ph)
        r = np.hypot(xs, ys)
        ekin = np.clip(kinetic_energy(rng, code, m), 1e-9, 5.0)
        p = np.sqrt(ekin * (ekin + 2 * mass))
        theta = np.abs(np.arctan(r / 2500.0) + 0.3 * rng.normal(size=m))
        theta = np.minimum(theta, np.pi / 2 - 1e-3)
        az = np.where(core, rng.uniform(-np.pi, np.pi, m),
                      np.arctan2(ys, xs) + 0.5 * rng.normal(size=m))
        px[idx] = p * np.sin(theta) * np.cos(az)
        py[idx] = p * np.sin(theta) * np.sin(az)
        pz[idx] = -p * np.cos(theta)
        slow = np.where(code == 2112, 0.5 * np.maximum(0, -np.log10(ekin) - 3), 0.0)
        lt = 1 + 2 * r / 1000.0 + slow + 0.5 * rng.normal(size=m)
        t[idx] = 10 ** np.clip(lt, 0, 8)
        x[idx] = xs
        y[idx] = ys
    ev = np.stack([x, y, px, py, pz, t], 1).astype(np.float32)
    return ev, codes[which].astype(np.int32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=300000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", required=True)
    a = ap.parse_args()
    ev, pdg = generate(a.n, a.seed)
    with h5py.File(a.o, "w") as f:
        d = f.create_dataset("events", data=ev)
        d.attrs["columns"] = "x,y,px,py,pz,t"
        d.attrs["units"] = "mm,mm,GeV,GeV,GeV,ns"
        f.create_dataset("pdg", data=pdg)
        f.attrs["particles_per_bx"] = 5000.0


if __name__ == "__main__":
    main()
