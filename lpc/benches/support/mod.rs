//! What the benches on the emulators share: the `lpc` command lines of a
//! lambda run (`lpc aws init`, then `lpc run --backend lambda`).

/// `lpc aws init` of a fresh bucket and table.
pub fn aws_init(bucket: &str, table: &str) -> Vec<String> {
    [
        "aws",
        "init",
        "--bucket",
        bucket,
        "--table",
        table,
        "--create-bucket",
    ]
    .map(String::from)
    .to_vec()
}

/// `lpc run PROGRAM --backend lambda` on `bucket` and `table`, without
/// progress output, followed by `extra` arguments.
pub fn lambda_run(program: &str, bucket: &str, table: &str, extra: &[String]) -> Vec<String> {
    let fixed = [
        "run",
        program,
        "--backend",
        "lambda",
        "--bucket",
        bucket,
        "--table",
        table,
        "--quiet",
    ];
    fixed
        .map(String::from)
        .into_iter()
        .chain(extra.iter().cloned())
        .collect()
}
