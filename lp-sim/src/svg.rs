//! The utilisation plot: busy workers (and, on Lambda, live environments)
//! over time as SVG polylines, with the worker count as a ceiling. Hand
//! written: two polylines and a few labels need no plotting crate.

use crate::clock::secs;
use crate::report::Report;
use std::fmt::Write;

const W: f64 = 800.0;
const H: f64 = 360.0;
const LEFT: f64 = 70.0;
const BOTTOM: f64 = 40.0;
const TOP: f64 = 30.0;
const RIGHT: f64 = 20.0;

/// The SVG text of `report`'s utilisation.
pub fn utilisation(report: &Report, title: &str) -> String {
    let points = report.timeline.points(report.makespan.max(1));
    let ymax = (report.workers as f64)
        .max(points.iter().map(|p| p.2.max(p.1)).fold(0.0, f64::max))
        .max(1.0);
    let xmax = secs(report.makespan).max(1e-9);
    let x = |t: f64| LEFT + (W - LEFT - RIGHT) * t / xmax;
    let y = |v: f64| H - BOTTOM - (H - BOTTOM - TOP) * v / ymax;
    let width = secs(report.timeline.width);
    let line = |pick: &dyn Fn(&(u64, f64, f64)) -> f64| {
        let mut s = String::new();
        for p in &points {
            let (t0, v) = (secs(p.0), pick(p));
            let t1 = (t0 + width).min(xmax);
            let _ = write!(s, "{:.1},{:.1} {:.1},{:.1} ", x(t0), y(v), x(t1), y(v));
        }
        s
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(out, r#"<text x="{LEFT}" y="18">{}</text>"#, escape(title));
    axes(&mut out, xmax, ymax, &x, &y);
    let cap = y(report.workers as f64);
    let _ = writeln!(
        out,
        r##"<line x1="{LEFT}" y1="{cap:.1}" x2="{:.1}" y2="{cap:.1}" stroke="#999" stroke-dasharray="4 3"/>"##,
        W - RIGHT
    );
    if report.kind == crate::model::Kind::Lambda {
        let _ = writeln!(
            out,
            r##"<polyline fill="none" stroke="#e08a1e" stroke-width="1.5" points="{}"/>"##,
            line(&|p| p.2)
        );
    }
    let _ = writeln!(
        out,
        r##"<polyline fill="none" stroke="#1f5fa8" stroke-width="1.5" points="{}"/>"##,
        line(&|p| p.1)
    );
    legend(&mut out, report.kind == crate::model::Kind::Lambda);
    out.push_str("</svg>\n");
    out
}

fn axes(out: &mut String, xmax: f64, ymax: f64, x: &dyn Fn(f64) -> f64, y: &dyn Fn(f64) -> f64) {
    let (x0, y0) = (x(0.0), y(0.0));
    let _ = writeln!(
        out,
        r#"<path d="M{x0:.1},{:.1} L{x0:.1},{y0:.1} L{:.1},{y0:.1}" fill="none" stroke="black"/>"#,
        y(ymax),
        x(xmax)
    );
    for k in 0..=4 {
        let (t, v) = (xmax * k as f64 / 4.0, ymax * k as f64 / 4.0);
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x(t),
            y0 + 16.0,
            short(t)
        );
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            x0 - 6.0,
            y(v) + 4.0,
            short(v)
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">seconds</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        H - 6.0
    );
    let _ = writeln!(
        out,
        r#"<text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">workers</text>"#,
        (TOP + H - BOTTOM) / 2.0,
        (TOP + H - BOTTOM) / 2.0
    );
}

fn legend(out: &mut String, lambda: bool) {
    let mut items = vec![("#1f5fa8", "busy"), ("#999", "workers (limit)")];
    if lambda {
        items.insert(1, ("#e08a1e", "live environments"));
    }
    for (k, (colour, label)) in items.iter().enumerate() {
        let lx = W - RIGHT - 160.0;
        let ly = TOP + 14.0 + 16.0 * k as f64;
        let _ = writeln!(
            out,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="2"/><text x="{}" y="{}">{label}</text>"#,
            lx + 18.0,
            lx + 24.0,
            ly + 4.0
        );
    }
}

fn short(v: f64) -> String {
    if v >= 100.0 || v == v.round() {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
