#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...] — the long fuzz run: each target of fuzz/ (request,
# record_batch, decompress, storage_recovery) under libFuzzer with coverage feedback, for SECONDS_PER_TARGET
# (default 600) each, starting from the seeds (request frames captured from real clients, real clients' record
# batches) plus the corpus earlier runs kept in target/fuzz/corpus/. Prints per target the executions, the
# coverage libFuzzer reached (edges `cov`, features `ft`), the corpus size and the findings; a finding is
# saved as target/fuzz/artifacts/<target>/crash-* (reproduce with
# `target/fuzz/<triple>/release/fuzz-<target> FILE`). Exits 1 if anything was found.
#
# Works on stable Rust: the targets are built with LLVM's SanitizerCoverage passes (what cargo-fuzz adds) and
# linked with libFuzzer from the libfuzzer-sys crate (compiled with the system C++ compiler).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
shift || true
targets=("$@")
((${#targets[@]})) || targets=(request record_batch decompress storage_recovery)
host="$(rustc -vV | sed -n 's/^host: //p')"
out=target/fuzz
plain_target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
export CARGO_TARGET_DIR="$PWD/$out"
# --target keeps these flags off build scripts and proc macros, as cargo-fuzz does.
RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks" \
    cargo build --release --locked -p potok-fuzz --features libfuzzer --target "$host" \
    --bin fuzz-request --bin fuzz-record-batch --bin fuzz-decompress --bin fuzz-storage-recovery
# The seed writer is an ordinary program: built without the instrumentation (which needs libFuzzer's runtime),
# in the usual target directory (where scripts/test.sh's build already has it).
CARGO_TARGET_DIR="$plain_target_dir" cargo run --locked -q -p potok-fuzz --bin seed-corpus -- "$out/seeds"
found=0
for target in "${targets[@]}"; do
    corpus="$out/corpus/$target" artifacts="$out/artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    log="$out/$target.log"
    # -rss_limit_mb bounds what one input may make the process allocate (the guard allocator maps huge
    # requests lazily, so those do not count until touched); -timeout flags an input that takes over 10 s.
    set +e
    "$out/$host/release/fuzz-${target//_/-}" "$corpus" "$out/seeds/$target" -max_total_time="$seconds" \
        -rss_limit_mb=4096 -timeout=10 -max_len=1048576 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" >"$log" 2>&1
    rc=$?
    set -e
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
    last="$(grep -E '^#[0-9]+' "$log" | tail -n 1)"
    cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")"
    ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")"
    crashes="$(find "$artifacts" -type f | wc -l)"
    echo "$target: ${execs:-?} executions in ${seconds} s, coverage ${cov:-?} edges / ${ft:-?} features," \
        "corpus $(find "$corpus" -type f | wc -l) inputs, findings $crashes (libFuzzer exit $rc)"
    if ((rc != 0 || crashes > 0)); then
        found=$((found + 1))
        grep -E 'ERROR|panicked|Test unit written' "$log" | head -n 5
    fi
done
((found == 0))
