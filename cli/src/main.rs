//! `potok`: the broker and Kafka-style tools. Subcommands and flags mirror Kafka's scripts so a course's
//! command translates one to one (`kafka-dump-log` becomes `potok dump-log`).

mod broker;
mod dump_log;

use clap::{Parser, Subcommand};

// Keeps a request with a lying array count from aborting the broker (see the allocator's docs).
#[global_allocator]
static ALLOC: potok::net::alloc::GuardedAllocator = potok::net::alloc::GuardedAllocator;

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
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Broker(args) => broker::run(args),
        Command::DumpLog(args) => dump_log::run(args),
    }
}
