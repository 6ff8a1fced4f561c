//! The library: whole algorithms as loop programs (`lib/*.lp` in the
//! repository, compiled into `lpc`), and their instantiation with parameter
//! values for `lpc gen`.

use crate::frontend::{Setting, SettingError, check_settings};

/// Every program of the library: its name and source.
pub const PROGRAMS: &[(&str, &str)] = &[
    ("cholesky", include_str!("../../lib/cholesky.lp")),
    ("posv", include_str!("../../lib/posv.lp")),
    ("gesv", include_str!("../../lib/gesv.lp")),
    ("lu", include_str!("../../lib/lu.lp")),
    ("qr", include_str!("../../lib/qr.lp")),
    ("lstsq", include_str!("../../lib/lstsq.lp")),
    ("tsqr", include_str!("../../lib/tsqr.lp")),
    ("gemm", include_str!("../../lib/gemm.lp")),
    ("trsolve", include_str!("../../lib/trsolve.lp")),
];

/// The source of library program `name`.
pub fn source(name: &str) -> Option<&'static str> {
    PROGRAMS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// The names of the library's programs.
pub fn names() -> Vec<&'static str> {
    PROGRAMS.iter().map(|(n, _)| *n).collect()
}

/// What program `name` computes: the first line of its leading comment.
pub fn summary(name: &str) -> &'static str {
    source(name)
        .and_then(|s| s.lines().next())
        .and_then(|l| l.strip_prefix("; "))
        .unwrap_or("")
}

/// The parameters program `name` declares, in order.
pub fn params(name: &str) -> Vec<&'static str> {
    let Some(src) = source(name) else {
        return Vec::new();
    };
    grammar::parse(src)
        .0
        .params
        .iter()
        .map(|p| p.name.name)
        .collect()
}

/// Sizes that make no valid program of `name` for a reason its checks
/// would report only indirectly (a shape mismatch deep in a job), as a
/// sentence for the user. `value(p)` is parameter `p`'s literal value.
pub fn size_error(name: &str, value: &dyn Fn(&str) -> Option<i64>) -> Option<String> {
    let (m, n, b) = (value("m")?, value("n")?, value("b")?);
    if matches!(name, "qr" | "lstsq" | "tsqr") && m < n {
        return Some(format!(
            "`{name}` needs m >= n (a tall or square A), found m = {m}, n = {n}"
        ));
    }
    if name == "tsqr" && b < n {
        return Some(format!(
            "`tsqr` needs tiles of at least n = {n} rows (each tile row of A is one b x n \
             leaf whose QR must have n reflectors), found a tile of {b}: choose --tile {n} or more"
        ));
    }
    // A tile of 0 (or i64::MIN rows over -1) has no remainder: the
    // program's own checks refuse such a tile.
    let last = m.checked_rem(b)?;
    if name == "tsqr" && last != 0 && last < n {
        return Some(format!(
            "`tsqr` needs every tile to have at least n = {n} rows, but the last of m = {m} \
             in tiles of {b} has {last}: choose a tile size that divides m or leaves at least n"
        ));
    }
    None
}

/// A setting [`with_params`] cannot apply.
#[derive(Debug, PartialEq, Eq)]
pub enum ParamError {
    /// It names no parameter of the program, or one a second time.
    Setting(SettingError),
    /// It names a parameter computed from others (`nt = ceil(n / b)`),
    /// listed in `from`.
    Computed { name: String, from: Vec<String> },
}

/// `src` with the defaults of the parameters in `settings` replaced by
/// their values: the program to keep, with the sizes it was generated for.
pub fn with_params(src: &str, settings: &[Setting]) -> Result<String, ParamError> {
    let (program, _) = grammar::parse(src);
    let params: Vec<&str> = program.params.iter().map(|p| p.name.name).collect();
    check_settings(settings, &params).map_err(ParamError::Setting)?;
    // (byte range to replace, text), applied back to front.
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    for (name, value) in settings {
        // `check_settings` found every name.
        let Some(p) = program.params.iter().find(|p| p.name.name == name) else {
            continue;
        };
        match &p.default {
            Some(d) if !d.names().is_empty() => {
                let from = d.names().iter().map(|n| n.to_string()).collect();
                return Err(ParamError::Computed {
                    name: name.clone(),
                    from,
                });
            }
            Some(d) => edits.push((d.span().range(), value.to_string())),
            None => {
                let end = p.name.span.end as usize;
                edits.push((end..end, format!(" = {value}")));
            }
        }
    }
    edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut out = src.to_string();
    for (range, text) in edits {
        out.replace_range(range, &text);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_replace_defaults_in_place() {
        let src = "param n = 4096, b = 512, nt = ceil(n / b)\nparam x\n";
        let out = with_params(src, &[("b".into(), 100), ("x".into(), 3)]).unwrap();
        assert_eq!(
            out,
            "param n = 4096, b = 100, nt = ceil(n / b)\nparam x = 3\n"
        );
        let refused = |settings: &[Setting]| match with_params(src, settings) {
            Err(ParamError::Setting(e)) => e.to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            refused(&[("q".into(), 1)]),
            "--set q: the program has no parameter `q` (it has n, b, nt, x)"
        );
        // Applied twice, the edits would overlap into `b = 2 = 100`.
        assert_eq!(
            refused(&[("b".into(), 100), ("b".into(), 2)]),
            "--set b is given twice (b=100, then b=2): give it once"
        );
        assert_eq!(
            with_params(src, &[("nt".into(), 3)]),
            Err(ParamError::Computed {
                name: "nt".to_string(),
                from: vec!["n".to_string(), "b".to_string()]
            })
        );
    }

    #[test]
    fn every_library_program_parses() {
        for (name, src) in PROGRAMS {
            let (_, errors) = grammar::parse(src);
            assert!(errors.is_empty(), "{name}: {errors:?}");
        }
    }
}
