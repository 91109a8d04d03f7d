#!/usr/bin/env bash
# Runs every test of the project. Installs what the tests need (Kafka's jars from Maven, the wasm toolchain from
# apt, the client libraries), so it works on a fresh machine; idempotent and fast when warm. .ci/run calls it.
# Every step builds into one target directory with the dev profile, so each crate is compiled once: the Node
# addon and the Python wheel reuse the workspace build (no explicit target triple, no extra RUSTFLAGS), and the
# wasm32 steps build in their own target dir (they use another compiler): a type check of the core, and the
# browser package (bindings-wasm) in release.
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

step "cargo test (unit, codec, golden, storage conformance, crash, proptest, Kafka DumpLogSegments, fuzz short run)"
cargo test --workspace --locked -- --include-ignored

step "potok's own clients against Apache Kafka 4.1.1 (core/tests/client.rs; the cargo tests above ran it on potok)"
kafka_dir="$(mktemp -d)"
kafka_port="${POTOK_TEST_KAFKA_PORT:-39590}"
scripts/kafka.sh start "$kafka_dir" "$kafka_port" >"$kafka_dir/start.log" 2>&1 || { cat "$kafka_dir/start.log"; exit 1; }
export POTOK_KAFKA_BOOTSTRAP="127.0.0.1:$kafka_port"
# Kafka's own files, for scripts/dump-log-check.sh to compare potok's dump-log with Kafka's on them.
export POTOK_KAFKA_LOG_DIR="$kafka_dir/logs"
stop_kafka() { scripts/kafka.sh stop "$kafka_dir" >/dev/null 2>&1 || true; rm -rf "$kafka_dir"; }
trap stop_kafka EXIT
POTOK_TEST_BOOTSTRAP="$POTOK_KAFKA_BOOTSTRAP" cargo test --workspace --locked --test client

step "potok broker against real Kafka clients (kcat, kafka-python, confluent-kafka, kafkajs, Java, Kafka Streams)"
scripts/install-test-deps.sh >/dev/null
data="$(mktemp -d)"
source scripts/potok-broker.sh
trap '[[ -n "${POTOK_PID:-}" ]] && kill "$POTOK_PID" 2>/dev/null; rm -rf "$data"; stop_kafka' EXIT
# The broker also serves the schema registry (tests/clients/python/test_schema_registry.py uses it).
potok_start "$CARGO_TARGET_DIR/debug/potok" "$data" --override schema.registry.listeners=http://127.0.0.1:0
export POTOK_SCHEMA_REGISTRY_URL
clients_rc=0
scripts/client-tests.sh "$POTOK_ADDRESS" || clients_rc=$?
echo "== potok's Kafka-style CLI (topics, console tools, consumer-groups, perf tests) against potok"
scripts/cli-check.sh "$POTOK_ADDRESS" "$CARGO_TARGET_DIR/debug/potok" || clients_rc=$?
echo "== potok dump-log against Kafka's DumpLogSegments on the same files"
scripts/dump-log-check.sh "$CARGO_TARGET_DIR/debug/potok" || clients_rc=$?
echo "== Kafka's Java client (perf tools) against potok"
scripts/java-client-check.sh "$POTOK_ADDRESS" || clients_rc=$?
echo "== a Kafka Streams application restores its state store from a compacted changelog on potok"
scripts/streams-check.sh "$POTOK_ADDRESS" || clients_rc=$?
# SIGTERM must shut the broker down cleanly: exit 0 and the clean-shutdown marker written.
broker_rc=0
potok_stop || broker_rc=$?
echo "-- potok broker log"
cat "$data/broker.out"
[[ "$broker_rc" == 0 && -f "$data/logs/.kafka_cleanshutdown" ]] || { echo "potok broker did not shut down cleanly (rc=$broker_rc)" >&2; exit 1; }
((clients_rc == 0)) || exit "$clients_rc"

step "Node package (bindings-node): addon build, native.d.ts staleness, index.d.ts types, node:test suites"
# npm test builds the addon once (debug, into $CARGO_TARGET_DIR, with the workspace build's package selection so
# no dependency is compiled a second time), fails when the committed native.d.ts differs
# from what napi generates, type-checks index.d.ts, then runs bindings-node/__test__ with node --test; the client
# suite also runs against the Apache Kafka started above ($POTOK_KAFKA_BOOTSTRAP).
node_rc=0
(cd bindings-node && POTOK_NODE_BUILD_WORKSPACE=1 timeout -k 10 1200 npm test) || node_rc=$?
((node_rc == 0)) || exit "$node_rc"

step "Python package (bindings-python)"
scripts/python-tests.sh

step "C ABI (bindings-c): include/potok.h staleness, C tests plain and under AddressSanitizer, examples/c"
scripts/c-tests.sh

step "Java package (bindings-java): Maven build with the native library in the jar, JUnit 5 tests"
# The curriculum's Java tests also run against the Apache Kafka started above ($POTOK_KAFKA_BOOTSTRAP).
scripts/java-tests.sh

step "the course's exercises (examples/: Python, Node.js, Java) on embedded potok clusters, a sample on Apache Kafka"
# Reuses the wheel, the Node addon and the potok jar the three steps above built, and the Apache Kafka started above.
scripts/examples-check.sh

step "every code snippet of README.md (sh, js with tsc --strict, python, java, c)"
scripts/readme-check.sh "$CARGO_TARGET_DIR/debug/potok"

step "consumer groups, committed offsets and transactions survive broker restarts"
scripts/restart-check.sh "$CARGO_TARGET_DIR/debug/potok"

step "a three-node cluster from Kafka's KRaft property files (kcat, kafka-topics, kafka-python), on potok and on Apache Kafka"
scripts/cluster-check.sh potok "$CARGO_TARGET_DIR/debug/potok"
scripts/cluster-check.sh kafka

step "dedicated roles: one controller-only and three broker-only nodes; two brokers die, acks=all gets NOT_ENOUGH_REPLICAS below min.insync.replicas (potok and Apache Kafka)"
scripts/roles-check.sh potok "$CARGO_TARGET_DIR/debug/potok"
scripts/roles-check.sh kafka

step "leader elections and reassignments with Kafka's kafka-leader-election and kafka-reassign-partitions (potok; the same script passes on Apache Kafka: scripts/leadership-check.sh kafka)"
scripts/leadership-check.sh potok "$CARGO_TARGET_DIR/debug/potok"

step "fault injection on a three-node potok cluster (SIGKILL, SIGSTOP, network partitions; 2 short trials; the checker's own tests)"
(cd tests && "$(../scripts/install-test-deps.sh)/bin/python" -m pytest faults/test_checker.py -q -p no:cacheprovider)
scripts/fault-check.sh potok "$CARGO_TARGET_DIR/debug/potok" --quick

step "kill -9 under load loses no acknowledged record"
scripts/crash-test.sh "$CARGO_TARGET_DIR/debug/potok"

step "a full disk: produce fails cleanly, restart after kill -9 without SIGBUS, every acknowledged record served"
scripts/full-disk-check.sh "$CARGO_TARGET_DIR/debug/potok"

step "core compiles for wasm32-unknown-unknown (cargo check)"
scripts/wasm.sh check core --locked

step "browser package (bindings-wasm): wasm32 release build, wasm-bindgen glue, node:test suites, the playground served by potok playground in headless Chromium and Firefox"
# Builds into $CARGO_TARGET_DIR/wasm like the check above (installs wasm-bindgen-cli once, cached by version),
# then drives the nodejs build with kafkajs's protocol encoders and through the page's own producer, consumer and
# admin, and loads the playground's lessons (bindings-wasm/www, served by `potok playground`) in Debian's chromium
# and firefox-esr through puppeteer-core (bindings-wasm/test).
scripts/wasm.sh pkg --locked
# potok builds the package's web build and the lessons into its binary (`potok playground`, which the page
# tests serve from): build it again now that the package exists.
cargo build -p potok-cli --locked
scripts/wasm.sh browser
(cd bindings-wasm && npm ci --no-audit --no-fund >/dev/null && timeout -k 10 600 npm test)

step "done"
