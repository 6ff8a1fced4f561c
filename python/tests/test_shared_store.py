"""Python runs sharing a directory store with each other and with `lpc`
(docs/runtime.md, "Runs sharing a store"): run namespaces, clean-up of
killed runs by `lpc store gc`, published results, inputs by origin."""

import io
import os
import pickle
import re
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import lambdapack as lp
from conftest import contents, spd

RUN_ID = r"run-[0-9a-f]+-[0-9a-f]+"
LIB = os.path.join(os.path.dirname(__file__), "..", "..", "lib")
LIB_CHOLESKY = os.path.join(LIB, "cholesky.lp")
LIB_TRSOLVE = os.path.join(LIB, "trsolve.lp")


def isolated_cholesky(n, b, seed):
    """The factor of spd(seed) computed alone, in a private memory store."""
    return lp.run("cholesky", params={"n": n, "b": b, "seed": seed}, progress=False)["L"]


def child(script, *args):
    """A Python process running `script` with `args`, its stdout a pipe."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *map(str, args)],
        stdout=subprocess.PIPE,
        text=True,
    )


def tile_files(folder):
    return [f for _, _, files in os.walk(folder) for f in files if f.endswith(".npy")]


def test_sigkilled_run_is_collected_by_gc_and_nothing_else(tmp_path, slow_n, lpc):
    root = tmp_path / "st"
    store = f"dir:{root}"
    a = spd(np.random.default_rng(1), 40)
    kept = lp.BigMatrix.from_numpy(a, 20, store=store, symmetric=True, name="K")
    factor = lp.cholesky(kept).publish("factor")
    expected = factor.numpy()
    killed = child(f"""
        import numpy as np, lambdapack as lp
        def started(done, *_):
            if done:
                print("running", flush=True)
        lp.cholesky(np.eye({slow_n}) * 2, tile=40, store="dir:{root}", progress=started)
        print("finished", flush=True)
    """)
    assert killed.stdout.readline() == "running\n"
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    names, runs, inputs = contents(root)
    (finished,) = re.findall(RUN_ID, factor.location)
    (dead,) = [r for r in runs if r != finished]
    assert (names, sorted(runs), inputs) == (["K", "factor"], sorted([finished, dead]), [])
    # The dead run's temporaries and partial factor are there ...
    assert tile_files(root / "~runs" / dead)
    pools = os.listdir(root / "~pool")
    assert any(p.startswith(f"{killed.pid}-") for p in pools)

    out = lpc("store", "gc", store)
    assert out == f"removed dead run {dead}\ngc: 1 dead run(s), 0 interrupted import(s) and 1 stale pool(s) removed\n"
    # ... and gone, while the other matrices are untouched.
    assert contents(root) == (["K", "factor"], [finished], [])
    assert not any(p.startswith(f"{killed.pid}-") for p in os.listdir(root / "~pool"))
    np.testing.assert_array_equal(lp.BigMatrix("K", store=store).numpy(), kept.numpy())
    np.testing.assert_array_equal(lp.BigMatrix("factor", store=store).numpy(), expected)


def test_concurrent_runs_in_one_store_give_their_isolated_answers(tmp_path, slow_n):
    """Two processes run Cholesky factorizations of different matrices in
    one store at once (both write `L` and the temps `S`), started together:
    a short run whose answer is compared with the same run alone, then one
    long enough (slow_n) to overlap the other's, checked by its residual."""
    n, b = 400, 40
    root = tmp_path / "st"
    go = tmp_path / "go"
    script = f"""
        import os, sys, time, numpy as np, lambdapack as lp
        seed = int(sys.argv[1])
        while not os.path.exists({str(go)!r}):
            time.sleep(0.01)
        L = lp.run("cholesky", params={{"n": {n}, "b": {b}, "seed": seed}},
                   store="dir:{root}", progress=False)["L"]
        big = lp.run("cholesky", params={{"n": {slow_n}, "b": 40, "seed": seed}},
                     store="dir:{root}", bigmatrix=True, verify=True, progress=False)["L"]
        np.save(sys.argv[2], L)
        print(big.name, flush=True)
    """
    procs = [child(script, seed, tmp_path / f"L{seed}.npy") for seed in (7, 8)]
    go.touch()
    kept = []
    for p in procs:
        out, _ = p.communicate(timeout=600)
        assert p.returncode == 0
        kept.append(out.strip())
    for seed in (7, 8):
        np.testing.assert_array_equal(np.load(tmp_path / f"L{seed}.npy"), isolated_cholesky(n, b, seed))
    # The numpy runs left nothing; the BigMatrix runs their factors, each
    # in its own namespace.
    runs = [re.fullmatch(rf"~runs/({RUN_ID})/L", name).group(1) for name in kept]
    assert contents(root) == ([], sorted(runs), [])
    for run, name in zip(runs, kept):
        L = lp.BigMatrix(name, store=f"dir:{root}")
        assert (L.origin, L.shape) == (f"L of run {run} (cholesky.lp)", (slow_n, slow_n))


def test_published_result_opens_by_name_read_only(rng, tiles, lpc):
    n = 40
    a = spd(rng, n)
    A = lp.BigMatrix.from_numpy(a, 10, store=tiles, symmetric=True, name="A")
    first = lp.run("cholesky", inputs={"A": A}, params={"n": n, "b": 10},
                   publish={"L": "factor"}, bigmatrix=True)["L"]
    (run,) = re.findall(RUN_ID, first.location)
    assert (first.name, first.location) == ("factor", f"~runs/{run}/L")
    assert first.origin == f"L of run {run} (cholesky.lp)"
    l = first.numpy()
    np.testing.assert_allclose(l, np.linalg.cholesky(a), rtol=0, atol=1e-12 * np.abs(l).max())

    # By name, here and in another process (a pickle is its location).
    F = lp.BigMatrix("factor", store=tiles)
    assert (F.location, F.origin, F.triangle, F.init) == (first.location, first.origin, "lower", "zeros")
    np.testing.assert_array_equal(F.numpy(), l)
    script = "import pickle, sys, numpy as np\nnp.save(sys.stdout.buffer, pickle.loads(sys.stdin.buffer.read()).numpy())\n"
    out = subprocess.run([sys.executable, "-c", script], input=pickle.dumps(F), capture_output=True, check=True)
    np.testing.assert_array_equal(np.load(io.BytesIO(out.stdout)), l)

    # Read-only: publishing promises readers the whole matrix a run wrote.
    with pytest.raises(lp.BlockError) as info:
        F.put_block(np.zeros((10, 10)), 1, 0)
    assert str(info.value) == (
        f'matrix "factor" is read-only: it is L of run {run} (cholesky.lp), kept whole for its '
        "readers (copy it with BigMatrix.from_numpy(m.numpy(), ...) to change it)"
    )
    with pytest.raises(ValueError) as info:
        lp.BigMatrix("factor", store=tiles, init="spd(1)")
    assert str(info.value) == f'init="spd(1)" does not fit matrix "factor": its tiles are L of run {run} (cholesky.lp)'

    # `lpc store ls` shows both names with their origin.
    assert sorted(lpc("store", "ls", tiles).splitlines()) == [
        "A\t40 x 40 in 10 x 10 tiles, symmetric\t10 tiles, 7.8 KiB\twritten block by block",
        f"factor\t40 x 40 in 10 x 10 tiles, lower\t10 tiles, 7.8 KiB\t-> ~runs/{run}/L: L of run {run} (cholesky.lp)",
        f"~runs/{run}/L\t40 x 40 in 10 x 10 tiles, lower\t10 tiles, 7.8 KiB\tL of run {run} (cholesky.lp) finished",
    ]

    # Published again by a later run (numpy out): the name moves to it, the
    # open handle keeps reading the first run's output, which stays.
    b = spd(rng, n)
    second = lp.cholesky(b, tile=10, store=tiles)
    lp.run("cholesky", inputs={"A": b}, params={"n": n, "b": 10}, store=tiles, publish={"L": "factor"})
    G = lp.BigMatrix("factor", store=tiles)
    assert G.location != F.location
    np.testing.assert_array_equal(G.numpy(), second)
    np.testing.assert_array_equal(F.numpy(), l)
    names, runs, _ = contents(tiles[len("dir:"):])
    assert names == ["A", "factor"] and len(runs) == 2

    # A handle's publish, and what cannot be published.
    H = first.publish("first")
    assert (H.name, H.location) == ("first", first.location)
    np.testing.assert_array_equal(lp.BigMatrix("first", store=tiles).numpy(), l)
    # Removal, as `lpc store rm`: the name first, then the run's output.
    store = lp.Store(tiles)
    with pytest.raises(lp.StoreError) as info:
        store.remove(first.location)
    assert str(info.value) == f"cannot remove {first.location}: `{first.location}` is published as `first`; remove `first` first"
    store.remove("first")
    store.remove(first.location)
    with pytest.raises(lp.BlockNotFoundError) as info:
        store.remove("first")
    assert str(info.value) == "no matrix or run `first` in the store"
    for read in (lambda: F.get_block(0, 0), F.numpy):
        with pytest.raises(lp.BlockNotFoundError) as info:
            read()
        assert str(info.value) == f'matrix "factor" is no longer in the store: {first.location} was removed'
    with pytest.raises(ValueError) as info:
        A.publish("x")
    assert str(info.value) == 'publish: matrix "A" is not a run\'s output (only those can be published)'
    with pytest.raises(lp.StoreError) as info:
        G.publish("A")
    assert str(info.value) == (
        'cannot publish "A": `A` is a matrix written block by block, not a published result; '
        "remove it first (lpc store rm) to publish under its name"
    )
    # A removed output publishes nothing: the name would point at nothing.
    with pytest.raises(lp.BlockNotFoundError) as info:
        first.publish("ghost")
    assert type(info.value) is lp.BlockNotFoundError
    assert str(info.value) == f'matrix "factor" is no longer in the store: {first.location} was removed'
    assert contents(tiles[len("dir:"):])[0] == ["A", "factor"]
    # A run is refused so before it starts: nothing runs.
    runs_before = contents(tiles[len("dir:"):])[1]
    with pytest.raises(lp.StoreError) as info:
        lp.run("cholesky", inputs={"A": b}, params={"n": n, "b": 10}, store=tiles, publish={"L": "A"})
    assert str(info.value).startswith('cannot publish "A": `A` is a matrix written block by block')
    assert contents(tiles[len("dir:"):])[1] == runs_before
    with pytest.raises(ValueError) as info:
        lp.run("cholesky", params={"n": 8, "b": 4}, publish="S")
    assert str(info.value) == "publish: `S` is not a plain output matrix of the program"
    # Two outputs under one name: the second would replace the first.
    with pytest.raises(ValueError) as info:
        lp.run("qr", params={"m": 8, "n": 8, "b": 4}, store=tiles, publish={"R": "qr", "V": "qr"})
    assert str(info.value) == "publish: `V` and `R` are both to be published as `qr`"
    assert contents(tiles[len("dir:"):])[1] == runs_before
    with pytest.raises(ValueError) as info:
        lp.run("cholesky", params={"n": 8, "b": 4}, publish="L")
    assert str(info.value) == (
        'publish: the run has no store to publish `L` in; pass store= ("dir:PATH", '
        '"s3://BUCKET/PREFIX" or a Store)'
    )


def test_published_result_is_not_overwritten_block_by_block(tiles):
    """`BigMatrix(name, shape, tile)` and `from_numpy` on a published name
    of the same geometry open the run's output, which stays read-only."""
    C = lp.run("gemm", params={"m": 20, "n": 20, "k": 20, "b": 10}, store=tiles,
               publish={"C": "prod"}, bigmatrix=True)["C"]
    before = C.numpy()
    P = lp.BigMatrix("prod", (20, 20), 10, store=tiles)
    assert (P.location, P.origin) == (C.location, C.origin)
    message = f'matrix "prod" is read-only: it is {C.origin}, kept whole for its readers'
    for write in (lambda: P.put_block(np.zeros((10, 10)), 0, 0), P.free,
                  lambda: P.delete_block(1, 1),
                  lambda: lp.BigMatrix.from_numpy(np.zeros((20, 20)), 10, store=tiles, name="prod")):
        with pytest.raises(lp.BlockError) as info:
            write()
        assert str(info.value).startswith(message)
    np.testing.assert_array_equal(lp.BigMatrix("prod", store=tiles).numpy(), before)


def test_lpc_reads_a_result_python_published(rng, tiles, lpc, tmp_path):
    """`lpc run --input L=store:NAME` reads what Python published."""
    n = 24
    lp.run("cholesky", params={"n": n, "b": 8, "seed": 5}, store=tiles, publish={"L": "chol5"})
    b = rng.standard_normal((n, 3))
    np.save(tmp_path / "b.npy", b)
    lpc_out = tmp_path / "x.npy"
    lpc("run", LIB_TRSOLVE, "--store", tiles, "--set", f"n={n}", "--set", "nrhs=3", "--set", "b=8",
        "--input", "L=store:chol5", "--input", f"B={tmp_path / 'b.npy'}", "--output", f"X={lpc_out}")
    L = isolated_cholesky(n, 8, 5)
    np.testing.assert_allclose(L @ np.load(lpc_out), b, rtol=0, atol=1e-12)


def test_initialised_input_never_reads_another_origin(rng, tiles, lpc, tmp_path):
    """The program declares `A = spd(seed)`: neither a matrix the user
    named A nor an import of another file as A (by `lpc run`) in the same
    store is read in its place."""
    n, b, seed = 24, 8, 42
    expected = isolated_cholesky(n, b, seed)
    junk = spd(rng, n)
    lp.BigMatrix.from_numpy(junk, b, store=tiles, symmetric=True, name="A")
    np.save(tmp_path / "a1.npy", spd(rng, n))
    lpc("run", LIB_CHOLESKY, "--store", tiles, "--set", f"n={n}", "--set", f"b={b}",
        "--input", f"A={tmp_path / 'a1.npy'}")
    for _ in range(2):
        L = lp.run("cholesky", params={"n": n, "b": b, "seed": seed}, store=tiles, verify=True)["L"]
        np.testing.assert_array_equal(L, expected)
    names, runs, inputs = contents(tiles[len("dir:"):])
    # A, the lpc run's output and its import stay; the Python runs kept nothing.
    assert (names, len(runs), len(inputs)) == (["A"], 1, 1)


def test_a_dangling_published_name_is_refused_naming_the_fix(tiles):
    """A link to a removed output (older versions published removed
    handles) is neither a matrix to open nor a free name: creating one
    there says so and writes nothing beside the link; removing the name
    frees it."""
    root = tiles[len("dir:"):]
    os.makedirs(os.path.join(root, "ghost"))
    with open(os.path.join(root, "ghost", "link.json"), "w") as f:
        f.write('{"location": "~runs/run-1-2/L", "published": 1}')
    message = (
        "the published name `ghost` points at ~runs/run-1-2/L, which is no longer in the store "
        f'(Store.remove("ghost") removes the name) (store {tiles})'
    )
    for action in (lambda: lp.BigMatrix("ghost", (4, 4), 2, store=tiles),
                   lambda: lp.BigMatrix.from_numpy(np.eye(4), 2, store=tiles, name="ghost"),
                   lambda: lp.BigMatrix("ghost", store=tiles)):
        with pytest.raises(lp.BlockNotFoundError) as info:
            action()
        assert type(info.value) is lp.BlockNotFoundError
        assert str(info.value) == message
    assert os.listdir(os.path.join(root, "ghost")) == ["link.json"]
    lp.Store(tiles).remove("ghost")
    G = lp.BigMatrix.from_numpy(np.eye(4), 2, store=tiles, name="ghost")
    np.testing.assert_array_equal(G.numpy(), np.eye(4))


def test_a_nested_store_is_named_by_its_spec_and_a_root_in_a_stores_folders_is_refused(tmp_path):
    """Removing a store nested in another is refused, naming the spec to
    open it by; a root inside a store's own folders is refused before
    anything is created there (the store above would take it for its own)."""
    root = tmp_path / "outer"
    inner = lp.Store(f"dir:{root}/sub")
    lp.BigMatrix.from_numpy(np.eye(4), 2, store=inner, name="A")
    with pytest.raises(lp.StoreError) as info:
        lp.Store(f"dir:{root}").remove("sub")
    assert str(info.value) == (
        f"cannot remove sub: `sub` is another store (it holds `A`); manage it as dir:{root}/sub"
    )
    with pytest.raises(ValueError) as info:
        lp.Store(f"dir:{root}/~runs/x")
    assert str(info.value) == (
        f"cannot open store {root}/~runs/x: its path has a part `~runs`, the name of one of a "
        "store's own folders (`~runs`, `~inputs`, `~bundles`, `~pool`): a store above it would "
        "take this store's contents for its own"
    )
    assert not (root / "~runs").exists()
