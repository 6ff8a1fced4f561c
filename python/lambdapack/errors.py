"""The exceptions lambdapack raises.

::

    LambdapackError
    ├── ProgramError            a program that does not compile (.diagnostics)
    ├── RunError                a run that failed
    │   ├── JobFailedError      a job failed (.job, .source, .kernel, .tile, .reason)
    │   │   └── LinAlgError     ... because the matrix is not what the algorithm
    │   │       │                   needs (also a numpy.linalg.LinAlgError)
    │   │       ├── NotPositiveDefiniteError
    │   │       └── SingularMatrixError
    │   └── VerificationError   verify=True and the residual is too large
    ├── StoreError              a store could not be read or written
    │   └── InvalidNameError    a matrix name a store cannot hold (also ValueError)
    ├── BlockError              a block of the wrong shape, or a block a matrix
    │                           cannot store (also ValueError)
    ├── BlockIndexError         a block index outside the grid (also IndexError)
    └── BlockNotFoundError      a block never written, with no initialiser
                                (also LookupError)

Bad arguments (a wrong type, an unknown option) raise the built-in
TypeError and ValueError; Ctrl-C during a run raises KeyboardInterrupt.
"""

import numpy as np

__all__ = [
    "LambdapackError",
    "ProgramError",
    "RunError",
    "JobFailedError",
    "LinAlgError",
    "NotPositiveDefiniteError",
    "SingularMatrixError",
    "VerificationError",
    "StoreError",
    "InvalidNameError",
    "BlockError",
    "BlockIndexError",
    "BlockNotFoundError",
]


class LambdapackError(Exception):
    """Base class of every lambdapack exception."""


class ProgramError(LambdapackError):
    """A program that does not compile.

    ``diagnostics`` lists every diagnostic (``lambdapack.Diagnostic``), as
    ``lambdapack.check`` returns them; the message holds their rendered text.
    """

    diagnostics = ()


class RunError(LambdapackError):
    """A run that did not complete (a failed job, a backend failure)."""


class JobFailedError(RunError):
    """A job of the program failed.

    Attributes: ``job`` (its name, e.g. ``chol[3]``), ``source``
    (``file:line`` of the failing instruction, or None), ``kernel`` (the
    opcode, e.g. ``CHOL``), ``tile`` (the tile it read, e.g.
    ``S[3, 3, 3]``), ``output`` (the tile it was computing, or None) and
    ``reason`` (the kernel's message).
    """

    job = None
    source = None
    kernel = None
    tile = None
    output = None
    reason = None


class LinAlgError(JobFailedError, np.linalg.LinAlgError):
    """The matrix is not what the algorithm needs; also a
    ``numpy.linalg.LinAlgError``, so code written for numpy catches it."""


class NotPositiveDefiniteError(LinAlgError):
    """A Cholesky factorization met a pivot that is not positive."""


class SingularMatrixError(LinAlgError):
    """A triangular factor has a zero (or non-finite) diagonal entry: the
    matrix is singular to working precision."""


class VerificationError(RunError):
    """``verify=True`` and the answer's residual exceeds the tolerance."""


class StoreError(LambdapackError):
    """A store could not be read or written, or holds a damaged tile."""


class InvalidNameError(StoreError, ValueError):
    """A matrix name a store cannot hold (only ASCII letters, digits,
    ``_``, ``-`` and ``.``)."""


class BlockError(LambdapackError, ValueError):
    """A block of the wrong shape, or one the matrix cannot store (above a
    symmetric matrix's diagonal, outside a triangular matrix's triangle)."""


class BlockIndexError(LambdapackError, IndexError):
    """A block index outside the matrix's grid of blocks."""


class BlockNotFoundError(LambdapackError, LookupError):
    """A block that is not stored and that no initialiser produces (or a
    matrix with no header in the store)."""

    def __str__(self):
        # LookupError's str() would quote the message like a key.
        return str(self.args[0]) if self.args else ""
