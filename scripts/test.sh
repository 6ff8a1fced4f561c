#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need,
# then runs every test of the workspace. CI (.ci/run) calls exactly this.
#
#   1. every test of the default build (`cargo test --workspace`);
#   2. the `openblas` feature (tile products and solves on the system's
#      OpenBLAS instead of faer): lp-std's kernel tests against their dense
#      references, the library's algorithms end to end
#      (lpc/tests/algorithms.rs, LAPACK's test ratios), the `tests/run`
#      programs and the command line's tests, on that build.
#      libopenblas-dev is installed with apt when pkg-config does not find
#      it;
#   3. the lambda backend (cargo feature `aws`) against local emulators of
#      S3, DynamoDB and Lambda, which scripts/emulators.sh installs (cached)
#      and starts on loopback: lp-runtime's protocol tests with in-process
#      workers, then `lpc run --backend lambda` with real lp-worker
#      processes (built with the `fault-injection` feature, which the
#      worker-kill tests need). An emulator that cannot be installed or
#      started fails the run; nothing is skipped;
#   4. the Python package (python/, `import lambdapack`): built with
#      maturin into a wheel with the `aws` feature (the dev profile, whose
#      dependencies, the AWS SDKs included, steps 1 and 3 already compiled:
#      the workspace-hack crate gives every step the same dependency
#      features, docs/ARCHITECTURE.md), installed into a virtualenv under
#      target/ with numpy, scipy and pytest, and its pytest suite run with step 3's
#      emulators still up (its S3 tests fail without them). A skipped
#      Python test fails the run;
#   5. the workspace's documentation (`cargo doc`), whose broken or
#      ambiguous intra-doc links fail the run (rustdoc's warnings as
#      errors): the code map in docs/ARCHITECTURE.md leans on them.
set -euo pipefail
cd "$(dirname "$0")/.."

# The .npy tests check that numpy itself reads and writes our tiles.
if ! python3 -c 'import numpy' 2>/dev/null; then
    echo "test.sh: installing numpy (needed by the .npy interoperability tests)"
    python3 -m pip install --quiet --disable-pip-version-check numpy
fi

# CI builds from a clean checkout once: incremental compilation's caches
# (1.3 GB of the 6.5 GB this suite's target/ reached from a clean
# checkout, 2026-12-02) would only fill its disk. A CI run has failed with
# "No space left on device" in the linker, so say up front what is free.
if [[ ${CI:-} == true ]]; then
    export CARGO_INCREMENTAL=0
    echo "test.sh: $(df -h --output=avail . | tail -1 | tr -d ' ') free on the build's disk" \
        "(a clean build of the whole suite took 5.4 GB in December 2026)"
fi

log=$(mktemp)
emulators_started=0
cleanup() {
    if ((emulators_started)); then scripts/emulators.sh stop >/dev/null || true; fi
    rm -f "$log"
}
trap cleanup EXIT

status=0
cargo test --workspace --locked "$@" 2>&1 | tee "$log" || status=$?

if ((status == 0)); then
    echo "test.sh: the openblas feature (tile kernels on the system's OpenBLAS)"
    if ! pkg-config --exists openblas 2>/dev/null; then
        echo "test.sh: installing libopenblas-dev and pkg-config (the openblas feature's tests)"
        sudo=()
        if ((EUID != 0)); then sudo=(sudo); fi
        "${sudo[@]}" apt-get update -qq
        "${sudo[@]}" apt-get install -y -qq --no-install-recommends libopenblas-dev pkg-config
    fi
    # An OpenBLAS older than the CPU (Debian's 0.3.21 on an Emerald Rapids
    # host) runs its generic Prescott kernels, slowly, and `lpc run` warns
    # of it on stderr, where the tests expect their messages alone: give it
    # kernels the CPU runs (the warning's own test sets the variable itself).
    core=$(python3 -c 'import ctypes
lib = ctypes.CDLL("libopenblas.so.0")
lib.openblas_get_corename.restype = ctypes.c_char_p
print(lib.openblas_get_corename().decode())') || core=unknown
    coretype=()
    if [[ ${core,,} == prescott ]]; then
        if grep -qw avx512f /proc/cpuinfo; then coretype=(OPENBLAS_CORETYPE=SkylakeX);
        elif grep -qw avx2 /proc/cpuinfo; then coretype=(OPENBLAS_CORETYPE=Haswell); fi
        echo "test.sh: OpenBLAS runs its generic kernels here; testing with ${coretype[*]:-them}"
    fi
    env "${coretype[@]}" cargo test --locked -p lp-std -p lpc --features lpc/openblas --lib \
        --test kernels --test lu --test qr --test algorithms --test run --test cli "$@" 2>&1 |
        tee -a "$log" || status=$?
fi

if ((status == 0)); then
    echo "test.sh: the lambda backend against the emulators"
    # One cargo invocation for both packages, so that features unify once
    # and the AWS SDKs build once; it also builds lp-worker (a binary of
    # lp-runtime, which lpc's test runs) with the same features: with
    # `fault-injection`, which lets the worker-kill tests crash it through
    # LP_WORKER_FAULT (production workers are built without it).
    aws_tests=(--locked -p lp-runtime -p lpc
        --features lp-runtime/aws,lp-runtime/fault-injection,lpc/aws
        --test aws_emulated --test store_s3 --test lambda)
    cargo test "${aws_tests[@]}" --no-run
    scripts/emulators.sh start
    emulators_started=1
    # shellcheck disable=SC1090
    . "$(scripts/emulators.sh env)"
    cargo test "${aws_tests[@]}" "$@" 2>&1 | tee -a "$log" || status=$?
fi

if ((status == 0)); then
    echo "test.sh: the Python package (python/)"
    venv=target/py-venv
    # A venv of its own, so that maturin and pytest are its own scripts.
    [[ -x $venv/bin/python ]] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "maturin>=1.5,<2" pytest scipy numpy
    rm -rf target/py-wheels
    "$venv/bin/maturin" build --locked --profile dev -m python/Cargo.toml \
        --features aws --interpreter "$venv/bin/python" --out target/py-wheels
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --force-reinstall --no-deps target/py-wheels/lambdapack-*.whl
    # From the repository's root: `python -m pytest` puts the current
    # folder first on sys.path, and in python/ that would import the source
    # folder lambdapack/ (no extension) instead of the installed wheel.
    "$venv/bin/python" -m pytest -q -p no:cacheprovider python/tests 2>&1 |
        tee -a "$log" || status=$?
    if grep -Eq '^=* *[0-9]+ .*skipped' "$log"; then
        echo "test.sh: a Python test was skipped; every test must run" >&2
        status=1
    fi
fi

if ((status == 0)); then
    echo "test.sh: the documentation's links (cargo doc)"
    RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --locked 2>&1 |
        tee -a "$log" || status=$?
fi

# One total over every test binary (cargo prints a line per binary) and
# the pytest suite (its last line: `1 failed, 40 passed in 20.1s`).
awk '/^test result:/ { passed += $4; failed += $6 }
     /^=* *[0-9]+ (passed|failed|error)/ && / in [0-9.]+s/ {
         for (i = 1; i < NF; i++) {
             if ($(i + 1) ~ /^passed/) passed += $i
             if ($(i + 1) ~ /^(failed|error)/) failed += $i
         }
     }
     END { printf "all tests: %d passed, %d failed\n", passed, failed }' "$log"
exit "$status"
