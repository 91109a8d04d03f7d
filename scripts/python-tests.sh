#!/usr/bin/env bash
# scripts/python-tests.sh — builds the Python package (bindings-python) as a wheel, installs it into the test
# venv and runs its pytest suite. The wheel is a debug build (fast to compile, same behaviour) that reuses
# $CARGO_TARGET_DIR, so after `cargo build --workspace` only the extension module itself (and pyo3, whose build
# script sees maturin's extension-module setting) is compiled.
# Installs the venv's tools first (scripts/install-test-deps.sh: maturin, mypy, the Kafka clients) and starts
# Apache Kafka (scripts/kafka.sh, port $POTOK_PY_KAFKA_PORT, default 29392) for the tests of potok's clients
# against a real Kafka, unless POTOK_KAFKA_BOOTSTRAP already names one; it is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

venv="$(scripts/install-test-deps.sh)"
tmp="$(mktemp -d)"
kafka_port="${POTOK_PY_KAFKA_PORT:-29392}"
cleanup() {
    scripts/kafka.sh stop "$tmp/kafka" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

echo "== maturin build (debug) of bindings-python"
# pip builds through build_backend/ (maturin's backend showing cargo's progress); maturin would warn about that.
export MATURIN_NO_MISSING_BUILD_BACKEND_WARNING=1
# No --strip: it would add RUSTFLAGS and so rebuild every dependency the workspace build already compiled.
(cd bindings-python && timeout -k 10 1800 "$venv/bin/maturin" build --locked --quiet -o "$tmp/wheels")
"$venv/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$tmp"/wheels/potok-*.whl

# scripts/test.sh starts one Apache Kafka for every step and exports its address; run alone, start our own.
if [[ -z "${POTOK_KAFKA_BOOTSTRAP:-}" ]]; then
    echo "== Apache Kafka on 127.0.0.1:$kafka_port (for potok's clients against a real Kafka)"
    scripts/kafka.sh install >/dev/null
    scripts/kafka.sh start "$tmp/kafka" "$kafka_port" >/dev/null
    export POTOK_KAFKA_BOOTSTRAP="127.0.0.1:$kafka_port"
fi

echo "== pytest bindings-python/tests"
export PYTHONDONTWRITEBYTECODE=1
timeout -k 10 1200 "$venv/bin/python" -m pytest bindings-python/tests -q -p no:cacheprovider --timeout 120
