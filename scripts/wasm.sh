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
    echo "usage: $0 install | check|build [CRATE_DIR [CARGO_ARGS...]]" >&2
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

case "${1:-}" in
    install) [ $# -eq 1 ] || usage; cmd_install ;;
    check | build) cmd_cargo "$@" ;;
    *) usage ;;
esac
