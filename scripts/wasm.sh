#!/usr/bin/env bash
# Build support for wasm32-unknown-unknown.
#
#   scripts/wasm.sh install            install Debian's packaged Rust toolchain for wasm (no-op when present)
#   scripts/wasm.sh check [CRATE_DIR [CARGO_ARGS...]]
#                                      type-check CRATE_DIR (default: core) for wasm32 with --no-default-features
#                                      (cargo check: no code generation, the test command's use);
#                                      CARGO_ARGS go to cargo (e.g. --locked, --features x, -v)
#   scripts/wasm.sh build [CRATE_DIR [CARGO_ARGS...]]
#                                      the same as a release build, for when the artifacts are wanted
#   scripts/wasm.sh bindgen            install wasm-bindgen-cli at the version bindings-wasm pins (cached under
#                                      ${POTOK_CACHE:-~/.cache/potok}/wasm-bindgen-X.Y.Z; no-op when present);
#                                      prints the path of the wasm-bindgen binary
#   scripts/wasm.sh browser            install Debian's chromium and firefox-esr for the playground's page tests
#                                      (no-op when present; nothing downloads a browser)
#   scripts/wasm.sh pkg [CARGO_ARGS...]
#                                      build bindings-wasm for wasm32 in release and write its JS package to
#                                      bindings-wasm/pkg: web/ (ES module for browsers, --target web) and node/
#                                      (CommonJS, --target nodejs), each with the .wasm and .d.ts
#
# Why Debian's Rust: the rustup toolchain here ships only the x86_64 target and rustup's own download
# server is not reachable, so the wasm build uses apt's `rustc-web` (rustc 1.96, LLVM 22) and builds std
# itself from `rust-web-src` with -Zbuild-std (RUSTC_BOOTSTRAP=1 unlocks -Z on that stable compiler).
# `rust-web-llvm` provides /usr/bin/rust-lld, which points into `lld-22`.
#
# Isolation from the native (rustup, 1.95) builds:
#   * /usr/bin/cargo, /usr/bin/rustc and /usr/bin/rustdoc are called by absolute path and pinned through
#     CARGO/RUSTC/RUSTDOC, so the rustup proxies on PATH are never involved, and RUSTUP_TOOLCHAIN /
#     RUSTFLAGS / RUSTC_WRAPPER from the caller's environment are dropped for this build.
#   * Output goes to its own target dir, ${CARGO_TARGET_DIR:-target}/wasm, so the two compilers never
#     share (and invalidate) build artifacts.
#   * CARGO_HOME is left as is (default ~/.cargo): it only holds the registry index and downloaded
#     crate sources, whose format both cargos share, so the wasm build reuses the crates the native
#     build already fetched. Nothing is installed into it.
#   * Cargo.lock: the workspace's own lockfile is used as it is. Tested: Debian cargo 1.96 and rustup
#     cargo 1.95 both write lockfile version 4 and produce byte-identical lockfiles (fresh, and when
#     updating a stale one after a dependency was added), and each accepts the other's with --locked.
#     So no --locked by default: a lockfile that native cargo would refresh, this one refreshes the same
#     way, instead of failing ("cannot update the lock file ... because --locked was passed") just
#     because the wasm step ran before the native one. Pass --locked as a CARGO_ARG to enforce it.
#   * Only the selected package is built (--manifest-path CRATE_DIR/Cargo.toml selects that one member
#     of the workspace), so --no-default-features applies to it alone and the `native` feature
#     (tokio networking, file backend, C zstd) is not built. Workspace members that are not dependencies
#     of it (cli) are resolved into the lockfile but never compiled.
set -euo pipefail

PKGS=(rustc-web cargo-web rust-web-src rust-web-llvm lld-22)
TARGET=wasm32-unknown-unknown
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
    echo "usage: $0 install | check|build [CRATE_DIR [CARGO_ARGS...]] | bindgen | browser | pkg [CARGO_ARGS...]" >&2
    exit 2
}

pkg_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = "installed" ]
}

cmd_install() {
    local missing=() p
    for p in "${PKGS[@]}"; do
        pkg_installed "$p" || missing+=("$p")
    done
    if [ "${#missing[@]}" -eq 0 ] && [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] && [ -x /usr/bin/rust-lld ]; then
        return 0
    fi
    if [ "${#missing[@]}" -eq 0 ]; then
        missing=("${PKGS[@]}") # packages recorded but binaries gone: reinstall them all
    fi
    echo "wasm.sh: installing ${missing[*]}" >&2
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
    # Recommends (e.g. of llvm-22) are not needed to build; the five packages and their dependencies
    # come to ~880 MiB installed (rust-web-src alone is 334 MiB).
    "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
    # Packages recorded as installed but with their binaries deleted: reinstall them.
    if [ ! -x /usr/bin/rustc ] || [ ! -x /usr/bin/cargo ] || [ ! -x /usr/bin/rust-lld ]; then
        "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends --reinstall "${PKGS[@]}"
    fi
}

# cmd_cargo check|build [CRATE_DIR [CARGO_ARGS...]]
cmd_cargo() {
    local subcommand=$1 crate_dir=core
    shift
    local profile=()
    [ "$subcommand" = build ] && profile=(--release)
    if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then # first argument is a directory, not a cargo flag
        crate_dir="$1"
        shift
    fi
    # A relative CRATE_DIR is taken from the current directory if it exists there, else from the repo root.
    if [ ! -f "$crate_dir/Cargo.toml" ] && [ -f "$ROOT/$crate_dir/Cargo.toml" ]; then
        crate_dir="$ROOT/$crate_dir"
    fi
    [ -f "$crate_dir/Cargo.toml" ] || { echo "wasm.sh: no Cargo.toml in $crate_dir" >&2; exit 1; }
    crate_dir="$(cd "$crate_dir" && pwd)"

    cmd_install

    # Same placement rule as cargo's own target dir, plus /wasm: $CARGO_TARGET_DIR (relative to the
    # current directory) if set, else <workspace root of the crate>/target.
    local ws_root target_dir
    ws_root="$(dirname "$(/usr/bin/cargo locate-project --workspace --message-format plain \
        --manifest-path "$crate_dir/Cargo.toml")")"
    if [ -n "${CARGO_TARGET_DIR:-}" ]; then
        target_dir="$(realpath -m "$CARGO_TARGET_DIR")/wasm"
    else
        target_dir="$ws_root/target/wasm"
    fi

    echo "wasm.sh: cargo $subcommand of $crate_dir for $TARGET into $target_dir" >&2
    # env -u: drop caller settings that belong to the native toolchain.
    env -u RUSTUP_TOOLCHAIN -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u RUSTC_WRAPPER -u RUSTC_WORKSPACE_WRAPPER \
        -u CARGO_BUILD_TARGET -u CARGO_TARGET_DIR \
        RUSTC_BOOTSTRAP=1 CARGO=/usr/bin/cargo RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc \
        /usr/bin/cargo "$subcommand" "${profile[@]}" \
        --manifest-path "$crate_dir/Cargo.toml" \
        --target "$TARGET" -Zbuild-std=std,panic_abort \
        --no-default-features \
        --target-dir "$target_dir" \
        "$@"
}

# The wasm-bindgen crate version bindings-wasm pins (`wasm-bindgen = "=X.Y.Z"`): the CLI must match it exactly.
bindgen_version() {
    sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' "$ROOT/bindings-wasm/Cargo.toml"
}

# cmd_bindgen: installs wasm-bindgen-cli (once per version) and prints the binary's path.
cmd_bindgen() {
    local version cache bin
    version="$(bindgen_version)"
    [ -n "$version" ] || { echo "wasm.sh: no pinned wasm-bindgen version in bindings-wasm/Cargo.toml" >&2; exit 1; }
    cache="${POTOK_CACHE:-$HOME/.cache/potok}/wasm-bindgen-$version"
    bin="$cache/bin/wasm-bindgen"
    if [ ! -x "$bin" ] || [ "$("$bin" --version 2>/dev/null)" != "wasm-bindgen $version" ]; then
        cmd_install
        echo "wasm.sh: installing wasm-bindgen-cli $version into $cache (a few minutes, once)" >&2
        # Without --locked: the CLI's lockfile pins a webpki-roots version the registry mirror does not serve.
        # Built by Debian's cargo in a scratch target dir, then only the binaries are kept.
        local scratch
        scratch="$(mktemp -d)"
        env -u RUSTUP_TOOLCHAIN -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u RUSTC_WRAPPER -u CARGO_BUILD_TARGET \
            CARGO_TARGET_DIR="$scratch" RUSTC=/usr/bin/rustc \
            /usr/bin/cargo install --quiet wasm-bindgen-cli --version "=$version" --root "$cache" >&2 \
            || { rm -rf "$scratch"; exit 1; }
        rm -rf "$scratch"
    fi
    echo "$bin"
}

cmd_browser() {
    pkg_installed chromium && [ -x /usr/bin/chromium ] && pkg_installed firefox-esr && [ -x /usr/bin/firefox-esr ] \
        && return 0
    echo "wasm.sh: installing chromium and firefox-esr" >&2
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
        --no-install-recommends chromium firefox-esr
}

# cmd_pkg [CARGO_ARGS...]: the JS package of bindings-wasm in bindings-wasm/pkg/{web,node}.
cmd_pkg() {
    local bindgen target_dir wasm out
    bindgen="$(cmd_bindgen)"
    # One codegen unit with LTO: a smaller download. Not stripped by cargo (the workspace's release profile
    # strips): stripping drops the `target_features` section wasm-bindgen reads to learn which Wasm features
    # (reference types, ...) the module uses, and it warns that it has to guess. wasm-bindgen drops the debug
    # info itself and, asked below, the names; the result is the same size.
    CARGO_PROFILE_RELEASE_LTO=true CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 CARGO_PROFILE_RELEASE_STRIP=false \
        cmd_cargo build bindings-wasm "$@"
    if [ -n "${CARGO_TARGET_DIR:-}" ]; then
        target_dir="$(realpath -m "$CARGO_TARGET_DIR")/wasm"
    else
        target_dir="$ROOT/target/wasm"
    fi
    wasm="$target_dir/$TARGET/release/potok_wasm.wasm"
    out="$ROOT/bindings-wasm/pkg"
    rm -rf "$out/web" "$out/node"
    local flags=(--out-name potok --remove-name-section --remove-producers-section)
    "$bindgen" --target web --out-dir "$out/web" "${flags[@]}" "$wasm"
    "$bindgen" --target nodejs --out-dir "$out/node" "${flags[@]}" "$wasm"
    echo "wasm.sh: wrote $out/web and $out/node ($(stat -c %s "$out/web/potok_bg.wasm") bytes of wasm)" >&2
}

case "${1:-}" in
    install) [ $# -eq 1 ] || usage; cmd_install ;;
    check | build) cmd_cargo "$@" ;;
    bindgen) [ $# -eq 1 ] || usage; cmd_bindgen ;;
    browser) [ $# -eq 1 ] || usage; cmd_browser ;;
    pkg) shift; cmd_pkg "$@" ;;
    *) usage ;;
esac
