"""Progress bars for runs: one line on a terminal, a widget in a notebook,
nothing otherwise (a pipe, a log file, a test run)."""

import sys
import time


def _in_notebook():
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except Exception:
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


class _TerminalBar:
    """``[####......] 120/816 jobs  12.3 GFLOP/s``, redrawn in place on
    stderr at most 10 times a second and erased at the end."""

    def __init__(self, stream):
        self.stream = stream
        self.last = 0.0
        self.drawn = False

    def __call__(self, done, total, flops, elapsed):
        now = time.monotonic()
        if now - self.last < 0.1:
            return
        self.last = now
        width = 30
        filled = int(width * done / total) if total else width
        rate = flops / max(elapsed, 1e-9) / 1e9
        line = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} jobs  {rate:.1f} GFLOP/s"
        self.stream.write("\r" + line)
        self.stream.flush()
        self.drawn = True

    def close(self):
        if self.drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()


class _NotebookBar:
    def __init__(self, tqdm):
        self.bar = tqdm(total=None, unit="job", leave=False)

    def __call__(self, done, total, flops, elapsed):
        if self.bar.total != total:
            self.bar.total = total
        self.bar.n = done
        self.bar.set_postfix_str(f"{flops / max(elapsed, 1e-9) / 1e9:.1f} GFLOP/s", refresh=False)
        self.bar.refresh()

    def close(self):
        self.bar.close()


class _UserCallback:
    def __init__(self, fn):
        self.fn = fn

    def __call__(self, done, total, flops, elapsed):
        self.fn(done, total, flops, elapsed)

    def close(self):
        pass


def make(progress):
    """A progress sink for ``progress``: None picks the bar that fits where
    the output goes (a notebook widget when tqdm is installed, a terminal
    line when stderr is a terminal, else nothing); False is nothing; a
    callable is called as ``fn(jobs_done, jobs_total, flops_done,
    elapsed_seconds)`` about ten times a second."""
    if progress is False:
        return None
    if callable(progress):
        return _UserCallback(progress)
    if progress not in (None, True):
        raise TypeError("progress must be None, True, False or a callable")
    if _in_notebook():
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return None
        return _NotebookBar(tqdm)
    stream = sys.stderr
    if progress is True or (hasattr(stream, "isatty") and stream.isatty()):
        return _TerminalBar(stream)
    return None
