"""The process's memory around a call: a factorization or a product from
numpy holds little beyond its inputs and its output, at its peak and
after it.

Measured in a fresh process (Linux's /proc/self/status), whose peak is
reset just before the call, so that nothing else the test session
allocated counts. Figures are in copies of an n x n matrix."""

import subprocess
import sys

import pytest

N, TILE = 4096, 512

MEASURE = """
import numpy as np, lambdapack as lp

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024

n, tile = {n}, {tile}
rng = np.random.default_rng(1)
{setup}
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets VmHWM, the peak resident set, to the current one
before = status("VmRSS:")
out = {call}
copy = n * n * 8
print((status("VmHWM:") - before - copy) / copy, (status("VmRSS:") - before - copy) / copy)
{check}
"""


def measure(setup, call, check):
    """(peak, after) beyond the inputs and the output, in copies."""
    script = MEASURE.format(n=N, tile=TILE, setup=setup, call=call, check=check)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    peak, after = (float(x) for x in out.stdout.split())
    return peak, after


# (setup, call, check, the largest peak beyond inputs and output).
CASES = {
    # 0.25 at the peak and 0.2 after the call (128 MiB a copy), almost all
    # of it jemalloc's own arenas (a fixed 25-30 MiB; glibc's malloc,
    # trimmed ten times a second, gave 0.06 and 0.05). The tiles of L must
    # go back to the OS as the output array fills
    # (`lpc::runner::export_array`), or the peak is 0.7; with no purge at
    # all, 0.8 at the peak and after.
    "cholesky": (
        "g = rng.standard_normal((n, n)); a = g @ g.T + n * np.eye(n); del g",
        "lp.cholesky(a, tile=tile, progress=False)",
        "assert np.allclose(out @ out.T, a)",
        0.5,
    ),
    # 0.3 at the peak: the product's tiles go into the returned array as
    # they are made (`array_store::ArrayStore::add_output`), and the
    # operands' tiles are cut from the caller's arrays at each read. Kept
    # until the run's end, the product's tiles and b's (cut once for all
    # their readers) made 1.3.
    "matmul": (
        "a = np.asfortranarray(rng.standard_normal((n, n)))\n"
        "b = np.asfortranarray(rng.standard_normal((n, n)))",
        "lp.matmul(a, b, tile=tile, progress=False)",
        "assert np.allclose(out, a @ b)",
        0.6,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_call_from_numpy_holds_little_beyond_its_inputs_and_output(case):
    setup, call, check, limit = CASES[case]
    peak, after = measure(setup, call, check)
    assert peak < limit, f"{case}: peak beyond inputs and output: {peak:.2f} copies"
    assert after < 0.4, f"{case}: held after the call beyond inputs and output: {after:.2f} copies"
