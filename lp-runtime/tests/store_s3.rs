//! `lpc store ls|gc|rm`'s maintenance on the S3 store, against the S3
//! emulator of `scripts/emulators.sh start` (its env file gives
//! `LP_TEST_S3_ENDPOINT` and the credentials; a missing emulator fails the
//! tests): a prefix a store above could not tell from its own folders is
//! refused before any request, a store under a prefix of another is listed
//! as such and never removed or collected, and bundles (objects, not
//! folders) are listed and removed.
//!
//! ```text
//! scripts/emulators.sh start && . "$(scripts/emulators.sh env)"
//! cargo test -p lp-runtime --features aws --test store_s3
//! ```
#![cfg(feature = "aws")]

use lp_runtime::aws::{AwsClients, AwsOptions, S3Store};
use lp_runtime::store::maintenance::{
    self, Collected, Holds, MaintenanceError, NestedStore, STALE_AFTER,
};
use lp_runtime::store::runs::RunGuard;
use lp_runtime::store::{Store, StoreError};
use lp_std::MatrixHeader;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A fresh bucket on the emulator, and the clients to reach it.
fn bucket() -> (AwsClients, String) {
    let endpoint = std::env::var("LP_TEST_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "LP_TEST_S3_ENDPOINT is not set: start the emulators with `scripts/emulators.sh \
             start` and source the env file it prints"
        )
    });
    let clients = AwsClients::connect(&AwsOptions {
        region: None,
        endpoint_url: None,
        s3_endpoint: Some(endpoint),
        dynamodb_endpoint: None,
        lambda_endpoint: None,
    });
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let bucket = format!("lp-store-{}-{n}", std::process::id());
    S3Store::at_root(&clients, &bucket)
        .create_bucket()
        .expect("create the test bucket on the S3 emulator");
    (clients, bucket)
}

fn header() -> MatrixHeader {
    MatrixHeader::new([4, 4], [2, 2], false)
}

#[test]
fn a_prefix_with_a_part_no_store_above_could_tell_is_refused_before_any_request() {
    let (clients, bucket) = bucket();
    let namespace = "its path has a part `~runs`, the name of one of a store's own folders \
                     (`~runs`, `~inputs`, `~bundles`, `~pool`): a store above it would take \
                     this store's contents for its own";
    for prefix in ["~runs", "runs/~runs/", "a/~x"] {
        let e = S3Store::new(&clients, &bucket, prefix).unwrap_err();
        assert!(matches!(e, StoreError::InvalidRoot { .. }), "{e:?}");
        if prefix != "a/~x" {
            assert_eq!(e.to_string(), namespace);
        }
    }
    assert_eq!(
        S3Store::new(&clients, &bucket, "a b")
            .unwrap_err()
            .to_string(),
        "its path has a part `a b`, which is not a valid name (only ASCII letters, digits, \
         '_', '-' and '.' are allowed): a store above it could not list it"
    );
    // Nothing was written by the refusals.
    let root = S3Store::at_root(&clients, &bucket);
    assert_eq!(root.list_keys("").unwrap(), Vec::<String>::new());
}

#[test]
fn a_store_under_a_prefix_of_another_is_listed_and_left_alone() {
    let (clients, bucket) = bucket();
    let inner: Arc<dyn Store> = Arc::new(S3Store::new(&clients, &bucket, "outer/sub").unwrap());
    let guard = RunGuard::begin(inner.clone(), "run-1-1", "p.lp").unwrap();
    inner.put_header("~runs/run-1-1/L", &header()).unwrap();
    guard.finish().unwrap();
    maintenance::publish(inner.as_ref(), "fac", "~runs/run-1-1/L").unwrap();
    let outer = S3Store::new(&clients, &bucket, "outer").unwrap();
    let nested = NestedStore {
        location: "sub".into(),
        holds: Holds::Runs,
        spec: None,
    };
    let listed = maintenance::list(&outer).unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].nested, Some(nested));
    for target in ["sub", "sub/fac"] {
        let e = maintenance::remove(&outer, target).unwrap_err();
        assert!(matches!(e, MaintenanceError::Nested(_)), "{e:?}");
        assert_eq!(
            e.in_store(&format!("s3://{bucket}/outer")).to_string(),
            format!("`sub` is another store (it holds runs); manage it as s3://{bucket}/outer/sub")
        );
    }
    assert_eq!(
        maintenance::collect_dead_runs(&outer, Duration::ZERO).unwrap(),
        Collected::default()
    );
    assert_eq!(
        maintenance::resolve(inner.as_ref(), "fac").unwrap(),
        Some(("~runs/run-1-1/L".to_string(), header()))
    );
}

/// What an older version let `--prefix '~runs'` write under a store: the
/// store above lists it as one entry, lists and collects the rest, and
/// leaves that store's names alone.
#[test]
fn a_store_left_in_a_namespace_folder_is_listed_and_its_names_left_alone() {
    let (clients, bucket) = bucket();
    let root = S3Store::new(&clients, &bucket, "p").unwrap();
    for key in [
        "p/~runs/~runs/run-1-1/run.json",
        "p/~runs/~bundles/0af3.lpb",
        "p/~runs/fac/link.json",
        "p/~runs/run-2-2/L/0_0.npy",
    ] {
        root.put_object(key, b"{}".to_vec()).unwrap();
    }
    std::thread::sleep(Duration::from_millis(1100));
    root.put_object("p/~bundles/b2c4.lpb", vec![0; 335])
        .unwrap();
    let listed: Vec<_> = maintenance::list(&root)
        .unwrap()
        .into_iter()
        .map(|e| {
            (
                e.location.clone(),
                e.nested.clone().map(|n| n.holds),
                e.is_orphan(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("~runs".to_string(), Some(Holds::Runs), false),
            ("~runs/run-2-2/L".to_string(), None, true),
        ]
    );
    assert_eq!(
        maintenance::collect_dead_runs(&root, STALE_AFTER).unwrap(),
        Collected {
            removed: vec!["run-2-2".into()],
            skipped: vec![(
                "~runs/fac".into(),
                "`~runs` also holds another store (it holds runs), and this may be one of \
                 its names"
                    .into()
            )],
        }
    );
    let bundles = root.bundles().unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(bundles.len(), 1, "{bundles:?}");
    assert_eq!(
        (bundles[0].name.as_str(), bundles[0].bytes),
        ("b2c4.lpb", 335)
    );
    let written = bundles[0].modified.expect("S3 dates its objects");
    assert!(now.abs_diff(written) < 60, "{written} vs {now}");
    // Fresh, so kept by gc; removed by name.
    assert_eq!(
        maintenance::collect_unused_bundles(&root, STALE_AFTER).unwrap(),
        Collected::default()
    );
    maintenance::remove(&root, "~bundles/b2c4.lpb").unwrap();
    assert_eq!(root.bundles().unwrap(), []);
    assert!(root.get_object("p/~runs/fac/link.json").unwrap().is_some());
    assert!(
        root.get_object("p/~runs/~bundles/0af3.lpb")
            .unwrap()
            .is_some()
    );
}
