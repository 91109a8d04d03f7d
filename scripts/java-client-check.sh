#!/usr/bin/env bash
# scripts/java-client-check.sh HOST:PORT — Kafka's own Java client (through its perf tools, from the
# kafka-tools jar that scripts/kafka.sh installs) against a broker: ProducerPerformance writes 50,000
# records with the producer's defaults (idempotent, acks=all), then ConsumerPerformance reads them back in a consumer group with the classic protocol and again
# with the consumer protocol (KIP-848). Then the transactional producer: ProducerPerformance writes 20,000
# records in transactions of 200 ms, a read_committed ConsumerPerformance reads them all, and Kafka's
# TransactionsCommand lists and describes the transactional id. Prints the tools' figures and
# "java-clients: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
bootstrap="$1"
classpath="$(scripts/kafka.sh classpath)"
java="${KAFKA_JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}/bin/java"
[[ -x "$java" ]] || java=java
run() { timeout 120 "$java" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$classpath" "$@"; }
topic="java-check-$RANDOM$RANDOM"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
check() { if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "java-client-check: FAILED: $*" >&2; fi; }

produce() {
    # The Java producer's defaults since Kafka 3.0: acks=all and enable.idempotence=true (InitProducerId).
    run org.apache.kafka.tools.ProducerPerformance --topic "$topic" --num-records 50000 --record-size 200 \
        --throughput -1 --producer-props "bootstrap.servers=$bootstrap" \
        | tee "$tmp/produce.out"
    grep -q '^50000 records sent' "$tmp/produce.out"
}

consume() { # $1: group protocol
    echo "group.protocol=$1" >"$tmp/consumer.properties"
    run org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$bootstrap" --topic "$topic" \
        --messages 50000 --group "java-check-$1-$RANDOM" --consumer.config "$tmp/consumer.properties" \
        --timeout 60000 | tee "$tmp/consume.out"
    # The CSV row's fifth column is data.consumed.in.nMsg.
    [[ "$(tail -n 1 "$tmp/consume.out" | cut -d, -f5 | tr -d ' ')" == 50000 ]]
}

txn_topic="java-txn-check-$RANDOM$RANDOM"
txn_id="java-txn-check-$RANDOM$RANDOM"

produce_transactional() {
    run org.apache.kafka.tools.ProducerPerformance --topic "$txn_topic" --num-records 20000 --record-size 100 \
        --throughput -1 --transactional-id "$txn_id" --transaction-duration-ms 200 \
        --producer-props "bootstrap.servers=$bootstrap" | tee "$tmp/txn-produce.out"
    grep -q '^20000 records sent' "$tmp/txn-produce.out"
}

consume_committed() {
    echo "isolation.level=read_committed" >"$tmp/committed.properties"
    run org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$bootstrap" --topic "$txn_topic" \
        --messages 20000 --group "java-txn-check-$RANDOM" --consumer.config "$tmp/committed.properties" \
        --timeout 60000 | tee "$tmp/txn-consume.out"
    [[ "$(tail -n 1 "$tmp/txn-consume.out" | cut -d, -f5 | tr -d ' ')" == 20000 ]]
}

transactions_tool() {
    run org.apache.kafka.tools.TransactionsCommand --bootstrap-server "$bootstrap" list | tee "$tmp/txn-list.out"
    grep -q "^$txn_id" "$tmp/txn-list.out" || return 1
    run org.apache.kafka.tools.TransactionsCommand --bootstrap-server "$bootstrap" describe \
        --transactional-id "$txn_id" | tee "$tmp/txn-describe.out"
    grep -qE "CompleteCommit|Empty" "$tmp/txn-describe.out"
}

check produce
check consume classic
check consume consumer
check produce_transactional
check consume_committed
check transactions_tool
echo "java-clients: $passed passed, $failed failed"
((failed == 0))
