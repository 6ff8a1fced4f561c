//! Householder QR tile kernels in compact WY form (being written).
