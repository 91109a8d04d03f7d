//! libFuzzer entry point for the `decompress` target (see fuzz/src/lib.rs); built by scripts/fuzz.sh.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| potok_fuzz::decompress(data));
