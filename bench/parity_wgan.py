#!/usr/bin/python3
"""Numerical parity of one full WGAN-GP step, gansim vs PyTorch (developer-side).

Builds bench/parity_wgan.c against build/libgansim.a (run `make` first),
creates the luxe reference generator and critic in PyTorch (its default
init, fixed seed), writes their weights under gansim's parameter names and
the step's inputs (real rows, noise, interpolation eps, generator noise) to
HDF5, and compares: the critic loss with the gradient penalty (through
torch.autograd.grad(create_graph=True)), the Wasserstein estimate and the
penalty, then, after a critic Adam(1e-4, (0.5, 0.9)) update, the generator
loss, and after a generator update the critic loss again — so the double
backward and both optimizer updates are covered. Exit 1 when any relative
difference exceeds 1e-4.

    /usr/bin/python3 bench/parity_wgan.py [--batch B] [--seed S]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_ref import LuxeWGAN  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TOL = 1e-4


def pkg(args, path=None):
    env = dict(os.environ)
    if path:
        env["PKG_CONFIG_PATH"] = path
    return subprocess.run(["pkg-config"] + args, capture_output=True, text=True, env=env,
                          check=True).stdout.split()


def build_driver(tmp):
    lib = os.path.join(ROOT, "build", "libgansim.a")
    if not os.path.exists(lib):
        sys.exit("parity_wgan: %s missing; run `make` first" % lib)
    exe = os.path.join(tmp, "parity_wgan")
    ob = "/usr/lib/x86_64-linux-gnu/openblas-openmp/pkgconfig"
    libdir = pkg(["--variable=libdir", "openblas"], ob)[0]
    subprocess.run(["cc", "-std=c11", "-D_GNU_SOURCE", "-O2", "-fopenmp", "-I", ROOT]
                   + pkg(["--cflags", "hdf5", "inih"]) + pkg(["--cflags", "openblas"], ob)
                   + [os.path.join(HERE, "parity_wgan.c"), lib] + pkg(["--libs", "hdf5", "inih"])
                   + ["-L" + libdir, "-Wl,-rpath," + libdir, "-lopenblas", "-lm", "-o", exe],
                   check=True)
    return exe


def export(path, m, real, z, eps, z2):
    with h5py.File(path, "w") as f:
        for name, net in (("G", m.G), ("D", m.D)):
            g = f.create_group(name)
            linears = [l for l in net if isinstance(l, torch.nn.Linear)]
            for i, l in enumerate(linears):
                g["%s.l%d.w" % (name, i)] = l.weight.detach().numpy()
                g["%s.l%d.b" % (name, i)] = l.bias.detach().numpy()
        f["real"], f["z"], f["z2"] = real.numpy(), z.numpy(), z2.numpy()
        f["eps"] = eps[:, 0].numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    m = LuxeWGAN(a.batch)
    b = a.batch
    real = torch.randn(b, 6)
    z, z2, eps = torch.randn(b, 50), torch.randn(b, 50), torch.rand(b, 1)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "step.h5")
        export(path, m, real, z, eps, z2)
        exe = build_driver(tmp)
        out = subprocess.run([exe, path], capture_output=True, text=True, check=True).stdout
    got = [float(v) for v in out.split()]
    # the same step in PyTorch
    ld, wd, gp = m.critic_loss(real, z, eps)
    m.oD.zero_grad(set_to_none=True)
    ld.backward()
    m.oD.step()
    for p in m.D.parameters():
        p.requires_grad_(False)
    lg = -m.D(m.G(z2)).mean()
    m.oG.zero_grad(set_to_none=True)
    lg.backward()
    m.oG.step()
    for p in m.D.parameters():
        p.requires_grad_(True)
    ld2, _, _ = m.critic_loss(real, z, eps)
    ref = [ld.item(), wd.item(), gp.item(), lg.item(), ld2.item()]
    names = ["critic loss", "W estimate", "gradient penalty", "generator loss (after D update)",
             "critic loss (after both updates)"]
    worst = 0.0
    print("%-34s %16s %16s %10s" % ("quantity", "gansim", "pytorch", "rel diff"))
    for n, g_, r_ in zip(names, got, ref):
        rel = abs(g_ - r_) / max(abs(r_), 1e-30)
        worst = max(worst, rel)
        print("%-34s %16.9g %16.9g %10.2e" % (n, g_, r_, rel))
    print("worst relative difference %.2e (tolerance %.0e): %s"
          % (worst, TOL, "PASS" if worst <= TOL else "FAIL"))
    return 0 if worst <= TOL else 1


if __name__ == "__main__":
    sys.exit(main())
