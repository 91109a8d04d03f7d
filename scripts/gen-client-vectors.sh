#!/usr/bin/env bash
# scripts/gen-client-vectors.sh — regenerate the reference vectors of potok's client unit tests from Apache Kafka's
# own client classes (kafka-clients 4.1.1): core/src/client/testdata/assignor-vectors.json (assignor cases and
# consumer protocol bytes) and, on stdout, the murmur2 table pasted into core/src/client/partitioner.rs.
# Run by hand, not in CI; the tests read the committed files.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/kafka.sh
source "$here/kafka.sh"
kafka_install >/dev/null
classes="$(mktemp -d)"
trap 'rm -rf "$classes"' EXIT
"$KAFKA_JAVA_HOME/bin/javac" -nowarn -d "$classes" -cp "$(kafka_classpath)" "$here/golden/ClientVectors.java"
run() { "$KAFKA_JAVA_HOME/bin/java" -cp "$(kafka_classpath):$classes" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn ClientVectors "$@"; }
run assignors >"$here/../core/src/client/testdata/assignor-vectors.json"
echo "murmur2 table for core/src/client/partitioner.rs (JAVA_MURMUR2):"
run murmur2
