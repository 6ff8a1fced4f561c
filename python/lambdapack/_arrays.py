"""Turning what the user passes into what the extension reads."""

import operator

import numpy as np


def as_real(x, what):
    """``x`` as a float64 numpy array of any dimension.

    Float64 arrays are used as they are (no copy); other real dtypes are
    converted (one copy, as numpy.linalg does). Complex values are refused
    rather than silently dropping their imaginary part.
    """
    a = np.asarray(x)
    if a.dtype.kind == "c":
        raise TypeError(f"{what}: lambdapack computes in float64; complex values are not supported")
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{what}: expected real numbers, found dtype {a.dtype}")
    if a.dtype != np.float64 or not a.dtype.isnative:
        a = a.astype(np.float64)
    return a


def as_matrix(x, what):
    """``x`` as a 2-D float64 numpy array the extension can read in place
    (any strides that are whole elements; see ``as_real``)."""
    a = as_real(x, what)
    if a.ndim != 2:
        raise ValueError(f"{what} must be 2-D, found {a.ndim}-D with shape {a.shape}")
    if not a.flags.aligned or any(s % 8 for s in a.strides):
        a = np.array(a, order="F")
    return a


def as_int(x, what):
    """``x`` as a Python int: any integer, numpy's included (not a bool,
    which is more likely a mistake than a count)."""
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{what} must be an int, found {x!r}")
    try:
        n = operator.index(x)
    except TypeError:
        raise TypeError(f"{what} must be an int, found {x!r} ({type(x).__name__})") from None
    # Every count and index the native side takes is a 64-bit integer: a
    # larger one would raise an OverflowError that names no argument.
    if n >= 2**63:
        raise ValueError(f"{what} is too large: {n} does not fit in 64 bits (at most 2**63 - 1)")
    if n < -(2**63):
        raise ValueError(f"{what} is too small: {n} does not fit in 64 bits (at least -2**63)")
    return n


def as_positive_int(x, what):
    """``x`` as a positive Python int (see ``as_int``)."""
    n = as_int(x, what)
    if n < 1:
        raise ValueError(f"{what} must be a positive int, found {n}")
    return n


def as_params(params):
    """``params=`` as a dict of parameter name -> int that fits in 64 bits
    (what the compiler takes), or None."""
    if params is None:
        return None
    if not isinstance(params, dict):
        raise TypeError(
            f"params must be a dict of parameter name -> int, found {type(params).__name__}"
        )
    out = {}
    for name, value in params.items():
        if not isinstance(name, str):
            raise TypeError(f"params: keys must be parameter names (str), found {name!r} ({type(name).__name__})")
        out[name] = as_int(value, f"params[{name!r}]")
    return out
