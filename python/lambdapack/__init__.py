"""lambdapack: blocked dense linear algebra as a DAG of small jobs.

A matrix is a grid of tiles in a store (``BigMatrix``); an algorithm is a
lambdapack program over tiles (``lib/*.lp``, or your own ``.lp`` text),
run on this machine's cores with the GIL released.

numpy-like functions (numpy arrays or BigMatrix in, numpy arrays or
BigMatrix out)::

    import numpy as np, lambdapack as lp
    L = lp.cholesky(a)                 # numpy.linalg.cholesky
    x = lp.solve(a, b, assume_a="pos") # scipy.linalg.solve
    c = lp.matmul(a, b)                # a @ b
    f = lp.lu(a)                       # incremental-pivoting LU factors
    q, r = lp.qr(a)                    # numpy.linalg.qr, Q implicit
    x = lp.lstsq(a, b)                 # least squares, x only

Tiled matrices, in memory, in a directory (out of core) or S3::

    A = lp.BigMatrix.from_numpy(a, tile=512, store="dir:/data/tiles")
    A.get_block(1, 0); A.put_block(block, 1, 0); A.numpy()

Programs::

    lp.check(source)                                   # diagnostics
    lp.run("cholesky", inputs={"A": a}, params={"n": a.shape[0], "b": 512})

Errors are ``lambdapack.errors`` classes (a matrix that is not positive
definite raises ``NotPositiveDefiniteError``, a ``numpy.linalg.LinAlgError``).
See docs/python.md in the repository.
"""

from . import errors
from ._api import RunResult, check, library, run
from ._native import BigMatrix, Diagnostic, RunSummary, Store, Verification, __version__
from .errors import (
    BlockError,
    BlockIndexError,
    BlockNotFoundError,
    InvalidNameError,
    JobFailedError,
    LambdapackError,
    LinAlgError,
    NotPositiveDefiniteError,
    ProgramError,
    RunError,
    SingularMatrixError,
    StoreError,
    VerificationError,
)
from .linalg import ImplicitQ, IncrementalLU, cholesky, lstsq, lu, matmul, qr, solve

__all__ = [
    "BigMatrix",
    "Store",
    "Diagnostic",
    "RunSummary",
    "RunResult",
    "Verification",
    "check",
    "run",
    "library",
    "cholesky",
    "matmul",
    "solve",
    "lu",
    "qr",
    "lstsq",
    "IncrementalLU",
    "ImplicitQ",
    "errors",
    "__version__",
    *errors.__all__,
]
