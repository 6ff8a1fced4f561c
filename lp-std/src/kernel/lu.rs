//! LU tile kernels with incremental (pairwise) pivoting (being written).
