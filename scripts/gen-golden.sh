#!/usr/bin/env bash
# scripts/gen-golden.sh — regenerate core/tests/golden/: segment files written by a real Kafka broker
# from batches produced by librdkafka (confluent-kafka) and the Kafka Java client. Run by hand, not in CI.
#   scripts/gen-golden.sh [PORT]     (default 19092; PORT+1 is the controller port)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/../core/tests/golden"
port="${1:-19092}"
bootstrap="127.0.0.1:$port"
confluent_kafka_version=2.16.1
codecs=(none gzip snappy lz4 zstd)
# shellcheck source=scripts/kafka.sh
source "$here/kafka.sh"

cache="${POTOK_CACHE:-$HOME/.cache/potok}"
venv="$cache/venv-golden"
if ! "$venv/bin/python" -c "import confluent_kafka" 2>/dev/null ||
    [[ "$("$venv/bin/python" -c 'import confluent_kafka; print(confluent_kafka.version()[0])')" != "$confluent_kafka_version" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "confluent-kafka==$confluent_kafka_version"
fi
py() { "$venv/bin/python" "$here/golden/golden.py" "$@"; }

kafka_install >/dev/null
classes="$cache/golden-classes"
mkdir -p "$classes"
"$KAFKA_JAVA_HOME/bin/javac" -nowarn -d "$classes" -cp "$(kafka_classpath)" "$here/golden/GoldenProducer.java"
java_producer() {
    "$KAFKA_JAVA_HOME/bin/java" -cp "$(kafka_classpath):$classes" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
        GoldenProducer "$@"
}

data="$(mktemp -d)"
cleanup() { kafka_stop "$data" || true; rm -rf "$data"; }
trap cleanup EXIT
kafka_start "$data" "$port"

mkdir -p "$out"
rm -f "$out"/*.log
spec="$out/expected.json"
py spec >"$spec"

topics=()
for codec in "${codecs[@]}"; do topics+=("librdkafka-$codec" "java-$codec"); done
py create-topics "$bootstrap" "${topics[@]}" java-txn

for codec in "${codecs[@]}"; do
    py produce "$bootstrap" "librdkafka-$codec" "$codec" "$spec"
    java_producer produce "$bootstrap" "java-$codec" "$codec" "$spec"
done
java_producer txn "$bootstrap" java-txn "$spec"

# The broker has appended every batch (acks=all) to the page cache; copy each partition's only segment.
for topic in "${topics[@]}" java-txn; do
    segments=("$data/logs/$topic-0/"*.log)
    ((${#segments[@]} == 1)) || { echo "gen-golden: $topic has ${#segments[@]} segments" >&2; exit 1; }
    cp "${segments[0]}" "$out/$topic.log"
    [[ -s "$out/$topic.log" ]] || { echo "gen-golden: $topic.log is empty" >&2; exit 1; }
done

# Kafka's own reader must accept every file: no CRC or decode failure.
kafka_dump_log_segments "$out"/*.log >"$data/dump.txt" || { cat "$data/dump.txt" >&2; exit 1; }

py describe "$spec" "$out"
py heads "$out"
echo "librdkafka $("$venv/bin/python" -c 'import confluent_kafka as c; print(c.libversion()[0])')," \
    "confluent-kafka $confluent_kafka_version, Kafka $KAFKA_VERSION: wrote $out"
