//! Fitting a model's figures to measurements: medians of repeated timings,
//! and a request's latency and bandwidth from transfers of several sizes.
//!
//! A transfer of `bytes` is modelled (`exec.rs`) as one latency plus the
//! bytes over a bandwidth, so the figures of a store are the intercept and
//! the inverse slope of a straight line through (bytes, seconds). The line
//! is an ordinary least-squares fit; its worst relative residual says how
//! well the straight line describes the service.

use std::fmt;

/// The median of `v` (the mean of the middle two for an even count);
/// `None` for no samples or a NaN among them.
pub fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() || v.iter().any(|x| x.is_nan()) {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    Some(if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    })
}

/// `seconds = latency_s + bytes / bytes_per_s`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatencyBandwidth {
    pub latency_s: f64,
    pub bytes_per_s: f64,
    /// Largest |fitted - measured| / measured over the points.
    pub worst_residual: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FitError {
    /// Fewer than two distinct sizes: no slope.
    TooFewSizes,
    /// A size or a time that is negative or not finite.
    BadPoint { bytes: f64, seconds: f64 },
    /// Larger transfers were not slower: no bandwidth can be read.
    NoSlope { seconds_per_byte: f64 },
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FitError::TooFewSizes => write!(f, "a latency and a bandwidth need at least two sizes"),
            FitError::BadPoint { bytes, seconds } => {
                write!(
                    f,
                    "the point ({bytes} bytes, {seconds} s) is not a transfer"
                )
            }
            FitError::NoSlope { seconds_per_byte } => write!(
                f,
                "larger transfers were not slower ({seconds_per_byte:e} s per byte): \
                 no bandwidth can be fitted"
            ),
        }
    }
}

impl std::error::Error for FitError {}

/// The least-squares line through `(bytes, seconds)` points. A negative
/// intercept (the smallest transfers faster than the line predicts) is a
/// latency of 0: the model takes no negative figure.
pub fn latency_bandwidth(points: &[(f64, f64)]) -> Result<LatencyBandwidth, FitError> {
    if let Some(&(bytes, seconds)) = points
        .iter()
        .find(|(b, s)| !b.is_finite() || !s.is_finite() || *b < 0.0 || *s < 0.0)
    {
        return Err(FitError::BadPoint { bytes, seconds });
    }
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if points.len() < 2 || sxx == 0.0 {
        return Err(FitError::TooFewSizes);
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let slope = sxy / sxx;
    if slope <= 0.0 {
        return Err(FitError::NoSlope {
            seconds_per_byte: slope,
        });
    }
    let latency_s = (mean_y - slope * mean_x).max(0.0);
    let worst_residual = points
        .iter()
        .map(|&(x, y)| ((latency_s + slope * x) - y).abs() / y.max(f64::MIN_POSITIVE))
        .fold(0.0, f64::max);
    Ok(LatencyBandwidth {
        latency_s,
        bytes_per_s: 1.0 / slope,
        worst_residual,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1.0, f64::NAN]), None);
    }

    #[test]
    fn an_exact_line_gives_back_its_latency_and_bandwidth() {
        // 2 ms + bytes / 500 MB/s, at 0.5, 2, 8 and 32 MiB.
        let points: Vec<(f64, f64)> = [0.5, 2.0, 8.0, 32.0]
            .iter()
            .map(|mib| {
                let b = mib * 1048576.0;
                (b, 0.002 + b / 5e8)
            })
            .collect();
        let f = latency_bandwidth(&points).unwrap();
        assert!((f.latency_s - 0.002).abs() < 1e-12, "{f:?}");
        assert!((f.bytes_per_s - 5e8).abs() < 1e-3, "{f:?}");
        assert!(f.worst_residual < 1e-9, "{f:?}");
    }

    #[test]
    fn noise_shows_in_the_residual_and_a_negative_intercept_is_zero() {
        // Times 10 % off the line 1 ms + bytes / 1 GB/s, alternately up and
        // down; then a line through the origin's left (intercept < 0).
        let noisy = [
            (1e6, 0.002 * 1.1),
            (4e6, 0.005 * 0.9),
            (16e6, 0.017 * 1.1),
            (64e6, 0.065 * 0.9),
        ];
        let f = latency_bandwidth(&noisy).unwrap();
        assert!(f.worst_residual > 0.05 && f.worst_residual < 0.5, "{f:?}");
        let steep = [(1e6, 0.001), (2e6, 0.003), (3e6, 0.005)];
        let f = latency_bandwidth(&steep).unwrap();
        assert_eq!(f.latency_s, 0.0);
        assert!((f.bytes_per_s - 5e8).abs() < 1e-3, "{f:?}");
    }

    #[test]
    fn degenerate_measurements_are_refused_with_a_reason() {
        assert_eq!(
            latency_bandwidth(&[(1e6, 0.01)]),
            Err(FitError::TooFewSizes)
        );
        assert_eq!(
            latency_bandwidth(&[(1e6, 0.01), (1e6, 0.02)]),
            Err(FitError::TooFewSizes)
        );
        let flat = latency_bandwidth(&[(1e6, 0.02), (2e6, 0.01)]).unwrap_err();
        assert_eq!(
            flat.to_string(),
            "larger transfers were not slower (-1e-8 s per byte): no bandwidth can be fitted"
        );
        assert_eq!(
            latency_bandwidth(&[(1e6, f64::NAN), (2e6, 0.01)])
                .unwrap_err()
                .to_string(),
            "the point (1000000 bytes, NaN s) is not a transfer"
        );
    }
}
