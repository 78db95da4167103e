#!/usr/bin/python3
"""gansim vs PyTorch, side by side in one run (`make bench-compare`).

Every measurement runs in its own process (so its peak RSS, read with
wait4's ru_maxrss, is its own), and gansim and PyTorch configurations of a
case alternate for `--rounds` rounds; the best time of each configuration
is kept (noise on a shared machine only ever adds time) and the median peak
RSS. PyTorch is configured at its best for 2 cores: the dense WGAN runs both
as 1 torch thread with OPENBLAS_NUM_THREADS=2 and as 2 torch threads, and the
ratio is taken against the faster. The machine load (uptime) is printed
before and after: read the ratios with it.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bin", "gansim-bench")
TORCH = [sys.executable if "python3" in sys.executable else "/usr/bin/python3",
         os.path.join(ROOT, "bench", "torch_ref.py")]

# case: (label, gansim section, torch what, batch, unit). The zdc sections run the plain GAN
# step that torch_ref.py defines (gansim-bench pins it); gansim-bench's zdc-recipe section,
# `gansim-train zdc`'s default recipe, has no PyTorch counterpart and no case here.
CASES = [
    ("luxe WGAN-GP train b256", "wgan", "luxe-train", 256, "steps/s"),
    ("luxe WGAN-GP train b1024", "wgan", "luxe-train", 1024, "steps/s"),
    ("zdc GAN train b64", "zdc", "zdc-train", 64, "steps/s"),
    ("zdc GAN train b256", "zdc", "zdc-train", 256, "steps/s"),
    ("luxe generation b65536", "gen", "luxe-gen", 65536, "events/s"),
    ("zdc generation b1024", "zdc-gen", "zdc-gen", 1024, "images/s"),
]


def run(cmd, env_extra):
    env = dict(os.environ, **env_extra)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), p.returncode, err.decode()[-500:]))
    return out.decode(), ru.ru_maxrss


def gansim(section, batch, threads, reps, env):
    out, rss = run([BENCH, "--section", section, "--batch", str(batch), "--threads", str(threads),
                    "--no-sgemm", "--json", "--reps", str(reps)], env)
    rows = json.loads(out)["results"]
    # one section at one batch and thread count is one row; more would pair the wrong one
    if len(rows) != 1:
        raise RuntimeError("gansim-bench --section %s --batch %d --threads %d gave %d rows, "
                           "expected 1" % (section, batch, threads, len(rows)))
    row = rows[0]
    return row["ms"], row["per_s"], rss, row["gflop"]


def torch(what, batch, threads, reps, env):
    out, rss = run(TORCH + [what, "--batch", str(batch), "--threads", str(threads),
                            "--reps", str(reps)], env)
    r = json.loads(out.strip().splitlines()[-1])
    return r["ms"], r["per_s"], rss


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", help="substring of the case labels to run")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--wait-policy", choices=["default", "passive"], default="default",
                    help="OMP_WAIT_POLICY for every OpenMP user; passive only on a shared, "
                         "loaded machine (spinning waiters are ruinous there, but sleeping "
                         "ones slow every fork/join on an idle machine)")
    a = ap.parse_args()
    load0 = os.getloadavg()
    peak_out, _ = run([BENCH, "--section", "sgemm", "--json"], {})
    peak = json.loads(peak_out)
    p2, p1 = peak["sgemm_peak_gflops"], peak["sgemm_peak1_gflops"]
    # the same OMP_WAIT_POLICY for every OpenMP user (gansim, torch threads)
    passive = {"OMP_WAIT_POLICY": "passive"} if a.wait_policy == "passive" else {}
    rows = []
    for label, sec, what, batch, unit in CASES:
        if a.only and a.only not in label:
            continue
        cfgs = {
            "gansim T=2": lambda: gansim(sec, batch, 2, a.reps, passive),
            "gansim T=1": lambda: gansim(sec, batch, 1, a.reps, passive),
            "torch 2 threads": lambda: torch(what, batch, 2, a.reps, passive),
        }
        if what.startswith("luxe"):
            cfgs["torch 1 thread + OpenBLAS 2"] = lambda: torch(
                what, batch, 1, a.reps, dict(passive, OPENBLAS_NUM_THREADS="2"))
        res = {k: {"ms": [], "rss": [], "gflop": 0} for k in cfgs}
        for _ in range(a.rounds):
            for k, f in cfgs.items():
                r = f()
                res[k]["ms"].append(r[0])
                res[k]["rss"].append(r[2])
                if len(r) > 3:
                    res[k]["gflop"] = r[3]
        per = {}
        for k, v in res.items():
            best = min(v["ms"])
            per[k] = (batch if unit != "steps/s" else 1) / (best * 1e-3)
            v["best_ms"], v["per_s"], v["rss_kb"] = best, per[k], statistics.median(v["rss"])
        g = res["gansim T=2"]
        tk = max((k for k in res if k.startswith("torch")), key=lambda k: per[k])
        g_best = max(("gansim T=2", "gansim T=1"), key=lambda k: per[k])
        rows.append({
            "case": label, "unit": unit, "results": res,
            "gansim_T2": per["gansim T=2"], "gansim_T1": per["gansim T=1"],
            "torch_best": per[tk], "torch_best_cfg": tk,
            "ratio_T2": per["gansim T=2"] / per[tk],
            "ratio_best": per[g_best] / per[tk], "gansim_best_cfg": g_best,
            "scaling": per["gansim T=2"] / per["gansim T=1"],
            "peak_T2": g["gflop"] / (g["best_ms"] * 1e-3) / p2 if g["gflop"] else None,
            "peak_T1": res["gansim T=1"]["gflop"] / (res["gansim T=1"]["best_ms"] * 1e-3) / p1,
            "rss_ratio": g["rss_kb"] / res[tk]["rss_kb"],
            "rss_gansim_mb": g["rss_kb"] / 1024, "rss_torch_mb": res[tk]["rss_kb"] / 1024,
        })
        r = rows[-1]
        print("%-26s gansim T2 %10.4g  T1 %10.4g  torch %10.4g (%s)  ratio %.2fx (best %.2fx)"
              % (label, r["gansim_T2"], r["gansim_T1"], r["torch_best"], tk, r["ratio_T2"],
                 r["ratio_best"]), file=sys.stderr)
    load1 = os.getloadavg()
    print("\n## gansim vs PyTorch (best of %d rounds x %d reps, OMP_WAIT_POLICY=%s)" %
          (a.rounds, a.reps, a.wait_policy))
    print("load average (1/5/15 min) before %.2f %.2f %.2f, after %.2f %.2f %.2f on %d cores"
          % (*load0, *load1, os.cpu_count()))
    print("sgemm peak: %.1f GFLOP/s at 2 threads, %.1f at 1 thread\n" % (p2, p1))
    print("| case | unit | gansim T=2 | gansim T=1 | PyTorch best (config) | ratio T=2 | ratio best "
          "| % sgemm peak T=2 / T=1 | T=2/T=1 | peak RSS gansim / torch (MB) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        pk2 = "%.0f%%" % (100 * r["peak_T2"]) if r["peak_T2"] else "-"
        print("| %s | %s | %.4g | %.4g | %.4g (%s) | %.2fx | %.2fx | %s / %.0f%% | %.2fx | %.0f / %.0f |"
              % (r["case"], r["unit"], r["gansim_T2"], r["gansim_T1"], r["torch_best"],
                 r["torch_best_cfg"], r["ratio_T2"], r["ratio_best"], pk2, 100 * r["peak_T1"],
                 r["scaling"], r["rss_gansim_mb"], r["rss_torch_mb"]))
    print("\nall configurations (best ms):")
    for r in rows:
        print("  %-26s " % r["case"] + ", ".join("%s %.1f" % (k, v["best_ms"])
                                                for k, v in r["results"].items()))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"load_before": load0, "load_after": load1, "peak2": p2, "peak1": p1,
                       "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
