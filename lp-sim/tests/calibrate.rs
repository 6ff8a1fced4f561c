//! The calibration recovers a known model from runs simulated with it: the
//! request latencies and the transfer tables exactly (they are means of
//! what the workers timed), and the fitted figures (the kernels' share of
//! a core, the host contention, the delivery latency) to the bisections'
//! precision.

use lp_program::Plan;
use lp_runtime::request_times::{RequestTimes, Timed, Waited};
use lp_sim::calibrate::{Fitted, Measured, Training, fit, model_text, seen_done};
use lp_sim::{Model, SimOptions, simulate};
use lpc::frontend::{CompileOptions, compile_source};

fn plan(program: &str, settings: &[(&str, i64)]) -> Plan {
    let path = format!("{}/../lib/{program}.lp", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(&path).expect("a library program");
    let opts = CompileOptions {
        settings: settings.iter().map(|&(n, v)| (n.to_string(), v)).collect(),
        ..CompileOptions::default()
    };
    let outcome = compile_source(&source, &path, &opts).expect("known settings");
    outcome.compiled.expect("compiles").checked.plan
}

/// The `.npy` object of a b x b tile.
fn object(b: f64) -> f64 {
    b * b * 8.0 + 128.0
}

/// What the workers would have timed under `truth`: ten transfers of the
/// run's tile size at the table's time, a hundred calls of every other
/// kind at the true latency.
fn timings(truth: &Fitted, tile: f64) -> RequestTimes {
    let mut t = RequestTimes::default();
    let us = |s: f64| (s * 1e6).round() as u64;
    let at = |table: &[(f64, f64)]| {
        table
            .iter()
            .find(|(b, _)| *b == object(tile))
            .expect("the run's size is in the table")
            .1
    };
    let transfer = |s: f64| Waited {
        calls: 10,
        micros: 10 * us(s),
        bytes: 10 * object(tile) as u64,
    };
    t.set(Timed::TileGet, transfer(at(&truth.get_table)));
    t.set(Timed::TilePut, transfer(at(&truth.put_table)));
    for (kind, s) in [
        (Timed::CounterRead, truth.read_s),
        (Timed::CounterWrite, truth.write_s),
        (Timed::TileDelete, truth.delete_s),
        (Timed::Invoke, truth.invoke_s),
    ] {
        t.set(
            kind,
            Waited {
                calls: 100,
                micros: 100 * us(s),
                bytes: 0,
            },
        );
    }
    t
}

#[test]
fn a_known_model_is_recovered_from_runs_simulated_with_it() {
    let (small, large) = (200.0, 400.0);
    let truth = Fitted {
        read_s: 0.0007,
        write_s: 0.0011,
        delete_s: 0.0009,
        invoke_s: 0.0004,
        // The line through the two table points: 4 ms + bytes / 100 MB/s,
        // and 2 ms + bytes / 400 MB/s.
        get: (0.004, 1e8),
        put: (0.002, 4e8),
        get_table: vec![
            (object(small), 0.004 + object(small) / 1e8),
            (object(large), 0.004 + object(large) / 1e8),
        ],
        put_table: vec![
            (object(small), 0.002 + object(small) / 4e8),
            (object(large), 0.002 + object(large) / 4e8),
        ],
        cpu_share: 0.6,
        contention: 0.3,
        delivery_s: 0.08,
    };
    let runs = [
        ("cholesky", vec![("n", 800), ("b", 200)], 1, small),
        (
            "gemm",
            vec![("m", 800), ("n", 800), ("k", 800), ("b", 400)],
            1,
            large,
        ),
        ("cholesky", vec![("n", 1600), ("b", 400)], 2, large),
    ];
    let mut training: Vec<Training> = runs
        .iter()
        .map(|(program, settings, workers, tile)| Training {
            label: format!("{program} {settings:?} w={workers}"),
            plan: plan(program, settings),
            workers: *workers,
            measured: Measured {
                seconds: 0.0,
                busy_s: 0.0,
                times: timings(&truth, *tile),
            },
        })
        .collect();
    let text = model_text(&truth, &training, "the test");
    assert!(
        !text.contains('@'),
        "a template figure left unfilled:\n{text}"
    );
    let model = Model::parse(&text, "truth").unwrap();
    for t in &mut training {
        let opts = SimOptions::new(t.workers);
        let r = simulate(&t.plan, &model, &opts).unwrap();
        t.measured.seconds = seen_done(&r, &model);
        t.measured.busy_s = lp_sim::clock::secs(r.busy);
    }

    let f = fit(&training).unwrap();
    let close = |a: f64, b: f64, tol: f64| (a - b).abs() <= tol * b.abs();
    for (got, want) in [
        (f.read_s, truth.read_s),
        (f.write_s, truth.write_s),
        (f.delete_s, truth.delete_s),
        (f.invoke_s, truth.invoke_s),
        (f.get.0, truth.get.0),
        (f.get.1, truth.get.1),
        (f.put.0, truth.put.0),
        (f.put.1, truth.put.1),
    ] {
        assert!(close(got, want, 1e-3), "{got} != {want}: {f:?}");
    }
    for (got, want) in [
        (&f.get_table, &truth.get_table),
        (&f.put_table, &truth.put_table),
    ] {
        assert_eq!(got.len(), 2);
        for ((b, s), (tb, ts)) in got.iter().zip(want) {
            assert_eq!(b, tb);
            assert!(close(*s, *ts, 1e-3), "{got:?} != {want:?}");
        }
    }
    assert!(close(f.cpu_share, truth.cpu_share, 1e-3), "{f:?}");
    assert!(close(f.contention, truth.contention, 1e-2), "{f:?}");
    assert!(close(f.delivery_s, truth.delivery_s, 1e-2), "{f:?}");
}

#[test]
fn runs_on_one_worker_are_required() {
    let training = vec![Training {
        label: "two workers".into(),
        plan: plan("cholesky", &[("n", 400), ("b", 200)]),
        workers: 2,
        measured: Measured {
            seconds: 1.0,
            busy_s: 1.0,
            times: RequestTimes::default(),
        },
    }];
    assert_eq!(
        fit(&training).unwrap_err().to_string(),
        "the training runs need runs on one worker (w=1)"
    );
}
