"""Figures read from lpc's output, for the benchmark scripts beside this one.

lpc prints durations as "850.0 ms", "3.49 s" or, from two minutes, "2m 05s"
(`human_duration` in lpc/src/cli/mod.rs); a script that cannot find the
figure it needs stops with the output it searched, so that a changed
summary line is a loud failure, never a silent zero.
"""

import re
import sys


# A duration as lpc prints it, one group.
DURATION = r"(\d+m \d+s|[0-9.]+ ms|[0-9.]+ s)"


def duration(text: str) -> float:
    """Seconds of a duration DURATION matched."""
    if text.endswith(" ms"):
        return float(text[:-3]) / 1e3
    if text.endswith(" s"):
        return float(text[:-2])
    minutes, secs = text.split("m ")
    return int(minutes) * 60 + int(secs[:-1])


def seconds(pattern: str, text: str, what: str, group: int = 1) -> float:
    """The duration in group `group` of `pattern` (built with DURATION)
    in `text`."""
    found = re.search(pattern, text)
    if not found:
        sys.exit(f"no {what} in lpc's output:\n{text}")
    return duration(found.group(group))


def run_seconds(stderr: str) -> float:
    """The run's own time, from `lpc run`'s summary line "finished N jobs
    in T"."""
    return seconds(rf"finished \d+ jobs in {DURATION}", stderr, "run time")


def system_seconds(stderr: str) -> float:
    """The system time of the run, from `lpc run`'s summary line "cpu
    user U, system S" (the local backend's)."""
    return seconds(rf"  cpu +user {DURATION}, system {DURATION}", stderr, "cpu line", 2)


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
    return seconds(rf"makespan\s+{DURATION}", output, "makespan")
