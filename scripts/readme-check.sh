#!/usr/bin/env bash
# scripts/readme-check.sh BIN — runs every code snippet of README.md (tests/readme_check.py) against a potok
# broker it starts: sh with BIN as `potok`, js with node and tsc --strict (bindings-node must be built),
# python in the test venv (the potok wheel installed, as scripts/python-tests.sh leaves it), java against Kafka's
# client jars, c against librdkafka.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(realpath "$1")"
venv="$(scripts/install-test-deps.sh)"
# shellcheck source=scripts/kafka.sh
source scripts/kafka.sh
classpath="$(kafka_classpath)"
data="$(mktemp -d)"
# shellcheck source=scripts/potok-broker.sh
source scripts/potok-broker.sh
trap '[[ -n "${POTOK_PID:-}" ]] && kill "$POTOK_PID" 2>/dev/null; rm -rf "$data"' EXIT
potok_start "$bin" "$data"
POTOK_BIN="$bin" POTOK_BOOTSTRAP="$POTOK_ADDRESS" KAFKA_CLASSPATH="$classpath" KAFKA_JAVA_HOME="$KAFKA_JAVA_HOME" \
    NODE_PACKAGE="$PWD/bindings-node" REPO="$PWD" PYTHONDONTWRITEBYTECODE=1 \
    timeout -k 10 900 "$venv/bin/python" tests/readme_check.py README.md
potok_stop
