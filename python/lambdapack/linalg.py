"""numpy-like linear algebra on lambdapack's library programs.

Each function runs one program of the library (``lib/*.lp``) on this
machine's cores, taking numpy arrays or ``BigMatrix`` handles and returning
numpy arrays (or BigMatrix handles, for results larger than RAM). Where the
conventions differ from numpy's and scipy's, the docstring says so.

Every program computes in float64. As in numpy, results of float32
operands are float32 (rounded once from the float64 result); any other
real operands give float64 results.
"""

import numpy as np

from . import _native
from ._api import _run as _run_program
from ._arrays import as_matrix, as_positive_int, as_real

__all__ = ["cholesky", "matmul", "solve", "lu", "qr", "lstsq", "IncrementalLU", "ImplicitQ"]

_OPTIONS_DOC = """
    tile : int, optional
        The tile (block) size; default: a BigMatrix input's, else chosen
        from the size (about 16 tiles along the largest dimension, between
        256 and 2048; one tile for small matrices).
    store : str or Store, optional
        Where tiles live during the run (``"dir:PATH"`` for matrices larger
        than RAM); default: the BigMatrix inputs' store, else memory.
    workers : int, optional
        Worker threads (default: one per core).
    bigmatrix : bool, optional
        Return BigMatrix handles in the run's store instead of numpy arrays;
        default: True when an input is a BigMatrix. They stay in the store
        under the run's namespace (read-only); ``handle.publish(name)``
        gives one a stable name.
    verify : bool
        Also check the residual with random probe vectors (raises
        ``VerificationError`` if it is too large).
    progress : None, bool or callable
        As for ``lambdapack.run``.
"""


def _doc(f):
    f.__doc__ = f.__doc__.replace("    {options}\n", _OPTIONS_DOC.lstrip("\n"))
    return f


def _choose_tile(dims):
    n = max(dims)
    if n <= 512:
        return n
    b = -(-n // 16)
    b = -(-b // 64) * 64
    return int(min(2048, max(256, b)))


def _is_big(x):
    return isinstance(x, _native.BigMatrix)


def _single(*operands):
    """Whether numpy would return float32: every operand is a float32 array
    (a BigMatrix holds float64)."""
    return all(not _is_big(x) and np.asarray(x).dtype == np.float32 for x in operands)


def _like(x, single):
    """A numpy result as float32 when the operands were (``_single``)."""
    return x.astype(np.float32) if single and isinstance(x, np.ndarray) else x


def _operand(x, what):
    """A BigMatrix as it is; anything else as a 2-D float64 array."""
    return x if _is_big(x) else as_matrix(x, what)


def _tile(tile, operands, dims):
    if tile is not None:
        return as_positive_int(tile, "tile")
    for x in operands:
        if _is_big(x) and x.tile[0] == x.tile[1]:
            return x.tile[0]
    return _choose_tile(dims)


def _big(bigmatrix, operands):
    """Whether the result is a BigMatrix: as asked, else when an operand is one."""
    return any(_is_big(x) for x in operands) if bigmatrix is None else bool(bigmatrix)


def _empty(shape, bigmatrix, operands, what):
    """The zeros numpy and scipy return when an operand has no elements
    (an empty result, or a product over an empty dimension): there is
    nothing to compute, and a program's tiles cannot be empty, so nothing
    runs."""
    if _big(bigmatrix, operands):
        raise ValueError(
            f"{what}: an operand has no elements, so the result is the {shape[0]} x {shape[1]} "
            "numpy array of zeros numpy gives; a BigMatrix cannot hold it (pass bigmatrix=False)"
        )
    return np.zeros(shape)


def _discard(handles, whole_run):
    """Removes the versioned outputs a function has read into numpy arrays
    (a run keeps those in its store, as handles): with ``whole_run``, the
    run's whole namespace (every other output came back as a numpy array,
    and a run that keeps nothing leaves nothing), else only these."""
    if not handles:
        return
    store = handles[0].store
    if whole_run:
        store.remove(handles[0].location.rsplit("/", 1)[0])
    else:
        for h in handles:
            store.remove(h.location)


def _run(name, params, inputs, outputs, tile, store, workers, bigmatrix, verify, progress):
    bigmatrix = _big(bigmatrix, inputs.values())
    params = dict(params, b=tile)
    # numpy reads only the lower triangle of a symmetric input, unchecked.
    result = _run_program(
        name,
        inputs,
        outputs,
        backend="local",
        store=store,
        workers=workers,
        verify=verify,
        trace=None,
        params=params,
        bigmatrix=bigmatrix,
        publish=None,
        progress=progress,
        lower_only=True,
    )
    return result, bigmatrix


def _square(a, what):
    if a.shape[0] != a.shape[1]:
        raise ValueError(f"{what} must be square, found shape {tuple(a.shape)}")
    return a.shape[0]


@_doc
def cholesky(a, *, lower=True, tile=None, store=None, workers=None, bigmatrix=None, verify=False, progress=None):
    """Cholesky factor of a symmetric positive definite matrix.

    Like ``numpy.linalg.cholesky``: returns the lower triangular ``L`` with
    ``a = L @ L.T``, reading only the lower triangle of ``a`` (the
    program's ``A`` is ``sym``): the upper triangle is never read or
    checked for symmetry, whatever the tile size.
    ``lower=False`` returns the upper factor ``L.T`` (scipy's default
    convention), as a transposed view; it needs a numpy result, so with a
    BigMatrix ``a`` it needs ``bigmatrix=False`` (checked before running).
    An empty ``a`` gives an empty ``L``, as in numpy.

    Parameters
    ----------
    a : (n, n) array_like or BigMatrix
    lower : bool
    {options}

    Returns
    -------
    L : (n, n) numpy.ndarray (Fortran order) or BigMatrix (lower triangular)

    Raises
    ------
    NotPositiveDefiniteError
        ``a`` is not positive definite (a ``numpy.linalg.LinAlgError``; its
        ``job``, ``kernel`` and ``tile`` say where the factorization stopped).
    """
    single = _single(a)
    a = _operand(a, "a")
    n = _square(a, "a")
    if not lower and _big(bigmatrix, [a]):
        raise ValueError(
            "cholesky: lower=False needs a numpy result (a BigMatrix cannot be transposed in place); "
            "pass bigmatrix=False, or take the lower factor L and use L.numpy().T"
        )
    if n == 0:
        return _like(_empty((0, 0), bigmatrix, [a], "cholesky"), single)
    b = _tile(tile, [a], [n])
    result, _ = _run("cholesky", {"n": n}, {"A": a}, ["L"], b, store, workers, bigmatrix, verify, progress)
    factor = _like(result["L"], single)
    return factor if lower else factor.T


@_doc
def matmul(a, b, *, tile=None, store=None, workers=None, bigmatrix=None, verify=False, progress=None):
    """Matrix product ``a @ b``, as ``numpy.matmul`` for 1-D and 2-D operands.

    A 1-D ``a`` is a row vector and a 1-D ``b`` a column vector, and the
    added dimension is removed from the result, as in numpy. Stacks of
    matrices (3-D and more) are not supported.

    Parameters
    ----------
    a : (m, k) or (k,) array_like or BigMatrix
    b : (k, n) or (k,) array_like or BigMatrix
    {options}

    Returns
    -------
    c : (m, n) numpy.ndarray or BigMatrix (1-D if an operand was 1-D, a
        numpy.float64 if both were)
    """
    a_vec = not _is_big(a) and np.ndim(a) == 1
    b_vec = not _is_big(b) and np.ndim(b) == 1
    single = _single(a, b)
    if a_vec:
        a = np.asarray(a)[np.newaxis, :]
    if b_vec:
        b = np.asarray(b)[:, np.newaxis]
    a, b = _operand(a, "a"), _operand(b, "b")
    (m, k), (k2, n) = a.shape, b.shape
    if k != k2:
        raise ValueError(f"matmul: a is {m} x {k} but b is {k2} x {n} (inner dimensions differ)")
    if 0 in (m, n, k):
        c, big = _empty((m, n), bigmatrix, [a, b], "matmul"), False
    else:
        t = _tile(tile, [a, b], [m, n, k])
        params = {"m": m, "n": n, "k": k}
        result, big = _run("gemm", params, {"A": a, "B": b}, ["C"], t, store, workers, bigmatrix, verify, progress)
        c = result["C"]
    if big:
        return c
    c = _like(c, single)
    if a_vec:
        c = c[0]
    if b_vec:
        c = c[..., 0]
    # Two vectors: numpy's inner product is a scalar, not a 0-d array.
    return c[()] if a_vec and b_vec else c


_SOLVERS = {"gen": "gesv", "general": "gesv", "pos": "posv", "positive definite": "posv"}


@_doc
def solve(a, b, *, assume_a="gen", tile=None, store=None, workers=None, bigmatrix=None, verify=False, progress=None):
    """Solve ``a @ x = b`` for a square ``a``.

    As ``scipy.linalg.solve(a, b, assume_a=...)`` (and
    ``numpy.linalg.solve`` for ``assume_a="gen"``): ``b`` is ``(n,)`` or
    ``(n, nrhs)`` and ``x`` has its shape.

    * ``assume_a="gen"`` (general): tiled LU with incremental pairwise
      pivoting (PLASMA's ``dgesv_incpiv``), then back substitution. Its
      pivoting is pairwise between tiles rather than over whole columns;
      the backward error is LAPACK-like in practice.
    * ``assume_a="pos"`` (symmetric positive definite): tiled Cholesky and
      two triangular solves, in one DAG. Reads only the **lower** triangle
      of ``a``, unchecked (scipy reads the upper one by default; for a
      symmetric ``a`` they are the same).

    Other ``assume_a`` values of scipy (sym, her, banded, ...) are not
    supported.

    Parameters
    ----------
    a : (n, n) array_like or BigMatrix
    b : (n,) or (n, nrhs) array_like or BigMatrix
    assume_a : {"gen", "pos"}
    {options}

    Returns
    -------
    x : numpy.ndarray or BigMatrix, the shape of ``b``

    Raises
    ------
    SingularMatrixError
        ``a`` is singular to working precision (``assume_a="gen"``).
    NotPositiveDefiniteError
        ``a`` is not positive definite (``assume_a="pos"``).
    """
    program = _SOLVERS.get(assume_a)
    if program is None:
        raise ValueError(f"assume_a must be 'gen' or 'pos', found {assume_a!r}")
    single = _single(a, b)
    b_vec = not _is_big(b) and np.ndim(b) == 1
    if b_vec:
        b = np.asarray(b)[:, np.newaxis]
    a, b = _operand(a, "a"), _operand(b, "b")
    n = _square(a, "a")
    if b.shape[0] != n:
        raise ValueError(f"solve: a is {n} x {n} but b has {b.shape[0]} rows")
    if 0 in b.shape:
        x, big = _empty(b.shape, bigmatrix, [a, b], "solve"), False
    else:
        t = _tile(tile, [a, b], [n, b.shape[1]])
        params = {"n": n, "nrhs": b.shape[1]}
        result, big = _run(program, params, {"A": a, "B": b}, ["X"], t, store, workers, bigmatrix, verify, progress)
        x = result["X"]
    x = _like(x, single)
    return x[:, 0] if b_vec and not big else x


class IncrementalLU:
    """The factors of ``lu``: tiled LU with incremental (pairwise) pivoting.

    Not scipy's ``P, L, U``: the row interchanges are made within a
    diagonal tile and between pairs of tiles, so no global permutation
    exists. For tiles of size ``tile`` (``nt`` of them per side), step ``k``
    factors diagonal tile ``k`` (LAPACK ``getrf``) and then eliminates each
    tile ``i > k`` below it against it (``tstrf``, with interchanges between
    the two tiles' rows); the same operations take ``a`` to ``u``.

    With one tile (``tile >= n``) it is LAPACK's ``getrf``: scipy's
    ``lu_factor(a)`` is ``(np.tril(f.l, -1) + f.u, f.piv)``, so
    ``scipy.linalg.lu_solve((np.tril(f.l, -1) + f.u, f.piv), b)`` solves
    ``a x = b``. With several tiles no such packed form exists; use
    ``solve(a, b)``.

    Attributes
    ----------
    u : (n, n) ndarray or BigMatrix
        Upper triangular: ``|det(a)| = |prod(diag(u))|``.
    l : (n, n) ndarray or BigMatrix
        Lower triangular, **not** LAPACK's packed array: block ``(k, k)``
        holds, strictly below its diagonal, the unit lower factor of
        ``getrf`` on diagonal tile ``k`` (its diagonal and the part above
        are not part of the factor); block ``(i, k)``, ``i > k``, holds
        ``tstrf``'s multipliers for tiles ``k`` and ``i``.
    piv : (n,) int64 ndarray
        ``piv[k*tile + r]`` is ``getrf``'s interchange of row ``r`` of
        diagonal tile ``k`` (0-based, within the tile, as scipy's
        ``lu_factor`` gives it).
    lx : dict
        ``lx[i, k]`` (``i > k``): ``tstrf``'s unit lower blocks and
        interchanges for tiles ``k`` and ``i`` (see ``lp-std``'s ``tstrf``).
    tile : int
    """

    def __init__(self, u, l, piv, lx, tile):
        self.u, self.l, self.piv, self.lx, self.tile = u, l, piv, lx, tile

    def __iter__(self):
        return iter((self.l, self.u, self.piv, self.lx))

    def __repr__(self):
        return f"IncrementalLU(n={self.u.shape[0]}, tile={self.tile})"


@_doc
def lu(a, *, tile=None, store=None, workers=None, bigmatrix=None, verify=False, progress=None):
    """LU factorization with incremental pivoting of a square matrix.

    Returns lambdapack's tiled factors (``IncrementalLU``: ``u``, ``l``,
    ``piv``, ``lx``), **not** scipy's ``P, L, U``: pivoting is pairwise
    between tiles, so there is no single permutation matrix. ``u`` is the
    upper triangular factor, with ``|det(a)| == |prod(diag(u))|``. With
    one tile, ``(np.tril(f.l, -1) + f.u, f.piv)`` is scipy's
    ``lu_factor(a)``. To solve systems, use ``solve(a, b)``, which applies
    the same factorization. With ``bigmatrix``, ``u`` and ``l`` are
    BigMatrix handles; ``piv`` and ``lx`` are numpy arrays either way.

    Parameters
    ----------
    a : (n, n) array_like or BigMatrix
    {options}

    Raises
    ------
    SingularMatrixError
        A diagonal entry of ``u`` is zero or not finite.
    """
    single = _single(a)
    a = _operand(a, "a")
    n = _square(a, "a")
    if n == 0:
        empty = _like(_empty((0, 0), bigmatrix, [a], "lu"), single)
        return IncrementalLU(empty, empty.copy(), np.zeros(0, np.int64), {}, 1)
    t = _tile(tile, [a], [n])
    result, big = _run("lu", {"n": n}, {"A": a}, ["U", "L", "P", "LX"], t, store, workers, bigmatrix, verify, progress)
    versions, p = result["LX"], result["P"]
    try:
        nt = -(-n // t)
        lx = {(i, k): versions[i].get_block(k, k) for i in range(nt) for k in range(i)}
        piv = (p.numpy() if big else p)[:, 0].astype(np.int64)
    finally:
        _discard(versions + ([p] if big else []), whole_run=not big)
    u, l = _like(result["U"], single), _like(result["L"], single)
    return IncrementalLU(u, l, piv, lx, t)


def _rows(x, what, expected, shape_text):
    """``x`` (1-D or 2-D, real) as a float64 array with one of the
    ``expected`` numbers of rows, else a ValueError saying ``shape_text``."""
    x = as_real(x, what)
    if x.ndim not in (1, 2):
        raise ValueError(f"{what} must be 1-D or 2-D, found {x.ndim}-D with shape {x.shape}")
    if x.shape[0] not in expected:
        rows = " or ".join(str(r) for r in sorted(set(expected)))
        raise ValueError(f"{shape_text}: {what} must have {rows} rows, found {x.shape[0]}")
    return x


class ImplicitQ:
    """The orthogonal factor of ``qr``, kept as its Householder reflectors.

    ``Q`` is the product, in the order of the factorization's steps, of
    ``I - Y T Yᵀ`` per tile kernel (compact WY form, LAPACK's convention):
    for step ``k``, first the ``geqrt`` of diagonal tile ``k`` (``Y`` is
    ``v[k, k]``, unit lower trapezoidal, on the rows of tile ``k``; ``T``
    is ``t[k, k]``), then for each tile ``i > k`` the ``tsqrt`` pairing
    diagonal tile ``k``'s ``R`` with tile ``i`` (``Y = [I; v[i, k]]`` on the
    first rows of tile ``k`` and the rows of tile ``i``; ``T = t[i, k]``).

    ``Q`` stands for the reduced ``(m, n)`` Q (its ``shape``), as
    ``numpy.linalg.qr`` returns it: ``Q @ x`` takes ``x`` with ``n`` rows
    (or ``m`` rows: the full ``(m, m)`` Q), ``Q.T @ y`` takes ``y`` with
    ``m`` rows and gives ``n`` (``Q.T`` has shape ``(n, m)``);
    ``apply(x, transpose=False)`` applies the full Q or Qᵀ to ``x`` with
    ``m`` rows; ``matrix()`` (or ``numpy.asarray(Q)``) forms the reduced Q
    explicitly. Complex operands are refused (TypeError).

    Attributes
    ----------
    v : (m, n) ndarray or BigMatrix
        The reflectors, by tile (lower: ``v[i, k]`` is tile ``(i, k)``).
    t : dict
        ``t[i, k]``: the ``T`` factor of step ``k``'s kernel on tile ``i``
        (``i == k``: the ``geqrt``).
    shape : (m, n)
    tile : int
    """

    def __init__(self, v, t, tile):
        self.v, self.t, self.tile = v, t, tile
        self.shape = tuple(v.shape)

    def _y(self, i, k, cols):
        """The reflectors of tile ``(i, k)`` (``cols`` columns)."""
        if _is_big(self.v):
            return self.v.get_block(i, k)
        b, m = self.tile, self.shape[0]
        return self.v[i * b : min(m, (i + 1) * b), k * b : k * b + cols]

    def _blocks(self):
        """(i, k, Y, T) per kernel, in the order of the steps."""
        m, n = self.shape
        b = self.tile
        mt, nt = -(-m // b), -(-n // b)
        for k in range(nt):
            cols = min(b, n - k * b)
            for i in range(k, mt):
                yield i, k, self._y(i, k, cols), self.t[i, k]

    def _apply(self, x, transpose):
        """The full Q (or Qᵀ) applied to float64 ``x`` with ``m`` rows, in a
        new array."""
        x = np.array(x, dtype=np.float64, order="F")
        vec = x.ndim == 1
        if vec:
            x = x[:, np.newaxis]
        b = self.tile
        blocks = list(self._blocks())
        for i, k, y, t in blocks if transpose else reversed(blocks):
            op = t.T if transpose else t
            top = slice(k * b, k * b + y.shape[1])
            if i == k:
                rows = slice(k * b, k * b + y.shape[0])
                x[rows] -= y @ (op @ (y.T @ x[rows]))
            else:
                rows = slice(i * b, i * b + y.shape[0])
                w = op @ (x[top] + y.T @ x[rows])
                x[top] -= w
                x[rows] -= y @ w
        return x[:, 0] if vec else x

    def apply(self, x, transpose=False):
        """``Q @ x`` (or ``Qᵀ @ x``) for the full ``(m, m)`` Q and ``x`` with
        ``m`` rows; returns a new array."""
        m = self.shape[0]
        x = _rows(x, "x", [m], f"the full Q is {m} x {m}")
        return self._apply(x, transpose)

    def matrix(self):
        """The reduced ``(m, n)`` Q, with orthonormal columns."""
        m, n = self.shape
        return self._apply(np.eye(m, n), False)

    def __matmul__(self, x):
        m, n = self.shape
        x = _rows(x, "x", [n, m], f"Q is {m} x {n}" + (f" (the full Q {m} x {m})" if m != n else ""))
        if x.shape[0] == n and n != m:
            pad = np.zeros((m,) + x.shape[1:])
            pad[:n] = x
            x = pad
        return self._apply(x, False)

    def __array__(self, dtype=None, copy=None):
        if copy is False:
            raise ValueError("ImplicitQ: forming Q makes a new array, so copy=False is impossible")
        q = self.matrix()
        return q if dtype is None else q.astype(dtype)

    @property
    def T(self):
        """Qᵀ, of shape ``(n, m)``: ``Q.T @ y`` and ``numpy.asarray(Q.T)``."""
        return _TransposedQ(self)

    def __repr__(self):
        return f"ImplicitQ(shape={self.shape}, tile={self.tile})"


class _TransposedQ:
    """``Q.T``: the transpose of an ``ImplicitQ``'s reduced Q."""

    def __init__(self, q):
        self.q = q
        self.shape = q.shape[::-1]

    @property
    def T(self):
        return self.q

    def __matmul__(self, y):
        n, m = self.shape
        y = _rows(y, "y", [m], f"Q.T is {n} x {m}")
        return self.q._apply(y, True)[:n]

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.q.__array__(dtype, copy).T)

    def __repr__(self):
        return f"ImplicitQ(shape={self.q.shape}, tile={self.q.tile}).T"


@_doc
def qr(a, mode="reduced", *, tile=None, store=None, workers=None, bigmatrix=None, verify=False, progress=None):
    """QR factorization of a tall or square matrix (``m >= n``).

    As ``numpy.linalg.qr(a, mode)`` for ``mode="reduced"`` (``(Q, R)``) and
    ``mode="r"`` (``R`` only), except that ``Q`` is an ``ImplicitQ``: the
    Householder reflectors of the tiled factorization, applied with
    ``Q @ x`` and ``Q.T @ y``, formed with ``numpy.asarray(Q)`` (so
    ``np.allclose(Q @ R, a)`` holds). ``R`` is upper triangular with the
    signs LAPACK's ``geqrf`` gives (not necessarily a positive diagonal).
    Wide matrices (``m < n``) and modes "complete" and "raw" are not
    supported. With ``bigmatrix``, ``R`` and the reflectors ``Q.v`` are
    BigMatrix handles (``Q`` reads them tile by tile).

    Parameters
    ----------
    a : (m, n) array_like or BigMatrix, m >= n
    mode : {"reduced", "r"}
    {options}
    """
    if mode not in ("reduced", "r"):
        raise ValueError(f"mode must be 'reduced' or 'r', found {mode!r}")
    single = _single(a)
    a = _operand(a, "a")
    m, n = a.shape
    if m < n:
        raise ValueError(f"qr needs m >= n (a tall or square matrix), found {m} x {n}")
    if n == 0:
        r = _like(_empty((0, 0), bigmatrix, [a], "qr"), single)
        return r if mode == "r" else (ImplicitQ(np.zeros((m, 0)), {}, 1), r)
    t = _tile(tile, [a], [m, n])
    outputs = ["R"] if mode == "r" else ["R", "V", "T"]
    result, _ = _run("qr", {"m": m, "n": n}, {"A": a}, outputs, t, store, workers, bigmatrix, verify, progress)
    r = _like(result["R"], single)
    if mode == "r":
        return r
    versions = result["T"]
    try:
        mt, nt = -(-m // t), -(-n // t)
        ts = {(i, k): versions[i].get_block(k, k) for k in range(nt) for i in range(k, mt)}
    finally:
        _discard(versions, whole_run=not _is_big(result["R"]))
    return ImplicitQ(result["V"], ts, t), r


@_doc
def lstsq(a, b, *, tile=None, store=None, workers=None, bigmatrix=None, verify=False, progress=None):
    """Least-squares solution of ``a @ x ≈ b`` for ``a`` with ``m >= n``
    (full column rank), by tiled QR (LAPACK's ``gels``).

    Returns only ``x`` (``numpy.linalg.lstsq`` also returns residuals, the
    rank and the singular values, which a QR does not give): a 1-D ``b``
    gives a 1-D ``x``.

    Parameters
    ----------
    a : (m, n) array_like or BigMatrix, m >= n
    b : (m,) or (m, nrhs) array_like or BigMatrix
    {options}

    Returns
    -------
    x : (n,) or (n, nrhs) numpy.ndarray or BigMatrix
    """
    single = _single(a, b)
    b_vec = not _is_big(b) and np.ndim(b) == 1
    if b_vec:
        b = np.asarray(b)[:, np.newaxis]
    a, b = _operand(a, "a"), _operand(b, "b")
    m, n = a.shape
    if m < n:
        raise ValueError(f"lstsq needs m >= n (a tall or square matrix), found {m} x {n}")
    if b.shape[0] != m:
        raise ValueError(f"lstsq: a has {m} rows but b has {b.shape[0]}")
    if 0 in (n, b.shape[1]):
        x, big = _empty((n, b.shape[1]), bigmatrix, [a, b], "lstsq"), False
    else:
        t = _tile(tile, [a, b], [m, n, b.shape[1]])
        params = {"m": m, "n": n, "nrhs": b.shape[1]}
        result, big = _run("lstsq", params, {"A": a, "B": b}, ["X"], t, store, workers, bigmatrix, verify, progress)
        x = result["X"]
    x = _like(x, single)
    return x[:, 0] if b_vec and not big else x
