#!/usr/bin/env bash
# scripts/examples-java-build.sh OUT_DIR LIBPOTOK — builds the course's Java exercises (examples/java, Maven,
# kafka-clients) and writes their run classpath to OUT_DIR/classpath.
#
# The embedded cluster comes from the potok jar (bindings-java). scripts/java-tests.sh leaves it in
# bindings-java/target/potok-0.1.0.jar with the native library inside, and it is used as it is; only when it is
# missing is it packaged here (tests skipped) around LIBPOTOK (libpotok.so from `cargo build -p potok-c`, debug info
# stripped as java-tests.sh does). It is then installed into the local Maven repository (~/.m2), where
# examples/java/pom.xml finds io.potok:potok:0.1.0, as a learner's `mvn install` of bindings-java would put it.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$1"
lib="$2"
java_home="${KAFKA_JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"
export JAVA_HOME="$java_home"
mkdir -p "$out"
mvn=(timeout -k 10 600 mvn -B -q --no-transfer-progress -Dstyle.color=never)

jar=bindings-java/target/potok-0.1.0.jar
if [[ ! -f "$jar" ]]; then
    echo "no $jar: packaging bindings-java (tests skipped)"
    mkdir -p "$out/native"
    objcopy --strip-debug "$lib" "$out/native/libpotok.so"
    "${mvn[@]}" -f bindings-java/pom.xml -Dpotok.native.dir="$out/native" -DskipTests package
fi
"${mvn[@]}" install:install-file -Dfile="$jar" -DpomFile=bindings-java/pom.xml
"${mvn[@]}" -f examples/java/pom.xml package
echo "$PWD/examples/java/target/classes:$(cat examples/java/target/classpath)" >"$out/classpath"
