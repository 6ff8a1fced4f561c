"""``lambdapack.run`` and ``lambdapack.check``: lambdapack programs from
Python."""

import os

from . import _native, _progress

__all__ = ["run", "check", "RunResult", "library"]


class RunResult:
    """What ``run`` returns: the outputs by matrix name and the summary.

    ``result["L"]`` is output ``L`` (a numpy array, or a BigMatrix handle
    with ``bigmatrix=True``; a versioned output is a list of BigMatrix
    handles, one per version). ``result.summary`` is the ``RunSummary``
    (wall time, GFLOP/s, bytes moved, and ``verification`` when asked).
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
        copied into the run's store.
    outputs : list of str, optional
        The matrices to return (default: every output of the program).
    backend : "local"
        Threads on this machine (the only backend the package runs; the
        AWS Lambda backend is ``lpc run --backend lambda``).
    store : str or Store, optional
        Where tiles live during the run: ``"mem"``, ``"dir:PATH"`` (out of
        core), ``"s3://BUCKET/PREFIX"`` (built with the ``aws`` feature) or
        a ``Store``. Default: the store of the BigMatrix inputs,
        else a private memory store. In a store of the caller's, every
        matrix the run creates is named ``<name>-<run tag>``, so runs never
        overwrite each other.
    workers : int, optional
        Worker threads (default: one per core).
    verify : bool
        Check the answer with random probe vectors (library programs) and
        raise ``VerificationError`` if the residual is too large; the
        result is ``result.summary.verification``.
    trace : str or os.PathLike, optional
        Write a Chrome trace of every job (open it in Perfetto).
    params : dict, optional
        Program parameters, ``{"n": 8192, "b": 512}`` (``lpc run --set``).
    bigmatrix : bool
        Return outputs as BigMatrix handles in the run's store instead of
        numpy arrays (for results larger than RAM, with a ``dir:`` store).
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
        Ctrl-C: the run stops between jobs and the tiles it created are
        deleted; nothing is returned.

    The GIL is released while jobs run, so other Python threads go on.
    """
    if backend != "local":
        raise ValueError(
            f"backend={backend!r}: the Python package runs the local backend only; "
            "use `lpc run --backend lambda` for AWS Lambda"
        )
    if workers is None:
        workers = 0
    elif not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers must be a positive int, found {workers!r}")
    if inputs is None:
        inputs = {}
    if not isinstance(inputs, dict):
        raise TypeError("inputs must be a dict of matrix name -> array or BigMatrix")
    if outputs is not None:
        if isinstance(outputs, str):
            outputs = [outputs]
        outputs = list(outputs)
        if len(set(outputs)) != len(outputs):
            raise ValueError(f"outputs names a matrix twice: {outputs}")
    if trace is not None:
        trace = os.fspath(trace)
    sink = _progress.make(progress)
    try:
        result, summary = _native.run_program(
            program,
            params,
            inputs,
            outputs,
            bool(bigmatrix),
            store,
            workers,
            bool(verify),
            trace,
            sink,
        )
    finally:
        if sink is not None:
            sink.close()
    return RunResult(result, summary)


def check(program, params=None):
    """Check a program; return its diagnostics (an empty list if clean).

    ``program`` is source text, a ``.lp`` path or a library program's name;
    ``params`` sets its parameters (``{"n": 4096}``). Each ``Diagnostic``
    has ``message``, ``severity`` ("error" or "warning"), ``line`` and
    ``column`` (1-based, of the place it points at) and ``rendered`` (the
    rustc-style text ``lpc check`` prints). Program errors are returned,
    not raised; an unknown parameter raises ValueError.
    """
    return _native.check(program, params)


def library():
    """The library's programs: ``{name: (summary, [parameters])}``."""
    return {
        name: (summary, _native.library_params(name))
        for name, summary in _native.library_programs()
    }
