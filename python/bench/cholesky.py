"""Benchmark: lambdapack.cholesky(a) on a numpy array, end to end, against
`lpc run` of the same program from .npy files and scipy.linalg.cholesky.

    python python/bench/cholesky.py --n 8192 --reps 3 --lpc target/release/lpc

Each measurement runs in a fresh process, the three methods interleaved
(lambdapack, lpc, scipy, lambdapack, ...), and the medians are reported:

* time: lambdapack and scipy from numpy array in to numpy array out (the
  call only); lpc from `lpc run` start to exit, reading A from a .npy file
  and writing L to one. Wall time, and CPU time (user + system, all
  threads), which other work on a shared machine inflates far less.
* peak memory: the process's peak RSS. For the Python methods, "extra" is
  the peak minus the RSS before the call (the input is already loaded)
  minus the output's n*n*8 bytes: memory beyond input and output, in
  copies of the matrix. lpc's peak is its whole process (no input or
  output array in memory; tiles only).

scipy uses whatever BLAS it was built with; the report names it (and its
kernel) from threadpoolctl.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def rss_peak_bytes():
    """This process's peak RSS (Linux's VmHWM: unlike getrusage's
    ru_maxrss, it starts afresh at exec and does not inherit the parent's
    peak through vfork)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def make_input(path, n):
    """Writes a symmetric, strictly diagonally dominant (so positive
    definite) n x n matrix to `path`."""
    rng = np.random.default_rng(0)
    a = rng.random((n, n))
    a += a.T
    a[np.diag_indices(n)] += 2 * n
    np.save(path, a)


def cpu_seconds(usage):
    return usage.ru_utime + usage.ru_stime


def child(method, path, tile):
    """One measurement in this (fresh) process; prints a JSON line."""
    a = np.load(path)
    if method == "lambdapack":
        import lambdapack as lp

        lp.cholesky(np.eye(64) * 2)  # load the extension before measuring
        before = rss_peak_bytes()
        cpu = cpu_seconds(resource.getrusage(resource.RUSAGE_SELF))
        start = time.perf_counter()
        factor = lp.cholesky(a, tile=tile, progress=False)
    else:
        import scipy.linalg

        before = rss_peak_bytes()
        cpu = cpu_seconds(resource.getrusage(resource.RUSAGE_SELF))
        start = time.perf_counter()
        factor = scipy.linalg.cholesky(a, lower=True, overwrite_a=False, check_finite=False)
    seconds = time.perf_counter() - start
    cpu = cpu_seconds(resource.getrusage(resource.RUSAGE_SELF)) - cpu
    peak = rss_peak_bytes()
    assert factor.shape == a.shape
    # Spot-check the answer: one column of a against L @ L[j].T.
    j = a.shape[0] // 2
    col = factor @ factor[j]
    err = np.abs(col - a[:, j]).max() / np.abs(a).max()
    assert err < 1e-10, f"{method}: wrong answer ({err:.1e})"
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak": peak, "before": before}))


def run_child(method, path, tile):
    cmd = [sys.executable, __file__, "--child", method, "--input", path, "--tile", str(tile)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_lpc(lpc, program, path, out, n, tile):
    cmd = [lpc, "run", program, "--set", f"n={n}", "--set", f"b={tile}",
           "--input", f"A={path}", "--output", f"L={out}", "--quiet"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"lpc run failed: {proc.stderr.read().decode()}")
    return {"seconds": seconds, "cpu": cpu_seconds(usage), "peak": usage.ru_maxrss * 1024, "before": 0}


def blas_info():
    try:
        from threadpoolctl import threadpool_info
        import scipy.linalg  # noqa: F401  (loads scipy's BLAS)
    except ImportError:
        return "threadpoolctl not installed"
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    return "; ".join(
        f"{p['internal_api']} {p.get('version')} ({p.get('architecture')}, {p['num_threads']} threads)" for p in pools
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=8192)
    parser.add_argument("--tile", type=int, default=None, help="default: lambdapack's choice for n")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--lpc", default="lpc", help="the lpc binary (a release build)")
    parser.add_argument("--child", choices=["lambdapack", "scipy"], help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--make", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:
        return make_input(args.input, args.n)
    if args.child:
        return child(args.child, args.input, args.tile)

    from lambdapack import linalg

    n = args.n
    tile = args.tile or linalg._choose_tile([n])
    program = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib", "cholesky.lp")
    size = n * n * 8
    with tempfile.TemporaryDirectory() as tmp:
        path, out = os.path.join(tmp, "a.npy"), os.path.join(tmp, "l.npy")
        # In a child, so that this process stays small: lpc's ru_maxrss
        # (from wait4) starts from the RSS of the process that spawns it.
        subprocess.run([sys.executable, __file__, "--make", "--input", path, "--n", str(n)], check=True)
        results = {"lambdapack": [], "lpc": [], "scipy": []}
        for rep in range(args.reps):
            results["lambdapack"].append(run_child("lambdapack", path, tile))
            results["lpc"].append(run_lpc(args.lpc, program, path, out, n, tile))
            results["scipy"].append(run_child("scipy", path, tile))
            print(f"rep {rep + 1}: " + ", ".join(f"{m} {r[-1]['seconds']:.2f} s" for m, r in results.items()),
                  flush=True)
    med = {m: statistics.median(r["seconds"] for r in rs) for m, rs in results.items()}
    cpu = {m: statistics.median(r["cpu"] for r in rs) for m, rs in results.items()}
    print(f"\ncholesky n={n} tile={tile}, medians of {args.reps} (interleaved):")
    for m, rs in results.items():
        peak = statistics.median(r["peak"] for r in rs)
        line = f"  {m:10s} {med[m]:7.2f} s (CPU {cpu[m]:6.2f} s)   peak RSS {peak / 2**30:5.2f} GiB"
        if m != "lpc":
            extra = statistics.median(r["peak"] - r["before"] - size for r in rs)
            line += f", beyond input and output {extra / size:+.2f} copies"
        else:
            line += f" = {peak / size:.2f} copies of A"
        print(line)
    for other in ("lpc", "scipy"):
        print(f"  lambdapack / {other:5s} = {med['lambdapack'] / med[other]:.2f}x "
              f"(CPU time {cpu['lambdapack'] / cpu[other]:.2f}x)")
    print(f"  scipy's BLAS: {blas_info()}")


if __name__ == "__main__":
    main()
