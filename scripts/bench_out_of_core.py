#!/usr/bin/env python3
"""Out of core against in memory: the same Cholesky, interleaved.

Runs `lpc run` of the library Cholesky (its input `A = spd(...)` generated
lazily, so no input file and no import) twice per round, interleaved:

* **in memory**: the default memory store, no memory limit;
* **out of core**: `--store dir:PATH` (a fresh directory per round, removed
  after it) inside a memory cgroup limited to `--limit` (default 3 GiB),
  which charges the process's memory *and* the page cache it fills, so
  the tiles that do not fit are read back from the disk.

It prints each run's wall time (the process's, measured here), the medians,
the ratio in-memory time / out-of-core time (1.0: out of core costs
nothing; higher is better, the issue's "speed" ratio), and for the
out-of-core runs the bytes loaded (lpc's summary) against the bytes the
kernel read from the block device (`ru_inblock` of the child, 512-byte
units): the share of loads the page cache served.

The memory limit needs root and a memory controller: cgroup v1 (a group
under /sys/fs/cgroup/memory, `memory.limit_in_bytes`) or v2 (a group under
/sys/fs/cgroup with the `memory` controller, `memory.max`). Without one the
script stops with an error rather than measuring something else.

Usage: sudo scripts/bench_out_of_core.py [--n 32768] [--tile 2048]
         [--limit 3G] [--reps 3] [--dir DIR]
Needs a release lpc (`cargo build --release -p lpc`); `LP_LPC` points at
another build.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LPC = Path(os.environ.get("LP_LPC", ROOT / "target" / "release" / "lpc"))
GROUP = "lambdapack-bench-ooc"


def parse_size(text: str) -> int:
    m = re.fullmatch(r"(\d+)([KMG]?)", text.strip().upper())
    if not m:
        sys.exit(f"--limit: `{text}` is not a size like 3G or 3072M")
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2)]


class MemoryCgroup:
    """A memory cgroup (v1 or v2) that a child process joins before exec."""

    def __init__(self, limit: int):
        v2 = Path("/sys/fs/cgroup/cgroup.controllers")
        if v2.exists() and "memory" in v2.read_text().split():
            self.path, knob = Path("/sys/fs/cgroup") / GROUP, "memory.max"
        elif Path("/sys/fs/cgroup/memory").is_dir():
            self.path, knob = Path("/sys/fs/cgroup/memory") / GROUP, "memory.limit_in_bytes"
        else:
            sys.exit("no cgroup memory controller (neither v1 nor v2) on this machine")
        try:
            self.path.mkdir(exist_ok=True)
            (self.path / knob).write_text(str(limit))
        except OSError as e:
            sys.exit(f"cannot create the memory cgroup {self.path}: {e} (run as root)")

    def join(self):
        # Runs in the child between fork and exec: the exec'd lpc, and the
        # page cache it fills, are charged to the group.
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def remove(self):
        try:
            self.path.rmdir()
        except OSError:
            pass


def run(args, preexec=None):
    """Runs lpc; returns (wall seconds, lpc's stderr, bytes read from disk)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, preexec_fn=preexec)
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, args))} failed ({proc.returncode}):\n{stderr}")
    return wall, stderr, usage.ru_inblock * 512


UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}


def loaded_bytes(summary: str) -> int:
    m = re.search(r"^\s*loaded\s+([0-9.]+) (\w+)", summary, re.M)
    if not m:
        sys.exit(f"no `loaded` line in lpc's summary:\n{summary}")
    return int(float(m.group(1)) * UNITS[m.group(2)])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=32768)
    p.add_argument("--tile", type=int, default=2048)
    p.add_argument("--limit", default="3G")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--dir", type=Path, default=None, help="where the directory stores go")
    args = p.parse_args()
    if not LPC.exists():
        sys.exit(f"{LPC} not found: cargo build --release -p lpc")
    if args.dir is not None and not args.dir.is_dir():
        sys.exit(f"--dir {args.dir}: not an existing directory")
    limit = parse_size(args.limit)
    group = MemoryCgroup(limit)
    work = Path(tempfile.mkdtemp(prefix="lp-ooc-", dir=args.dir))
    try:
        program = work / "chol.lp"
        with open(program, "w") as out:
            subprocess.run([LPC, "gen", "cholesky", "--n", str(args.n), "--tile", str(args.tile)],
                           stdout=out, check=True)
        common = [LPC, "run", program, "--workers", str(args.workers)]
        mem, ooc, cache = [], [], []
        for rep in range(args.reps):
            wall, _, _ = run(common)
            mem.append(wall)
            store = work / f"store-{rep}"
            wall, summary, disk = run(common + ["--store", f"dir:{store}"], preexec=group.join)
            shutil.rmtree(store)
            loaded = loaded_bytes(summary)
            ooc.append(wall)
            cache.append(1 - disk / loaded)
            print(f"round {rep + 1}: in memory {mem[-1]:.1f} s, out of core {wall:.1f} s "
                  f"(loaded {loaded / 2**30:.1f} GiB, {disk / 2**30:.1f} GiB from the disk: "
                  f"{100 * cache[-1]:.0f} % from the page cache)", flush=True)
        m, o = statistics.median(mem), statistics.median(ooc)
        print(f"\nCholesky n = {args.n}, tile {args.tile}, {args.workers} workers, "
              f"limit {args.limit}, medians of {args.reps}:")
        print(f"  in memory {m:.1f} s, out of core {o:.1f} s: speed ratio {m / o:.2f}; "
              f"page cache served {100 * statistics.median(cache):.0f} % of the loads")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        group.remove()


if __name__ == "__main__":
    main()
