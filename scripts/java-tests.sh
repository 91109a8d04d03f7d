#!/usr/bin/env bash
# scripts/java-tests.sh [--bench] — the Java package (bindings-java): one Maven run that compiles it (Java 17),
# packs libpotok.so from $CARGO_TARGET_DIR/$POTOK_JAVA_PROFILE (default debug; debug info stripped) into the jar,
# and runs its JUnit 5 tests with Surefire: PotokBroker, the JUnit extension, potok's Producer/Consumer, and the
# course's Java exercises with Kafka's own Java client and with potok's, against a PotokBroker and against Apache
# Kafka. Apache Kafka: $POTOK_KAFKA_BOOTSTRAP when set (scripts/test.sh starts one), otherwise one started here on
# port $POTOK_JAVA_KAFKA_PORT (default 29494; +1 for its controller). Expects `cargo build -p potok-c` to have run.
# Installs maven and a JDK 17 (apt) when missing; Maven artifacts come from Maven Central into ~/.m2. Prints
# Surefire's summary and the jar's size.
#
# --bench: instead of the tests, the startup figures of StartupBench (new PotokBroker() to the first send Kafka's
# producer sees acknowledged, next to Apache Kafka started by scripts/kafka.sh on port $POTOK_JAVA_KAFKA_PORT + 2).
# For release figures: cargo build --release -p potok-c && POTOK_JAVA_PROFILE=release scripts/java-tests.sh --bench
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
java_home="${KAFKA_JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"
profile="${POTOK_JAVA_PROFILE:-debug}"
lib="$CARGO_TARGET_DIR/$profile/libpotok.so"
[[ -f "$lib" ]] || { echo "no $lib: run cargo build -p potok-c first" >&2; exit 1; }
bench=0
[[ "${1:-}" == "--bench" ]] && bench=1

# Maven and a Java 17 JDK from Debian's packages, when missing.
if ! command -v mvn >/dev/null || [[ ! -x "$java_home/bin/javac" ]]; then
    echo "== installing maven and openjdk-17-jdk-headless (apt)"
    sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null || { echo "java-tests: mvn or JDK 17 missing and not root (no sudo)" >&2; exit 1; }
        sudo=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    timeout 900 "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
    timeout 900 "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
        maven openjdk-17-jdk-headless >/dev/null
    command -v mvn >/dev/null && [[ -x "$java_home/bin/javac" ]] ||
        { echo "java-tests: mvn or $java_home/bin/javac still missing after apt-get install" >&2; exit 1; }
fi

tmp="$(mktemp -d)"
cleanup() {
    scripts/kafka.sh stop "$tmp/kafka" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# The jar carries the library without its debug info (line tables are for Rust backtraces in cargo tests).
mkdir -p "$tmp/native"
objcopy --strip-debug "$lib" "$tmp/native/libpotok.so"

if ((bench)); then
    echo "== startup: new PotokBroker() and Apache Kafka to the first acknowledged send ($profile libpotok)"
    POTOK_BENCH_KAFKA_PORT="$((${POTOK_JAVA_KAFKA_PORT:-29494} + 2))" JAVA_HOME="$java_home" timeout -k 10 900 \
        mvn -B --no-transfer-progress -f bindings-java/pom.xml -Dpotok.native.dir="$tmp/native" -Dtest=StartupBench \
        -Dsurefire.failIfNoSpecifiedTests=false test 2>&1 | grep -E '^bench:|Tests run:|FAIL|ERROR' ||
        { echo "java-tests: mvn failed" >&2; exit 1; }
    exit 0
fi

if [[ -z "${POTOK_KAFKA_BOOTSTRAP:-}" ]]; then
    port="${POTOK_JAVA_KAFKA_PORT:-29494}"
    echo "== Apache Kafka on 127.0.0.1:$port (the curriculum tests run against it too)"
    scripts/kafka.sh install >/dev/null
    scripts/kafka.sh start "$tmp/kafka" "$port" >/dev/null
    export POTOK_KAFKA_BOOTSTRAP="127.0.0.1:$port"
fi

echo "== mvn verify (bindings-java)"
JAVA_HOME="$java_home" timeout -k 10 1500 mvn -B --no-transfer-progress -f bindings-java/pom.xml \
    -Dpotok.native.dir="$tmp/native" -Dstyle.color=never clean verify 2>&1 |
    grep -vE '^\[INFO\] (Download|Copying|Building jar|Using|skip|--- |Nothing to compile|Changes detected|Compiling|Recompiling|Deleting|$)' ||
    { echo "java-tests: mvn failed" >&2; exit 1; }
jar=bindings-java/target/potok-0.1.0.jar
[[ -f "$jar" ]] || { echo "java-tests: no $jar" >&2; exit 1; }
echo "jar: $jar $(stat -c %s "$jar") bytes (native library $(stat -c %s "$tmp/native/libpotok.so") bytes unpacked)"

echo "== the jar alone: loads its native library and serves Kafka's producer (outside Maven's class directories)"
JAVA_HOME="$java_home" mvn -q -B --no-transfer-progress -f bindings-java/pom.xml dependency:build-classpath \
    -DincludeScope=runtime -Dmdep.outputFile="$tmp/classpath" >"$tmp/classpath.log" 2>&1 ||
    { cat "$tmp/classpath.log" >&2; echo "java-tests: mvn dependency:build-classpath failed" >&2; exit 1; }
cat >"$tmp/JarCheck.java" <<'JAVA'
import io.potok.PotokBroker;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

public class JarCheck {
    public static void main(String[] args) throws Exception {
        try (PotokBroker broker = new PotokBroker()) {
            Properties props = new Properties();
            props.put("bootstrap.servers", broker.bootstrapServers());
            try (var producer = new KafkaProducer<>(props, new StringSerializer(), new StringSerializer())) {
                var m = producer.send(new ProducerRecord<>("jar-check", "k", "v")).get();
                System.out.println("jar-check: " + broker + " acknowledged " + m.topic() + "-" + m.partition() + "@" + m.offset());
            }
        }
    }
}
JAVA
timeout -k 10 120 "$java_home/bin/java" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$jar:$(cat "$tmp/classpath")" "$tmp/JarCheck.java"
