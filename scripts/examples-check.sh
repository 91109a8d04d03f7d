#!/usr/bin/env bash
# scripts/examples-check.sh [--only SUBSTRING] — the course's exercises in examples/ (CURRICULUM.md §1-§5): the
# quick variant of every Python and Node.js program on its own embedded potok cluster, and of the Java programs
# (examples/java) when Maven and a JDK 17 are there; then a sample of them against Apache Kafka. Each run is
# checked against what the chapter's README says the learner observes (scripts/examples_check.py).
#
# Uses what the package steps of scripts/test.sh built: the potok wheel installed in the test venv
# (scripts/python-tests.sh), the Node addon bindings-node/potok.node (npm test), libpotok.so and the potok binary
# in $CARGO_TARGET_DIR/debug; builds none of them. Apache Kafka: $POTOK_KAFKA_BOOTSTRAP when set (scripts/test.sh
# starts one), otherwise one started here on port $POTOK_EXAMPLES_KAFKA_PORT (default 29696; +1 for its
# controller) and stopped on exit. POTOK_EXAMPLES_JAVA=0 leaves the Java programs out. Arguments go to
# scripts/examples_check.py (--only NAME runs the cases whose name contains NAME).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
potok_bin="$CARGO_TARGET_DIR/debug/potok"
java_home="${KAFKA_JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"

[[ -x "$potok_bin" ]] || { echo "examples-check: no $potok_bin (cargo build -p potok-cli)" >&2; exit 1; }
[[ -f bindings-node/potok.node ]] || { echo "examples-check: no bindings-node/potok.node (npm run build:debug in bindings-node)" >&2; exit 1; }
venv="$(scripts/install-test-deps.sh)"
# The interpreter the Python programs run with: the test venv, where scripts/python-tests.sh installed the wheel
# ($POTOK_EXAMPLES_PYTHON: another one with the potok package).
python="${POTOK_EXAMPLES_PYTHON:-$venv/bin/python}"
"$python" -c 'import potok' 2>/dev/null ||
    { echo "examples-check: the potok package is not installed for $python (scripts/python-tests.sh installs it)" >&2; exit 1; }

tmp="$(mktemp -d)"
cleanup() {
    scripts/kafka.sh stop "$tmp/kafka" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# Apache Kafka starts in the background while the potok runs go.
kafka="${POTOK_KAFKA_BOOTSTRAP:-}"
kafka_pid=""
if [[ -z "$kafka" ]]; then
    port="${POTOK_EXAMPLES_KAFKA_PORT:-29696}"
    scripts/kafka.sh install >/dev/null
    scripts/kafka.sh start "$tmp/kafka" "$port" >"$tmp/kafka-start.log" 2>&1 &
    kafka_pid=$!
    kafka="127.0.0.1:$port"
fi

java_args=()
if [[ "${POTOK_EXAMPLES_JAVA:-1}" != 0 ]]; then
    lib="$CARGO_TARGET_DIR/debug/libpotok.so"
    if command -v mvn >/dev/null && [[ -x "$java_home/bin/javac" && -f "$lib" ]]; then
        echo "== examples/java: mvn package (with the potok jar from bindings-java, installed into a local repository)"
        scripts/examples-java-build.sh "$tmp/java" "$lib" >"$tmp/java-build.log" 2>&1 ||
            { cat "$tmp/java-build.log" >&2; echo "examples-check: the Java examples did not build" >&2; exit 1; }
        java_args=(--java "$java_home/bin/java" --java-cp "$(cat "$tmp/java/classpath")")
    else
        echo "== examples/java skipped: needs mvn, $java_home/bin/javac and $lib"
    fi
fi

if [[ -n "$kafka_pid" ]]; then
    wait "$kafka_pid" || { cat "$tmp/kafka-start.log" >&2; echo "examples-check: Apache Kafka did not start" >&2; exit 1; }
fi

echo "== the course's exercises: Python and Node.js${java_args:+ and Java} on potok, a sample on Apache Kafka ($kafka)"
timeout -k 10 600 "$venv/bin/python" scripts/examples_check.py --python "$python" --node node \
    --potok "$potok_bin" --kafka "$kafka" --jobs 3 "${java_args[@]}" "$@"
