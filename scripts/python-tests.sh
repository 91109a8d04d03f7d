#!/usr/bin/env bash
# scripts/python-tests.sh — builds the Python package (bindings-python) as a wheel, installs it into the test
# venv and runs its pytest suite. The wheel is a debug build (fast to compile, same behaviour) that reuses
# $CARGO_TARGET_DIR, so after `cargo build --workspace` only the extension module itself is compiled.
# Installs the venv's tools first (scripts/install-test-deps.sh: maturin, mypy, the Kafka clients).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

venv="$(scripts/install-test-deps.sh)"
tmp="$(mktemp -d)"
cleanup() {
    rm -rf "$tmp"
}
trap cleanup EXIT

echo "== maturin build (debug) of bindings-python"
(cd bindings-python && timeout -k 10 1800 "$venv/bin/maturin" build --locked --strip --quiet -o "$tmp/wheels")
"$venv/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$tmp"/wheels/potok-*.whl

echo "== pytest bindings-python/tests"
export PYTHONDONTWRITEBYTECODE=1
timeout -k 10 1200 "$venv/bin/python" -m pytest bindings-python/tests -q -p no:cacheprovider --timeout 120
