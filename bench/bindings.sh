#!/usr/bin/env bash
# bench/bindings.sh — potok's Python and Node.js clients next to confluent-kafka (librdkafka) and kafkajs, against
# one release potok broker, and writes bench/results/bindings.md (issue 23: bindings at native speed).
#
#   bench/bindings.sh [--no-build]
#
# Builds the release broker (potok-cli), the release Python wheel into a venv of its own and the release Node
# addon (skipped with --no-build: the venv and the addon must exist then), starts `potok broker` on a free port
# of 127.0.0.1 with a temp data dir, fills one topic with $RECORDS × $SIZE B for the consumers, then runs
# $ROUNDS rounds; each round runs every measurement once for potok and once for the other client, alternating
# which goes first (A/B, B/A, ...), each in a fresh process. The report gives the median of each figure and the
# potok / other ratio of the medians. Environment: RECORDS (1000000), SIZE (100), ROUNDS (3), LINGER_MS (5),
# BATCH_SIZE (65536), NODE_BATCH (1000 messages per send), POTOK_CACHE (the venv with confluent-kafka, made by
# scripts/install-test-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
RECORDS="${RECORDS:-1000000}"
SIZE="${SIZE:-100}"
ROUNDS="${ROUNDS:-3}"
LINGER_MS="${LINGER_MS:-5}"
BATCH_SIZE="${BATCH_SIZE:-65536}"
NODE_BATCH="${NODE_BATCH:-1000}"
CACHE="${POTOK_CACHE:-$HOME/.cache/potok}"
BENCH_VENV="$CACHE/bench-venv"
OUT="bench/results/bindings.md"

log() { printf 'bindings.sh: %s\n' "$*" >&2; }

if [[ "${1:-}" != "--no-build" ]]; then
    venv="$(scripts/install-test-deps.sh)"
    log "building the release broker"
    cargo build --release -q -p potok-cli
    # A venv of its own, so the release wheel does not replace the test venv's debug one.
    if [[ ! -x "$BENCH_VENV/bin/python" ]]; then
        "$venv/bin/python" -m venv "$BENCH_VENV"
        "$BENCH_VENV/bin/pip" install -q --disable-pip-version-check "$("$venv/bin/pip" freeze | grep -i '^confluent-kafka==')"
    fi
    log "building the release wheel"
    wheels="$(mktemp -d)"
    (cd bindings-python && MATURIN_NO_MISSING_BUILD_BACKEND_WARNING=1 "$venv/bin/maturin" build --release --locked --quiet -o "$wheels")
    "$BENCH_VENV/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps "$wheels"/potok-*.whl
    rm -rf "$wheels"
    log "building the release Node addon"
    (cd bindings-node && node scripts/build.js --release >/dev/null)
fi
PY="$BENCH_VENV/bin/python"
POTOK="$CARGO_TARGET_DIR/release/potok"

data="$(mktemp -d)"
POTOK_PID=""
cleanup() {
    [[ -n "$POTOK_PID" ]] && kill -TERM "$POTOK_PID" 2>/dev/null && wait "$POTOK_PID" 2>/dev/null
    rm -rf "$data"
}
trap cleanup EXIT

"$POTOK" broker --override listeners=PLAINTEXT://127.0.0.1:0 --override "log.dirs=$data/logs" \
    --override num.partitions=1 >"$data/broker.out" 2>&1 &
POTOK_PID=$!
BS=""
for _ in $(seq 3000); do
    BS="$(grep -o '127\.0\.0\.1:[0-9]*' "$data/broker.out" | head -n 1 || true)"
    [[ -n "$BS" ]] && break
    kill -0 "$POTOK_PID" 2>/dev/null || break
    sleep 0.01
done
[[ -n "$BS" ]] || { cat "$data/broker.out" >&2; exit 1; }
log "broker $BS (pid $POTOK_PID)"

log "filling topic 'consume' with $RECORDS × $SIZE B"
timeout 600 "$POTOK" producer-perf-test --topic consume --num-records "$RECORDS" --record-size "$SIZE" \
    --throughput -1 --producer-props "bootstrap.servers=$BS" acks=1 >"$data/fill.out"

raw="$data/raw.jsonl"
n=0
py() { # CLIENT TEST [MODE]
    n=$((n + 1))
    local topic="produce-$n"
    [[ "$2" == consume ]] && topic=consume
    timeout 600 "$PY" bench/bindings.py "$2" --client "$1" --bootstrap "$BS" --topic "$topic" --records "$RECORDS" \
        --size "$SIZE" --linger-ms "$LINGER_MS" --batch-size "$BATCH_SIZE" --broker-pid "$POTOK_PID" \
        --mode "${3:-consume}" | tee -a "$raw" >&2
}
nd() { # CLIENT TEST [MODE]
    n=$((n + 1))
    local topic="produce-$n"
    [[ "$2" == consume ]] && topic=consume
    timeout 600 node bench/bindings-node.mjs "$2" --client "$1" --bootstrap "$BS" --topic "$topic" \
        --records "$RECORDS" --size "$SIZE" --batch "$NODE_BATCH" --broker-pid "$POTOK_PID" \
        --mode "${3:-eachMessage}" | sed 's/^{/{"lang":"node",/' | tee -a "$raw" >&2
}

for round in $(seq "$ROUNDS"); do
    log "round $round of $ROUNDS"
    if ((round % 2)); then pair=(potok confluent); npair=(potok kafkajs); else pair=(confluent potok); npair=(kafkajs potok); fi
    for c in "${pair[@]}"; do py "$c" produce; done
    for c in "${pair[@]}"; do py "$c" consume poll; done
    for c in "${pair[@]}"; do py "$c" consume consume; done
    for c in "${npair[@]}"; do nd "$c" produce; done
    for c in "${npair[@]}"; do nd "$c" consume eachMessage; done
    for c in "${npair[@]}"; do nd "$c" consume eachBatch; done
done

machine="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" - "$raw" "$OUT" <<EOF
import json, statistics, sys
raw, out = sys.argv[1], sys.argv[2]
rows = [json.loads(line) for line in open(raw)]
def med(lang, client, test, mode, key):
    xs = [r[key] for r in rows if r.get("lang", "python") == lang and r["client"] == client and r["test"] == test and r["mode"] == mode and key in r]
    return statistics.median(xs) if xs else None
lines = [
    "# potok's bindings next to confluent-kafka and kafkajs (bench/bindings.sh)",
    "",
    f"One release potok broker on 127.0.0.1; $RECORDS records × $SIZE B, one partition, acks=1; medians of $ROUNDS "
    "rounds, each client in a fresh process, the order alternating between rounds. Machine: $machine.",
    "Ratios are potok / other; for CPU per record below 1 means potok uses less. Python producers: "
    "linger.ms=$LINGER_MS, batch.size=$BATCH_SIZE for both (librdkafka's batch.num.messages lifted so batch.size "
    "decides). Node producers: sends of $NODE_BATCH messages, 4 in flight, each client's default batching otherwise "
    "(kafkajs sends each send() as one request).",
    "",
    "| client | measure | potok | other | potok / other |",
    "|---|---|---|---|---|",
]
def fmt(v, key):
    if v is None:
        return "-"
    return f"{v:,.0f}" if key == "records_per_s" else f"{v:.2f}"
specs = [
    ("python", "confluent", "produce", "loop", "Python Producer.produce() loop, caller-thread CPU µs per call", "call_cpu_us"),
    ("python", "confluent", "produce", "loop", "Python Producer.produce() loop, wall µs per call", "call_wall_us"),
    ("python", "confluent", "produce", "loop", "Python produce → flush, records/s", "records_per_s"),
    ("python", "confluent", "produce", "loop", "Python produce → flush, client CPU µs per record", "cpu_us_per_record"),
    ("python", "confluent", "produce", "loop", "Python produce → flush, broker CPU µs per record", "broker_cpu_us_per_record"),
    ("python", "confluent", "consume", "poll", "Python Consumer.poll() per message, records/s", "records_per_s"),
    ("python", "confluent", "consume", "poll", "Python Consumer.poll() per message, client CPU µs per record", "cpu_us_per_record"),
    ("python", "confluent", "consume", "consume", "Python Consumer.consume(1000), records/s", "records_per_s"),
    ("python", "confluent", "consume", "consume", "Python Consumer.consume(1000), client CPU µs per record", "cpu_us_per_record"),
    ("node", "kafkajs", "produce", "send", "Node producer.send($NODE_BATCH messages), records/s", "records_per_s"),
    ("node", "kafkajs", "produce", "send", "Node producer.send, client CPU µs per record", "cpu_us_per_record"),
    ("node", "kafkajs", "produce", "send", "Node producer.send, broker CPU µs per record", "broker_cpu_us_per_record"),
    ("node", "kafkajs", "consume", "eachMessage", "Node consumer.run({eachMessage}), records/s", "records_per_s"),
    ("node", "kafkajs", "consume", "eachMessage", "Node consumer.run({eachMessage}), client CPU µs per record", "cpu_us_per_record"),
    ("node", "kafkajs", "consume", "eachBatch", "Node consumer.run({eachBatch}), records/s", "records_per_s"),
    ("node", "kafkajs", "consume", "eachBatch", "Node consumer.run({eachBatch}), client CPU µs per record", "cpu_us_per_record"),
]
for lang, other, test, mode, label, key in specs:
    a, b = med(lang, "potok", test, mode, key), med(lang, other, test, mode, key)
    ratio = f"{a / b:.2f}×" if a is not None and b else "-"
    lines.append(f"| {'confluent-kafka' if other == 'confluent' else 'kafkajs'} | {label} | {fmt(a, key)} | {fmt(b, key)} | {ratio} |")
lines += ["", "Raw results (one JSON line per run):", "", "\`\`\`"] + [json.dumps(r) for r in rows] + ["\`\`\`", ""]
open(out, "w").write("\n".join(lines))
print("\n".join(lines[:len(specs) + 8]))
EOF
log "wrote $OUT"
