"""``lambdapack.run`` and ``lambdapack.check``: lambdapack programs from
Python."""

import os

from . import _native, _progress
from ._arrays import as_params, as_positive_int

__all__ = ["run", "check", "RunResult", "library"]


class RunResult:
    """What ``run`` returns: the outputs by matrix name and the summary.

    ``result["L"]`` is output ``L`` (a numpy array, or a BigMatrix handle
    with ``bigmatrix=True``; a versioned output is a list of BigMatrix
    handles, one per version). A handle reads the run's output where the
    run keeps it in its store (``~runs/<run>/L``; read-only), and is
    called by its published name when ``publish=`` published it.
    ``result.summary`` is the ``RunSummary`` (wall time, GFLOP/s, bytes
    moved, and ``verification`` when asked).
    """

    __slots__ = ("outputs", "summary")

    def __init__(self, outputs, summary):
        self.outputs = outputs
        self.summary = summary

    def __getitem__(self, name):
        return self.outputs[name]

    def __iter__(self):
        return iter(self.outputs)

    def __len__(self):
        return len(self.outputs)

    def keys(self):
        return self.outputs.keys()

    def __repr__(self):
        return f"RunResult(outputs={list(self.outputs)}, summary={self.summary!r})"


def run(
    program,
    inputs=None,
    outputs=None,
    *,
    backend="local",
    store=None,
    workers=None,
    verify=False,
    trace=None,
    params=None,
    bigmatrix=False,
    publish=None,
    progress=None,
):
    """Run a lambdapack program on this machine's cores.

    Parameters
    ----------
    program : str, os.PathLike or bytes
        Source text (anything with a newline), the name of a library
        program (``"cholesky"``, ``"posv"``, ``"gesv"``, ``"lu"``, ``"qr"``,
        ``"lstsq"``, ``"tsqr"``, ``"gemm"``, ``"trsolve"``), the path of a
        ``.lp`` file or of a bundle written by ``lpc build``, or a bundle's
        bytes.
    inputs : dict, optional
        Input matrix name -> 2-D numpy array (any real dtype and strides;
        float64 arrays are read in place, a tile whenever a job needs one,
        so no other thread may write them while the call runs) or
        ``BigMatrix``. Inputs with an initialiser in the program
        (``= spd(42)``) may be left out. A BigMatrix in the run's store
        with the program's tiling is read where it is; otherwise it is
        copied into the run's namespace of its store, and removed with it.
    outputs : list of str, optional
        The matrices to return (default: every output of the program).
    backend : "local"
        Threads on this machine (the only backend the package runs; the
        AWS Lambda backend is ``lpc run --backend lambda``).
    store : str or Store, optional
        Where tiles live during the run: ``"mem"``, ``"dir:PATH"`` (out of
        core), ``"s3://BUCKET/PREFIX"`` (built with the ``aws`` feature) or
        a ``Store``. Default: the store of the BigMatrix inputs,
        else a private memory store. As for ``lpc run``, the run works in
        its own namespace of the store (``~runs/<run>/``, with a record and
        a heartbeat), so any number of runs, of any programs and processes,
        may share a store; inputs with an initialiser (``= spd(42)``) are
        read by origin, never from tiles another run or import left under
        that name; and what a run killed outright leaves behind, ``lpc
        store gc`` removes.
    workers : int, optional
        Worker threads (default: one per core); any integer type.
    verify : bool
        Check the answer with random probe vectors (library programs) and
        raise ``VerificationError`` if the residual is too large; the
        result is ``result.summary.verification``.
    trace : str or os.PathLike, optional
        Write a Chrome trace of every job (open it in Perfetto).
    params : dict, optional
        Program parameters, ``{"n": 8192, "b": 512}`` (``lpc run --set``):
        names (str) to integers of 64 bits (numpy's included).
    bigmatrix : bool
        Return outputs as BigMatrix handles in the run's store instead of
        numpy arrays (for results larger than RAM, with a ``dir:`` store).
        The outputs stay in the store, under the run's namespace
        (``~runs/<run>/<name>``, the handle's ``name`` unless published),
        until ``Store.remove`` or ``lpc store rm`` removes them.
    publish : str, list of str or dict, optional
        Outputs to publish in the store under a stable name after a
        successful (and, with ``verify=True``, verified) run, as ``lpc run
        --publish NAME[=AS]``: ``"L"`` or ``["L"]`` publishes output ``L``
        as ``L``, ``{"L": "factor"}`` as ``factor``. Later runs, other
        processes and ``lpc run --input L=store:factor`` open it by that
        name (``BigMatrix("factor", store=...)``). Publishing is atomic: a
        reader sees the previous matrix of that name or the new one, never
        a mix; when two runs publish one name, the later write wins and the
        other run's output stays under its own namespace. A published
        output stays in the store even when returned as a numpy array.
        Needs a store (``store=`` or a BigMatrix input's).
    progress : None, bool or callable
        None: a progress bar on a terminal or in a notebook, nothing
        otherwise. False: never. A callable: called about ten times a
        second as ``fn(jobs_done, jobs_total, flops_done, elapsed_seconds)``.

    Returns
    -------
    RunResult
        ``result[name]`` per output, ``result.summary`` the run summary.

    Raises
    ------
    ProgramError
        The program does not compile (``.diagnostics`` has the details).
    NotPositiveDefiniteError, SingularMatrixError
        A kernel met a matrix the algorithm cannot factor (both are
        ``numpy.linalg.LinAlgError``); ``.job``, ``.kernel`` and ``.tile``
        say where.
    JobFailedError, RunError, StoreError
        Another failure of a job, the run or the store.
    VerificationError
        ``verify=True`` and the residual exceeds its tolerance.
    KeyboardInterrupt
        Ctrl-C: the run stops between jobs and its namespace in the store
        is removed; nothing is returned or published.

    The GIL is released while jobs run, so other Python threads go on.
    """
    return _run(
        program,
        inputs,
        outputs,
        backend=backend,
        store=store,
        workers=workers,
        verify=verify,
        trace=trace,
        params=params,
        bigmatrix=bigmatrix,
        publish=publish,
        progress=progress,
        lower_only=False,
    )


def _run(
    program,
    inputs,
    outputs,
    *,
    backend,
    store,
    workers,
    verify,
    trace,
    params,
    bigmatrix,
    publish,
    progress,
    lower_only,
):
    """``run``, with ``lower_only`` (the numpy-like functions'): read the
    ``sym`` inputs by their lower triangle only, as ``numpy.linalg.cholesky``
    does (each diagonal tile built from its lower triangle, mirrored, never
    checked for symmetry), rather than refuse diagonal tiles that are not
    symmetric as ``run`` and ``lpc run`` do."""
    if backend != "local":
        raise ValueError(
            f"backend={backend!r}: the Python package runs the local backend only; "
            "use `lpc run --backend lambda` for AWS Lambda"
        )
    workers = 0 if workers is None else as_positive_int(workers, "workers")
    if inputs is None:
        inputs = {}
    if not isinstance(inputs, dict):
        raise TypeError(
            f"inputs must be a dict of matrix name -> array or BigMatrix, found {type(inputs).__name__}"
        )
    for name in inputs:
        if not isinstance(name, str):
            raise TypeError(f"inputs: keys must be matrix names (str), found {name!r} ({type(name).__name__})")
    params = as_params(params)
    if outputs is not None:
        if isinstance(outputs, str):
            outputs = [outputs]
        outputs = list(outputs)
        if len(set(outputs)) != len(outputs):
            raise ValueError(f"outputs names a matrix twice: {outputs}")
    if trace is not None:
        trace = os.fspath(trace)
    publish = _publish_pairs(publish)
    sink = _progress.make(progress)
    try:
        result, summary = _native.run_program(
            program,
            params,
            inputs,
            outputs,
            bool(bigmatrix),
            publish,
            store,
            workers,
            bool(verify),
            trace,
            sink,
            lower_only,
        )
    finally:
        if sink is not None:
            sink.close()
    return RunResult(result, summary)


def _publish_pairs(publish):
    """``publish=`` as (output, name) pairs."""
    if publish is None:
        return []
    if isinstance(publish, str):
        publish = [publish]
    if isinstance(publish, dict):
        pairs = list(publish.items())
    else:
        pairs = [(name, name) for name in publish]
    for pair in pairs:
        if not all(isinstance(x, str) for x in pair):
            raise TypeError(
                "publish must be an output's name, a list of them, or a dict of output -> name"
            )
    return pairs


def check(program, params=None):
    """Check a program; return its diagnostics (an empty list if clean).

    ``program`` is source text, a ``.lp`` path or a library program's name;
    ``params`` sets its parameters (``{"n": 4096}``). Each ``Diagnostic``
    has ``message``, ``severity`` ("error" or "warning"), ``line`` and
    ``column`` (1-based, of the place it points at) and ``rendered`` (the
    rustc-style text ``lpc check`` prints). Program errors are returned,
    not raised; an unknown parameter raises ValueError.
    """
    return _native.check(program, as_params(params))


def library():
    """The library's programs: ``{name: (summary, [parameters])}``."""
    return {
        name: (summary, _native.library_params(name))
        for name, summary in _native.library_programs()
    }
