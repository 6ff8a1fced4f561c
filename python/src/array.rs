//! numpy arrays as faer views, through `__array_interface__`.
//!
//! The interface gives a data pointer, a shape, byte strides and a type
//! string; that is all a tile copy needs, so the extension uses no numpy
//! C-API (and builds without numpy). Every field is checked before a view
//! is made: a float64 array (native little-endian), two dimensions, a
//! non-null pointer aligned for f64 and strides that are whole elements.
//! The Python side (`lambdapack._arrays`) converts anything else first.

use faer::{MatMut, MatRef};
use lp_std::Tile;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

const F64: usize = std::mem::size_of::<f64>();

/// A checked view of a 2-D float64 numpy array. Holding it keeps the array
/// alive; views made from it borrow it.
pub struct ArrayView<'py> {
    owner: Bound<'py, PyAny>,
    raw: Raw,
    readonly: bool,
}

/// Where a checked array's elements are.
#[derive(Clone, Copy)]
struct Raw {
    ptr: usize,
    shape: [usize; 2],
    /// In elements.
    strides: [isize; 2],
}

impl Raw {
    /// # Safety
    /// The array these parts describe is alive for `'a`, and nothing
    /// writes the elements read through the view while it is used.
    unsafe fn mat<'a>(&self) -> MatRef<'a, f64> {
        // SAFETY: the parts were checked by `ArrayView::new` (a float64
        // buffer of this shape and these strides); liveness and the absence
        // of writers are the caller's.
        unsafe {
            MatRef::from_raw_parts(
                self.ptr as *const f64,
                self.shape[0],
                self.shape[1],
                self.strides[0],
                self.strides[1],
            )
        }
    }

    /// # Safety
    /// As [`Raw::mat`], and nothing else reads or writes the elements
    /// written through the view while it is used.
    unsafe fn mat_mut<'a>(&self) -> MatMut<'a, f64> {
        // SAFETY: as in `mat`; exclusive access is the caller's.
        unsafe {
            MatMut::from_raw_parts_mut(
                self.ptr as *mut f64,
                self.shape[0],
                self.shape[1],
                self.strides[0],
                self.strides[1],
            )
        }
    }
}

fn field<'py>(dict: &Bound<'py, PyDict>, key: &str, what: &str) -> PyResult<Bound<'py, PyAny>> {
    dict.get_item(key)?
        .ok_or_else(|| PyTypeError::new_err(format!("{what}: __array_interface__ has no `{key}`")))
}

impl<'py> ArrayView<'py> {
    /// `what` names the array in messages (`inputs['A']`, `block`).
    pub fn new(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<ArrayView<'py>> {
        let interface = obj
            .getattr("__array_interface__")
            .map_err(|_| PyTypeError::new_err(format!("{what} is not a numpy array")))?;
        let dict = interface.cast_into::<PyDict>().map_err(|_| {
            PyTypeError::new_err(format!("{what}: __array_interface__ is not a dict"))
        })?;
        let typestr: String = field(&dict, "typestr", what)?.extract()?;
        if typestr != "<f8" {
            return Err(PyTypeError::new_err(format!(
                "{what} must hold float64 (little-endian) values, not `{typestr}`"
            )));
        }
        let shape: Vec<usize> = field(&dict, "shape", what)?.extract()?;
        let [rows, cols] = shape[..] else {
            return Err(PyValueError::new_err(format!(
                "{what} must be 2-D, not {}-D",
                shape.len()
            )));
        };
        let strides = match dict.get_item("strides")? {
            Some(s) if !s.is_none() => {
                let s: Vec<isize> = s.extract()?;
                if s.len() != 2 || s.iter().any(|b| b % F64 as isize != 0) {
                    return Err(PyValueError::new_err(format!(
                        "{what} has strides {s:?}, not whole float64 elements"
                    )));
                }
                [s[0] / F64 as isize, s[1] / F64 as isize]
            }
            // C-contiguous.
            _ => [cols as isize, 1],
        };
        let data = field(&dict, "data", what)?;
        let data = data.cast::<PyTuple>()?;
        let ptr: usize = data.get_item(0)?.extract()?;
        let readonly: bool = data.get_item(1)?.extract()?;
        if rows == 0 || cols == 0 {
            return Err(PyValueError::new_err(format!(
                "{what} is empty ({rows} x {cols})"
            )));
        }
        if ptr == 0 || !ptr.is_multiple_of(F64) {
            return Err(PyValueError::new_err(format!(
                "{what} is not aligned for float64"
            )));
        }
        Ok(ArrayView {
            owner: obj.clone(),
            raw: Raw {
                ptr,
                shape: [rows, cols],
                strides,
            },
            readonly,
        })
    }

    pub fn shape(&self) -> [usize; 2] {
        self.raw.shape
    }

    pub fn as_mat(&self) -> MatRef<'_, f64> {
        // SAFETY: `owner` keeps the buffer alive for as long as the view is
        // borrowed. Callers read inputs only (the buffer-sharing contract
        // of `docs/python.md`) or arrays of their own.
        unsafe { self.raw.mat() }
    }

    /// A mutable view, for arrays this crate allocated itself (so nothing
    /// else holds a view of them while they are written).
    pub fn as_mat_mut(&mut self) -> PyResult<MatMut<'_, f64>> {
        if self.readonly {
            return Err(PyValueError::new_err("the array is read-only"));
        }
        // SAFETY: as in `as_mat`; `&mut self` makes this the only view made
        // through this value, and the array was freshly allocated by us.
        Ok(unsafe { self.raw.mat_mut() })
    }

    /// The array as a [`SharedArray`], which other threads may hold.
    pub fn share(&self) -> SharedArray {
        SharedArray {
            _owner: self.owner.clone().unbind(),
            raw: self.raw,
        }
    }
}

/// A checked array that threads without the GIL read blocks of (a run's
/// input arrays, see `array_store`). It keeps the array alive; the last
/// reference may be dropped without the GIL (pyo3 then defers the
/// decrement until a thread holds it).
pub struct SharedArray {
    _owner: Py<PyAny>,
    raw: Raw,
}

impl SharedArray {
    pub fn shape(&self) -> [usize; 2] {
        self.raw.shape
    }

    /// A copy of the `rows x cols` block at (`r0`, `c0`), which must lie in
    /// the array.
    ///
    /// # Safety
    /// Nothing writes the block while it is copied.
    pub unsafe fn read(&self, r0: usize, c0: usize, rows: usize, cols: usize) -> Tile {
        // SAFETY: `_owner` keeps the array alive; no writer is the caller's.
        let whole = unsafe { self.raw.mat() };
        cut(whole.submatrix(r0, c0, rows, cols))
    }

    /// The symmetric `n x n` tile whose lower triangle is the array's block
    /// at (`o`, `o`), which must lie in the array: the block's upper
    /// triangle is never read.
    ///
    /// # Safety
    /// Nothing writes the block while it is copied.
    pub unsafe fn read_symmetric(&self, o: usize, n: usize) -> Tile {
        // SAFETY: `_owner` keeps the array alive; no writer is the caller's.
        let whole = unsafe { self.raw.mat() };
        cut_symmetric(whole.submatrix(o, o, n, n))
    }
}

/// An array this crate allocated for a run's output, which the run's
/// threads fill block by block without the GIL (`array_store`), and may
/// read back as a [`SharedArray`] is read. It keeps the array alive.
pub struct OutputArray(SharedArray);

impl OutputArray {
    /// `array`, which must be one this crate allocated itself and holds no
    /// other view of (`empty`).
    pub fn new(array: &ArrayView<'_>) -> PyResult<OutputArray> {
        if array.readonly {
            return Err(PyValueError::new_err("the array is read-only"));
        }
        Ok(OutputArray(array.share()))
    }

    /// Copies `src` into the block at (`r0`, `c0`), which must lie in the
    /// array; `None` fills the block of `rows x cols` with zeros.
    ///
    /// # Safety
    /// No other thread reads or writes the block meanwhile.
    pub unsafe fn write(
        &self,
        r0: usize,
        c0: usize,
        [rows, cols]: [usize; 2],
        src: Option<MatRef<'_, f64>>,
    ) {
        // SAFETY: `self.0` keeps the array alive, which this crate
        // allocated (`new`) and which no other view writes; the block is
        // the caller's alone.
        let whole = unsafe { self.0.raw.mat_mut() };
        let mut block = whole.submatrix_mut(r0, c0, rows, cols);
        match src {
            Some(src) => lp_std::kernel::copy_view(src, block),
            None => block.fill(0.0),
        }
    }

    /// The array, to read blocks of ([`SharedArray::read`]).
    pub fn shared(&self) -> &SharedArray {
        &self.0
    }
}

/// Square blocks of [`cut_symmetric`].
const BLOCK: usize = 32;

/// `src` as a new tile (`lp_std::kernel::copy_view`: from a C-order array,
/// a transpose in strips rather than a copy column by column, which reads
/// one element per row, each on another cache line).
fn cut(src: MatRef<'_, f64>) -> Tile {
    let mut tile = Tile::zeros(src.nrows(), src.ncols());
    lp_std::kernel::copy_view(src, tile.as_mut());
    tile
}

/// The symmetric tile whose lower triangle (diagonal included) is square
/// `src`'s, copied as [`cut`] copies, strip by strip of `BLOCK` columns,
/// without reading `src`'s upper triangle.
fn cut_symmetric(src: MatRef<'_, f64>) -> Tile {
    let n = src.nrows();
    debug_assert_eq!(n, src.ncols());
    let mut tile = Tile::zeros(n, n);
    for j in (0..n).step_by(BLOCK) {
        let w = BLOCK.min(n - j);
        // The diagonal block, column by column from the diagonal down.
        for c in j..j + w {
            for r in c..j + w {
                tile[(r, c)] = src[(r, c)];
            }
        }
        // Below it, the strip's whole height at once.
        let below = n - (j + w);
        lp_std::kernel::copy_view(
            src.submatrix(j + w, j, below, w),
            tile.as_mut().submatrix_mut(j + w, j, below, w),
        );
    }
    lp_std::kernel::mirror_lower(&mut tile);
    tile
}

/// A new uninitialised `rows x cols` float64 array in Fortran (column)
/// order, the order of tiles, so each tile column is one contiguous copy.
pub fn empty<'py>(py: Python<'py>, rows: usize, cols: usize) -> PyResult<Bound<'py, PyAny>> {
    let numpy = py.import("numpy")?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("order", "F")?;
    kwargs.set_item("dtype", numpy.getattr("float64")?)?;
    numpy.getattr("empty")?.call(((rows, cols),), Some(&kwargs))
}
