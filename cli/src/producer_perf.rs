//! `potok producer-perf-test`: kafka-producer-perf-test. Sends `--num-records` records of `--record-size`
//! random upper-case letters as fast as `--throughput` allows (-1: unthrottled) with potok's producer, and
//! prints Kafka 4.1's lines: a window every 5 s and the totals with latency percentiles (latency is from `send`
//! to the acknowledgement's callback, sampled at most 500,000 times, as Kafka's tool does).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::bail;
use potok::client::producer::{Producer, ProducerRecord};

use crate::props;

/// The largest --record-size accepted: payloads are allocated up front, and no broker accepts more.
const MAX_RECORD_SIZE: usize = 64 * 1024 * 1024;
/// Latency samples kept (Kafka's tool keeps at most this many).
const MAX_SAMPLES: u64 = 500_000;
const REPORTING_INTERVAL: Duration = Duration::from_millis(5000);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The topic to produce to.
    #[arg(long)]
    topic: String,
    /// How many records to send.
    #[arg(long)]
    num_records: i64,
    /// Bytes per record.
    #[arg(long)]
    record_size: usize,
    /// Records per second at most; -1 for no limit.
    #[arg(long, allow_hyphen_values = true)]
    throughput: f64,
    /// Producer configs, e.g. bootstrap.servers=127.0.0.1:9092 acks=1 (they win over --producer.config).
    #[arg(long, num_args = 1.., value_name = "PROP-NAME=PROP-VALUE")]
    producer_props: Vec<String>,
    /// A producer config file.
    #[arg(long = "producer.config", value_name = "FILE")]
    producer_config: Option<PathBuf>,
    /// The broker(s), instead of bootstrap.servers in --producer-props.
    #[arg(long, value_name = "HOST:PORT")]
    bootstrap_server: Option<String>,
}

/// Kafka's ProducerPerformance statistics: totals, a 5-second window, and sampled latencies.
#[derive(Debug)]
struct Stats {
    start: Instant,
    sampling: u64,
    latencies_ms: Vec<u32>,
    iteration: u64,
    count: u64,
    bytes: u64,
    max_latency_ms: u32,
    total_latency_ms: u64,
    window_start: Instant,
    window_count: u64,
    window_bytes: u64,
    window_max_latency_ms: u32,
    window_total_latency_ms: u64,
}

impl Stats {
    fn new(num_records: u64) -> Stats {
        let sampling = num_records / num_records.min(MAX_SAMPLES);
        let now = Instant::now();
        Stats {
            start: now,
            sampling,
            latencies_ms: Vec::with_capacity((num_records / sampling + 1) as usize),
            iteration: 0,
            count: 0,
            bytes: 0,
            max_latency_ms: 0,
            total_latency_ms: 0,
            window_start: now,
            window_count: 0,
            window_bytes: 0,
            window_max_latency_ms: 0,
            window_total_latency_ms: 0,
        }
    }

    fn record(&mut self, latency_ms: u32, bytes: usize) {
        self.count += 1;
        self.bytes += bytes as u64;
        self.total_latency_ms += u64::from(latency_ms);
        self.max_latency_ms = self.max_latency_ms.max(latency_ms);
        self.window_count += 1;
        self.window_bytes += bytes as u64;
        self.window_total_latency_ms += u64::from(latency_ms);
        self.window_max_latency_ms = self.window_max_latency_ms.max(latency_ms);
        if self.iteration.is_multiple_of(self.sampling) {
            self.latencies_ms.push(latency_ms);
        }
        self.iteration += 1;
        if self.window_start.elapsed() >= REPORTING_INTERVAL {
            // A reader gone mid-run (`| head`) is met again by the total, which then ends the tool quietly.
            let _ = self.print_window();
            self.window_start = Instant::now();
            self.window_count = 0;
            self.window_bytes = 0;
            self.window_max_latency_ms = 0;
            self.window_total_latency_ms = 0;
        }
    }

    fn print_window(&self) -> std::io::Result<()> {
        let elapsed_ms = self.window_start.elapsed().as_secs_f64() * 1000.0;
        outln!(
            "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.1} ms avg latency, {:.1} ms max latency.",
            self.window_count,
            1000.0 * self.window_count as f64 / elapsed_ms,
            1000.0 * self.window_bytes as f64 / elapsed_ms / (1024.0 * 1024.0),
            self.window_total_latency_ms as f64 / self.window_count as f64,
            f64::from(self.window_max_latency_ms)
        )
    }

    fn print_total(&mut self) -> std::io::Result<()> {
        let elapsed_ms = self.start.elapsed().as_secs_f64() * 1000.0;
        self.latencies_ms.sort_unstable();
        let size = self.latencies_ms.len();
        let percentile = |p: f64| self.latencies_ms.get((p * size as f64) as usize).copied().unwrap_or(0);
        outln!(
            "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, \
             {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
            self.count,
            1000.0 * self.count as f64 / elapsed_ms,
            1000.0 * self.bytes as f64 / elapsed_ms / (1024.0 * 1024.0),
            self.total_latency_ms as f64 / self.count.max(1) as f64,
            f64::from(self.max_latency_ms),
            percentile(0.5),
            percentile(0.95),
            percentile(0.99),
            percentile(0.999)
        )
    }
}

/// A small deterministic generator for the payload letters, refilled for every record as Kafka's tool does
/// (Kafka seeds its generator with 0 too). A splitmix64 step yields four letters (16 bits each, scaled to 26):
/// a letter per xorshift step cost ~4 ns a byte, which made the tool, not the broker, the limit at 1 KiB.
#[derive(Debug)]
struct Letters(u64);

impl Letters {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn fill(&mut self, payload: &mut [u8]) {
        for chunk in payload.chunks_mut(4) {
            let mut random = self.next();
            for byte in chunk {
                // 16 random bits scaled to 0..26: each letter 2,520 or 2,521 of the 65,536 values.
                *byte = b'A' + (((random & 0xFFFF) * 26) >> 16) as u8;
                random >>= 16;
            }
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.num_records <= 0 {
        bail!("--num-records should be greater than zero");
    }
    if args.record_size == 0 || args.record_size > MAX_RECORD_SIZE {
        bail!("--record-size should be greater than zero and at most {MAX_RECORD_SIZE}");
    }
    if args.throughput == 0.0 {
        bail!("--throughput 0 would never send; use -1 for no limit");
    }
    if args.producer_props.is_empty() && args.producer_config.is_none() && args.bootstrap_server.is_none() {
        bail!("Either --producer-props or --producer.config must be specified.");
    }
    let mut config: props::Pairs = vec![("client.id".into(), "perf-producer-client".into())];
    config.extend(props::client_config(
        args.bootstrap_server.as_deref(),
        args.producer_config.as_deref(),
        props::key_values(&args.producer_props, "--producer-props")?,
    )?);
    let producer = Producer::new(&config)?;
    producer.set_connection_listener(props::connection_warnings("Producer", producer.client_id()));
    let bootstrap = config.iter().rev().find(|(k, _)| k == "bootstrap.servers").map_or("", |(_, v)| v.as_str());
    let num_records = args.num_records as u64;
    let stats = Arc::new(Mutex::new(Stats::new(num_records)));
    let mut letters = Letters(0);
    let mut payload = vec![0u8; args.record_size];
    let start = Instant::now();
    for i in 0..num_records {
        letters.fill(&mut payload);
        let send_start = Instant::now();
        let stats = stats.clone();
        let bytes = payload.len();
        let sent =
            producer.send_with_callback(ProducerRecord::new(args.topic.clone(), payload.clone()), move |outcome| {
                // Only acknowledged records count, as in Kafka's tool.
                match outcome {
                    Ok(_) => {
                        let latency_ms = send_start.elapsed().as_millis().min(u128::from(u32::MAX)) as u32;
                        stats.lock().unwrap_or_else(PoisonError::into_inner).record(latency_ms, bytes);
                    }
                    Err(e) => eprintln!("{e}"),
                }
            });
        match sent {
            Ok(()) => {}
            Err(e) if !producer.has_connected() => return Err(props::unreachable(bootstrap, e)),
            Err(e) => return Err(e.into()),
        }
        if args.throughput > 0.0 {
            // Sleep off whatever the loop is ahead of the target rate, in steps of at least 2 ms (as Kafka's
            // ThroughputThrottler does) so short sleeps do not dominate.
            let due = Duration::from_secs_f64((i + 1) as f64 / args.throughput);
            let elapsed = start.elapsed();
            if due > elapsed + Duration::from_millis(2) {
                std::thread::sleep(due - elapsed);
            }
        }
    }
    producer.close(None)?;
    stats.lock().unwrap_or_else(PoisonError::into_inner).print_total()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Letters;

    #[test]
    fn payloads_are_upper_case_letters_spread_evenly_and_differ_per_record() {
        let mut letters = Letters(0);
        let mut counts = [0u32; 26];
        let mut first = vec![0u8; 1021];
        letters.fill(&mut first);
        let mut second = vec![0u8; 1021];
        letters.fill(&mut second);
        assert_ne!(first, second);
        for _ in 0..100 {
            letters.fill(&mut second);
            for b in &second {
                assert!(b.is_ascii_uppercase(), "{b}");
                counts[usize::from(b - b'A')] += 1;
            }
        }
        // 102,100 letters: each of the 26 near 3,927.
        for (i, c) in counts.iter().enumerate() {
            assert!((3_600..4_300).contains(c), "{} appeared {c} times", char::from(b'A' + i as u8));
        }
        let mut again = Letters(0);
        let mut replay = vec![0u8; 1021];
        again.fill(&mut replay);
        assert_eq!(replay, first);
    }
}
