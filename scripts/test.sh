#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need,
# then runs every test of the workspace. CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# The .npy tests check that numpy itself reads and writes our tiles.
if ! python3 -c 'import numpy' 2>/dev/null; then
    echo "test.sh: installing numpy (needed by the .npy interoperability tests)"
    python3 -m pip install --quiet --disable-pip-version-check numpy
fi

# The AWS backend (cargo feature `aws`, work in progress) must keep compiling
# with the rest; its emulator tests are run by hand for now (docs/aws.md).
cargo check -p lp-runtime --features aws --all-targets --locked

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked "$@" 2>&1 | tee "$log" || status=$?
# One total over every test binary (cargo prints a line per binary).
awk '/^test result:/ { passed += $4; failed += $6 }
     END { printf "all tests: %d passed, %d failed\n", passed, failed }' "$log"
exit "$status"
