//! The numerical standard library of lambdapack: tile kernels on faer,
//! BigMatrix headers and tiles in `.npy` form, and lazy initialisers. No I/O
//! policy lives here: stores and scheduling are `lp-runtime`'s. (Whole
//! algorithms are loop programs: `lib/*.lp`, compiled into `lpc`.)

pub mod header;
pub mod init;
pub mod kernel;
pub mod npy;

pub use header::{Dims, HeaderError, MatrixHeader, Triangle};
pub use init::{Init, InitError};
pub use kernel::{Kernel, KernelError, Shape, ShapeError};

/// A tile in memory: a column-major f64 matrix (stored as a Fortran-order
/// `.npy`).
pub type Tile = faer::Mat<f64>;
