#!/usr/bin/env bash
# Runs every test of the project. Installs what the tests need (Kafka's jars from Maven, the wasm toolchain from
# apt, the client libraries), so it works on a fresh machine; idempotent and fast when warm. .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export CARGO_TERM_COLOR=never

started=$SECONDS
step() { printf '\n== %s (%ds)\n' "$*" "$((SECONDS - started))"; }

step "rustfmt"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build"
cargo build --workspace --all-targets --locked

step "Apache Kafka jars (reference tools)"
scripts/kafka.sh install >/dev/null

step "cargo test (unit, codec, golden, storage conformance, crash, proptest, Kafka DumpLogSegments)"
cargo test --workspace --locked -- --include-ignored

step "core builds for wasm32-unknown-unknown"
scripts/wasm.sh check core --locked

step "done"
