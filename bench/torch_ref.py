#!/usr/bin/python3
"""PyTorch mirrors of the models gansim-bench measures, timed the way
gansim-bench times gansim (best of `reps` after `warmup` runs): the reference
LUXE WGAN-GP of docs/luxe.md and the plain zdc GAN step that gansim-bench's sections zdc and
zdc-gen pin (tools/gansim-bench.c, zdc_plain_cfg; not `gansim-train zdc`'s default recipe,
whose regularisers, spectral norm and channel sums have no counterpart here: gansim-bench's
zdc-recipe row times that, gansim only). Developer-side only: `make test` never needs PyTorch.
One measurement per process; prints one JSON line:
{"impl": "torch", "what": ..., "batch": ..., "ms": ..., "per_s": ..., "rss_kb": ...}

  luxe-train : one WGAN-GP generator step (5 critic steps with the gradient
               penalty through torch.autograd.grad(create_graph=True), then
               one generator update), Adam(1e-4, betas=(0.5, 0.9))
  luxe-gen   : generator forward on `batch` noise vectors (no grad)
  zdc-train  : one discriminator + one generator update (BCE, Adam 1e-4, no regulariser)
               and the generator weight average, as gansim-bench's section zdc
  zdc-gen    : the zdc generator (eval mode, no grad) and exp(y) - 1 on its output,
               as `gansim-sample` (which folds batch norm into the layers)
"""
import argparse
import copy
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


# ZDC: the plain conditional GAN step that gansim-bench's zdc sections pin
# (tools/gansim-bench.c, zdc_plain_cfg: keep the two in step), layer by layer as
# models/md_zdc_nets.c builds it with that configuration: noise 10, conditions 9;
# G: linear (noise ‖ cond) -> 128 x 14 x 8, then [batch norm, LeakyReLU 0.2, upsample x2,
# conv 3x3] twice (128 -> 64 -> 32), batch norm, LeakyReLU, conv 3x3 32 -> 1, ReLU, centre
# crop to 56 x 30 (gansim runs each upsample + conv as the equivalent sub-pixel 2x2 conv,
# same function, fewer FLOPs); D: three [conv 3x3 stride 2, LeakyReLU 0.2, dropout 0.2]
# (32, 64, 128; no batch norm, no spectral norm), flatten ‖ cond (no channel sums),
# linear 128, LeakyReLU, linear 1; D stays in training mode (dropout on) in both updates;
# BCE with logits, no regulariser; Adam(1e-4, betas=(0.5, 0.999)) for both; the generator
# weight average, decay 0.995 from the first step (no warm-up), over the parameters and the
# batch-norm running mean and variance (num_batches_tracked, an integer, is not averaged;
# gansim has no such buffer), after every generator update.
class ZdcG(nn.Module):
    def __init__(self, noise=10, n_cond=9, ch=(128, 64, 32), h=56, w=30):
        super().__init__()
        self.h0, self.w0, self.h, self.w, self.ch0 = (h + 3) // 4, (w + 3) // 4, h, w, ch[0]
        self.fc = nn.Linear(noise + n_cond, ch[0] * self.h0 * self.w0)
        self.net = nn.Sequential(
            nn.BatchNorm2d(ch[0]), nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2), nn.Conv2d(ch[0], ch[1], 3, padding=1),
            nn.BatchNorm2d(ch[1]), nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2), nn.Conv2d(ch[1], ch[2], 3, padding=1),
            nn.BatchNorm2d(ch[2]), nn.LeakyReLU(0.2),
            nn.Conv2d(ch[2], 1, 3, padding=1), nn.ReLU())

    def forward(self, z, c):
        x = self.fc(torch.cat([z, c], 1)).view(-1, self.ch0, self.h0, self.w0)
        # centre crop of the 4 h0 x 4 w0 plane, as md_zdc_gen_fwd
        top, left = (4 * self.h0 - self.h) // 2, (4 * self.w0 - self.w) // 2
        return self.net(x)[:, :, top:top + self.h, left:left + self.w]


def conv_s2(n):
    return (n + 2 - 3) // 2 + 1


class ZdcD(nn.Module):
    def __init__(self, n_cond=9, ch=(32, 64, 128), hidden=128, h=56, w=30, dropout=0.2):
        super().__init__()
        layers, cin = [], 1
        for c in ch:
            layers += [nn.Conv2d(cin, c, 3, 2, 1), nn.LeakyReLU(0.2), nn.Dropout(dropout)]
            cin, h, w = c, conv_s2(h), conv_s2(w)
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Linear(cin * h * w + n_cond, hidden), nn.LeakyReLU(0.2),
                                nn.Linear(hidden, 1))

    def forward(self, x, c):
        return self.fc(torch.cat([self.conv(x).flatten(1), c], 1))


class Zdc:
    def __init__(self, batch, ema=0.995):
        self.G, self.D = ZdcG(), ZdcD()
        self.G_ema = copy.deepcopy(self.G)
        for p in self.G_ema.parameters():
            p.requires_grad_(False)
        self.ema = ema
        self.oG = torch.optim.Adam(self.G.parameters(), lr=1e-4, betas=(0.5, 0.999))
        self.oD = torch.optim.Adam(self.D.parameters(), lr=1e-4, betas=(0.5, 0.999))
        self.img = torch.rand(batch, 1, 56, 30) * 2 - 1
        self.cond = torch.rand(batch, 9) * 2 - 1
        self.batch = batch
        self.bce = nn.BCEWithLogitsLoss()
        self.ones, self.zeros = torch.ones(batch, 1), torch.zeros(batch, 1)

    def step(self):
        b, c = self.batch, self.cond
        with torch.no_grad():  # G in training mode: batch statistics, running stats updated
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
        with torch.no_grad():  # the weight average, batch norm statistics included
            for pe, p in zip(self.G_ema.parameters(), self.G.parameters()):
                pe.mul_(self.ema).add_(p, alpha=1 - self.ema)
            for be, bg in zip(self.G_ema.buffers(), self.G.buffers()):
                if be.dtype.is_floating_point:
                    be.mul_(self.ema).add_(bg, alpha=1 - self.ema)


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
                torch.expm1(G(torch.randn(a.batch, 10), cond))
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
