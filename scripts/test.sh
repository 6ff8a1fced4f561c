#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need,
# then runs every test of the workspace. CI (.ci/run) calls exactly this.
#
#   1. every test of the default build (`cargo test --workspace`);
#   2. the lambda backend (cargo feature `aws`) against local emulators of
#      S3, DynamoDB and Lambda, which scripts/emulators.sh installs (cached)
#      and starts on loopback: lp-runtime's protocol tests with in-process
#      workers, then `lpc run --backend lambda` with real lp-worker
#      processes (built with the `fault-injection` feature, which the
#      worker-kill tests need). An emulator that cannot be installed or
#      started fails the run; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

# The .npy tests check that numpy itself reads and writes our tiles.
if ! python3 -c 'import numpy' 2>/dev/null; then
    echo "test.sh: installing numpy (needed by the .npy interoperability tests)"
    python3 -m pip install --quiet --disable-pip-version-check numpy
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
    echo "test.sh: the lambda backend against the emulators"
    # One cargo invocation for both packages, so that features unify once
    # and the AWS SDKs build once; it also builds lp-worker (a binary of
    # lp-runtime, which lpc's test runs) with the same features: with
    # `fault-injection`, which lets the worker-kill tests crash it through
    # LP_WORKER_FAULT (production workers are built without it).
    aws_tests=(--locked -p lp-runtime -p lpc
        --features lp-runtime/aws,lp-runtime/fault-injection,lpc/aws
        --test aws_emulated --test lambda)
    cargo test "${aws_tests[@]}" --no-run
    scripts/emulators.sh start
    emulators_started=1
    # shellcheck disable=SC1090
    . "$(scripts/emulators.sh env)"
    cargo test "${aws_tests[@]}" "$@" 2>&1 | tee -a "$log" || status=$?
fi

# One total over every test binary (cargo prints a line per binary).
awk '/^test result:/ { passed += $4; failed += $6 }
     END { printf "all tests: %d passed, %d failed\n", passed, failed }' "$log"
exit "$status"
