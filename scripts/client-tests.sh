#!/usr/bin/env bash
# scripts/client-tests.sh BOOTSTRAP — runs the client suites against the broker at BOOTSTRAP
# (host:port, e.g. 127.0.0.1:9092): the Python suites (kcat, kafka-python, confluent-kafka) with
# pytest, then the kafkajs suite with node's test runner. Both get POTOK_BOOTSTRAP=BOOTSTRAP.
# Installs their dependencies first (scripts/install-test-deps.sh, fast when warm). Prints each
# runner's summary and a combined "client-tests: N passed, N failed" line; exits non-zero if either
# runner fails. Each test has a 60 s timeout (pytest-timeout; each node test sets its own, node's
# --test-timeout also caps a whole test file, so it is larger), each runner an overall one.
set -euo pipefail
cd "$(dirname "$0")/.."

if (($# != 1)) || [[ ! "$1" =~ ^[^:]+:[0-9]+$ ]]; then
    echo "usage: $0 HOST:PORT" >&2
    exit 2
fi
export POTOK_BOOTSTRAP="$1"
host="${1%:*}"
port="${1##*:}"

venv="$(scripts/install-test-deps.sh)"

# Fail fast, with a clear message, when nothing listens at BOOTSTRAP.
# shellcheck disable=SC2016 # $0 and $1 are expanded by the inner bash
if ! timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null; then
    echo "client-tests: nothing is listening at $POTOK_BOOTSTRAP" >&2
    exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export PYTHONDONTWRITEBYTECODE=1

echo "== pytest tests/clients/python (POTOK_BOOTSTRAP=$POTOK_BOOTSTRAP)"
py_rc=0
timeout -k 10 900 "$venv/bin/python" -m pytest tests/clients/python -q -p no:cacheprovider --log-level=INFO \
    --timeout 60 2>&1 | tee "$tmp/pytest.out" || py_rc=$?

echo "== node --test tests/clients/node/ (POTOK_BOOTSTRAP=$POTOK_BOOTSTRAP)"
node_rc=0
timeout -k 10 600 node --test --test-timeout=300000 --test-force-exit --test-reporter=spec \
    tests/clients/node/ 2>&1 | tee "$tmp/node.out" || node_rc=$?

# Combined counts, from pytest's closing line ("2 failed, 34 passed in 40.12s") and the spec
# reporter's totals ("ℹ pass 6", "ℹ fail 0").
py_summary="$(grep -E '^(=+ )?[0-9]+ (passed|failed|error)|no tests ran' "$tmp/pytest.out" | tail -n 1 || true)"
count() { grep -oE "[0-9]+ $1" <<<"$2" | grep -oE '^[0-9]+' || echo 0; }
py_pass="$(count passed "$py_summary")"
py_fail=$(($(count failed "$py_summary") + $(count 'errors?' "$py_summary")))
node_pass="$(sed -n 's/^[^ ]* pass \([0-9]*\)$/\1/p' "$tmp/node.out" | tail -n 1)"
node_fail="$(sed -n 's/^[^ ]* fail \([0-9]*\)$/\1/p' "$tmp/node.out" | tail -n 1)"
node_pass="${node_pass:-0}"
node_fail="${node_fail:-0}"

echo "== summary"
echo "pytest (rc=$py_rc): ${py_summary:-no summary line}"
echo "node --test (rc=$node_rc): $node_pass passed, $node_fail failed"
# A runner that died without reporting a failure (timeout, crash, no tests) still counts as one.
((py_rc != 0 && py_fail == 0)) && py_fail=1
((node_rc != 0 && node_fail == 0)) && node_fail=1
echo "client-tests: $((py_pass + node_pass)) passed, $((py_fail + node_fail)) failed"

((py_rc == 0 && node_rc == 0))
