//! Program generators (owned by the generators helper).
