#!/usr/bin/env bash
# scripts/c-tests.sh [--update-header] — the C ABI (bindings-c, include/potok.h):
#  1. installs cbindgen (pinned, from the crate registry, cached in ${POTOK_CACHE:-~/.cache/potok}) and fails when
#     the committed include/potok.h differs from what cbindgen generates now (--update-header rewrites it);
#  2. compiles bindings-c/tests/potok_test.c with `cc` (-Wall -Wextra -Werror, C11) against libpotok.a and runs it;
#  3. compiles and runs it again under AddressSanitizer with leak detection: any error or leak fails;
#  4. builds examples/c/hello_producer.c with the README's one-line cc command and runs it.
# Expects `cargo build -p potok-c` (scripts/test.sh's workspace build) to have produced
# $CARGO_TARGET_DIR/debug/libpotok.a. Prints "c-tests: N passed, N failed" per run.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
CBINDGEN_VERSION=0.29.4
cbindgen_root="${POTOK_CACHE:-$HOME/.cache/potok}/cbindgen-$CBINDGEN_VERSION"
cbindgen="$cbindgen_root/bin/cbindgen"

if [[ ! -x "$cbindgen" ]]; then
    echo "== installing cbindgen $CBINDGEN_VERSION into $cbindgen_root"
    build="$(mktemp -d)"
    # Its own target dir, removed afterwards: the tool is all we keep.
    CARGO_TARGET_DIR="$build" cargo install cbindgen --version "$CBINDGEN_VERSION" --locked --quiet \
        --root "$cbindgen_root" || { rm -rf "$build"; exit 1; }
    rm -rf "$build"
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "== include/potok.h is what cbindgen generates from bindings-c"
"$cbindgen" --quiet --config bindings-c/cbindgen.toml --crate potok-c --output "$tmp/potok.h" bindings-c
if [[ "${1:-}" == "--update-header" ]]; then
    cp "$tmp/potok.h" include/potok.h
    echo "include/potok.h updated"
elif ! diff -u include/potok.h "$tmp/potok.h"; then
    echo "include/potok.h is stale: run scripts/c-tests.sh --update-header and commit it" >&2
    exit 1
fi

lib="$CARGO_TARGET_DIR/debug/libpotok.a"
[[ -f "$lib" ]] || { echo "no $lib: run cargo build -p potok-c first" >&2; exit 1; }
cflags=(-std=c11 -Wall -Wextra -Werror -Iinclude)
libs=("$lib" -lpthread -ldl -lm)

echo "== C tests (cc)"
cc "${cflags[@]}" -O1 bindings-c/tests/potok_test.c "${libs[@]}" -o "$tmp/potok_test"
timeout -k 10 300 "$tmp/potok_test"

echo "== C tests under AddressSanitizer (errors and leaks fail the run)"
cc "${cflags[@]}" -O1 -g -fsanitize=address -fno-omit-frame-pointer bindings-c/tests/potok_test.c "${libs[@]}" \
    -o "$tmp/potok_test_asan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1:exitcode=23 timeout -k 10 600 "$tmp/potok_test_asan"

echo "== examples/c/hello_producer.c (the README's one-line cc build)"
cc examples/c/hello_producer.c -Iinclude "$lib" -lpthread -ldl -lm -o "$tmp/hello_producer"
timeout -k 10 120 "$tmp/hello_producer"
