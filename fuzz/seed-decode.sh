#!/bin/sh
# Seeds the `decode` fuzz target (fuzz/fuzz_targets/decode.rs) with the
# payloads of the library's programs at small sizes: each bundle less its
# 52-byte header (magic, version, length, blake3: `PREFIX_LEN` in
# lp-program/src/bundle.rs), which the target puts back (`bundle::wrap`).
set -eu
cd "$(dirname "$0")/.."
out=fuzz/corpus/decode
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cargo build -q --release -p lpc
for name in cholesky posv gesv lu qr lstsq tsqr gemm trsolve; do
    target/release/lpc gen "$name" > "$tmp/$name.lp"
    target/release/lpc build "$tmp/$name.lp" -o "$tmp/$name.bundle"
    tail -c +53 "$tmp/$name.bundle" > "$out/$name"
done
for example in examples/*.lp; do
    name=$(basename "$example" .lp)
    target/release/lpc build "$example" -o "$tmp/$name.bundle"
    tail -c +53 "$tmp/$name.bundle" > "$out/example-$name"
done
echo "seeded $(ls "$out" | wc -l) payloads in $out"
