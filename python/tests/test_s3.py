"""BigMatrix and runs in an S3 store ("s3://BUCKET/PREFIX"), against the S3
emulator of scripts/emulators.sh. scripts/test.sh builds the package with
the `aws` feature and runs these with the emulators up; without them, or in
a build without S3 support, every test here fails (never skips)."""

import io
import os
import pickle
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
from conftest import THRESH, norm1, ratio, spd


@pytest.fixture(scope="module")
def bucket():
    """A new bucket in the emulator. The package reads the endpoint from
    LP_S3_ENDPOINT when its first S3 store opens, so it is set here first."""
    endpoint = os.environ.get("LP_TEST_S3_ENDPOINT")
    if not endpoint:
        pytest.fail(
            "LP_TEST_S3_ENDPOINT is not set: the S3 tests need the emulators "
            '(scripts/emulators.sh start; . "$(scripts/emulators.sh env)")'
        )
    os.environ["LP_S3_ENDPOINT"] = endpoint
    name = f"lp-py-{os.getpid()}"
    lp.Store(f"s3://{name}").create_bucket()
    return name


@pytest.fixture
def s3(bucket, request):
    """A store spec under a prefix of this test's own."""
    return f"s3://{bucket}/{request.node.name}"


def test_blocks_round_trip(rng, s3):
    A = lp.BigMatrix("A", (10, 7), (4, 3), store=s3)
    assert (A.store.kind, A.store.shareable, A.grid) == ("s3", True, (3, 3))
    block = rng.standard_normal((2, 1))  # the ragged corner block
    A.put_block(block, 2, 2)
    np.testing.assert_array_equal(A.get_block(2, 2), block)
    assert A.blocks() == [(2, 2)]
    A.delete_block(2, 2)
    assert A.blocks() == []
    with pytest.raises(lp.BlockNotFoundError) as info:
        A.get_block(2, 2)
    assert str(info.value) == "tile A[2, 2] is not in the store and A has no initialiser"


def test_from_numpy_open_by_name_and_free(rng, s3):
    a = rng.standard_normal((13, 9))
    A = lp.BigMatrix.from_numpy(a, (5, 4), store=s3, name="F")
    np.testing.assert_array_equal(A.numpy(), a)
    # Opened by name from its header; the same spec, however spelled, is the same store.
    for B in (lp.BigMatrix("F", store=s3), lp.BigMatrix.open("F", s3 + "/")):
        assert (B.shape, B.tile, B.store) == ((13, 9), (5, 4), A.store)
        np.testing.assert_array_equal(B.get_block(1, 2), a[5:10, 8:9])
    with pytest.raises(lp.BlockNotFoundError) as info:
        lp.BigMatrix("missing", store=s3)
    assert str(info.value) == f'no matrix "missing" in store {s3}: to create one, give its shape and tile'
    assert A.free() == 9
    assert A.blocks() == []


def test_symmetric_validation_as_in_other_stores(s3):
    S = lp.BigMatrix("V", (10, 10), 4, store=s3, symmetric=True)
    with pytest.raises(lp.BlockError) as info:
        S.put_block(np.zeros((4, 4)), 0, 1)
    assert str(info.value) == (
        "block V[0, 1] is in the upper half of symmetric matrix V, which stores only "
        "blocks with i >= j: write block [1, 0] instead"
    )
    with pytest.raises(lp.BlockIndexError):
        S.get_block(3, 0)


def test_pickled_matrix_is_read_by_another_process(rng, s3):
    a = rng.standard_normal((9, 9))
    A = lp.BigMatrix.from_numpy(a, 4, store=s3, name="P")
    # The child inherits the endpoint and credentials from the environment.
    script = (
        "import pickle, sys, numpy as np\n"
        "m = pickle.loads(sys.stdin.buffer.read())\n"
        "np.save(sys.stdout.buffer, m.get_block(2, 1))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], input=pickle.dumps(A),
                         capture_output=True, check=True)
    np.testing.assert_array_equal(np.load(io.BytesIO(out.stdout)), a[8:9, 4:8])


def test_cholesky_of_a_matrix_in_s3(rng, s3):
    n = 100
    a = spd(rng, n)
    A = lp.BigMatrix.from_numpy(a, 25, store=s3, symmetric=True, name="SPD")
    L = lp.cholesky(A)
    assert isinstance(L, lp.BigMatrix) and L.store == A.store and L.triangle == "lower"
    l = L.numpy()
    assert ratio(a - l @ l.T, norm1(a), n) < THRESH
    np.testing.assert_allclose(l, np.linalg.cholesky(a), rtol=0, atol=1e-12 * np.abs(l).max())
    # The factor is a matrix of the store like any other: reopened by name.
    np.testing.assert_array_equal(lp.BigMatrix(L.name, store=s3).get_block(3, 1), l[75:100, 25:50])


def test_numpy_cholesky_with_an_s3_store(rng, s3):
    a = spd(rng, 60)
    L = lp.cholesky(a, tile=25, store=s3)
    assert isinstance(L, np.ndarray)
    assert ratio(a - L @ L.T, norm1(a), 60) < THRESH


def test_create_bucket_needs_an_s3_store(tiles):
    with pytest.raises(ValueError) as info:
        lp.Store(tiles).create_bucket()
    assert str(info.value) == f'create_bucket: Store("{tiles}") is not an S3 store'


def test_a_prefix_in_a_stores_own_folder_is_refused_before_any_request(bucket):
    """As lpc refuses it: a store there would be taken for the outer
    store's own runs (docs/runtime.md)."""
    with pytest.raises(ValueError) as info:
        lp.Store(f"s3://{bucket}/data/~runs")
    assert str(info.value) == (
        f"cannot open store s3://{bucket}/data/~runs: its path has a part `~runs`, the name of "
        "one of a store's own folders (`~runs`, `~inputs`, `~bundles`, `~pool`): a store above "
        "it would take this store's contents for its own"
    )


def test_concurrent_runs_in_one_prefix_give_their_isolated_answers(s3):
    """Two runs of Cholesky (both write `L` and the temps `S`) at once in
    one prefix, from two threads (the GIL is released while jobs run)."""
    n, b = 120, 20
    results = {}

    def factor(seed):
        results[seed] = lp.run("cholesky", params={"n": n, "b": b, "seed": seed},
                               store=s3, progress=False)["L"]

    threads = [threading.Thread(target=factor, args=(seed,)) for seed in (3, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for seed in (3, 4):
        alone = lp.run("cholesky", params={"n": n, "b": b, "seed": seed}, progress=False)["L"]
        np.testing.assert_array_equal(results[seed], alone)


def test_published_result_and_declared_input_in_s3(rng, s3):
    """A result published in S3 opens by name; a run whose program declares
    `A = spd(seed)` does not read the matrix named A in the prefix."""
    n, b, seed = 60, 20, 42
    lp.BigMatrix.from_numpy(spd(rng, n), b, store=s3, symmetric=True, name="A")
    result = lp.run("cholesky", params={"n": n, "b": b, "seed": seed}, store=s3,
                    publish={"L": "factor"}, verify=True)
    alone = lp.run("cholesky", params={"n": n, "b": b, "seed": seed}, progress=False)["L"]
    np.testing.assert_array_equal(result["L"], alone)
    F = lp.BigMatrix("factor", store=s3)
    assert F.location.startswith("~runs/run-") and F.origin.endswith(" (cholesky.lp)")
    np.testing.assert_array_equal(F.numpy(), alone)


def test_sigkilled_run_in_s3_is_collected_by_gc(rng, s3, lpc):
    """A run killed outright leaves its namespace under the prefix, which
    `lpc store gc` removes (its record names a process that is gone), and
    nothing else."""
    a = rng.standard_normal((30, 30))
    lp.BigMatrix.from_numpy(a, 20, store=s3, name="K")
    script = textwrap.dedent(f"""
        import numpy as np, lambdapack as lp
        said = []
        def started(done, *_):
            # Once step 0's factor and solves (20 jobs) and some of its
            # updates are done, the run holds temporaries for the kill.
            if done >= 40 and not said:
                said.append(True)
                print("running", flush=True)
        lp.cholesky(np.eye(800) * 2, tile=40, store="{s3}", progress=started)
        print("finished", flush=True)
    """)
    killed = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert killed.stdout.readline() == "running\n"
    # Critical path first, a worker reads a panel's temporary as soon as it
    # wrote it, so some moments hold none (CI-mode caught one). Kill the run
    # at a moment that holds some: stopped, and after its requests in flight
    # have landed, it cannot change the store while it is listed.
    for _ in range(100):
        killed.send_signal(signal.SIGSTOP)
        time.sleep(0.2)
        if any(line.startswith("~runs/") and "/S." in line for line in lpc("store", "ls", s3).splitlines()):
            break
        killed.send_signal(signal.SIGCONT)
        time.sleep(0.01)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    before = lpc("store", "ls", s3).splitlines()
    (dead,) = {line.split("/")[1] for line in before if line.startswith("~runs/")}
    # Its record names a process that is gone: `ls` says so, as gc judges it.
    assert any(
        line.startswith(f"~runs/{dead}/L\t") and line.endswith(" dead (lpc store gc removes it)") for line in before
    ), before
    # Its temporaries (no header) show the bytes their objects hold.
    temps = [line.split("\t") for line in before if line.startswith(f"~runs/{dead}/S.")]
    assert temps, before
    for fields in temps:
        assert fields[1] == "(no header)" and fields[3].startswith("temporary of the run dead"), fields
        assert re.fullmatch(r"\d+ tiles, [\d.]+ (B|KiB|MiB)", fields[2]), fields
    assert any(not f[2].endswith(" 0 B") for f in temps), temps
    assert lpc("store", "gc", s3) == f"removed dead run {dead}\ngc: 1 dead run(s), 0 interrupted import(s) and 0 stale pool(s) removed\n"
    assert lpc("store", "ls", s3).splitlines() == [
        "K\t30 x 30 in 20 x 20 tiles\t4 tiles, 7.0 KiB\twritten block by block"
    ]
    np.testing.assert_array_equal(lp.BigMatrix("K", store=s3).numpy(), a)
