//! Worker utilisation over time, in a bounded number of bins.
//!
//! A run's length is unknown until it ends and a million-job run has
//! millions of busy intervals, so intervals are added into fixed-width
//! bins of busy time; when an interval ends past the last bin, the width
//! doubles and neighbouring bins merge. Memory stays at most [`MAX_BINS`]
//! bins whatever the run, and each bin is exact for its width.

use crate::clock::Ns;

pub const MAX_BINS: usize = 512;

#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    /// Width of a bin (ns).
    pub width: Ns,
    /// Busy worker-nanoseconds per bin.
    pub busy: Vec<f64>,
    /// Live-environment nanoseconds per bin (workers that exist, busy or
    /// idle; for threads, all of them).
    pub live: Vec<f64>,
}

impl Default for Timeline {
    fn default() -> Timeline {
        Timeline {
            width: 1_000_000,
            busy: vec![0.0; MAX_BINS],
            live: vec![0.0; MAX_BINS],
        }
    }
}

impl Timeline {
    fn fit(&mut self, end: Ns) {
        while end > self.width * MAX_BINS as Ns {
            for series in [&mut self.busy, &mut self.live] {
                let merged: Vec<f64> = series.chunks(2).map(|c| c.iter().sum()).collect();
                series.clear();
                series.extend(merged);
                series.resize(MAX_BINS, 0.0);
            }
            self.width *= 2;
        }
    }

    fn add(series: &mut [f64], width: Ns, start: Ns, end: Ns) {
        let mut t = start;
        while t < end {
            let bin = (t / width) as usize;
            let bin_end = (bin as Ns + 1) * width;
            let stop = end.min(bin_end);
            series[bin] += (stop - t) as f64;
            t = stop;
        }
    }

    /// One worker was busy over `[start, end)`.
    pub fn busy(&mut self, start: Ns, end: Ns) {
        self.fit(end);
        Self::add(&mut self.busy, self.width, start, end);
    }

    /// One worker existed over `[start, end)`.
    pub fn live(&mut self, start: Ns, end: Ns) {
        self.fit(end);
        Self::add(&mut self.live, self.width, start, end);
    }

    /// `(bin start, mean busy workers, mean live workers)` up to `end`.
    pub fn points(&self, end: Ns) -> Vec<(Ns, f64, f64)> {
        let bins = (end.div_ceil(self.width) as usize).clamp(1, MAX_BINS);
        (0..bins)
            .map(|b| {
                let w = self.width as f64;
                (b as Ns * self.width, self.busy[b] / w, self.live[b] / w)
            })
            .collect()
    }
}
