//! No code: the dependencies in Cargo.toml are the point (docs/ARCHITECTURE.md,
//! "Builds").
