//! Property: any sequence of appends, rolls, retention passes and reopens (clean or after a crash) reads back
//! exactly the records appended from the log start offset on, on both backends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{file_backend, memory_backend, TestBackend};
use potok::record::{self, BatchBuilder, Batches, Compression, DecodeLimits};
use potok::storage::{AppendOrigin, Log, LogConfig, OpenOptions};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Append { records: usize, value_len: usize, codec: i16 },
    Roll,
    RetainBytes(i64),
    Reopen { clean: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..6, 0usize..400, 0i16..5).prop_map(|(records, value_len, codec)| Op::Append { records, value_len, codec }),
        1 => Just(Op::Roll),
        1 => (0i64..6000).prop_map(Op::RetainBytes),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
    ]
}

fn config() -> LogConfig {
    LogConfig { segment_bytes: 3000, index_interval_bytes: 300, segment_index_bytes: 240, ..LogConfig::default() }
}

fn read_values(log: &Log) -> Vec<(i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let read = log.read(offset, 2000, i64::MAX, true).expect("read");
        assert!(!read.records.is_empty(), "no progress at {offset}");
        for b in Batches::new(&read.records) {
            let (h, records) = record::decode_records(b.expect("batch"), DecodeLimits::default()).expect("decode");
            out.extend(records.into_iter().map(|r| (r.offset, r.value.expect("value").to_vec())));
            offset = h.next_offset();
        }
    }
    out
}

fn run(tb: TestBackend, ops: Vec<Op>) {
    let dir = tb.dir.join("p-0");
    let open = |options| Log::open(tb.backend.clone(), &dir, config(), options, 0).expect("open");
    let mut log = open(OpenOptions::default());
    let mut model: Vec<(i64, Vec<u8>)> = Vec::new();
    let mut counter = 0u32;
    for op in ops {
        match op {
            Op::Append { records, value_len, codec } => {
                let mut b = BatchBuilder::new(Compression::from_id(codec).unwrap());
                let first = log.log_end_offset();
                for i in 0..records {
                    counter += 1;
                    let value: Vec<u8> = counter.to_be_bytes().iter().cycle().take(value_len.max(4)).copied().collect();
                    b.append(i as i64, None, Some(&value), &[]);
                    model.push((first + i as i64, value));
                }
                log.append(&b.build().unwrap(), 0, AppendOrigin::Client, 0).expect("append");
            }
            Op::Roll => log.roll(0).expect("roll"),
            Op::RetainBytes(bytes) => {
                let mut c = config();
                c.retention_bytes = bytes;
                log.set_config(c);
                log.set_high_watermark(log.log_end_offset());
                log.enforce_retention(0).expect("retention");
                log.set_config(config());
            }
            Op::Reopen { clean } => {
                let options = OpenOptions {
                    recovery_point: log.recovery_point(),
                    log_start_offset: log.log_start_offset(),
                    had_clean_shutdown: clean,
                    high_watermark: log.high_watermark(),
                };
                if clean {
                    log.close(0).expect("close");
                } else {
                    drop(log);
                }
                log = open(options);
            }
        }
        let start = log.log_start_offset();
        let expected: Vec<_> = model.iter().filter(|(o, _)| *o >= start).cloned().collect();
        assert_eq!(read_values(&log), expected);
        assert_eq!(log.log_end_offset(), model.len() as i64);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn memory_backend_reads_back_what_was_appended(ops in proptest::collection::vec(op(), 1..40)) {
        run(memory_backend(), ops);
    }

    #[test]
    fn file_backend_reads_back_what_was_appended(ops in proptest::collection::vec(op(), 1..25)) {
        run(file_backend(), ops);
    }
}
