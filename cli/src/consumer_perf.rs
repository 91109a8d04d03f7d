//! `potok consumer-perf-test`: kafka-consumer-perf-test. Consumes `--messages` records in a group with potok's
//! consumer (from the earliest offset unless `--from-latest`) and prints Kafka's header and one CSV row: start
//! and end time, MB and records consumed and their rates, the time spent joining the group (rebalance), and the
//! fetch time and rates without it. Stops early when no record arrived for `--timeout` ms.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use anyhow::bail;
use potok::client::consumer::{Consumer, RebalanceListener};
use potok::client::TopicPartition;

use crate::props;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The broker(s) to connect to (host:port,...).
    #[arg(long, value_name = "HOST:PORT")]
    bootstrap_server: String,
    /// The topic to consume.
    #[arg(long)]
    topic: String,
    /// How many records to consume.
    #[arg(long)]
    messages: u64,
    /// The group (default perf-consumer-N).
    #[arg(long)]
    group: Option<String>,
    /// The longest wait for a record, in ms, before giving up.
    #[arg(long, default_value_t = 10_000)]
    timeout: u64,
    /// Bytes fetched per partition per request (max.partition.fetch.bytes).
    #[arg(long, default_value_t = 1024 * 1024)]
    fetch_size: i32,
    /// Without a committed offset, start at the end of the log rather than the beginning.
    #[arg(long)]
    from_latest: bool,
    /// Leave out the header line.
    #[arg(long)]
    hide_header: bool,
    /// A consumer config file.
    #[arg(long = "consumer.config", value_name = "FILE")]
    consumer_config: Option<PathBuf>,
}

/// Measures time spent in rebalances: from losing all partitions (or the start) to getting some back.
#[derive(Debug)]
struct JoinTimer {
    join_time_ms: Arc<AtomicU64>,
    join_start: Arc<Mutex<Instant>>,
    assigned: Vec<TopicPartition>,
}

impl RebalanceListener for JoinTimer {
    fn on_partitions_revoked(&mut self, partitions: &[TopicPartition]) {
        self.assigned.retain(|tp| !partitions.contains(tp));
        if self.assigned.is_empty() {
            *self.join_start.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
        }
    }

    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition]) {
        if self.assigned.is_empty() {
            let started = *self.join_start.lock().unwrap_or_else(PoisonError::into_inner);
            self.join_time_ms.fetch_add(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        }
        self.assigned.extend(partitions.iter().cloned());
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.messages == 0 {
        bail!("--messages must be greater than zero");
    }
    let group = args.group.clone().unwrap_or_else(|| format!("perf-consumer-{}", props::random_suffix(100_000)));
    let overrides = vec![
        ("group.id".into(), group),
        ("max.partition.fetch.bytes".into(), args.fetch_size.to_string()),
        ("auto.offset.reset".into(), if args.from_latest { "latest" } else { "earliest" }.into()),
        ("check.crcs".into(), "false".into()),
    ];
    let mut config: props::Pairs = vec![("client.id".into(), "perf-consumer-client".into())];
    config.extend(props::client_config(Some(&args.bootstrap_server), args.consumer_config.as_deref(), overrides)?);
    if !args.hide_header {
        outln!(
            "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, \
             fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
        )?;
    }
    let consumer = Consumer::new(&config)?;
    consumer.set_connection_listener(props::connection_warnings("Consumer", consumer.client_id()));
    let join_time_ms = Arc::new(AtomicU64::new(0));
    let start_wall = SystemTime::now();
    let start = Instant::now();
    consumer.set_rebalance_listener(Box::new(JoinTimer {
        join_time_ms: join_time_ms.clone(),
        join_start: Arc::new(Mutex::new(start)),
        assigned: Vec::new(),
    }));
    consumer.subscribe(std::slice::from_ref(&args.topic))?;
    let timeout = Duration::from_millis(args.timeout);
    let (mut messages, mut bytes) = (0u64, 0u64);
    let mut last_consumed = Instant::now();
    while messages < args.messages && last_consumed.elapsed() <= timeout {
        let records = consumer.poll(Duration::from_millis(100))?;
        if !records.is_empty() {
            last_consumed = Instant::now();
        }
        for r in &records {
            messages += 1;
            bytes += r.key.as_ref().map_or(0, |k| k.len() as u64) + r.value.as_ref().map_or(0, |v| v.len() as u64);
        }
    }
    if messages == 0 && !consumer.has_connected() {
        let _ = consumer.close(Some(Duration::ZERO));
        return Err(props::unreachable(&args.bootstrap_server, format!("no connection within {} ms", args.timeout)));
    }
    if messages < args.messages {
        outln!(
            "WARNING: Exiting before consuming the expected number of messages: timeout ({} ms) exceeded. You can use \
             the --timeout option to increase the timeout.",
            args.timeout
        )?;
    }
    let elapsed = start.elapsed();
    let end_wall = start_wall + elapsed;
    let _ = consumer.close(Some(Duration::from_secs(5)));
    let elapsed_s = elapsed.as_secs_f64();
    let join_ms = join_time_ms.load(Ordering::Relaxed);
    let fetch_ms = (elapsed.as_millis() as u64).saturating_sub(join_ms);
    let mb = bytes as f64 / (1024.0 * 1024.0);
    outln!(
        "{}, {}, {:.4}, {:.4}, {}, {:.4}, {}, {}, {:.4}, {:.4}",
        crate::time::perf_timestamp(start_wall),
        crate::time::perf_timestamp(end_wall),
        mb,
        mb / elapsed_s,
        messages,
        messages as f64 / elapsed_s,
        join_ms,
        fetch_ms,
        mb / (fetch_ms as f64 / 1000.0),
        messages as f64 / (fetch_ms as f64 / 1000.0)
    )?;
    Ok(())
}
