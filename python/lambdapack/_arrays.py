"""Turning what the user passes into what the extension reads."""

import numpy as np


def as_matrix(x, what):
    """``x`` as a 2-D float64 numpy array the extension can read in place.

    Float64 arrays of any strides are used as they are (no copy); other
    real dtypes are converted (one copy, as numpy.linalg does). Complex
    values are refused rather than silently dropping their imaginary part.
    """
    a = np.asarray(x)
    if a.dtype.kind == "c":
        raise TypeError(f"{what}: lambdapack computes in float64; complex values are not supported")
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{what}: expected real numbers, found dtype {a.dtype}")
    if a.ndim != 2:
        raise ValueError(f"{what} must be 2-D, found {a.ndim}-D with shape {a.shape}")
    if a.dtype != np.float64 or not a.dtype.isnative:
        a = a.astype(np.float64)
    if not a.flags.aligned or any(s % 8 for s in a.strides):
        a = np.array(a, order="F")
    return a
