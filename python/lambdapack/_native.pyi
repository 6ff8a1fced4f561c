"""Type stubs of the extension module (python/src/*.rs)."""

from os import PathLike
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

Tile = Union[int, Tuple[int, int]]
StoreArg = Union[str, "Store"]

__version__: str

class Store:
    def __init__(self, spec: str) -> None: ...
    @staticmethod
    def memory() -> Store: ...
    @property
    def spec(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def shareable(self) -> bool: ...
    def create_bucket(self) -> None: ...
    def remove(self, name: str) -> None: ...
    def usage(self) -> Optional[Tuple[int, int]]: ...

class BigMatrix:
    def __init__(
        self,
        name: str,
        shape: Optional[Tuple[int, int]] = None,
        tile: Optional[Tile] = None,
        *,
        store: Optional[StoreArg] = None,
        symmetric: bool = False,
        init: Optional[str] = None,
    ) -> None: ...
    @staticmethod
    def open(name: str, store: Optional[StoreArg] = None, init: Optional[str] = None) -> BigMatrix: ...
    @staticmethod
    def from_numpy(
        array: npt.ArrayLike,
        tile: Tile,
        *,
        name: Optional[str] = None,
        store: Optional[StoreArg] = None,
        symmetric: bool = False,
    ) -> BigMatrix: ...
    @property
    def name(self) -> str: ...
    @property
    def shape(self) -> Tuple[int, int]: ...
    @property
    def tile(self) -> Tuple[int, int]: ...
    @property
    def grid(self) -> Tuple[int, int]: ...
    @property
    def symmetric(self) -> bool: ...
    @property
    def triangle(self) -> Optional[str]: ...
    @property
    def dtype(self) -> np.dtype: ...
    @property
    def init(self) -> Optional[str]: ...
    @property
    def store(self) -> Store: ...
    @property
    def location(self) -> str: ...
    @property
    def origin(self) -> Optional[str]: ...
    def publish(self, name: str) -> BigMatrix: ...
    def get_block(self, i: int, j: int) -> npt.NDArray[np.float64]: ...
    def put_block(self, block: npt.ArrayLike, i: int, j: int) -> None: ...
    def flush(self) -> None: ...
    def delete_block(self, i: int, j: int) -> None: ...
    def blocks(self) -> List[Tuple[int, int]]: ...
    def numpy(self) -> npt.NDArray[np.float64]: ...
    def free(self) -> int: ...

class Diagnostic:
    message: str
    severity: str
    line: Optional[int]
    column: Optional[int]
    rendered: str

class Verification:
    formula: str
    residual: float
    tolerance: float
    passed: bool

class RunSummary:
    wall_seconds: float
    workers: int
    jobs: int
    executions: int
    retries: int
    flops: float
    gflops_per_second: float
    bytes_loaded: int
    bytes_stored: int
    peak_temp_bytes: int
    critical_path_jobs: Optional[int]
    worker_idle_seconds: List[float]
    # Jobs that ran on more than one core, lent by workers waiting for a job.
    jobs_on_lent_cores: int
    idle_while_ready_seconds: Optional[float]
    # (name, calls, seconds summed over the workers, useful flops), the
    # longest first.
    kernels: List[Tuple[str, int, float, float]]
    # The process's CPU seconds during the run, all its threads.
    user_seconds: Optional[float]
    system_seconds: Optional[float]
    verification: Optional[Verification]

def check(program: Union[str, PathLike, bytes], params: Optional[Dict[str, int]] = None) -> List[Diagnostic]: ...
def library_programs() -> List[Tuple[str, str]]: ...
def library_params(name: str) -> List[str]: ...
def run_program(
    program: Union[str, PathLike, bytes],
    params: Optional[Dict[str, int]],
    inputs: Dict[str, Any],
    outputs: Optional[Sequence[str]],
    keep: bool,
    publish: List[Tuple[str, str]],
    store: Optional[StoreArg],
    workers: int,
    verify: bool,
    trace: Optional[str],
    progress: Optional[Callable[[int, int, float, float], None]],
) -> Tuple[Dict[str, Any], RunSummary]: ...
