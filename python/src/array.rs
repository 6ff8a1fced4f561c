//! numpy arrays as faer views, through `__array_interface__`.
//!
//! The interface gives a data pointer, a shape, byte strides and a type
//! string; that is all a tile copy needs, so the extension uses no numpy
//! C-API (and builds without numpy). Every field is checked before a view
//! is made: a float64 array (native little-endian), two dimensions, a
//! non-null pointer aligned for f64 and strides that are whole elements.
//! The Python side (`lambdapack._arrays`) converts anything else first.

use faer::{MatMut, MatRef};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

const F64: usize = std::mem::size_of::<f64>();

/// A checked view of a 2-D float64 numpy array. Holding it keeps the array
/// alive; views made from it borrow it.
pub struct ArrayView<'py> {
    _owner: Bound<'py, PyAny>,
    ptr: usize,
    shape: [usize; 2],
    /// In elements.
    strides: [isize; 2],
    readonly: bool,
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
            _owner: obj.clone(),
            ptr,
            shape: [rows, cols],
            strides,
            readonly,
        })
    }

    pub fn shape(&self) -> [usize; 2] {
        self.shape
    }

    pub fn as_mat(&self) -> MatRef<'_, f64> {
        // SAFETY: the interface describes a live float64 buffer of this
        // shape and these strides (checked above), kept alive by `_owner`
        // for as long as the view is borrowed.
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

    /// A mutable view, for arrays this crate allocated itself (so nothing
    /// else holds a view of them while they are written).
    pub fn as_mat_mut(&mut self) -> PyResult<MatMut<'_, f64>> {
        if self.readonly {
            return Err(PyValueError::new_err("the array is read-only"));
        }
        // SAFETY: as in `as_mat`; `&mut self` makes this the only view made
        // through this value, and the array was freshly allocated by us.
        Ok(unsafe {
            MatMut::from_raw_parts_mut(
                self.ptr as *mut f64,
                self.shape[0],
                self.shape[1],
                self.strides[0],
                self.strides[1],
            )
        })
    }
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
