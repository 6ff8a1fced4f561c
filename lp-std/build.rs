//! With the `openblas` feature, link the system's OpenBLAS (found by
//! pkg-config), or stop with what to install. Either way, name the tile
//! kernels' library for `lp_std::kernel::KERNELS`.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let kernels = if std::env::var_os("CARGO_FEATURE_OPENBLAS").is_none() {
        "faer".to_string()
    } else {
        match pkg_config::Config::new()
            .atleast_version("0.3")
            .probe("openblas")
        {
            Ok(library) => format!("OpenBLAS {}", library.version),
            Err(error) => {
                eprintln!(
                    "the `openblas` feature links the system's OpenBLAS, which pkg-config did \
                     not find (on Debian or Ubuntu: apt install libopenblas-dev): {error}"
                );
                std::process::exit(1);
            }
        }
    };
    println!("cargo:rustc-env=LP_STD_KERNELS={kernels}");
}
