#!/usr/bin/env python3
"""lambdapack's library algorithms against LAPACK on the same cores.

For each case, `lpc run` of the library program (`lpc gen NAME ...`) and the
matching LAPACK routine through scipy (OpenBLAS) run interleaved, on the
same input files, `--reps` times; the table gives the medians and the ratio
lpc / LAPACK (below 1: lambdapack is faster).

What is timed: for lpc, the run itself as its summary reports it ("finished
N jobs in T": importing the .npy inputs and exporting outputs excluded); for
LAPACK, the routine call alone, on Fortran-ordered copies made beforehand.
`lpc system s` is the median of lpc's system time in those runs (its
summary's `cpu` line), the kernel's work for it: above all faulting in the
memory its tiles first touch, which on a virtual machine can cost from
nothing to a second of a two-second run (docs/performance.md), where the
baseline's matrix is touched before its clock starts. A row whose lpc time
moved with it moved with the machine.
Both use every core: lpc's default worker count, OpenBLAS's threads. The
LAPACK child process runs with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset
(its own environment only) and reports the kernel threadpoolctl sees.

GEMM is compared with numpy's matmul (OpenBLAS dgemm) and the triangular
solve with BLAS dtrsm (scipy.linalg.blas), the routines a numpy user calls.
After the table come the kernel lines of the summary of lpc's median run of
each case (calls, time summed over the workers, GFLOP/s): where its time
went.

Usage: scripts/bench_lapack.py [--reps 3] [--tile 1024[,2048...]] [CASE ...]
  with CASE among cholesky, posv, gesv, qr, lstsq, tsqr, gemm, trsolve, or
  name:key=value,... to override sizes (e.g. cholesky:n=16384); each case
  runs at every tile given. `--preset perf` runs the set docs/performance.md
  reports (Cholesky n = 8192 and 16384 at tiles 512, 1024 and 2048, GEMM
  8192, the triangular solve). Needs numpy, scipy, threadpoolctl (pip) and a
  release lpc (`cargo build --release -p lpc`, `--features openblas` for tile
  kernels on the system's OpenBLAS). `LP_BASELINE_PYTHON=python`
  runs the LAPACK side with another interpreter's scipy (docs/performance.md
  says which the table used and why).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from lpc_output import kernel_lines, run_seconds, system_seconds

ROOT = Path(__file__).resolve().parent.parent
# `LP_LPC` points at another build (a branch being compared, say).
LPC = Path(os.environ.get("LP_LPC", ROOT / "target" / "release" / "lpc"))
# `LP_BASELINE_PYTHON` runs the LAPACK side with another Python (and so
# another OpenBLAS): the OpenBLAS builds in scipy's wheels (0.3.27-0.3.31)
# crash in dpotrf at n = 16384 with 2 threads on AMD Zen and Intel hosts,
# Debian's python3-scipy (OpenBLAS 0.3.21) does not.
BASELINE_PYTHON = os.environ.get("LP_BASELINE_PYTHON", sys.executable)

# name -> (lpc gen flags, baseline routine); the inputs are A (and B when
# there is a right-hand side), except for trsolve's L and B.
CASES = {
    "cholesky": ({"n": 8192}, "dpotrf"),
    "posv": ({"n": 8192, "nrhs": 512}, "dposv"),
    "gesv": ({"n": 8192, "nrhs": 512}, "dgesv"),
    "qr": ({"m": 32768, "n": 4096}, "dgeqrf"),
    "lstsq": ({"m": 32768, "n": 4096, "nrhs": 512}, "dgels"),
    "tsqr": ({"m": 32768, "n": 1024}, "dgeqrf"),
    "gemm": ({"m": 8192, "n": 8192, "k": 8192}, "dgemm"),
    "trsolve": ({"n": 8192, "nrhs": 8192}, "dtrsm"),
}

PRESETS = {
    "perf": (["cholesky", "cholesky:n=16384", "gemm", "trsolve"], [512, 1024, 2048]),
}

# The LAPACK side, run in a child process so that its environment (and
# OpenBLAS's start-up) is its own.
BASELINE = r"""
import json, sys, time
import numpy as np, scipy.linalg.lapack as lapack, scipy.linalg.blas as blas_
from threadpoolctl import threadpool_info
routine, d = sys.argv[1], sys.argv[2]
a = np.asfortranarray(np.load(f"{d}/{'L' if routine == 'dtrsm' else 'A'}.npy"))
with_b = routine in ("dposv", "dgesv", "dgels", "dgemm", "dtrsm")
b = np.asfortranarray(np.load(f"{d}/B.npy")) if with_b else None
f = getattr(blas_ if routine == "dtrsm" else lapack, routine, None)
# A small call first: OpenBLAS starts its threads and maps its buffers once.
small = np.asfortranarray(a[:64, :64] + 64 * np.eye(64))
if routine == "dgemm":
    small @ small
elif routine == "dtrsm":
    f(1.0, small, np.ones((64, 1), order="F"), lower=1)
else:
    f(small, np.ones((64, 1), order="F")) if b is not None else f(small)
# The optimal workspace, queried as scipy.linalg.qr and lstsq do: the
# wrappers' default (3n for dgeqrf) is so small that LAPACK falls back to
# blocks of about 3 columns, a third of its blocked speed or less.
if routine == "dgeqrf":
    lwork = int(lapack.dgeqrf_lwork(*a.shape)[0])
elif routine == "dgels":
    lwork = int(lapack.dgels_lwork(*a.shape, b.shape[1])[0])
t0 = time.perf_counter()
if routine == "dpotrf":
    # clean=0: scipy's default zeroes the other triangle after the call, in
    # a strided loop that took 0.5-1.5 s at n = 8192 (docs/performance.md).
    out = f(a, lower=1, overwrite_a=1, clean=0)
elif routine == "dposv":
    out = f(a, b, lower=1, overwrite_a=1, overwrite_b=1)
elif routine == "dgesv":
    out = f(a, b, overwrite_a=1, overwrite_b=1)
elif routine == "dgels":
    out = f(a, b, lwork=lwork, overwrite_a=1, overwrite_b=1)
elif routine == "dgeqrf":
    out = f(a, lwork=lwork, overwrite_a=1)
elif routine == "dgemm":
    out = (a @ b, 0)
elif routine == "dtrsm":
    out = (f(1.0, a, b, lower=1, overwrite_b=1), 0)
secs = time.perf_counter() - t0
assert out[-1] == 0, f"{routine} info = {out[-1]}"
blas = sorted({(i["internal_api"], i.get("version"), i.get("architecture"), i["num_threads"])
               for i in threadpool_info()})
print(json.dumps({"secs": secs, "blas": blas}))
"""

INPUTS = r"""
import sys, numpy as np
name, d, m, n, k, nrhs = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])
rng = np.random.default_rng(7)
if name in ("cholesky", "posv"):
    a = rng.uniform(-1, 1, (n, n))
    a = (a + a.T) / 2 + n * np.eye(n)
elif name == "trsolve":
    # Lower triangular with a dominant diagonal: well conditioned.
    a = np.tril(rng.uniform(-1, 1, (n, n))) + n * np.eye(n)
elif name == "gemm":
    a = rng.uniform(-1, 1, (m, k))
    nrhs, m = n, k
else:
    a = rng.uniform(-1, 1, (m, n))
np.save(f"{d}/{'L' if name == 'trsolve' else 'A'}.npy", np.asfortranarray(a))
if nrhs:
    np.save(f"{d}/B.npy", np.asfortranarray(rng.uniform(-1, 1, (m, nrhs))))
"""


def lpc_run(program: Path, d: Path, first: str, with_b: bool) -> tuple:
    """The run's seconds, its summary's kernel lines and its system
    time."""
    args = [str(LPC), "run", str(program), "--quiet", "--input", f"{first}={d}/{first}.npy"]
    if with_b:
        args += ["--input", f"B={d}/B.npy"]
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"lpc run failed:\n{out.stderr}")
    return run_seconds(out.stderr), kernel_lines(out.stderr), system_seconds(out.stderr)


def baseline(routine: str, d: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    out = subprocess.run([BASELINE_PYTHON, "-c", BASELINE, routine, str(d)],
                         capture_output=True, text=True, env=env)
    if out.returncode != 0:
        # A crash of the baseline (see BASELINE_PYTHON) loses its row, not
        # the rest of the table.
        print(f"{routine} failed (exit {out.returncode}):\n{out.stderr}", file=sys.stderr)
        return None
    return json.loads(out.stdout)


def case(spec: str, tile: int):
    """(name, sizes, routine) of `name:key=value,...`."""
    name, _, extra = spec.partition(":")
    if name not in CASES:
        sys.exit(f"unknown case {name!r}; cases: {', '.join(CASES)}")
    sizes, routine = CASES[name]
    sizes = dict(sizes)
    for kv in filter(None, extra.split(",")):
        k, v = kv.split("=")
        sizes[k] = int(v)
    if name == "tsqr":
        sizes.setdefault("tile", tile)
    return name, sizes, routine


def machine():
    """The CPU as the kernels' choices depend on it: its name, vendor,
    family and model (the name alone says "Intel(R) Xeon(R) Processor" on
    some hosts) and whether it has AVX-512 (docs/performance.md)."""
    fields = {}
    for line in open("/proc/cpuinfo"):
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
        if not line.strip():
            break
    flags = fields.get("flags", "").split()
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return (f"{fields.get('model name', 'unknown CPU')} ({fields.get('vendor_id', '?')}, "
            f"cpu family {fields.get('cpu family', '?')} model {fields.get('model', '?')}, {vector})")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--tile", default="1024", help="tile sizes, comma-separated")
    p.add_argument("--preset", choices=sorted(PRESETS))
    p.add_argument("cases", nargs="*")
    args = p.parse_args()
    tiles = [int(t) for t in args.tile.split(",")]
    cases = args.cases or ["cholesky", "posv", "gesv", "qr", "lstsq"]
    if args.preset:
        cases, tiles = PRESETS[args.preset]
    if not LPC.exists():
        sys.exit(f"build lpc first: cargo build --release -p lpc ({LPC} is missing)")
    version = subprocess.run([str(LPC), "--version"], capture_output=True, text=True, check=True)
    print(f"machine: {machine()}, {os.cpu_count()} cores; medians of {args.reps}, interleaved")
    # The tile kernels' library (faer, or OpenBLAS with the `openblas` feature).
    print(f"lpc: {version.stdout.strip()}")
    print("| case | sizes | tile | lpc s | lpc system s | LAPACK s | lpc / LAPACK | LAPACK kernel |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    kernels = []
    for spec in cases:
        for tile in tiles:
            kernels.append(run_case(*case(spec, tile), tile, args.reps))
    # Where lpc's time went, kernel by kernel: the rates to compare with
    # LAPACK's per core (docs/performance.md reads the gaps from these).
    print("\nKernels of lpc's median run (time summed over the workers):")
    for row, lines in kernels:
        print(f"\n{row}\n```\n" + "\n".join(lines) + "\n```")


def run_case(name: str, sizes: dict, routine: str, tile: int, reps: int) -> tuple:
    """One row of the table: `reps` interleaved runs of lpc and the
    baseline. Returns the row's label and the kernel lines of lpc's median
    run."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        m, n = sizes.get("m", sizes["n"]), sizes["n"]
        k, nrhs = sizes.get("k", 0), sizes.get("nrhs", 0)
        subprocess.run([sys.executable, "-c", INPUTS, name, str(d), str(m), str(n), str(k),
                        str(nrhs)], check=True)
        flags = []
        for key, v in sizes.items():
            flags += [f"--{key}", str(v)]
        if "tile" not in sizes:
            flags += ["--tile", str(tile)]
        program = d / "program.lp"
        gen = subprocess.run([str(LPC), "gen", name, *flags], capture_output=True, text=True)
        if gen.returncode != 0:
            sys.exit(f"lpc gen {name} failed:\n{gen.stderr}")
        program.write_text(gen.stdout)
        first = "L" if name == "trsolve" else "A"
        with_b = nrhs > 0 or name == "gemm"
        ours, theirs, blas = [], [], None
        for _ in range(reps):
            ours.append(lpc_run(program, d, first, with_b))
            b = baseline(routine, d)
            if b is None:
                break
            theirs.append(b["secs"])
            blas = ", ".join(f"{api} {version} {arch} x{threads}"
                             for api, version, arch, threads in b["blas"])
        o = statistics.median(secs for secs, _, _ in ours)
        system = statistics.median(sys_secs for _, _, sys_secs in ours)
        # The kernels of the median run (the upper one of an even count).
        median_kernels = sorted(ours)[len(ours) // 2][1]
        shown = " ".join(f"{key}={v}" for key, v in sizes.items() if key != "tile")
        tile_used = sizes.get("tile", tile)
        if theirs:
            t = statistics.median(theirs)
            them = f"{t:.2f} | {o / t:.2f} | {blas}"
        else:
            them = f"crashed | | {routine} of {BASELINE_PYTHON}"
        print(f"| {name} | {shown} | {tile_used} | {o:.2f} | {system:.2f} | {them} |", flush=True)
        return f"{name} {shown}, tile {tile_used}", median_kernels


if __name__ == "__main__":
    main()
