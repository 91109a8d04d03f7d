//! `potok console-consumer`: kafka-console-consumer. Subscribes (in `--group`, or a generated
//! `console-consumer-N` group) or, with `--partition`, reads one partition from `--offset`; prints each record
//! as Kafka's DefaultMessageFormatter does (`print.timestamp`, `print.partition`, `print.offset`,
//! `print.headers`, `print.key`, `print.value`, `key.separator`, ...), and at the end writes "Processed a total
//! of N messages" on stderr, also after Ctrl-C, `--max-messages` or `--timeout-ms` without a record.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use potok::client::consumer::{Consumer, ConsumerRecord};
use potok::client::{ClientError, TopicPartition};
use potok::record::TimestampType;

use crate::deserializers::Decoder;
use crate::props;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The broker(s) to connect to (host:port,...).
    #[arg(long, value_name = "HOST:PORT")]
    bootstrap_server: String,
    /// The topic to consume.
    #[arg(long)]
    topic: String,
    /// Without a committed offset, start from the earliest record rather than the end.
    #[arg(long)]
    from_beginning: bool,
    /// Read this partition only (from the end unless --offset or --from-beginning).
    #[arg(long)]
    partition: Option<i32>,
    /// With --partition: earliest, latest or an offset.
    #[arg(long)]
    offset: Option<String>,
    /// The consumer group.
    #[arg(long)]
    group: Option<String>,
    /// Exit after this many records.
    #[arg(long)]
    max_messages: Option<u64>,
    /// Exit when no record arrived for this long.
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// read_uncommitted or read_committed.
    #[arg(long)]
    isolation_level: Option<String>,
    /// Formatter properties: print.key=true, print.partition, print.offset, print.timestamp, key.separator...
    #[arg(long = "property", value_name = "KEY=VALUE")]
    properties: Vec<String>,
    /// A consumer config (repeatable); wins over --consumer.config.
    #[arg(long = "consumer-property", value_name = "KEY=VALUE")]
    consumer_properties: Vec<String>,
    /// A consumer config file.
    #[arg(long = "consumer.config", value_name = "FILE")]
    consumer_config: Option<PathBuf>,
    /// How keys are printed: a Kafka or Confluent deserializer class, or avro, json-schema, string, integer...
    #[arg(long)]
    key_deserializer: Option<String>,
    /// How values are printed (avro reads the writer schema from --property schema.registry.url=...).
    #[arg(long)]
    value_deserializer: Option<String>,
    /// The message formatter: kafka's DefaultMessageFormatter, or Confluent's AvroMessageFormatter /
    /// JsonSchemaMessageFormatter (values decoded with the schema registry).
    #[arg(long)]
    formatter: Option<String>,
}

/// Kafka's DefaultMessageFormatter settings.
#[derive(Debug)]
struct Formatter {
    timestamp: bool,
    key: bool,
    offset: bool,
    partition: bool,
    headers: bool,
    value: bool,
    key_separator: Vec<u8>,
    line_separator: Vec<u8>,
    headers_separator: Vec<u8>,
    null_literal: Vec<u8>,
    key_decoder: Decoder,
    value_decoder: Decoder,
}

impl Formatter {
    fn new(properties: &[(String, String)]) -> Formatter {
        let mut f = Formatter {
            timestamp: false,
            key: false,
            offset: false,
            partition: false,
            headers: false,
            value: true,
            key_separator: b"\t".to_vec(),
            line_separator: b"\n".to_vec(),
            headers_separator: b",".to_vec(),
            null_literal: b"null".to_vec(),
            key_decoder: Decoder::Raw,
            value_decoder: Decoder::Raw,
        };
        for (key, value) in properties {
            let on = value.eq_ignore_ascii_case("true");
            match key.as_str() {
                "print.timestamp" => f.timestamp = on,
                "print.key" => f.key = on,
                "print.offset" => f.offset = on,
                "print.partition" => f.partition = on,
                "print.headers" => f.headers = on,
                "print.value" => f.value = on,
                "key.separator" => f.key_separator = value.as_bytes().to_vec(),
                "line.separator" => f.line_separator = value.as_bytes().to_vec(),
                "headers.separator" => f.headers_separator = value.as_bytes().to_vec(),
                "null.literal" => f.null_literal = value.as_bytes().to_vec(),
                // Kafka's formatter ignores what it does not know (deserializer classes and their settings).
                _ => {}
            }
        }
        f
    }

    fn write(&self, out: &mut impl Write, r: &ConsumerRecord) -> std::io::Result<()> {
        if self.timestamp {
            match r.timestamp_type {
                _ if r.timestamp < 0 => write!(out, "NO_TIMESTAMP")?,
                TimestampType::CreateTime => write!(out, "CreateTime:{}", r.timestamp)?,
                TimestampType::LogAppendTime => write!(out, "LogAppendTime:{}", r.timestamp)?,
            }
            out.write_all(&self.key_separator)?;
        }
        if self.partition {
            write!(out, "Partition:{}", r.partition)?;
            out.write_all(&self.key_separator)?;
        }
        if self.offset {
            write!(out, "Offset:{}", r.offset)?;
            out.write_all(&self.key_separator)?;
        }
        if self.headers {
            if r.headers.is_empty() {
                write!(out, "NO_HEADERS")?;
            }
            for (i, (key, value)) in r.headers.iter().enumerate() {
                if i > 0 {
                    out.write_all(&self.headers_separator)?;
                }
                write!(out, "{key}:")?;
                out.write_all(value.as_deref().unwrap_or(&self.null_literal))?;
            }
            out.write_all(&self.key_separator)?;
        }
        if self.key {
            out.write_all(&decoded(&self.key_decoder, &r.topic, r.key.as_deref(), &self.null_literal)?)?;
            out.write_all(&self.key_separator)?;
        }
        if self.value {
            out.write_all(&decoded(&self.value_decoder, &r.topic, r.value.as_deref(), &self.null_literal)?)?;
        }
        out.write_all(&self.line_separator)
    }
}

/// The printed form of a key or value: null as `null.literal`, other bytes through the decoder.
fn decoded(decoder: &Decoder, topic: &str, data: Option<&[u8]>, null: &[u8]) -> std::io::Result<Vec<u8>> {
    match data {
        None => Ok(null.to_vec()),
        // A key that is not in the wire format under a registry formatter is printed as it is, not fatal.
        Some(d) if matches!(decoder, Decoder::Registry(_)) && d.first() != Some(&0) => Ok(d.to_vec()),
        Some(d) => {
            decoder.decode(topic, d).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
        }
    }
}

/// Where a `--partition` read starts.
#[derive(Debug, Clone, Copy)]
enum StartAt {
    Earliest,
    Latest,
    Offset(i64),
}

fn start_at(args: &Args) -> anyhow::Result<StartAt> {
    Ok(match args.offset.as_deref() {
        None if args.from_beginning => StartAt::Earliest,
        None | Some("latest") => StartAt::Latest,
        Some("earliest") => StartAt::Earliest,
        Some(n) => match n.parse::<i64>() {
            Ok(offset) if offset >= 0 => StartAt::Offset(offset),
            _ => bail!("The provided offset value '{n}' is incorrect. Valid values are 'earliest', 'latest', or a non-negative long."),
        },
    })
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.offset.is_some() && args.partition.is_none() {
        bail!("The partition is required when offset is specified.");
    }
    if args.offset.is_some() && args.from_beginning {
        bail!("Options from-beginning and offset cannot be specified together.");
    }
    if args.group.is_some() && args.partition.is_some() {
        bail!("Options group and partition cannot be specified together.");
    }
    let start = start_at(&args)?;
    let properties = props::key_values(&args.properties, "--property")?;
    let mut formatter = Formatter::new(&properties);
    let property = |k: &str| properties.iter().rev().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let registry_url = property("schema.registry.url");
    if let Some(f) = &args.formatter {
        if let Some(d) = Decoder::for_formatter(f, registry_url)? {
            formatter.value_decoder = d;
        }
    }
    // Kafka takes the deserializers as flags or as `key.deserializer`/`value.deserializer` properties.
    if let Some(name) = args.key_deserializer.as_deref().or(property("key.deserializer")) {
        formatter.key_decoder = Decoder::named(name, registry_url)?;
    }
    if let Some(name) = args.value_deserializer.as_deref().or(property("value.deserializer")) {
        formatter.value_decoder = Decoder::named(name, registry_url)?;
    }
    let user = props::client_config(
        None,
        args.consumer_config.as_deref(),
        props::key_values(&args.consumer_properties, "--consumer-property")?,
    )?;
    let group_passed = args.group.is_some() || user.iter().any(|(k, _)| k == "group.id");
    let mut config: props::Pairs = vec![
        ("bootstrap.servers".into(), args.bootstrap_server.clone()),
        ("auto.offset.reset".into(), if args.from_beginning { "earliest" } else { "latest" }.into()),
        ("client.id".into(), "console-consumer".into()),
    ];
    if !group_passed {
        config.push(("group.id".into(), format!("console-consumer-{}", props::random_suffix(100_000))));
        // A generated group is never reused, so committing its offsets would only leave litter behind.
        config.push(("enable.auto.commit".into(), "false".into()));
    }
    config.extend(user);
    if let Some(group) = &args.group {
        config.push(("group.id".into(), group.clone()));
    }
    if let Some(level) = &args.isolation_level {
        config.push(("isolation.level".into(), level.clone()));
    }
    let consumer = Arc::new(Consumer::new(&config)?);
    consumer.set_connection_listener(props::connection_warnings("Consumer", consumer.client_id()));
    match args.partition {
        Some(partition) => {
            let tp = TopicPartition::new(args.topic.clone(), partition);
            consumer.assign(std::slice::from_ref(&tp))?;
            match start {
                StartAt::Earliest => consumer.seek_to_beginning(std::slice::from_ref(&tp))?,
                StartAt::Latest => consumer.seek_to_end(std::slice::from_ref(&tp))?,
                StartAt::Offset(offset) => consumer.seek(&tp, offset)?,
            }
        }
        None => consumer.subscribe(std::slice::from_ref(&args.topic))?,
    }
    let stopping = Arc::new(AtomicBool::new(false));
    {
        let (consumer, stopping) = (consumer.clone(), stopping.clone());
        props::on_interrupt(move || {
            stopping.store(true, Ordering::Release);
            consumer.wakeup();
        })?;
    }
    let mut processed = 0u64;
    let result = consume(&args, &consumer, &formatter, &stopping, &mut processed);
    let _ = consumer.close(Some(Duration::from_secs(5)));
    eprintln!("Processed a total of {processed} messages");
    // An empty topic and an unreachable cluster both end in zero messages; only the first is a success.
    if result.is_ok() && !consumer.has_connected() && !stopping.load(Ordering::Acquire) {
        let waited = args.timeout_ms.map_or_else(String::new, |t| format!(" within {t} ms"));
        return Err(props::unreachable(&args.bootstrap_server, format!("no connection{waited}")));
    }
    result
}

fn consume(
    args: &Args,
    consumer: &Consumer,
    formatter: &Formatter,
    stopping: &AtomicBool,
    processed: &mut u64,
) -> anyhow::Result<()> {
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    let timeout = args.timeout_ms.map(Duration::from_millis);
    let mut last_record = Instant::now();
    while !stopping.load(Ordering::Acquire) {
        if args.max_messages.is_some_and(|max| *processed >= max) {
            break;
        }
        let wait = timeout.map_or(Duration::from_millis(1000), |t| {
            t.saturating_sub(last_record.elapsed()).min(Duration::from_millis(1000))
        });
        let records = match consumer.poll(wait) {
            Ok(records) => records,
            Err(ClientError::Wakeup) => break,
            Err(e) => return Err(e.into()),
        };
        if records.is_empty() {
            if timeout.is_some_and(|t| last_record.elapsed() >= t) {
                // Kafka logs the timeout as an error but exits normally after its summary.
                if consumer.has_connected() {
                    eprintln!(
                        "[potok console-consumer] no message for {} ms, exiting",
                        timeout.map_or(0, |t| t.as_millis())
                    );
                }
                break;
            }
            continue;
        }
        last_record = Instant::now();
        for record in &records {
            if args.max_messages.is_some_and(|max| *processed >= max) {
                break;
            }
            match formatter.write(&mut out, record) {
                Ok(()) => *processed += 1,
                Err(e) if props::is_broken_pipe(&e) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
        match out.flush() {
            Ok(()) => {}
            Err(e) if props::is_broken_pipe(&e) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
