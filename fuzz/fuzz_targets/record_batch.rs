//! libFuzzer entry point for the `record_batch` target (see fuzz/src/lib.rs); built by scripts/fuzz.sh.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| potok_fuzz::record_batch(data));
