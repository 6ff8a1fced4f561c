"""Shared helpers: LAPACK-style test ratios, random matrices, stores and
the lpc binary."""

import os
import subprocess
import time

import numpy as np
import pytest

EPS = np.finfo(np.float64).eps

# LAPACK's test programs flag a ratio above THRESH = 30 (dchkaa.f inputs).
THRESH = 30.0


def norm1(x):
    x = np.atleast_2d(x)
    return np.linalg.norm(x, 1)


def ratio(residual, scale, dim):
    """``||residual||_1 / (dim * scale * eps)``, LAPACK's normalised ratio."""
    return norm1(residual) / (dim * scale * EPS)


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


def spd(rng, n):
    g = rng.standard_normal((n, n))
    return g @ g.T + n * np.eye(n)


@pytest.fixture(scope="session")
def slow_n():
    """An n for which cholesky(eye(n), tile=40) lasts at least half a
    second here (many small jobs), so that progress ticks (every 100 ms)
    and interruptions happen mid-run on a fast build and a slow one."""
    import lambdapack as lp

    for n in (800, 1600, 3200, 6400):
        start = time.monotonic()
        lp.cholesky(np.eye(n) * 2, tile=40, progress=False)
        if time.monotonic() - start > 0.5:
            return n
    raise AssertionError("cholesky of 6400 x 6400 in tiles of 40 took under half a second")


def jobs(n, tile=40):
    """The jobs of a Cholesky of n x n in tiles of `tile`."""
    nt = -(-n // tile)
    return nt * (nt + 1) * (nt + 2) // 6


def contents(root):
    """What a directory store holds: (its user names, its runs, its inputs
    stored by origin); `~pool` is the store's own."""

    def listing(folder):
        path = os.path.join(root, folder)
        return sorted(os.listdir(path)) if os.path.isdir(path) else []

    names = sorted(n for n in os.listdir(root) if not n.startswith("~"))
    return names, listing("~runs"), listing("~inputs")


@pytest.fixture
def tiles(tmp_path):
    """A fresh directory store spec."""
    return f"dir:{tmp_path / 'tiles'}"


@pytest.fixture(scope="session")
def lpc():
    """The `lpc` binary of this workspace (`lpc store ls|gc` read what the
    package writes): $LP_LPC, else the debug build under $CARGO_TARGET_DIR
    or target/, which scripts/test.sh builds before the Python suite."""
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    path = os.environ.get("LP_LPC") or os.path.join(target, "debug", "lpc")
    if not os.access(path, os.X_OK):
        pytest.fail(f"no lpc binary at {path}: build it (cargo build -p lpc) or set LP_LPC")

    def run(*args):
        out = subprocess.run([path, *args], capture_output=True, text=True)
        assert out.returncode == 0, f"lpc {' '.join(args)}: {out.stderr}"
        return out.stdout

    return run
