//! The lambdapack compiler: semantic checks, lowering to the job DAG and to a
//! runtime bundle, and the rendering of every diagnostic (the only crate that
//! prints).
