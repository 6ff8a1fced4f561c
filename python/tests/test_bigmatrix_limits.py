"""BigMatrix on what a store holds but the code cannot use (a header or a
tile file from outside), and on blocks or matrices larger than memory:
an exception naming what and where, never a panic or an abort."""

import json
import re
import struct

import pytest

import lambdapack as lp


def test_a_header_the_code_cannot_use_is_a_store_error(tmp_path):
    store = f"dir:{tmp_path}"
    path = tmp_path / "T" / "header.json"
    path.parent.mkdir()
    cases = [
        ({"shape": [4, 4], "tile_shape": [0, 0]}, "a matrix tile shape cannot be zero, found 0 x 0"),
        ({"shape": [0, 4], "tile_shape": [2, 2]}, "a matrix shape cannot be zero, found 0 x 4"),
        ({"dtype": "f32"}, 'unknown element type "f32": only "f64" is supported'),
        ({"shape": [4, 6], "symmetric": True}, "a symmetric matrix needs a square shape, found 4 x 6"),
        ({"tile_shape": [2, 1], "triangle": "upper"},
         "an upper-triangular matrix needs square tiles, found 2 x 1"),
        ({"shape": [2**40, 4], "tile_shape": [1, 2]},
         "too many tiles along one side: 1099511627776 (at most 4294967295)"),
    ]
    for fields, reason in cases:
        header = {"shape": [4, 4], "tile_shape": [2, 2], "dtype": "f64", "symmetric": False}
        path.write_text(json.dumps({**header, **fields}))
        message = f"corrupt header of matrix T ({path}): {reason}"
        opens = [
            lambda: lp.BigMatrix("T", store=store),
            lambda: lp.BigMatrix.open("T", store),
            lambda: lp.BigMatrix("T", (4, 4), 2, store=store),
        ]
        for action in opens:
            with pytest.raises(lp.StoreError) as info:
                action()
            assert type(info.value) is lp.StoreError
            assert str(info.value) == message


def test_a_tile_file_with_a_huge_header_length_is_a_store_error(tmp_path):
    T = lp.BigMatrix("T", (4, 4), 4, store=f"dir:{tmp_path}")
    # A version 2.0 .npy of 128 bytes whose header length says 4 GiB.
    tile = tmp_path / "T" / "0_0.npy"
    tile.write_bytes((b"\x93NUMPY\x02\x00" + struct.pack("<I", 0xFFFFFFF0)).ljust(128, b" "))
    with pytest.raises(lp.StoreError) as info:
        T.get_block(0, 0)
    assert type(info.value) is lp.StoreError
    assert str(info.value) == (
        f"corrupt tile T[0, 0] ({tile}): .npy header length 4294967280 is over the limit of "
        "1048576 bytes (a 2-D float64 header takes about 128): a damaged file, or not a "
        "matrix of floats"
    )


# What `physical_memory` says depends on the machine (and its cgroup).
MEMORY = r"[0-9.]+ [KMGTPE]?i?B"


def test_a_block_larger_than_memory_is_refused_before_allocating():
    X = lp.BigMatrix("x3", (10**12, 10**12), 10**6, init="zeros")
    with pytest.raises(MemoryError) as info:
        X.get_block(0, 0)
    assert type(info.value) is MemoryError
    assert re.fullmatch(
        r"matrix x3: one tile is 1000000 x 1000000 doubles, 8000000000000 bytes \(7\.3 TiB\), "
        rf"more than the memory this process may use \({MEMORY}\); choose a smaller tile size",
        str(info.value),
    ), str(info.value)
    with pytest.raises(MemoryError) as info:
        X.numpy()
    assert type(info.value) is MemoryError
    assert re.fullmatch(
        r"matrix x3 is 1000000000000 x 1000000000000 doubles, more than the memory this "
        r"process may use \([0-9]+ bytes\), and numpy\(\) returns it whole: read it block "
        r"by block with get_block\(i, j\)",
        str(info.value),
    ), str(info.value)
    # The rule is the block's own size: a small ragged corner block reads.
    Y = lp.BigMatrix("y3", (10**6 + 1, 10**6 + 1), 10**6, init="zeros")
    assert Y.get_block(1, 1).tolist() == [[0.0]]
