#!/usr/bin/env python3
"""`lpc sim --model local` against `lpc run` on this machine.

For each configuration (a library program, its size, tile and worker
count), `lpc run` runs `--reps` times with the in-memory store and
generated inputs, and `lpc sim` predicts the same run with the `local`
model (or `--model FILE`); the table gives the measured wall times (lpc's
"finished N jobs in T"), their median, the predicted makespan and
predicted / measured, the figure docs/simulator.md reports (target: within
15 %). Configurations run round-robin, so that a change in the machine's
load spreads over all of them; the one-minute load average at the end of
each run is printed, because only a quiet machine gives meaningful wall
times. Needs a release lpc (`cargo build --release -p lpc`).

Usage: scripts/validate_local_model.py [--reps 3] [--model local] [CONFIG ...]
  with CONFIG as PROGRAM:KEY=VALUE,...,w=W: the program's parameters
  (`--set`) and the worker count, e.g. cholesky:n=8192,b=1024,w=2 or
  qr:m=16384,n=4096,b=1024,w=2 (gemm: m and k default to n); the default
  set is docs/simulator.md's ten.
"""

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

from lpc_output import makespan_seconds, run_seconds

ROOT = Path(__file__).resolve().parent.parent
LPC = Path(os.environ.get("LP_LPC", ROOT / "target" / "release" / "lpc"))

DEFAULT = [
    "cholesky:n=4096,b=512,w=1", "gemm:n=4096,b=512,w=1", "cholesky:n=8192,b=1024,w=1",
    "cholesky:n=4096,b=512,w=2", "gemm:n=4096,b=512,w=2", "cholesky:n=8192,b=1024,w=2",
    "gemm:n=8192,b=1024,w=2", "cholesky:n=8192,b=512,w=2", "gemm:n=8192,b=2048,w=1",
    "cholesky:n=16384,b=2048,w=2",
]


def parse(config: str):
    program, _, rest = config.partition(":")
    values = dict(kv.split("=") for kv in rest.split(","))
    w = int(values.pop("w"))
    if program == "gemm":
        values.setdefault("m", values["n"])
        values.setdefault("k", values["n"])
    sets = [arg for key, v in values.items() for arg in ("--set", f"{key}={v}")]
    return ROOT / "lib" / f"{program}.lp", sets, w


def run(program, sets, workers) -> float:
    out = subprocess.run([str(LPC), "run", str(program), *sets, "--workers", str(workers), "--quiet"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"lpc run failed:\n{out.stderr}")
    return run_seconds(out.stderr)


def predict(program, sets, workers, model) -> float:
    out = subprocess.run([str(LPC), "sim", str(program), *sets, "--workers", str(workers),
                          "--model", model], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"lpc sim failed:\n{out.stderr}")
    return makespan_seconds(out.stdout + out.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--model", default="local")
    p.add_argument("configs", nargs="*", default=DEFAULT)
    args = p.parse_args()
    if not LPC.exists():
        sys.exit(f"{LPC} not found: cargo build --release -p lpc")
    configs = [(c, *parse(c)) for c in args.configs]
    walls = {c: [] for c, *_ in configs}
    loads = {c: [] for c, *_ in configs}
    for rep in range(args.reps):
        for c, program, sets, w in configs:
            walls[c].append(run(program, sets, w))
            loads[c].append(os.getloadavg()[0])
            print(f"round {rep + 1}: {c} {walls[c][-1]:.2f} s", file=sys.stderr)
    print("| config | measured wall (runs), s | median | predicted makespan, s | predicted / measured | load avg |")
    print("|---|---|---:|---:|---:|---|")
    ratios = []
    for c, program, sets, w in configs:
        median = statistics.median(walls[c])
        predicted = predict(program, sets, w, args.model)
        ratios.append(predicted / median)
        runs = ", ".join(f"{x:.2f}" for x in walls[c])
        print(f"| {c} | {runs} | {median:.2f} | {predicted:.2f} | {ratios[-1]:.2f} | "
              f"{min(loads[c]):.1f}-{max(loads[c]):.1f} |")
    print(f"\npredicted / measured: {min(ratios):.2f} to {max(ratios):.2f}")


if __name__ == "__main__":
    main()
