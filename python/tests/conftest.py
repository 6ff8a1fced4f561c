"""Shared helpers: LAPACK-style test ratios and random matrices."""

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


@pytest.fixture
def tiles(tmp_path):
    """A fresh directory store spec."""
    return f"dir:{tmp_path / 'tiles'}"
