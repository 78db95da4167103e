#!/usr/bin/python3
"""Interleaved A/B runs of gansim-bench across builds and instruction-set levels.

What it answers: does the portable default build (x86-64-v2 baseline, hot
kernels dispatched at run time, core/gs_cpu.h) cost anything against a build
compiled for x86-64-v3 throughout? On a shared machine two runs minutes apart
differ by more than that, so the variants run interleaved (A B C A B C ...),
each section in its own process, and the table gives the best and the median
of the rounds beside the load average seen during them.

    make                                                    # the default build (bin/)
    make BUILD=build-v3 BIN=bin-v3 ARCH=-march=x86-64-v3    # the v3 build
    bench/isa_ab.py --rounds 3                              # bin-v3 vs bin vs bin at v2

--variant LABEL=PATH[,VAR=VALUE...] (LABEL without "=") replaces the default variants (the first
is the reference of the ratios). Sections: wgan (batch 256 only), gen, zdc
(batch 64 only: the batch-256 step takes 25 s), zdc-gen; all at --threads 1.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys

JOBS = [("wgan", ["--batch", "256"]), ("gen", []), ("zdc", ["--batch", "64"]), ("zdc-gen", [])]


def parse_variant(text):
    label, _, rest = text.partition("=")
    parts = rest.split(",")
    env = dict(p.split("=", 1) for p in parts[1:])
    return label, parts[0], env


def run_job(path, env_extra, section, extra, reps, warmup):
    env = dict(os.environ)
    env.pop("GANSIM_ISA", None)
    env.update(env_extra)
    cmd = ["nice", "-n", "5", path, "--json", "--threads", "1", "--section", section,
           "--reps", str(reps), "--warmup", str(warmup), "--no-sgemm"] + extra
    load0 = os.getloadavg()[0]
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    load1 = os.getloadavg()[0]
    if p.returncode != 0:
        sys.stderr.write(f"isa_ab: {' '.join(cmd)} failed: {p.stderr.strip()[-300:]}\n")
        return {}, (load0, load1)
    rows = json.loads(p.stdout)["results"]
    out = {f"{r['name']} ({r['shape']})": r["ms"] for r in rows}
    # CPU time of the whole process (set-up, warm-up and timed runs): on a
    # loaded machine it grows far less than wall time, which also counts the
    # time spent waiting for a core
    cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    out[f"{section}: process CPU s"] = cpu * 1e3
    return out, (load0, load1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=2, help="gansim-bench --reps (best of)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--variant", action="append", default=[])
    ap.add_argument("--sections", default=",".join(j[0] for j in JOBS))
    a = ap.parse_args()
    variants = [parse_variant(v) for v in a.variant] or [
        ("v3 build", "bin-v3/gansim-bench", {}),
        ("default, detected", "bin/gansim-bench", {}),
        ("default, GANSIM_ISA=v2", "bin/gansim-bench", {"GANSIM_ISA": "v2"}),
    ]
    jobs = [j for j in JOBS if j[0] in a.sections.split(",")]
    times = {}  # (variant, row) -> [ms per round]
    loads = []
    for rnd in range(a.rounds):
        for section, extra in jobs:
            for label, path, env in variants:
                rows, load = run_job(path, env, section, extra, a.reps, a.warmup)
                loads.extend(load)
                for row, ms in rows.items():
                    times.setdefault((label, row), []).append(ms)
                print(f"round {rnd + 1} {section:8s} {label:24s} load {load[0]:.1f}-{load[1]:.1f} "
                      + "  ".join(f"{ms:.1f}" for ms in rows.values()), flush=True)
    rows = list(dict.fromkeys(r for _, r in times))
    ref = variants[0][0]
    print(f"\nload average (1 min) during the runs: {min(loads):.1f} to {max(loads):.1f}, "
          f"median {statistics.median(loads):.1f}; {a.rounds} rounds, each a best of {a.reps}")
    print("\nms: wall time of one run (gansim-bench's best of --reps), or for the 'process CPU'"
          " rows the CPU ms of the whole process")
    print("\n| row | variant | best ms | median ms | best / ref | median / ref |")
    print("|---|---|---:|---:|---:|---:|")
    for row in rows:
        r = times.get((ref, row))
        for label, _, _ in variants:
            t = times.get((label, row))
            if not t:
                continue
            b, m = min(t), statistics.median(t)
            rb = f"{b / min(r):.3f}" if r else "-"
            rm = f"{m / statistics.median(r):.3f}" if r else "-"
            print(f"| {row} | {label} | {b:.1f} | {m:.1f} | {rb} | {rm} |")


if __name__ == "__main__":
    main()
