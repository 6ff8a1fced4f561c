from os import PathLike
from typing import Any, Callable, Dict, Iterator, KeysView, List, Optional, Sequence, Tuple, Union

from ._native import Diagnostic, RunSummary, Store

Program = Union[str, PathLike, bytes]
Progress = Union[None, bool, Callable[[int, int, float, float], None]]

class RunResult:
    outputs: Dict[str, Any]
    summary: RunSummary
    def __getitem__(self, name: str) -> Any: ...
    def __iter__(self) -> Iterator[str]: ...
    def __len__(self) -> int: ...
    def keys(self) -> KeysView[str]: ...

def run(
    program: Program,
    inputs: Optional[Dict[str, Any]] = None,
    outputs: Union[None, str, Sequence[str]] = None,
    *,
    backend: str = "local",
    store: Union[None, str, Store] = None,
    workers: Optional[int] = None,
    verify: bool = False,
    trace: Union[None, str, PathLike] = None,
    params: Optional[Dict[str, int]] = None,
    bigmatrix: bool = False,
    publish: Union[None, str, Sequence[str], Dict[str, str]] = None,
    progress: Progress = None,
) -> RunResult: ...
def check(program: Program, params: Optional[Dict[str, int]] = None) -> List[Diagnostic]: ...
def library() -> Dict[str, Tuple[str, List[str]]]: ...
