"""BigMatrix: blocks, stores, reopening, validation and pickling."""

import os
import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import lambdapack as lp


def test_blocks_round_trip_in_memory(rng):
    A = lp.BigMatrix("bm_round_trip", (10, 7), (4, 3))
    assert (A.shape, A.tile, A.grid, A.symmetric, A.triangle) == ((10, 7), (4, 3), (3, 3), False, None)
    block = rng.standard_normal((2, 1))  # the ragged corner block
    A.put_block(block, 2, 2)
    np.testing.assert_array_equal(A.get_block(2, 2), block)
    assert A.blocks() == [(2, 2)]
    A.delete_block(2, 2)
    assert A.blocks() == []
    A.free()


def test_from_numpy_numpy_and_free(rng, tiles):
    a = rng.standard_normal((13, 9))
    A = lp.BigMatrix.from_numpy(a, (5, 4), store=tiles, name="A")
    assert A.grid == (3, 3)
    np.testing.assert_array_equal(A.numpy(), a)
    np.testing.assert_array_equal(A.get_block(1, 2), a[5:10, 8:9])
    assert A.free() == 9
    assert A.blocks() == []


def test_symmetric_matrix_stores_lower_blocks(rng, tiles):
    g = rng.standard_normal((12, 12))
    a = g + g.T
    S = lp.BigMatrix.from_numpy(a, 4, store=tiles, symmetric=True, name="S")
    assert S.blocks() == [(0, 0), (1, 0), (1, 1), (2, 0), (2, 1), (2, 2)]
    np.testing.assert_array_equal(S.get_block(0, 2), a[0:4, 8:12])
    np.testing.assert_array_equal(S.numpy(), a)


def test_init_gives_values_of_unwritten_blocks():
    Z = lp.BigMatrix("bm_zeros", (6, 6), 3, init="zeros")
    np.testing.assert_array_equal(Z.get_block(1, 0), np.zeros((3, 3)))
    assert Z.init == "zeros"
    I = lp.BigMatrix("bm_identity", (6, 6), 3, init="identity")
    np.testing.assert_array_equal(I.numpy(), np.eye(6))


def test_open_existing_matrix_by_name(rng, tiles):
    a = rng.standard_normal((8, 8))
    lp.BigMatrix.from_numpy(a, 4, store=tiles, name="kept")
    for B in (lp.BigMatrix("kept", store=tiles), lp.BigMatrix.open("kept", tiles)):
        assert (B.shape, B.tile) == ((8, 8), (4, 4))
        np.testing.assert_array_equal(B.numpy(), a)
    # The same structure opens the existing matrix; another one is refused.
    assert lp.BigMatrix("kept", (8, 8), 4, store=tiles).blocks() == [(i, j) for i in range(2) for j in range(2)]
    with pytest.raises(ValueError) as info:
        lp.BigMatrix("kept", (8, 8), 2, store=tiles)
    assert str(info.value) == (
        f'matrix "kept" already exists in store {tiles} as f64[8, 8] tile [4, 4], '
        "not f64[8, 8] tile [2, 2]"
    )


def test_validation_errors_name_what_and_where(tiles):
    S = lp.BigMatrix("V", (10, 10), 4, store=tiles, symmetric=True)
    cases = [
        (lambda: S.put_block(np.zeros((4, 4)), 0, 1), lp.BlockError, ValueError,
         "block V[0, 1] is in the upper half of symmetric matrix V, which stores only "
         "blocks with i >= j: write block [1, 0] instead"),
        (lambda: S.put_block(np.zeros((4, 4)), 2, 0), lp.BlockError, ValueError,
         "block V[2, 0] is 2 x 4, but the block given is 4 x 4"),
        (lambda: S.get_block(3, 0), lp.BlockIndexError, IndexError,
         "block V[3, 0] is outside its 3 x 3 grid of blocks"),
        (lambda: S.get_block(-1, 0), lp.BlockIndexError, IndexError, "block row -1 is negative"),
        (lambda: S.get_block(2**63, 0), lp.BlockIndexError, IndexError,
         "block V[9223372036854775808, 0] is outside its 3 x 3 grid of blocks"),
        (lambda: S.put_block(np.array([[1.0, 2.0], [3.0, 1.0]]), 2, 2), lp.BlockError, ValueError,
         "block V[2, 2] is not symmetric but matrix V is declared sym: "
         "element (9, 8) is 3e0, element (8, 9) is 2e0"),
        (lambda: lp.BigMatrix("missing", store=tiles), lp.BlockNotFoundError, LookupError,
         f'no matrix "missing" in store {tiles}: to create one, give its shape and tile'),
        (lambda: lp.BigMatrix("bad name", (4, 4), 2), lp.InvalidNameError, ValueError,
         "invalid matrix name \"bad name\": only ASCII letters, digits, '_', '-' and '.' are allowed"),
        (lambda: lp.BigMatrix("x" * 201, (4, 4), 2), lp.InvalidNameError, ValueError,
         f'invalid matrix name "{"x" * 201}": the name is longer than 200 bytes'),
        (lambda: lp.BigMatrix("W", (4, 4), 0), ValueError, ValueError, "tile must be positive, found 0"),
        (lambda: lp.BigMatrix("W", (4, 6), 2, symmetric=True), ValueError, ValueError,
         "a symmetric matrix must be square with square tiles, found 4 x 6 in tiles of 2 x 2"),
        (lambda: lp.BigMatrix("W", (4, 4)), TypeError, TypeError,
         "BigMatrix needs both shape and tile (or neither, to open an existing matrix)"),
        (lambda: lp.BigMatrix("W", (4, 4), 2, store="ftp://x"), ValueError, ValueError,
         'store: expected "mem", "dir:PATH" or "s3://BUCKET/PREFIX", found "ftp://x"'),
    ]
    for action, cls, builtin, message in cases:
        with pytest.raises(cls) as info:
            action()
        assert isinstance(info.value, builtin)
        assert str(info.value) == message


def test_missing_block_raises_lookup_error(tiles):
    M = lp.BigMatrix("M", (4, 4), 2, store=tiles)
    with pytest.raises(lp.BlockNotFoundError) as info:
        M.get_block(1, 0)
    assert str(info.value) == "tile M[1, 0] is not in the store and M has no initialiser"


def test_triangular_output_refuses_blocks_outside_its_triangle(rng):
    L = lp.cholesky(lp.BigMatrix.from_numpy(np.eye(8) * 4, 4, symmetric=True))
    with pytest.raises(lp.BlockError) as info:
        L.put_block(np.zeros((4, 4)), 0, 1)
    assert str(info.value) == (
        f"block {L.name}[0, 1] is outside the triangle of lower matrix {L.name} "
        "(zero by declaration, never stored)"
    )
    np.testing.assert_array_equal(L.get_block(0, 1), np.zeros((4, 4)))


def test_pickle_round_trip_and_other_process(rng, tiles):
    a = rng.standard_normal((9, 9))
    A = lp.BigMatrix.from_numpy(a, 4, store=tiles, name="P")
    B = pickle.loads(pickle.dumps(A))
    assert (B.name, B.shape, B.tile, B.store) == ("P", (9, 9), (4, 4), A.store)
    np.testing.assert_array_equal(B.numpy(), a)
    # Another process reopens it from the header and reads a block.
    script = (
        "import pickle, sys, numpy as np\n"
        "m = pickle.loads(sys.stdin.buffer.read())\n"
        "np.save(sys.stdout.buffer, m.get_block(2, 1))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], input=pickle.dumps(A),
                         capture_output=True, check=True)
    import io
    np.testing.assert_array_equal(np.load(io.BytesIO(out.stdout)), a[8:9, 4:8])


def test_memory_matrix_cannot_be_pickled():
    M = lp.BigMatrix("bm_mem_pickle", (4, 4), 2)
    with pytest.raises(pickle.PicklingError) as info:
        pickle.dumps(M)
    assert str(info.value) == (
        'BigMatrix "bm_mem_pickle" lives in a memory store, which exists only in this process, '
        "so it cannot be pickled or sent to another process; use a directory store "
        '(store="dir:PATH") to share matrices between processes'
    )


def test_tiles_on_disk_are_npy_files(rng, tmp_path):
    a = rng.standard_normal((6, 6))
    lp.BigMatrix.from_numpy(a, 3, store=f"dir:{tmp_path}", name="D")
    np.testing.assert_array_equal(np.load(os.path.join(tmp_path, "D", "1_0.npy")), a[3:6, 0:3])


def test_blocks_put_one_by_one_are_flushed_on_request(rng, tmp_path):
    a = lp.BigMatrix("F", (4, 4), 2, store=f"dir:{tmp_path}", init="zeros")
    block = rng.standard_normal((2, 2))
    a.put_block(block, 1, 0)
    assert a.flush() is None
    np.testing.assert_array_equal(np.load(os.path.join(tmp_path, "F", "1_0.npy")), block)
    # Nothing to flush in memory.
    assert lp.BigMatrix.from_numpy(np.ones((2, 2)), 2).flush() is None


def test_a_handle_to_a_removed_matrix_cannot_bring_it_back(tmp_path):
    store = f"dir:{tmp_path}"
    a = lp.BigMatrix.from_numpy(np.ones((4, 4)), 2, store=store, name="A")
    lp.Store(store).remove("A")
    for write in (lambda: a.put_block(np.full((2, 2), 7.0), 0, 0), a.flush):
        with pytest.raises(lp.BlockNotFoundError) as info:
            write()
        assert str(info.value) == 'matrix "A" is no longer in the store: A was removed'
    assert not os.path.exists(os.path.join(tmp_path, "A"))
    # A new matrix of that name starts from its own initialiser.
    fresh = lp.BigMatrix("A", (4, 4), 2, store=store, init="zeros")
    np.testing.assert_array_equal(fresh.numpy(), np.zeros((4, 4)))


def test_from_numpy_refuses_an_existing_name(rng, tiles):
    """`from_numpy` creates a matrix: onto an existing name (even of the
    same shape and tile) it is refused and writes nothing, rather than
    overwriting it (and mixing tiles with another process doing the same)."""
    a = rng.standard_normal((8, 8))
    lp.BigMatrix.from_numpy(a, 4, store=tiles, name="kept")
    with pytest.raises(ValueError) as info:
        lp.BigMatrix.from_numpy(a + 1, 4, store=tiles, name="kept")
    assert type(info.value) is ValueError
    assert str(info.value) == (
        f'matrix "kept" already exists in store {tiles}: from_numpy creates a new matrix, '
        'so remove it first (Store.remove("kept")) or choose another name'
    )
    np.testing.assert_array_equal(lp.BigMatrix("kept", store=tiles).numpy(), a)
    # Removed, the name is free again.
    lp.Store(tiles).remove("kept")
    np.testing.assert_array_equal(lp.BigMatrix.from_numpy(a + 1, 4, store=tiles, name="kept").numpy(), a + 1)


def test_from_numpy_into_one_name_at_once_creates_it_once(rng, tiles):
    """Writers racing to create one name: one creates it (the store's
    create-if-absent step), the others are refused, and the matrix holds
    the winner's array alone, never a mix of their tiles."""
    arrays = [rng.standard_normal((64, 64)) for _ in range(4)]

    def create(k):
        try:
            lp.BigMatrix.from_numpy(arrays[k], 8, store=tiles, name="race")
            return k
        except ValueError as e:
            assert "already exists" in str(e)
            return None

    with ThreadPoolExecutor(len(arrays)) as pool:
        outcomes = list(pool.map(create, range(len(arrays))))
    winners = [k for k in outcomes if k is not None]
    assert len(winners) == 1, outcomes
    np.testing.assert_array_equal(lp.BigMatrix("race", store=tiles).numpy(), arrays[winners[0]])


def test_an_int_past_64_bits_is_too_large_by_name():
    """Sizes and counts go through one rule (`lambdapack._arrays.as_int`),
    which names the argument and says it is too large."""
    big = 2**70
    too_large = "{} is too large: 1180591620717411303424 does not fit in 64 bits (at most 2**63 - 1)"
    cases = [
        (lambda: lp.cholesky(np.eye(4), tile=big), "tile"),
        (lambda: lp.BigMatrix("T", (4, 4), big), "tile"),
        (lambda: lp.BigMatrix("T", (4, 4), (2, big)), "tile cols"),
        (lambda: lp.BigMatrix("T", (big, 4), 2), "rows"),
        (lambda: lp.BigMatrix.from_numpy(np.eye(4), big), "tile"),
        (lambda: lp.BigMatrix.from_numpy(np.eye(4), (big, 2)), "tile rows"),
    ]
    for action, what in cases:
        with pytest.raises(ValueError) as info:
            action()
        assert type(info.value) is ValueError
        assert str(info.value) == too_large.format(what)
    with pytest.raises(TypeError) as info:
        lp.BigMatrix("T", (4, 4), [2, 2])
    assert str(info.value) == "tile must be an int or a (rows, cols) pair of ints"


def test_a_diagonal_block_holding_inf_or_nan_is_said_so(tiles):
    """inf and NaN are checked before symmetry: an all-inf matrix is not
    called asymmetric, and an inf on the diagonal (an infinite tolerance)
    does not let an asymmetric block through."""
    inf = np.full((4, 4), np.inf)
    with pytest.raises(ValueError) as info:
        lp.BigMatrix.from_numpy(inf, 2, store=tiles, symmetric=True, name="I")
    assert type(info.value) is ValueError
    assert str(info.value) == (
        "array I holds inf or NaN, whose symmetry cannot be checked, but matrix I is declared sym: "
        "element (0, 0) is inf"
    )
    assert not os.path.exists(os.path.join(tiles[len("dir:"):], "I"))
    masked = np.eye(4)
    masked[1, 1], masked[1, 0] = np.inf, 5.0
    with pytest.raises(ValueError) as info:
        lp.run("cholesky", inputs={"A": masked}, params={"n": 4, "b": 2})
    assert type(info.value) is ValueError
    assert str(info.value) == (
        'inputs["A"] holds inf or NaN, whose symmetry cannot be checked, but matrix A is declared sym: '
        "element (1, 1) is inf"
    )
    S = lp.BigMatrix("S", (4, 4), 2, store=tiles, symmetric=True)
    with pytest.raises(lp.BlockError) as info:
        S.put_block(np.array([[1.0, np.nan], [np.nan, 1.0]]), 1, 1)
    assert str(info.value) == (
        "block S[1, 1] holds inf or NaN, whose symmetry cannot be checked, "
        "but matrix S is declared sym: element (3, 2) is NaN"
    )
    assert S.blocks() == []


def test_a_store_path_that_is_a_file_is_said_so(tmp_path):
    path = tmp_path / "tiles"
    path.write_text("not a directory")
    with pytest.raises(ValueError) as info:
        lp.Store(f"dir:{path}")
    assert type(info.value) is ValueError
    # lpc's words (lp_runtime's DirStore::open), not the OS's "File exists".
    assert str(info.value) == (
        f"cannot open store {path}: creating store directory {path}: it is a file, not a directory"
    )


def test_a_relative_dir_store_is_kept_at_its_absolute_path(tmp_path, monkeypatch):
    """``dir:tiles`` names the directory it named when it was opened: after
    a ``chdir``, and in a pickle read by a process started elsewhere."""
    monkeypatch.chdir(tmp_path)
    A = lp.BigMatrix.from_numpy(np.eye(4), 2, store="dir:tiles", name="A")
    absolute = f"dir:{(tmp_path / 'tiles').resolve()}"
    assert repr(A.store) == f'Store("{absolute}")'
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    np.testing.assert_array_equal(A.numpy(), np.eye(4))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(A)).numpy(), np.eye(4))
    assert not (elsewhere / "tiles").exists()


def test_cholesky_of_a_lower_bigmatrix_retiled_reads_only_its_lower_blocks(tiles):
    """``lp.cholesky`` never reads the upper triangle: a general BigMatrix
    with only its lower blocks written, copied into another tile size,
    has its upper part taken as the mirror of the lower one (it used to
    read the upper blocks, which do not exist)."""
    rng = np.random.default_rng(7)
    g = rng.standard_normal((10, 10))
    a = g @ g.T + 10 * np.eye(10)
    A = lp.BigMatrix("lower_only", (10, 10), 4, store=tiles)
    for i in range(3):
        for j in range(i + 1):
            A.put_block(a[4 * i:4 * i + 4, 4 * j:4 * j + 4], i, j)
    L = lp.cholesky(A, tile=3, bigmatrix=False)
    np.testing.assert_allclose(L, np.linalg.cholesky(a), rtol=1e-12, atol=1e-13)
