#!/usr/bin/env python3
"""Data-parallel scaling model for gansim training (docs/scaling.md).

A step on P ranks = the compute of b/P rows on one rank + the all-reduces
of the gradients (not overlapped: gansim sums a network's gradients after
its backward pass), each costing, for n bytes (Thakur, Rabenseifner & Gropp,
"Optimization of collective communication operations in MPICH", IJHPCA 2005):

  ring                     2 (P-1) alpha + 2 (P-1)/P n / B
  recursive halving/doubling
  (Rabenseifner)           2 log2(P) alpha + 2 (P-1)/P n / B

MPI libraries pick per message size; the model takes the cheaper of the two.
alpha: per-message latency; B: link bandwidth. The compute time per step is
linear in the rows a rank runs, T(r) = t0 + r t1, fitted to measured steps/s;
efficiency = T(b) / (P (T(b/P) + comm)).

Plain Python 3, no dependencies:
    python3 bench/scaling_model.py                 # the tables of docs/scaling.md
    python3 bench/scaling_model.py --alpha-us 1.5 --bw-gbs 5 --ranks 2   # this machine
"""
import argparse
import math

# Parameters (floats) of the default networks, from the checkpoints
# (h5ls -r run/last.h5): luxe G 50-300-300-300-6, D 6-300-300-300-1; zdc G
# and D of the default zdc config. A rank is one 2-core machine like the one
# the step times come from; a node k times faster needs k times the rows per
# rank for the same efficiency.
MODELS = {
    # per generator step: n_critic critic all-reduces + 1 generator all-reduce,
    # each carrying the losses (3 and 1 floats); plus the stop flag (8 bytes)
    "luxe": {"allreduces": [183001 + 3] * 5 + [197706 + 1], "flags": 1,
             # steps/s on one rank = one 2-core machine (docs/performance.md,
             # idle machine, T=2): b256 29.52, b1024 7.98
             "fit": [(256, 1 / 29.52), (1024, 1 / 7.98)]},
    # D and G with their loss terms (1 and 4 floats), then the generator's
    # batch-norm running statistics (448 floats, averaged over the ranks)
    "zdc": {"allreduces": [552833 + 1, 379713 + 4, 448], "flags": 1,
            # b64 5.282, b256 1.27 steps/s (T=2)
            "fit": [(64, 1 / 5.282), (256, 1 / 1.27)]},
}

NETWORKS = [  # name, alpha (s), bandwidth (bytes/s)
    ("10 Gb/s Ethernet (TCP)", 25e-6, 10e9 / 8),
    ("25 Gb/s Ethernet (TCP)", 15e-6, 25e9 / 8),
    ("100 Gb/s InfiniBand", 2e-6, 100e9 / 8),
]


def fit(points):
    (r1, t1), (r2, t2) = points
    slope = (t2 - t1) / (r2 - r1)
    return max(t1 - slope * r1, 0.0), slope


def allreduce_s(n_bytes, p, alpha, bw):
    if p <= 1:
        return 0.0
    bwterm = 2.0 * (p - 1) / p * n_bytes / bw
    ring = 2 * (p - 1) * alpha + bwterm
    rab = 2 * math.ceil(math.log2(p)) * alpha + bwterm
    return min(ring, rab)


def comm_s(model, p, alpha, bw):
    m = MODELS[model]
    t = sum(allreduce_s(4 * n, p, alpha, bw) for n in m["allreduces"])
    return t + m["flags"] * allreduce_s(8, p, alpha, bw)


def step_s(model, batch, p):
    t0, t1 = fit(MODELS[model]["fit"])
    return t0 + t1 * batch / p


def efficiency(model, batch, p, alpha, bw):
    """Speed-up over one rank, divided by P. The per-step overhead t0 (Adam,
    drawing the whole batch's random numbers, fork/joins) runs on every rank
    and does not shrink with P: it counts against the efficiency (Amdahl)."""
    return step_s(model, batch, 1) / (p * (step_s(model, batch, p) + comm_s(model, p, alpha, bw)))


def batch_for(model, p, alpha, bw, target=0.8):
    """Smallest global batch (a multiple of p) with efficiency >= target."""
    b = p
    while efficiency(model, b, p, alpha, bw) < target:
        b *= 2
    lo, hi = b // 2, b
    while hi - lo > p:
        mid = (lo + hi) // 2 // p * p
        if mid <= lo:
            break
        if efficiency(model, mid, p, alpha, bw) >= target:
            hi = mid
        else:
            lo = mid
    return hi


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--alpha-us", type=float, help="one network: latency in microseconds")
    ap.add_argument("--bw-gbs", type=float, help="one network: bandwidth in GB/s")
    ap.add_argument("--ranks", type=int, nargs="*", default=[2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
    args = ap.parse_args()
    nets = NETWORKS
    if args.alpha_us is not None and args.bw_gbs is not None:
        nets = [("given", args.alpha_us * 1e-6, args.bw_gbs * 1e9)]
    for model, batch in (("luxe", 1024), ("zdc", 256)):
        m = MODELS[model]
        t0, t1 = fit(m["fit"])
        nbytes = 4 * sum(m["allreduces"])
        print(f"## {model}: {len(m['allreduces'])} all-reduces per step, "
              f"{nbytes / 1e6:.2f} MB per step; compute T(r) = {1e3 * t0:.2f} ms + r x "
              f"{1e3 * t1:.4f} ms per rank (r rows)")
        print()
        print(f"predicted efficiency, global batch {batch} (strong scaling):")
        print()
        print("| ranks | compute ms | " + " | ".join(f"comm ms / eff. {n[0]}" for n in nets) + " |")
        print("|---|---|" + "---|" * len(nets))
        for p in args.ranks:
            cells = [f"{1e3 * comm_s(model, p, a, b):.2f} / {100 * efficiency(model, batch, p, a, b):.0f} %"
                     for _, a, b in nets]
            print(f"| {p} | {1e3 * step_s(model, batch, p):.2f} | " + " | ".join(cells) + " |")
        print()
        print("global batch for >= 80 % efficiency:")
        print()
        print("| ranks | " + " | ".join(n[0] for n in nets) + " |")
        print("|---|" + "---|" * len(nets))
        for p in args.ranks:
            cells = []
            for _, a, b in nets:
                g = batch_for(model, p, a, b)
                cells.append(f"{g} ({g // p}/rank)")
            print(f"| {p} | " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main()
