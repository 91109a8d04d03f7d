#!/usr/bin/env bash
# scripts/install-test-deps.sh — installs what the client test suite (scripts/client-tests.sh) needs:
#   * kcat, librdkafka's headers (librdkafka-dev) and iproute2, from Debian's packages (only when missing);
#   * a Python venv at ${POTOK_CACHE:-$HOME/.cache/potok}/venv with tests/clients/requirements.txt and the
#     Python package's build and check tools, bindings-python/requirements-dev.txt (maturin, mypy)
#     (pip runs only when the requirements' hash differs from the venv's stamp);
#   * tests/clients/node/node_modules via `npm ci` (only when missing, or when package.json or
#     package-lock.json changed since: a stamp inside node_modules holds their hash);
#   * bindings-node/node_modules (@napi-rs/cli, typescript, @types/node, kafkajs) the same way, with install scripts off:
#     the test step builds the addon itself (debug, scripts/test.sh).
# Idempotent; takes well under 3 s when everything is already in place. Prints the venv path last.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${POTOK_CACHE:-$HOME/.cache/potok}"
VENV="$CACHE/venv"
REQS="tests/clients/requirements.txt"
DEV_REQS="bindings-python/requirements-dev.txt"
NODE_DIR="tests/clients/node"

log() { printf 'install-test-deps: %s\n' "$*" >&2; }

# One install at a time (the lead's test script and this suite may both call us).
mkdir -p "$CACHE"
exec 9>"$CACHE/.install-test-deps.lock"
flock -w 900 9 || { log "timed out waiting for $CACHE/.install-test-deps.lock"; exit 1; }

# --- kcat ---------------------------------------------------------------------------------------
if ! command -v kcat >/dev/null 2>&1; then
    log "installing kcat (apt)"
    sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null 2>&1 || { log "kcat missing and not root (no sudo)"; exit 1; }
        sudo=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    timeout 900 "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
    timeout 900 "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends kcat >/dev/null
    command -v kcat >/dev/null 2>&1 || { log "kcat still missing after apt-get install"; exit 1; }
fi

# --- librdkafka's headers (the README's C snippet is compiled against them) ---------------------------
if [[ ! -f /usr/include/librdkafka/rdkafka.h ]]; then
    log "installing librdkafka-dev (apt)"
    sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null 2>&1 || { log "librdkafka-dev missing and not root (no sudo)"; exit 1; }
        sudo=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    timeout 900 "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
    timeout 900 "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends librdkafka-dev >/dev/null
fi

# --- iproute2 (the fault-injection harness puts each node in a network namespace: `ip netns`) ---------
if ! command -v ip >/dev/null 2>&1; then
    log "installing iproute2 (apt)"
    sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null 2>&1 || { log "iproute2 missing and not root (no sudo)"; exit 1; }
        sudo=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    timeout 900 "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
    timeout 900 "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends iproute2 >/dev/null
fi

# --- Python venv --------------------------------------------------------------------------------
python="${PYTHON:-python3}"
command -v "$python" >/dev/null 2>&1 || { log "$python not found"; exit 1; }
# The stamp covers the requirements and the interpreter the venv was made from.
want_stamp="$(
    {
        cat "$REQS" "$DEV_REQS"
        "$python" -c 'import sys; print(sys.version)'
    } | sha256sum | cut -d' ' -f1
)"
stamp_file="$VENV/.potok-requirements.sha256"
if [[ ! -x "$VENV/bin/python" || ! -f "$stamp_file" || "$(cat "$stamp_file")" != "$want_stamp" ]]; then
    log "creating/updating venv $VENV"
    # Remake the venv when it is missing, broken, or from another interpreter version.
    if [[ "$("$VENV/bin/python" -c 'import sys; print(sys.version)' 2>/dev/null)" != \
        "$("$python" -c 'import sys; print(sys.version)')" ]]; then
        rm -rf "$VENV"
        "$python" -m venv "$VENV"
    fi
    rm -f "$stamp_file"
    timeout 900 "$VENV/bin/python" -m pip install -q --disable-pip-version-check --timeout 120 -r "$REQS" -r "$DEV_REQS"
    echo "$want_stamp" >"$stamp_file"
fi

# --- Node modules -------------------------------------------------------------------------------
command -v npm >/dev/null 2>&1 || { log "npm not found"; exit 1; }
for dir in "$NODE_DIR" bindings-node; do
    node_stamp="$dir/node_modules/.potok-lock.sha256"
    want_node="$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d' ' -f1)"
    if [[ ! -f "$node_stamp" || "$(cat "$node_stamp")" != "$want_node" ]]; then
        log "npm ci in $dir"
        (cd "$dir" && timeout 900 npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null)
        echo "$want_node" >"$node_stamp"
    fi
done

echo "$VENV"
