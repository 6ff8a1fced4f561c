"""lambdapack.run and lambdapack.check: bindings, summary, verification,
progress, the GIL and Ctrl-C."""

import _thread
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import lambdapack as lp
from conftest import THRESH, contents, jobs, norm1, ratio, spd

DOUBLE = """\
param n = 8, b = 4, nt = ceil(n / b)
matrix A : f64[n, n] tile [b, b] input
matrix C : f64[n, n] tile [b, b] output
for i in range(nt) {
    for j in range(nt) {
        twice:
            %c = GEMM A[i, j], A[i, j], A[i, j]
            S3_WRITE C[i, j], %c
    }
}
"""


def test_run_library_program_with_summary_and_verification(rng):
    a = spd(rng, 96)
    result = lp.run("cholesky", inputs={"A": a}, params={"n": 96, "b": 32}, verify=True)
    assert list(result) == ["L"]
    L = result["L"]
    assert ratio(a - L @ L.T, norm1(a), 96) < THRESH
    s = result.summary
    # 4 CHOL + 6 TRSM... for 3 tiles: 3 chol, 3 trsm, 4 syrk = 10 jobs.
    assert (s.jobs, s.executions, s.retries) == (10, 10, 0)
    assert s.flops > 0 and s.wall_seconds > 0 and s.workers >= 1
    v = s.verification
    assert v.passed and v.residual < v.tolerance
    assert len(s.worker_idle_seconds) == s.workers
    assert all(0 <= t <= s.wall_seconds for t in s.worker_idle_seconds)
    assert s.idle_while_ready_seconds is None  # not traced
    assert 0 <= s.jobs_on_lent_cores <= s.executions
    # The process's CPU time: at most every core busy throughout (and a
    # little for the clocks' grain).
    assert s.user_seconds is not None and s.system_seconds is not None
    assert 0 <= s.user_seconds + s.system_seconds <= os.cpu_count() * s.wall_seconds + 0.05
    # A diagonal tile's SYRK (its two operands the same tile) is timed apart.
    assert {name: calls for name, calls, _, _ in s.kernels} == {
        "CHOL": 3,
        "TRSM_RLT": 3,
        "SYRK": 1,
        "SYRK (A Aᵀ)": 3,
    }
    assert all(secs > 0 for _, _, secs, _ in s.kernels)
    assert [secs for _, _, secs, _ in s.kernels] == sorted((secs for _, _, secs, _ in s.kernels), reverse=True)
    # Useful flops: a diagonal SYRK counts b³, so the kernels add up to
    # n³/3 exactly here (3 CHOL of b³/3, 3 TRSM of b³, 3 diagonal SYRK of b³
    # and one off it of 2b³); the summary rounds each job's to a whole flop.
    b3 = 32**3
    assert sum(f for _, _, _, f in s.kernels) == pytest.approx(3 * b3 / 3 + 3 * b3 + 3 * b3 + 2 * b3)
    assert abs(sum(f for _, _, _, f in s.kernels) - s.flops) <= s.jobs


def test_a_traced_run_says_how_long_workers_idled_beside_ready_jobs(rng, tmp_path):
    a = spd(rng, 256)
    trace = tmp_path / "t.json"
    result = lp.run("cholesky", inputs={"A": a}, params={"n": 256, "b": 64}, workers=2, trace=trace)
    s = result.summary
    # Part of the workers' idle time, in seconds (lp-runtime/tests/priority.rs
    # checks the measure itself).
    assert 0 <= s.idle_while_ready_seconds <= sum(s.worker_idle_seconds) + 1e-3
    assert trace.exists()


def test_input_arrays_are_read_in_place_not_imported(rng):
    """An input array's tiles are cut from it as jobs read them: the run's
    store never holds them. Cholesky in 3 x 3 tiles: an imported A (6 lower
    tiles) and the factor L (6 tiles) would take 12 tiles at the end; L and
    the trailing-update temps (at most 3 + 1 tiles) take at most 10."""
    a = spd(rng, 96)
    store = lp.Store.memory()
    L = lp.cholesky(a, tile=32, store=store)
    assert ratio(a - L @ L.T, norm1(a), 96) < THRESH
    held, peak = store.usage()
    tile_bytes = 32 * 32 * 8
    assert held == 0 and 6 * tile_bytes <= peak <= 10 * tile_bytes


def test_run_initialised_inputs_need_no_arrays():
    result = lp.run("gemm", params={"m": 20, "n": 12, "k": 8, "b": 8}, outputs=["C"])
    assert result["C"].shape == (20, 12)
    assert np.abs(result["C"]).max() > 0


def test_run_source_text_and_bigmatrix_outputs(rng, tiles):
    a = rng.standard_normal((8, 8))
    result = lp.run(DOUBLE, inputs={"A": a}, store=tiles, bigmatrix=True)
    C = result["C"]
    assert isinstance(C, lp.BigMatrix) and C.store == lp.Store(tiles)
    # Kept where the run wrote it, in its namespace, with its origin.
    run = re.fullmatch(r"~runs/(run-[0-9a-f]+-[0-9a-f]+)/C", C.name).group(1)
    assert (C.location, C.origin) == (C.name, f"C of run {run} (<string>)")
    assert contents(tiles[len("dir:"):]) == ([], [run], [])
    # GEMM c + a b per tile: A[i,j] + A[i,j] @ A[i,j].
    expected = np.block([[a[i:i+4, j:j+4] + a[i:i+4, j:j+4] @ a[i:i+4, j:j+4] for j in (0, 4)] for i in (0, 4)])
    np.testing.assert_allclose(C.numpy(), expected, rtol=1e-13, atol=1e-13)


DIAGONAL = """\
param n = 40, b = 16, nt = ceil(n / b)
matrix A : f64[n, n] tile [b, b] input
matrix C : f64[n, n] tile [b, b] output
for i in range(nt) {
    diagonal:
        %c = GEMM A[i, i], A[i, i], A[i, i]
        S3_WRITE C[i, i], %c
}
"""


def test_an_output_no_job_reads_is_written_into_its_array(rng):
    """No job reads C, so its tiles go straight into the returned array as
    they are stored; the tiles no job writes (off the diagonal) are zeros,
    as an export reads them, whatever the array's memory held before."""
    a = rng.standard_normal((40, 40))
    for _ in range(3):
        # Freed memory of the output's size, full of NaNs, for numpy to
        # hand out again.
        del_me = np.full((40, 40), np.nan, order="F")
        del del_me
        c = lp.run(DIAGONAL, inputs={"A": a})["C"]
        expected = np.zeros((40, 40))
        for r in (slice(0, 16), slice(16, 32), slice(32, 40)):  # the last ragged
            expected[r, r] = a[r, r] + a[r, r] @ a[r, r]
        np.testing.assert_allclose(c, expected, rtol=1e-13, atol=1e-13)
        assert np.count_nonzero(c[:16, 16:]) == 0 and np.count_nonzero(c[16:, :16]) == 0


def test_run_binding_errors(rng):
    a = spd(rng, 8)
    cases = [
        (dict(inputs={"Q": a}), "inputs: the program has no matrix `Q` (it has A, L, S)"),
        (dict(inputs={"L": a}), "inputs: `L` is not an input matrix of the program"),
        (dict(inputs={"A": a[:4, :4]}), 'inputs["A"] is 4 x 4 but the program\'s A is 8 x 8'),
        (dict(inputs={"A": a}, outputs=["X"]), "outputs: the program has no matrix `X` (it has A, L, S)"),
        (dict(inputs={"A": a}, outputs=["L", "S"]),
         "outputs: `S` is a temp of the program (a run frees its tiles as it goes); "
         "only its inputs and outputs can be read back"),
        (dict(inputs={"A": a}, backend="lambda"),
         "backend='lambda': the Python package runs the local backend only; "
         "use `lpc run --backend lambda` for AWS Lambda"),
        (dict(inputs={"A": a}, params={"q": 1}), "params: the program has no parameter `q` (it has n, b, seed, nt)"),
    ]
    for kwargs, message in cases:
        kwargs.setdefault("params", {"n": 8, "b": 4})
        with pytest.raises(ValueError) as info:
            lp.run("cholesky", **kwargs)
        assert str(info.value) == message
    with pytest.raises(ValueError) as info:
        lp.run(DOUBLE)
    assert str(info.value) == 'input matrix `A` has no initialiser; pass it as inputs={"A": array}'


def test_run_argument_types_are_named(rng):
    a = spd(rng, 8)
    result = lp.run("cholesky", inputs={"A": a}, params={"n": np.int64(8), "b": np.int32(4)}, workers=np.int64(2))
    np.testing.assert_allclose(result["L"], np.linalg.cholesky(a), rtol=0, atol=1e-12 * np.abs(a).max())
    cases = [
        (dict(inputs={1: a}), TypeError, "inputs: keys must be matrix names (str), found 1 (int)"),
        (dict(inputs=[a]), TypeError, "inputs must be a dict of matrix name -> array or BigMatrix, found list"),
        (dict(params=[("n", 4)]), TypeError, "params must be a dict of parameter name -> int, found list"),
        (dict(params={"n": 2**70}), ValueError,
         "params['n'] is too large: 1180591620717411303424 does not fit in 64 bits (at most 2**63 - 1)"),
        (dict(params={"n": -2**70}), ValueError,
         "params['n'] is too small: -1180591620717411303424 does not fit in 64 bits (at least -2**63)"),
        (dict(params={"n": 2.5}), TypeError, "params['n'] must be an int, found 2.5 (float)"),
        (dict(params={3: 4}), TypeError, "params: keys must be parameter names (str), found 3 (int)"),
        (dict(workers=0), ValueError, "workers must be a positive int, found 0"),
        (dict(workers=True), TypeError, "workers must be an int, found True"),
        (dict(workers=100000), ValueError, "workers must be at most 1024, found 100000"),
        (dict(workers=2**70), ValueError,
         "workers is too large: 1180591620717411303424 does not fit in 64 bits (at most 2**63 - 1)"),
        (dict(trace="/nonexistent-dir/t.json"), ValueError,
         "trace: cannot write /nonexistent-dir/t.json: directory /nonexistent-dir does not exist"),
    ]
    for kwargs, cls, message in cases:
        kwargs.setdefault("inputs", {"A": a})
        kwargs.setdefault("params", {"n": 8, "b": 4})
        with pytest.raises(cls) as info:
            lp.run("cholesky", **kwargs)
        assert type(info.value) is cls and str(info.value) == message
    with pytest.raises(TypeError) as info:
        lp.check("cholesky", params=[("n", 4)])
    assert str(info.value) == "params must be a dict of parameter name -> int, found list"


@pytest.mark.parametrize("params, start, end", [
    # One tile of 8 TiB.
    ({"n": 2**21, "b": 2**20},
     "matrix A: one tile is 1048576 x 1048576 doubles, 8796093022208 bytes (8.0 TiB), "
     "more than the memory this process may use (",
     "); choose a smaller tile size"),
    # Each tile fits; the whole L returned as a numpy array (8 TiB) cannot.
    ({"n": 2**20, "b": 2**12},
     "the outputs returned as numpy arrays (L 1048576 x 1048576) need 8796093022208 bytes "
     "(8.0 TiB), more than this machine's memory (",
     "): ask for BigMatrix handles instead (bigmatrix=True, with a dir: store)"),
])
def test_what_cannot_fit_in_memory_is_refused_before_running(params, start, end):
    # The machine's memory, between the two parts, differs from host to host.
    with pytest.raises(MemoryError) as info:
        lp.run("cholesky", params=params)
    message = str(info.value)
    assert message.startswith(start) and message.endswith(end), message


def test_program_error_carries_diagnostics():
    source = "param n = 4\nmatrix A : f64[n, n] tile [2, 2] input\nfoo bar\n"
    with pytest.raises(lp.ProgramError) as info:
        lp.run(source)
    e = info.value
    assert str(e).startswith("<string> does not compile: 1 error\n")
    assert [(d.severity, d.line, d.column) for d in e.diagnostics] == [("error", 3, 8)]


def test_check_returns_diagnostics():
    assert lp.check("cholesky") == []
    # Blank text is an empty program, as an empty file is to `lpc check`.
    assert lp.check("") == [] and lp.check("  ") == []
    assert lp.check("lstsq", params={"m": 100, "n": 50}) == []
    (d,) = lp.check("param n = 4\nfoo bar\n")
    assert (d.severity, d.line, d.column) == ("error", 2, 8)
    assert d.message == "expected `[`, found the end of the line"
    assert d.rendered.startswith("error: expected `[`, found the end of the line\n")
    assert "foo bar" in d.rendered


def test_library_lists_programs_and_parameters():
    lib = lp.library()
    assert {"cholesky", "posv", "gesv", "lu", "qr", "lstsq", "tsqr", "gemm", "trsolve"} <= set(lib)
    assert lib["cholesky"][1] == ["n", "b", "seed", "nt"]


def test_progress_callback_and_bars(capfd, slow_n):
    calls = []
    a = np.eye(slow_n) * 2
    lp.cholesky(a, tile=40, progress=lambda *p: calls.append(p))
    assert calls
    done = [c[0] for c in calls]
    assert done == sorted(done) and all(c[1] == jobs(slow_n) for c in calls)
    capfd.readouterr()
    start = time.monotonic()
    lp.cholesky(a, tile=40)  # stderr is not a terminal under pytest: no bar
    assert time.monotonic() - start > 0.1 and capfd.readouterr().err == ""
    lp.cholesky(a, tile=40, progress=True)  # a bar, erased at the end
    err = capfd.readouterr().err
    assert f"/{jobs(slow_n)} jobs" in err and err.endswith("\r\033[K")


def test_gil_is_released_while_jobs_run(slow_n):
    ticks = [0]
    stop = threading.Event()

    def count():
        while not stop.is_set():
            ticks[0] += 1
            time.sleep(0.001)

    t = threading.Thread(target=count)
    t.start()
    start = time.monotonic()
    lp.cholesky(np.eye(slow_n) * 2, tile=40, workers=1)
    elapsed = time.monotonic() - start
    stop.set()
    t.join()
    # The counter thread ran throughout the run (about 1 tick a ms).
    assert elapsed > 0.1 and ticks[0] > elapsed * 200


def test_interrupt_raises_keyboardinterrupt_and_writes_nothing(tiles, slow_n):
    A = lp.BigMatrix.from_numpy(np.eye(slow_n) * 2, 40, store=tiles, symmetric=True, name="A")
    seen = []

    def interrupt(done, total, *_):
        seen.append(done)
        _thread.interrupt_main()  # what Ctrl-C's signal handler does

    with pytest.raises(KeyboardInterrupt):
        lp.cholesky(A, progress=interrupt)
    assert len(seen) == 1 and seen[0] < jobs(slow_n)
    assert contents(tiles[len("dir:"):]) == (["A"], [], [])
    nt = slow_n // 40
    assert len(A.blocks()) == nt * (nt + 1) // 2


def test_sigint_from_outside_stops_the_run(tmp_path, slow_n):
    script = textwrap.dedent(f"""
        import sys, numpy as np, lambdapack as lp
        A = lp.BigMatrix.from_numpy(np.eye({slow_n}) * 2, 40, store="dir:{tmp_path}", symmetric=True, name="A")
        def started(*_):
            print("running", flush=True)
        try:
            lp.cholesky(A, progress=started)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
        print("finished", flush=True)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "running\n"
    child.send_signal(signal.SIGINT)
    out, _ = child.communicate(timeout=60)
    assert child.returncode == 3 and out.rstrip().splitlines()[-1] == "interrupted"
    assert contents(tmp_path) == (["A"], [], [])
