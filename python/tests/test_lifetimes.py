"""What stays in a store after a call: unnamed matrices of a memory store
go with their last handle, the numpy-like functions leave nothing behind
once their results are numpy arrays, and failed imports write nothing."""

import _thread
import gc
import os
import threading
import time

import numpy as np
import pytest

import lambdapack as lp
from conftest import contents, spd


def held():
    """Bytes of tiles the process's memory store holds, after dropping
    what only cycles keep alive."""
    gc.collect()
    return lp.Store("mem").usage()[0]


def test_unnamed_from_numpy_is_freed_with_its_last_handle(rng):
    a = rng.standard_normal((100, 70))
    before = held()
    for _ in range(3):
        A = lp.BigMatrix.from_numpy(a, 32)
        assert held() == before + a.nbytes
    # A handle opened on it by name keeps it alive after the first goes.
    B = lp.BigMatrix(A.name)
    del A
    assert held() == before + a.nbytes
    np.testing.assert_array_equal(B.numpy(), a)
    name = B.name
    del B
    assert held() == before
    with pytest.raises(lp.BlockNotFoundError):
        lp.BigMatrix(name)


def test_run_outputs_in_memory_go_with_their_last_handle(rng):
    mem = lp.Store("mem")
    s = spd(rng, 64)
    before = held()
    for _ in range(3):
        L = lp.cholesky(lp.BigMatrix.from_numpy(s, 16, symmetric=True))
        # The input went with its handle; L's 10 lower tiles stay.
        assert held() == before + 10 * 16 * 16 * 8
    np.testing.assert_allclose(L.numpy(), np.linalg.cholesky(s), rtol=0, atol=1e-12 * np.abs(s).max())
    run = L.location.rsplit("/", 1)[0]
    del L
    assert held() == before
    # The whole run went with its last output, record included.
    with pytest.raises(lp.BlockNotFoundError) as info:
        mem.remove(run)
    assert str(info.value) == f"no matrix or run `{run}` in the store"


def test_named_and_published_matrices_stay_until_removed(rng):
    mem = lp.Store("mem")
    a = rng.standard_normal((40, 40))
    s = spd(rng, 32)
    before = held()
    lp.BigMatrix.from_numpy(a, 16, name="lifetime_named")  # the handle is dropped at once
    factor = lp.cholesky(lp.BigMatrix.from_numpy(s, 16, symmetric=True))
    location = factor.location
    factor.publish("lifetime_factor")
    del factor
    assert held() == before + a.nbytes + 3 * 16 * 16 * 8
    np.testing.assert_array_equal(lp.BigMatrix("lifetime_named").numpy(), a)
    L = lp.BigMatrix("lifetime_factor")
    assert L.location == location
    np.testing.assert_allclose(L.numpy(), np.linalg.cholesky(s), rtol=0, atol=1e-12 * np.abs(s).max())
    del L
    for name in ("lifetime_named", "lifetime_factor", location):
        mem.remove(name)
    assert held() == before


def test_lu_and_qr_leave_nothing_in_the_store(rng, tiles):
    a = rng.standard_normal((64, 48))
    before = held()
    for store in (tiles, "mem"):
        f = lp.lu(a[:48], tile=16, store=store)
        q, r = lp.qr(a, tile=16, store=store)
        np.testing.assert_allclose(np.asarray(q) @ r, a, rtol=0, atol=1e-12 * 64)
        assert np.abs(np.diag(f.u)).min() > 0
    assert contents(tiles[len("dir:"):]) == ([], [], [])
    assert held() == before


def test_lu_and_qr_of_a_bigmatrix_keep_their_factors_only(rng, tiles):
    a = rng.standard_normal((48, 48))
    A = lp.BigMatrix.from_numpy(a, 16, store=tiles, name="A")
    f, g = lp.lu(A), lp.lu(a, tile=16)
    assert isinstance(f.u, lp.BigMatrix) and isinstance(f.l, lp.BigMatrix)
    np.testing.assert_array_equal(f.u.numpy(), g.u)
    np.testing.assert_array_equal(f.l.numpy(), g.l)
    np.testing.assert_array_equal(f.piv, g.piv)
    assert sorted(f.lx) == sorted(g.lx) and all(np.array_equal(f.lx[k], g.lx[k]) for k in g.lx)
    root = tiles[len("dir:"):]
    names, runs, _ = contents(root)
    assert (names, len(runs)) == (["A"], 1)
    kept = sorted(os.listdir(os.path.join(root, "~runs", runs[0])))
    assert kept == ["L", "U", "run.json"]
    q, r = lp.qr(A)
    assert isinstance(r, lp.BigMatrix) and isinstance(q.v, lp.BigMatrix)
    q2, r2 = lp.qr(a, tile=16)
    np.testing.assert_array_equal(r.numpy(), r2)
    np.testing.assert_allclose(np.asarray(q), np.asarray(q2), rtol=0, atol=1e-14)
    runs = contents(root)[1]
    assert len(runs) == 2
    kept = [sorted(os.listdir(os.path.join(root, "~runs", run))) for run in runs]
    assert sorted(kept) == [["L", "U", "run.json"], ["R", "V", "run.json"]]


def test_cholesky_upper_of_a_bigmatrix_is_refused_before_running(tiles):
    A = lp.BigMatrix.from_numpy(np.eye(8) * 4, 4, store=tiles, symmetric=True, name="A")
    with pytest.raises(ValueError) as info:
        lp.cholesky(A, lower=False)
    assert str(info.value) == (
        "cholesky: lower=False needs a numpy result (a BigMatrix cannot be transposed in place); "
        "pass bigmatrix=False, or take the lower factor L and use L.numpy().T"
    )
    assert contents(tiles[len("dir:"):]) == (["A"], [], [])
    np.testing.assert_array_equal(lp.cholesky(A, lower=False, bigmatrix=False), np.eye(8) * 2)
    assert contents(tiles[len("dir:"):]) == (["A"], [], [])


def test_refused_from_numpy_writes_nothing(tiles):
    asym = np.arange(36.0).reshape(6, 6)
    with pytest.raises(ValueError) as info:
        lp.BigMatrix.from_numpy(asym, 2, name="G", store=tiles, symmetric=True)
    assert str(info.value) == (
        "array G is not symmetric but matrix G is declared sym: element (1, 0) is 6e0, element (0, 1) is 1e0"
    )
    assert contents(tiles[len("dir:"):]) == ([], [], [])
    G = lp.BigMatrix.from_numpy(np.eye(6), 2, name="G", store=tiles)
    np.testing.assert_array_equal(G.numpy(), np.eye(6))


def test_interrupted_from_numpy_stops_and_removes_its_matrix(tiles):
    a = np.zeros((1024, 1024))  # 65,536 tiles of 4 x 4: seconds of files
    timer = threading.Timer(0.3, _thread.interrupt_main)  # as Ctrl-C's handler does
    start = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        lp.BigMatrix.from_numpy(a, 4, store=tiles)
    assert time.monotonic() - start < 3
    assert contents(tiles[len("dir:"):]) == ([], [], [])


def test_a_removed_run_output_is_refused_as_an_input(tiles):
    """A run's output removed since its handle was opened reads as zeros
    (its initialiser) everywhere; as an input it is refused, as reading it
    is, instead of a product of zeros."""
    C = lp.matmul(np.ones((4, 4)), np.ones((4, 4)), store=tiles, bigmatrix=True)
    lp.Store(tiles).remove(C.location)
    message = f'matrix "{C.name}" is no longer in the store: {C.location} was removed'
    for use in (lambda: lp.matmul(C, np.ones((4, 1))), C.numpy):
        with pytest.raises(lp.BlockNotFoundError) as info:
            use()
        assert str(info.value) == message


def test_a_general_bigmatrix_for_a_sym_input_is_checked_as_an_array_is():
    """``lp.run`` reads a ``sym`` input's lower triangle only, so a general
    BigMatrix bound to one must have symmetric diagonal tiles, as an array
    must: an asymmetric one used to be factored by its lower triangle."""
    a = np.ones((8, 8)) + 8 * np.eye(8)
    a[0, 1] = 5
    A = lp.BigMatrix.from_numpy(a, 4, name="G")
    with pytest.raises(ValueError) as info:
        lp.run("cholesky", inputs={"A": A}, params={"n": 8, "b": 4})
    assert str(info.value) == (
        'inputs["A"] is not symmetric but matrix A is declared sym: '
        "element (1, 0) is 1e0, element (0, 1) is 5e0"
    )
    # Copied into another tiling, the same check on the copy's tiles.
    with pytest.raises(ValueError) as info:
        lp.run("cholesky", inputs={"A": A}, params={"n": 8, "b": 3})
    assert str(info.value) == (
        'inputs["A"] is not symmetric but matrix A is declared sym: '
        "element (1, 0) is 1e0, element (0, 1) is 5e0"
    )
    a[0, 1] = 1
    B = lp.BigMatrix.from_numpy(a, 4, name="H")
    L = lp.run("cholesky", inputs={"A": B}, params={"n": 8, "b": 4})["L"]
    np.testing.assert_allclose(L @ L.T, a, rtol=1e-13)
