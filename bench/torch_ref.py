#!/usr/bin/python3
"""PyTorch reference models of design.md §5, timed the way gansim-bench times
gansim (best of `reps` after `warmup` runs). Developer-side only: `make test`
never needs PyTorch. One measurement per process; prints one JSON line:
{"impl": "torch", "what": ..., "batch": ..., "ms": ..., "per_s": ..., "rss_kb": ...}

  luxe-train : one WGAN-GP generator step (5 critic steps with the gradient
               penalty through torch.autograd.grad(create_graph=True), then
               one generator update), Adam(1e-4, betas=(0.5, 0.9))
  luxe-gen   : generator forward on `batch` noise vectors (no grad)
  zdc-train  : one discriminator + one generator update (BCE, Adam 1e-4)
  zdc-gen    : zdc generator forward (eval mode, no grad)
"""
import argparse
import json
import time

import torch
import torch.nn as nn


def luxe_mlp(n_in, n_out, width=300, depth=3, slope=0.2):
    layers, d = [], n_in
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.LeakyReLU(slope)]
        d = width
    layers.append(nn.Linear(d, n_out))
    return nn.Sequential(*layers)


class LuxeWGAN:
    """noise 50 -> 300 x3 -> 6 generator, 6 -> 300 x3 -> 1 critic."""

    def __init__(self, batch, n_rows=65536, f=6, noise=50, lam=10.0, n_critic=5):
        self.G, self.D = luxe_mlp(noise, f), luxe_mlp(f, 1)
        self.oG = torch.optim.Adam(self.G.parameters(), lr=1e-4, betas=(0.5, 0.9))
        self.oD = torch.optim.Adam(self.D.parameters(), lr=1e-4, betas=(0.5, 0.9))
        self.data = torch.rand(n_rows, f) * 2 - 1
        self.batch, self.noise, self.lam, self.n_critic = batch, noise, lam, n_critic

    def critic_loss(self, real, z, eps):
        with torch.no_grad():
            fake = self.G(z)
        wdist = self.D(real).mean() - self.D(fake).mean()
        xh = (eps * real + (1 - eps) * fake).requires_grad_(True)
        gx, = torch.autograd.grad(self.D(xh).sum(), xh, create_graph=True)
        gp = ((gx.square().sum(1) + 1e-12).sqrt() - 1).square().mean()
        return -wdist + self.lam * gp, wdist, gp

    def step(self):
        b = self.batch
        for _ in range(self.n_critic):
            real = self.data[torch.randint(0, self.data.shape[0], (b,))]
            loss, _, _ = self.critic_loss(real, torch.randn(b, self.noise), torch.rand(b, 1))
            self.oD.zero_grad(set_to_none=True)
            loss.backward()
            self.oD.step()
        for p in self.D.parameters():
            p.requires_grad_(False)
        lg = -self.D(self.G(torch.randn(b, self.noise))).mean()
        self.oG.zero_grad(set_to_none=True)
        lg.backward()
        self.oG.step()
        for p in self.D.parameters():
            p.requires_grad_(True)


class ZdcG(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(19, 128 * 14 * 8)
        self.net = nn.Sequential(
            nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2), nn.Conv2d(128, 64, 3, padding=1),
            nn.BatchNorm2d(64), nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2), nn.Conv2d(64, 32, 3, padding=1),
            nn.BatchNorm2d(32), nn.LeakyReLU(0.2),
            nn.Conv2d(32, 1, 3, padding=1), nn.ReLU())

    def forward(self, z, c):
        x = self.fc(torch.cat([z, c], 1)).view(-1, 128, 14, 8)
        return self.net(x)[:, :, :56, :30]


class ZdcD(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 32, 3, 2, 1), nn.LeakyReLU(0.2), nn.Dropout(0.2),
            nn.Conv2d(32, 64, 3, 2, 1), nn.BatchNorm2d(64), nn.LeakyReLU(0.2), nn.Dropout(0.2),
            nn.Conv2d(64, 128, 3, 2, 1), nn.LeakyReLU(0.2), nn.Dropout(0.2))
        self.fc = nn.Sequential(nn.Linear(128 * 7 * 4 + 9, 128), nn.LeakyReLU(0.2),
                                nn.Linear(128, 1))

    def forward(self, x, c):
        return self.fc(torch.cat([self.conv(x).flatten(1), c], 1))


class Zdc:
    def __init__(self, batch):
        self.G, self.D = ZdcG(), ZdcD()
        self.oG = torch.optim.Adam(self.G.parameters(), lr=1e-4)
        self.oD = torch.optim.Adam(self.D.parameters(), lr=1e-4)
        self.img = torch.rand(batch, 1, 56, 30) * 2 - 1
        self.cond = torch.rand(batch, 9) * 2 - 1
        self.batch = batch
        self.bce = nn.BCEWithLogitsLoss()
        self.ones, self.zeros = torch.ones(batch, 1), torch.zeros(batch, 1)

    def step(self):
        b, c = self.batch, self.cond
        with torch.no_grad():
            fake = self.G(torch.randn(b, 10), c)
        ld = self.bce(self.D(self.img, c), self.ones) + self.bce(self.D(fake, c), self.zeros)
        self.oD.zero_grad(set_to_none=True)
        ld.backward()
        self.oD.step()
        for p in self.D.parameters():
            p.requires_grad_(False)
        lg = self.bce(self.D(self.G(torch.randn(b, 10), c), c), self.ones)
        self.oG.zero_grad(set_to_none=True)
        lg.backward()
        self.oG.step()
        for p in self.D.parameters():
            p.requires_grad_(True)


def peak_rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["luxe-train", "luxe-gen", "zdc-train", "zdc-gen"])
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    if a.what == "luxe-train":
        m = LuxeWGAN(a.batch)
        run = m.step
    elif a.what == "zdc-train":
        m = Zdc(a.batch)
        run = m.step
    elif a.what == "luxe-gen":
        G = luxe_mlp(50, 6)

        def run():
            with torch.inference_mode():
                G(torch.randn(a.batch, 50))
    else:
        G = ZdcG().eval()
        cond = torch.rand(a.batch, 9)

        def run():
            with torch.inference_mode():
                G(torch.randn(a.batch, 10), cond)
    for _ in range(a.warmup):
        run()
    best = float("inf")
    for _ in range(a.reps):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    per = a.batch / best if a.what.endswith("gen") else 1.0 / best
    print(json.dumps({"impl": "torch", "what": a.what, "batch": a.batch, "threads": a.threads,
                      "ms": 1e3 * best, "per_s": per, "rss_kb": peak_rss_kb()}))


if __name__ == "__main__":
    main()
