//! `potok`: the broker and Kafka-style tools. Subcommands and flags mirror Kafka's scripts so a course's
//! command translates one to one (`kafka-dump-log` becomes `potok dump-log`, `kafka-topics.sh` becomes
//! `potok topics`). The client tools are thin layers over potok's own clients (`potok::client`).

/// `println!` that returns the write's error instead of panicking, so a tool whose reader went away
/// (`potok topics --describe | head`) stops quietly (see `main`).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

mod broker;
mod console_consumer;
mod console_producer;
mod consumer_groups;
mod consumer_perf;
mod deserializers;
mod dump_log;
mod playground;
mod producer_perf;
mod props;
mod storage;
mod time;
mod topics;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "potok", version, about = "A Kafka-compatible streaming engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a broker (Kafka's server.properties keys; defaults to 127.0.0.1:9092 and a fresh temp dir).
    Broker(broker::Args),
    /// Print the batches and records of log segment files, like kafka-dump-log.
    DumpLog(dump_log::Args),
    /// Create, list, describe, alter and delete topics, like kafka-topics.
    Topics(topics::Args),
    /// Send lines from stdin as records, like kafka-console-producer.
    ConsoleProducer(console_producer::Args),
    /// Print records to stdout, like kafka-console-consumer.
    ConsoleConsumer(console_consumer::Args),
    /// List, describe, delete consumer groups and reset their offsets, like kafka-consumer-groups.
    ConsumerGroups(consumer_groups::Args),
    /// Measure producer throughput and latency, like kafka-producer-perf-test.
    ProducerPerfTest(producer_perf::Args),
    /// Measure consumer throughput, like kafka-consumer-perf-test.
    ConsumerPerfTest(consumer_perf::Args),
    /// Format log directories with a cluster id, like kafka-storage (optional for potok).
    Storage(storage::Args),
    /// Serve the browser playground (a potok broker in WebAssembly, lessons on Kafka) on http://127.0.0.1:8080/.
    Playground(playground::Args),
}

/// Flags of older Kafka tools that Kafka 4's tools no longer take, and what replaced them.
const RETIRED_FLAGS: &[(&str, &str)] = &[
    ("--zookeeper", "Kafka's tools reach the cluster through its brokers since Kafka 3.0"),
    ("--broker-list", "Kafka 4 removed --broker-list from the console producer and the perf tools"),
];

/// Kafka 4's tools reject these flags as unrecognized; a course written for an older Kafka still uses them,
/// so the error says what to write instead.
fn check_retired_flags() {
    for arg in std::env::args().skip(1) {
        for (flag, why) in RETIRED_FLAGS {
            if arg == *flag || arg.starts_with(&format!("{flag}=")) {
                eprintln!("Error: {flag} is not a recognized option: use --bootstrap-server HOST:PORT instead ({why})");
                std::process::exit(1);
            }
        }
    }
}

fn main() {
    check_retired_flags();
    let command = Cli::parse().command;
    // The engine's warnings and errors go to stderr as Kafka's tools log them (the broker logs INFO to stdout).
    potok::host::log::set_sink(potok::host::log::Level::Warn, |record| {
        use std::io::Write;
        let _ = writeln!(std::io::stderr().lock(), "{}", record.kafka_line());
    });
    // kafka-topics words its errors itself ("Error while executing topic command : ..."); the other tools
    // print "Error: ..." as Kafka's do. Either way the exit status is 1.
    let (result, prefix) = match command {
        Command::Broker(args) => (broker::run(args), "Error: "),
        Command::DumpLog(args) => (dump_log::run(args), "Error: "),
        Command::Topics(args) => (topics::run(args), ""),
        Command::ConsoleProducer(args) => (console_producer::run(args), "Error: "),
        Command::ConsoleConsumer(args) => (console_consumer::run(args), "Error: "),
        Command::ConsumerGroups(args) => (consumer_groups::run(args), "Error: "),
        Command::ProducerPerfTest(args) => (producer_perf::run(args), "Error: "),
        Command::ConsumerPerfTest(args) => (consumer_perf::run(args), "Error: "),
        Command::Storage(args) => (storage::run(args), "Error: "),
        Command::Playground(args) => (playground::run(args), "Error: "),
    };
    if let Err(e) = result {
        // The reader of the output left (`| head`): nothing more to say, as for any Unix tool.
        if broken_pipe(&e) {
            std::process::exit(0);
        }
        eprintln!("{prefix}{e:#}");
        std::process::exit(1);
    }
}

/// Whether an error is a write to a pipe whose reader has gone.
fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
}
