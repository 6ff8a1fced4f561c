"""Figures read from lpc's output, for the benchmark scripts beside this one.

lpc prints durations as "850 ms" or "3.49 s"; a script that cannot find the
figure it needs stops with the output it searched, so that a changed
summary line is a loud failure, never a silent zero.
"""

import re
import sys


def seconds(pattern: str, text: str, what: str) -> float:
    """The duration `pattern` (value and unit groups) finds in `text`."""
    found = re.search(pattern, text)
    if not found:
        sys.exit(f"no {what} in lpc's output:\n{text}")
    value, unit = float(found.group(1)), found.group(2)
    return value / 1e3 if unit == "ms" else value


def run_seconds(stderr: str) -> float:
    """The run's own time, from `lpc run`'s summary line "finished N jobs
    in T"."""
    return seconds(r"finished \d+ jobs in ([0-9.]+) (ms|s)", stderr, "run time")


def kernel_lines(stderr: str) -> list:
    """The kernel lines of `lpc run`'s summary ("SYRK  560 calls  3.90 s
    38.5 GFLOP/s", the longest first), without their label column."""
    lines = stderr.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("  kernels ")), None)
    if start is None:
        sys.exit(f"no kernel lines in lpc's output:\n{stderr}")
    label = len("  kernels       ")
    block = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith(" " * label):
            break
        block.append(line)
    return [line[label:] for line in block]


def makespan_seconds(output: str) -> float:
    """The predicted makespan from `lpc sim`'s report."""
    return seconds(r"makespan\s+([0-9.]+) (ms|s)", output, "makespan")
