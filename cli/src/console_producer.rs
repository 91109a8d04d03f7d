//! `potok console-producer`: kafka-console-producer. Reads records from stdin, one a line, and sends them with
//! potok's producer using the console producer's defaults (`acks=-1`, `linger.ms=1000`, `retries=3`,
//! `client.id=console-producer`); `--property parse.key=true` splits each line at `key.separator` (a tab by
//! default). A failed send is reported on stderr and the tool carries on, as Kafka's does; at the end of input
//! everything queued is delivered before exit. Reading from a terminal, it prompts with `>` for each line as
//! Kafka's does. A broker that cannot be reached gets a warning on the first failed connection, and when no
//! broker was ever reached a failed send ends the tool with an error naming the bootstrap servers.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;

use anyhow::{bail, Context};
use potok::client::producer::{Producer, ProducerRecord};

use crate::props;

/// The longest line read from stdin. Longer lines are refused before they are buffered; the producer's own
/// `max.request.size` (1 MiB by default) rejects most records well below this.
const MAX_LINE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The broker(s) to connect to (host:port,...).
    #[arg(long, value_name = "HOST:PORT")]
    bootstrap_server: String,
    /// The topic to produce to.
    #[arg(long)]
    topic: String,
    /// Line reader properties: parse.key, key.separator, ignore.error, null.marker (repeatable).
    #[arg(long = "property", value_name = "KEY=VALUE")]
    properties: Vec<String>,
    /// A producer config (repeatable); wins over --producer.config.
    #[arg(long = "producer-property", value_name = "KEY=VALUE")]
    producer_properties: Vec<String>,
    /// A producer config file.
    #[arg(long = "producer.config", value_name = "FILE")]
    producer_config: Option<PathBuf>,
    /// The acks of the producer requests (Kafka's --request-required-acks).
    #[arg(long, default_value = "-1")]
    request_required_acks: String,
    /// Compression: none, gzip, snappy, lz4 or zstd.
    #[arg(long)]
    compression_codec: Option<String>,
    /// Wait for each record's acknowledgement before reading the next line.
    #[arg(long)]
    sync: bool,
}

/// How a line becomes a record.
#[derive(Debug)]
struct LineReader {
    parse_key: bool,
    key_separator: String,
    ignore_error: bool,
    null_marker: Option<String>,
}

impl LineReader {
    fn new(properties: &[(String, String)]) -> anyhow::Result<LineReader> {
        let mut reader =
            LineReader { parse_key: false, key_separator: "\t".into(), ignore_error: false, null_marker: None };
        for (key, value) in properties {
            match key.as_str() {
                "parse.key" => reader.parse_key = value.eq_ignore_ascii_case("true"),
                "key.separator" => reader.key_separator = value.clone(),
                "ignore.error" => reader.ignore_error = value.eq_ignore_ascii_case("true"),
                "null.marker" => reader.null_marker = Some(value.clone()),
                other => bail!("--property {other}: not one of parse.key, key.separator, ignore.error, null.marker"),
            }
        }
        if reader.key_separator.is_empty() {
            bail!("--property key.separator must not be empty");
        }
        Ok(reader)
    }

    fn bytes(&self, text: &str) -> Option<Vec<u8>> {
        if self.null_marker.as_deref() == Some(text) {
            None
        } else {
            Some(text.as_bytes().to_vec())
        }
    }

    /// The record for line `number` (1-based), or Kafka's error for a line without a separator.
    fn record(&self, topic: &str, line: &str, number: u64) -> anyhow::Result<ProducerRecord> {
        let mut record = ProducerRecord { topic: topic.to_string(), ..Default::default() };
        if !self.parse_key {
            record.value = self.bytes(line).map(Into::into);
            return Ok(record);
        }
        match line.split_once(self.key_separator.as_str()) {
            Some((key, value)) => {
                record.key = self.bytes(key).map(Into::into);
                record.value = self.bytes(value).map(Into::into);
            }
            None if self.ignore_error => record.value = self.bytes(line).map(Into::into),
            None => bail!("No key separator found on line number {number}: '{line}'"),
        }
        Ok(record)
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let reader = LineReader::new(&props::key_values(&args.properties, "--property")?)?;
    let mut overrides: props::Pairs = vec![
        ("acks".into(), args.request_required_acks.clone()),
        ("linger.ms".into(), "1000".into()),
        ("retries".into(), "3".into()),
        ("client.id".into(), "console-producer".into()),
    ];
    if let Some(codec) = &args.compression_codec {
        overrides.push(("compression.type".into(), codec.clone()));
    }
    // Explicit producer properties come last so they win over the tool's defaults, as in Kafka.
    let mut config = props::client_config(Some(&args.bootstrap_server), None, overrides)?;
    if let Some(path) = &args.producer_config {
        config.extend(props::load_file(path)?);
    }
    config.extend(props::key_values(&args.producer_properties, "--producer-property")?);
    let producer = Producer::new(&config)?;
    producer.set_connection_listener(props::connection_warnings("Producer", producer.client_id()));
    // Kafka prompts when it has a console (stdin and stdout are terminals).
    let prompt = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut line = Vec::new();
    let mut number = 0u64;
    let result = (|| -> anyhow::Result<()> {
        loop {
            if prompt {
                print!(">");
                std::io::stdout().flush().context("writing the prompt")?;
            }
            line.clear();
            let read = Read::by_ref(&mut input)
                .take(MAX_LINE_BYTES + 1)
                .read_until(b'\n', &mut line)
                .context("reading stdin")?;
            if read == 0 {
                return Ok(());
            }
            number += 1;
            if line.len() as u64 > MAX_LINE_BYTES {
                bail!("line {number} is longer than {MAX_LINE_BYTES} bytes");
            }
            while matches!(line.last(), Some(b'\n' | b'\r')) {
                line.pop();
            }
            let text = String::from_utf8_lossy(&line);
            let record = reader.record(&args.topic, &text, number)?;
            // Kafka's ErrorLoggingCallback: sizes, or "null" for an absent key or value.
            let size = |b: Option<&[u8]>| b.map_or_else(|| "null".to_string(), |b| format!("{} bytes", b.len()));
            let (key_text, value_text) = (size(record.key.as_deref()), size(record.value.as_deref()));
            let topic = args.topic.clone();
            let report = move |e: &dyn std::fmt::Display| {
                eprintln!(
                    "Error when sending message to topic {topic} with key: {key_text}, value: {value_text} with error: {e}"
                )
            };
            if args.sync {
                match producer.send(record).and_then(|f| f.wait()) {
                    Ok(_) => {}
                    Err(e) if !producer.has_connected() => return Err(props::unreachable(&args.bootstrap_server, e)),
                    Err(e) => report(&e),
                }
                continue;
            }
            let sent = producer.send_with_callback(record, move |outcome| {
                if let Err(e) = outcome {
                    report(&e);
                }
            });
            match sent {
                Ok(()) => {}
                Err(e) if !producer.has_connected() => return Err(props::unreachable(&args.bootstrap_server, e)),
                Err(e) => bail!("{e}"),
            }
        }
    })();
    let closed = producer.close(None);
    result?;
    closed?;
    Ok(())
}
