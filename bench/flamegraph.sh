#!/usr/bin/env bash
# A flame graph of the potok broker while potok's producer-perf-test writes to it.
#
#   bench/flamegraph.sh OUT.svg [RECORD_SIZE [PARTITIONS [ACKS [RECORDS]]]]     (defaults: 1024 6 1 1000000)
#
# Builds the `profiling` profile (release optimizations with symbols), starts a broker on 127.0.0.1:29192 with
# a fresh log dir, creates the topic, and samples the broker with `perf record --call-graph dwarf` for the
# first 10 s of the run. Stacks are folded and drawn with inferno (installed with cargo into the project's
# cache on first use). Prints the broker's CPU seconds per GB produced over the whole run, which includes the
# cost of perf's sampling (compare CPU figures from bench/run.sh or runs without perf). Needs `perf`
# (Debian's linux-perf) and permission to profile (root, or kernel.perf_event_paranoid <= 1).
set -euo pipefail

OUT="${1:?usage: $0 OUT.svg [RECORD_SIZE [PARTITIONS [ACKS [RECORDS]]]]}"
SIZE="${2:-1024}"
PARTITIONS="${3:-6}"
ACKS="${4:-1}"
RECORDS="${5:-1000000}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
CACHE="${POTOK_CACHE:-$HOME/.cache/potok}"
INFERNO="$CACHE/inferno-0.12.3"
PORT=29192

command -v perf >/dev/null || { echo "flamegraph: needs perf (apt-get install linux-perf)" >&2; exit 1; }
if [ ! -x "$INFERNO/bin/inferno-flamegraph" ]; then
    cargo install inferno --version 0.12.3 --root "$INFERNO" >&2
fi
cargo build --profile profiling -p potok-cli --manifest-path "$REPO/Cargo.toml" >&2
POTOK="$TARGET/profiling/potok"

WORK="$(mktemp -d "${BENCH_TMP:-/tmp}/potok-flame.XXXXXX")"
BROKER=""
cleanup() {
    if [ -n "$BROKER" ]; then kill "$BROKER" 2>/dev/null || true; wait "$BROKER" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
printf 'listeners=PLAINTEXT://127.0.0.1:%s\nlog.dirs=%s/data\n' "$PORT" "$WORK" > "$WORK/server.properties"
"$POTOK" broker "$WORK/server.properties" > "$WORK/broker.log" 2>&1 &
BROKER=$!
for _ in $(seq 100); do
    "$POTOK" topics --bootstrap-server "127.0.0.1:$PORT" --create --topic flame --partitions "$PARTITIONS" \
        >/dev/null 2>&1 && break
    sleep 0.1
done
cpu() { awk '{print $14 + $15}' "/proc/$BROKER/stat"; }
ticks=$(getconf CLK_TCK)
before=$(cpu)
perf record -F 499 --call-graph dwarf,16384 -p "$BROKER" -o "$WORK/perf.data" -- sleep 10 > "$WORK/perf.log" 2>&1 &
PERF=$!
"$POTOK" producer-perf-test --topic flame --num-records "$RECORDS" --record-size "$SIZE" --throughput -1 \
    --producer-props "bootstrap.servers=127.0.0.1:$PORT" "acks=$ACKS" | tail -1
after=$(cpu)
wait "$PERF" || true
awk -v c="$((after - before))" -v t="$ticks" -v b="$((RECORDS * SIZE))" \
    'BEGIN { printf "broker CPU (while sampled): %.2f s, %.2f s per GB produced\n", c / t, c / t / (b / 1e9) }'
perf script -i "$WORK/perf.data" 2>/dev/null | "$INFERNO/bin/inferno-collapse-perf" > "$WORK/stacks.folded"
"$INFERNO/bin/inferno-flamegraph" --title "potok broker: ${SIZE} B records to ${PARTITIONS} partitions, acks=${ACKS}" \
    "$WORK/stacks.folded" > "$OUT"
echo "flame graph: $OUT"
