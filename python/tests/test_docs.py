"""The example of docs/python.md, run as written at a smaller size."""

import os
import re

import numpy as np

import lambdapack as lp

DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "python.md")


def test_ten_line_example_runs(tmp_path):
    with open(DOCS, encoding="utf-8") as f:
        text = f.read()
    (code,) = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len([line for line in code.splitlines() if line.strip()]) == 10
    small = code.replace("n = 20_000", "n = 600").replace("tile=2048", "tile=128")
    small = small.replace('"dir:/tmp/lp-tiles"', repr(f"dir:{tmp_path}"))
    assert small.count("600") == 1 and str(tmp_path) in small
    scope = {}
    exec(compile(small, "docs/python.md", "exec"), scope)
    L, block = scope["L"], scope["block"]
    assert isinstance(L, lp.BigMatrix) and L.store == lp.Store(f"dir:{tmp_path}")
    g = np.random.default_rng(0).standard_normal((600, 600))
    a = g @ g.T + 600 * np.eye(600)
    expected = np.linalg.cholesky(a)
    np.testing.assert_allclose(block, expected[384:512, 128:256], rtol=0, atol=1e-10 * np.abs(expected).max())
    assert os.path.exists(os.path.join(tmp_path, L.name, "3_1.npy"))
