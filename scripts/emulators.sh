#!/usr/bin/env bash
# Local stand-ins for the AWS services the lambda backend uses, so that its
# tests run without an AWS account:
#   S3       -> s3s-fs 0.14.1     (crates.io, cargo install)
#   DynamoDB -> dynalite 4.0.0    (npm)
#   Lambda   -> cargo-lambda 1.9.2 (PyPI; `cargo lambda watch` serves Invoke)
#
#   scripts/emulators.sh install   install the three into the cache (idempotent)
#   scripts/emulators.sh start     start them on free loopback ports and write
#                                  their endpoints to the env file
#   scripts/emulators.sh stop      stop what `start` started
#   scripts/emulators.sh env       print the env file's path
#
# Everything fails loudly: an emulator that cannot be installed or does not
# answer on its port within the timeout is an error, never a skip.
#
# Cache (installs survive across runs): $LP_EMULATOR_CACHE, default
# $HOME/.cache/lambdapack/emulators. Run state (pids, logs, data, env file):
# $LP_EMULATOR_STATE, default target/emulators under the repository.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cache="${LP_EMULATOR_CACHE:-${HOME}/.cache/lambdapack/emulators}"
state="${LP_EMULATOR_STATE:-${repo}/target/emulators}"
env_file="${state}/emulators.env"
ready_timeout="${LP_EMULATOR_TIMEOUT:-600}"

S3S_VERSION=0.14.1
DYNALITE_VERSION=4.0.0
CARGO_LAMBDA_VERSION=1.9.2

s3s_bin="${cache}/s3s-fs-${S3S_VERSION}/bin/s3s-fs"
dynalite_bin="${cache}/dynalite-${DYNALITE_VERSION}/node_modules/.bin/dynalite"
cargo_lambda_dir="${cache}/cargo-lambda-${CARGO_LAMBDA_VERSION}"
cargo_lambda_bin="${cargo_lambda_dir}/bin/cargo-lambda"

die() {
    echo "emulators.sh: error: $*" >&2
    exit 1
}

need() {
    command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed; it is needed to $2"
}

install_s3s() {
    if [[ -x "${s3s_bin}" ]]; then return; fi
    need cargo "build s3s-fs (the S3 emulator)"
    echo "emulators.sh: installing s3s-fs ${S3S_VERSION} (cargo install, a few minutes)"
    # Its own target dir so that it never shares locks with the workspace build.
    CARGO_TARGET_DIR="${cache}/build/s3s-fs" cargo install --quiet --locked \
        "s3s-fs@${S3S_VERSION}" --features binary --root "${cache}/s3s-fs-${S3S_VERSION}" ||
        die "cargo install s3s-fs@${S3S_VERSION} failed"
    rm -rf "${cache}/build/s3s-fs"
    [[ -x "${s3s_bin}" ]] || die "s3s-fs was installed but ${s3s_bin} is missing"
}

install_dynalite() {
    if [[ -x "${dynalite_bin}" ]]; then return; fi
    need npm "install dynalite (the DynamoDB emulator)"
    echo "emulators.sh: installing dynalite ${DYNALITE_VERSION} (npm)"
    mkdir -p "${cache}/dynalite-${DYNALITE_VERSION}"
    npm install --silent --no-audit --no-fund --prefix "${cache}/dynalite-${DYNALITE_VERSION}" \
        "dynalite@${DYNALITE_VERSION}" || die "npm install dynalite@${DYNALITE_VERSION} failed"
    [[ -x "${dynalite_bin}" ]] || die "dynalite was installed but ${dynalite_bin} is missing"
}

install_cargo_lambda() {
    if [[ -x "${cargo_lambda_bin}" ]]; then return; fi
    need python3 "install cargo-lambda (the Lambda emulator)"
    echo "emulators.sh: installing cargo-lambda ${CARGO_LAMBDA_VERSION} (pip)"
    # --no-deps: the wheel ships the binary; its only dependency (ziglang) is
    # needed for cross-compiling, not for `cargo lambda watch`.
    python3 -m pip install --quiet --disable-pip-version-check --no-deps \
        --target "${cargo_lambda_dir}" "cargo-lambda==${CARGO_LAMBDA_VERSION}" ||
        die "pip install cargo-lambda==${CARGO_LAMBDA_VERSION} failed"
    [[ -x "${cargo_lambda_bin}" ]] || die "cargo-lambda was installed but ${cargo_lambda_bin} is missing"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Waits until something accepts TCP connections on 127.0.0.1:$2; fails if the
# process $3 dies first or the timeout passes.
wait_port() {
    local name="$1" port="$2" pid="$3" log="$4" waited=0
    until python3 -c "import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(s.connect_ex(('127.0.0.1', ${port})))" 2>/dev/null; do
        if ! kill -0 "${pid}" 2>/dev/null; then
            echo "--- ${log}" >&2
            tail -n 40 "${log}" >&2 || true
            die "${name} exited before listening on port ${port}"
        fi
        if ((waited >= ready_timeout * 2)); then
            echo "--- ${log}" >&2
            tail -n 40 "${log}" >&2 || true
            die "${name} did not listen on port ${port} within ${ready_timeout}s"
        fi
        sleep 0.5
        waited=$((waited + 1))
    done
}

start() {
    install
    if [[ -f "${state}/pids" ]]; then
        # A crashed or killed session leaves its pids file behind: only
        # emulators that still run stop a new start.
        local pid name
        while read -r pid name; do
            if kill -0 "${pid}" 2>/dev/null; then
                die "emulators already started (${name} runs as ${pid}, see ${state}/pids); run 'scripts/emulators.sh stop' first"
            fi
        done <"${state}/pids"
        echo "emulators.sh: the emulators of ${state}/pids no longer run; starting afresh"
    fi
    rm -rf "${state}"
    mkdir -p "${state}/s3" "${state}/logs"
    local s3_port dynamo_port lambda_port
    s3_port="$(free_port)"
    dynamo_port="$(free_port)"
    lambda_port="$(free_port)"

    "${s3s_bin}" --host 127.0.0.1 --port "${s3_port}" --access-key test --secret-key test \
        "${state}/s3" >"${state}/logs/s3s-fs.log" 2>&1 &
    echo "$! s3s-fs" >>"${state}/pids"
    "${dynalite_bin}" --host 127.0.0.1 --port "${dynamo_port}" --createTableMs 0 \
        --deleteTableMs 0 --updateTableMs 0 >"${state}/logs/dynalite.log" 2>&1 &
    echo "$! dynalite" >>"${state}/pids"
    # Only the Lambda APIs (Invoke and the runtime API): the tests start
    # `lp-worker` processes themselves against the runtime API, so nothing is
    # built here and the number of workers (the concurrency) is the test's.
    (
        cd "${repo}"
        export PATH="${cargo_lambda_dir}/bin:${PATH}"
        exec cargo lambda watch --only-lambda-apis -A 127.0.0.1 -P "${lambda_port}"
    ) >"${state}/logs/cargo-lambda.log" 2>&1 &
    echo "$! cargo-lambda" >>"${state}/pids"

    wait_port s3s-fs "${s3_port}" "$(awk '$2=="s3s-fs"{print $1}' "${state}/pids")" "${state}/logs/s3s-fs.log"
    wait_port dynalite "${dynamo_port}" "$(awk '$2=="dynalite"{print $1}' "${state}/pids")" "${state}/logs/dynalite.log"
    wait_port "cargo lambda watch" "${lambda_port}" "$(awk '$2=="cargo-lambda"{print $1}' "${state}/pids")" "${state}/logs/cargo-lambda.log"

    cat >"${env_file}" <<EOF
export LP_TEST_S3_ENDPOINT=http://127.0.0.1:${s3_port}
export LP_TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:${dynamo_port}
export LP_TEST_LAMBDA_ENDPOINT=http://127.0.0.1:${lambda_port}
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_REQUEST_CHECKSUM_CALCULATION=when_required
export AWS_RESPONSE_CHECKSUM_VALIDATION=when_required
EOF
    echo "emulators.sh: started (S3 :${s3_port}, DynamoDB :${dynamo_port}, Lambda :${lambda_port}); env in ${env_file}"
}

stop() {
    if [[ ! -f "${state}/pids" ]]; then
        echo "emulators.sh: nothing to stop"
        return
    fi
    local pid name
    while read -r pid name; do
        # Each emulator may have children (cargo lambda watch runs the worker
        # under cargo): end the process's own children first, then it.
        pkill -TERM -P "${pid}" 2>/dev/null || true
        kill -TERM "${pid}" 2>/dev/null || true
        echo "emulators.sh: stopped ${name} (${pid})"
    done <"${state}/pids"
    rm -f "${state}/pids" "${env_file}"
}

install() {
    mkdir -p "${cache}"
    install_dynalite
    install_cargo_lambda
    install_s3s
}

case "${1:-}" in
install) install ;;
start) start ;;
stop) stop ;;
env) echo "${env_file}" ;;
*)
    echo "usage: scripts/emulators.sh install|start|stop|env" >&2
    exit 2
    ;;
esac
