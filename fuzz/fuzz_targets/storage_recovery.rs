//! libFuzzer entry point for the `storage_recovery` target (see fuzz/src/lib.rs); built by scripts/fuzz.sh.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| potok_fuzz::storage_recovery(data));
