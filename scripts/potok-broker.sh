# shellcheck shell=bash
# Sourced by the test scripts: start a potok broker on a free port and stop it cleanly.
#
#   potok_start BINARY DATA_DIR [ARG...]
#                                 starts `BINARY broker ARG...` on 127.0.0.1:0 with log.dirs=DATA_DIR/logs, its
#                                 output in DATA_DIR/broker.out; sets POTOK_PID and POTOK_ADDRESS (host:port) once
#                                 it listens (30 s at most; prints the broker's output and returns 1 otherwise),
#                                 and POTOK_SCHEMA_REGISTRY_URL when ARG sets schema.registry.listeners.
#   potok_stop                    SIGTERM, then waits (30 s at most); returns the broker's exit status.

potok_start() {
    local binary=$1 dir=$2
    shift 2
    : >"$dir/broker.out"
    "$binary" broker --override listeners=PLAINTEXT://127.0.0.1:0 --override "log.dirs=$dir/logs" \
        --override log.cleaner.backoff.ms=1000 "$@" \
        >"$dir/broker.out" 2>&1 &
    POTOK_PID=$!
    POTOK_ADDRESS=""
    POTOK_SCHEMA_REGISTRY_URL=""
    for _ in $(seq 300); do
        POTOK_ADDRESS="$(grep -o '127\.0\.0\.1:[0-9]*' "$dir/broker.out" | head -n 1 || true)"
        POTOK_SCHEMA_REGISTRY_URL="$(grep -o 'schema registry listening on http://[0-9.:]*' "$dir/broker.out" | grep -o 'http://.*' || true)"
        if [[ -n "$POTOK_ADDRESS" ]] && [[ "$*" != *schema.registry.listeners* || -n "$POTOK_SCHEMA_REGISTRY_URL" ]]; then
            return 0
        fi
        kill -0 "$POTOK_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$dir/broker.out" >&2
    echo "potok broker did not start" >&2
    return 1
}

potok_stop() {
    local rc=0
    kill -TERM "$POTOK_PID"
    timeout 30 tail --pid="$POTOK_PID" -f /dev/null || { echo "potok broker did not stop in 30 s" >&2; return 1; }
    wait "$POTOK_PID" || rc=$?
    POTOK_PID=""
    return "$rc"
}
