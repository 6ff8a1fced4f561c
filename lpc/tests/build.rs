//! `lpc build` and `lpc check` on the files around them: a build never
//! replaces its own source, the files lpc writes get the permissions a
//! plain file would, and `check` validates a bundle as `run` does.

mod common;

use common::{lpc, workspace};
use std::path::Path;
use std::process::Output;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A small program copied into `dir`, returned with its bytes.
fn program_in(dir: &Path) -> (String, Vec<u8>) {
    let source = std::fs::read(workspace().join("tests/run/gemm_identity.lp")).unwrap();
    let path = dir.join("prog.lp");
    std::fs::write(&path, &source).unwrap();
    (path.to_str().unwrap().to_string(), source)
}

fn assert_refused(out: &Output, stderr: &str) {
    assert_eq!(text(&out.stderr), stderr);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn build_refuses_to_write_the_bundle_over_its_own_source() {
    let dir = tempfile::tempdir().unwrap();
    let (prog, source) = program_in(dir.path());
    let d = dir.path().to_str().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    #[allow(unused_mut)]
    let mut aliases = vec![prog.clone(), format!("{d}/sub/../prog.lp")];
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&prog, dir.path().join("link.lpb")).unwrap();
        std::fs::hard_link(&prog, dir.path().join("hard.lpb")).unwrap();
        aliases.push(format!("{d}/link.lpb"));
        aliases.push(format!("{d}/hard.lpb"));
    }
    for output in aliases {
        let out = lpc(&["build", &prog, "-o", &output]);
        assert_refused(
            &out,
            &format!(
                "error: cannot write {output}: it is the program being built (a bundle would replace its source)\n"
            ),
        );
        assert_eq!(std::fs::read(&prog).unwrap(), source, "-o {output}");
    }
    // A device is not replaced by a file.
    #[cfg(unix)]
    assert_refused(
        &lpc(&["build", &prog, "-o", "/dev/null"]),
        "error: cannot write /dev/null: it is not a regular file\n",
    );
    // Another file is written as before, and through a link to it.
    let bundle = format!("{d}/prog.lpb");
    let out = lpc(&["build", &prog, "-o", &bundle]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).starts_with(&format!("wrote {bundle} (")));
    assert_eq!(std::fs::read(&prog).unwrap(), source);
    #[cfg(unix)]
    {
        let link = dir.path().join("to-bundle.lpb");
        std::os::unix::fs::symlink(&bundle, &link).unwrap();
        std::fs::write(&bundle, b"stale").unwrap();
        let out = lpc(&["build", &prog, "-o", link.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(link.is_symlink());
        assert_ne!(std::fs::read(&bundle).unwrap(), b"stale");
    }
}

#[test]
fn check_validates_a_bundle_as_run_does() {
    let dir = tempfile::tempdir().unwrap();
    let (prog, _) = program_in(dir.path());
    let bundle = dir.path().join("prog.lpb");
    let b = bundle.to_str().unwrap();
    assert!(lpc(&["build", &prog, "-o", b]).status.success());
    let out = lpc(&["check", b]);
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (Some(0), String::new())
    );

    let out = lpc(&["check", b, "--set", "n=4"]);
    assert_refused(
        &out,
        &format!(
            "error: --set applies to a program, not to the bundle {b} (its parameters are fixed)\n"
        ),
    );
    let bytes = std::fs::read(&bundle).unwrap();
    std::fs::write(&bundle, &bytes[..bytes.len() - 10]).unwrap();
    let truncated = format!(
        "error: {b}: truncated bundle: expected {} bytes, found {}\n",
        bytes.len(),
        bytes.len() - 10
    );
    // `check` and `run` refuse it in the same words.
    for args in [vec!["check", b], vec!["run", b, "--quiet"]] {
        assert_refused(&lpc(&args), &truncated);
    }
}

/// `lpc build -o` and `lpc run --output` write files as `File::create`
/// would (0666 less the umask, not a temporary file's 0600), and keep the
/// mode of a file they replace.
#[cfg(unix)]
#[test]
fn written_files_get_the_umask_mode_and_replaced_ones_keep_theirs() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (prog, _) = program_in(dir.path());
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let plain = dir.path().join("plain");
    std::fs::File::create(&plain).unwrap();
    let bundle = dir.path().join("prog.lpb");
    let c = dir.path().join("c.npy");
    let write_both = || {
        let out = lpc(&["build", &prog, "-o", bundle.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let output = format!("C={}", c.display());
        let out = lpc(&["run", &prog, "--quiet", "--output", &output]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    };
    write_both();
    for file in [&bundle, &c] {
        assert_eq!(
            format!("{:o}", mode(file)),
            format!("{:o}", mode(&plain)),
            "{}",
            file.display()
        );
    }
    for file in [&bundle, &c] {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    write_both();
    for file in [&bundle, &c] {
        assert_eq!(format!("{:o}", mode(file)), "640", "{}", file.display());
    }
}
