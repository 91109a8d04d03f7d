//! The fuzz targets' short run, part of `cargo test` (and so of scripts/test.sh): every seed as it is, then
//! deterministic mutations of the seeds for a few seconds per target. An input that panics is written to
//! `target/fuzz-failures/<target>-<n>` (give it to the target's libFuzzer binary, or to
//! `potok_fuzz::<target>`, to reproduce it). The long run with coverage feedback is scripts/fuzz.sh.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use potok_fuzz::{mutate, Rng, Target, TARGETS};

/// Per target; a debug build runs a few hundred to a few thousand inputs in this time.
const BUDGET: Duration = Duration::from_secs(5);

fn run(target: &Target) -> (usize, usize) {
    let seeds = (target.seeds)();
    assert!(!seeds.is_empty(), "{}: no seeds", target.name);
    let mut failures = Vec::new();
    let mut executions = 0;
    let mut check = |input: &[u8]| {
        executions += 1;
        if catch_unwind(AssertUnwindSafe(|| (target.run)(input))).is_err() {
            failures.push(input.to_vec());
        }
    };
    let t = Instant::now();
    for seed in &seeds {
        check(seed);
    }
    eprintln!("{}: {} seeds in {:?}", target.name, seeds.len(), t.elapsed());
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15 ^ target.name.len() as u64);
    let started = Instant::now();
    while started.elapsed() < BUDGET {
        let seed = &seeds[rng.below(seeds.len())];
        let other = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, seed, other, target.name == "request");
        check(&input);
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-failures");
    for (n, input) in failures.iter().enumerate() {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{}-{n}", target.name)), input).unwrap();
    }
    (executions, failures.len())
}

#[test]
fn fuzz_targets_survive_mutated_seeds() {
    // Panics are counted, not printed in full: keep the default hook's message short.
    let mut report = Vec::new();
    let mut failed = 0;
    for target in TARGETS {
        let (executions, failures) = run(target);
        report.push(format!("{}: {executions} inputs, {failures} failures", target.name));
        failed += failures;
    }
    println!("{}", report.join("\n"));
    assert_eq!(failed, 0, "inputs that panicked were written to target/fuzz-failures:\n{}", report.join("\n"));
}
