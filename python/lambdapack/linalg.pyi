from typing import Any, Dict, Iterator, Literal, Optional, Tuple, Union, overload

import numpy as np
import numpy.typing as npt

from ._api import Progress
from ._native import BigMatrix, Store

Array = npt.NDArray[np.float64]
Operand = Union[npt.ArrayLike, BigMatrix]
StoreArg = Union[None, str, Store]

def cholesky(
    a: Operand, *, lower: bool = True, tile: Optional[int] = None, store: StoreArg = None,
    workers: Optional[int] = None, bigmatrix: Optional[bool] = None, verify: bool = False,
    progress: Progress = None,
) -> Union[Array, BigMatrix]: ...
def matmul(
    a: Operand, b: Operand, *, tile: Optional[int] = None, store: StoreArg = None,
    workers: Optional[int] = None, bigmatrix: Optional[bool] = None, verify: bool = False,
    progress: Progress = None,
) -> Union[Array, BigMatrix, np.float64]: ...
def solve(
    a: Operand, b: Operand, *, assume_a: Literal["gen", "general", "pos", "positive definite"] = "gen",
    tile: Optional[int] = None, store: StoreArg = None, workers: Optional[int] = None,
    bigmatrix: Optional[bool] = None, verify: bool = False, progress: Progress = None,
) -> Union[Array, BigMatrix]: ...

class IncrementalLU:
    u: Union[Array, BigMatrix]
    l: Union[Array, BigMatrix]
    piv: npt.NDArray[np.int64]
    lx: Dict[Tuple[int, int], Array]
    tile: int
    def __iter__(self) -> Iterator[Any]: ...

def lu(
    a: Operand, *, tile: Optional[int] = None, store: StoreArg = None, workers: Optional[int] = None,
    bigmatrix: Optional[bool] = None, verify: bool = False, progress: Progress = None,
) -> IncrementalLU: ...

class ImplicitQ:
    v: Union[Array, BigMatrix]
    t: Dict[Tuple[int, int], Array]
    shape: Tuple[int, int]
    tile: int
    def apply(self, x: npt.ArrayLike, transpose: bool = False) -> Array: ...
    def matrix(self) -> Array: ...
    def __matmul__(self, x: npt.ArrayLike) -> Array: ...
    def __array__(self, dtype: Any = None, copy: Any = None) -> Array: ...
    @property
    def T(self) -> _TransposedQ: ...

class _TransposedQ:
    shape: Tuple[int, int]
    @property
    def T(self) -> ImplicitQ: ...
    def __matmul__(self, y: npt.ArrayLike) -> Array: ...
    def __array__(self, dtype: Any = None, copy: Any = None) -> Array: ...

@overload
def qr(
    a: Operand, mode: Literal["reduced"] = "reduced", *, tile: Optional[int] = None, store: StoreArg = None,
    workers: Optional[int] = None, bigmatrix: Optional[bool] = None, verify: bool = False,
    progress: Progress = None,
) -> Tuple[ImplicitQ, Union[Array, BigMatrix]]: ...
@overload
def qr(
    a: Operand, mode: Literal["r"], *, tile: Optional[int] = None, store: StoreArg = None,
    workers: Optional[int] = None, bigmatrix: Optional[bool] = None, verify: bool = False,
    progress: Progress = None,
) -> Union[Array, BigMatrix]: ...
def lstsq(
    a: Operand, b: Operand, *, tile: Optional[int] = None, store: StoreArg = None,
    workers: Optional[int] = None, bigmatrix: Optional[bool] = None, verify: bool = False,
    progress: Progress = None,
) -> Union[Array, BigMatrix]: ...
