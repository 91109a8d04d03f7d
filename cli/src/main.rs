//! `potok`: the broker and Kafka-style tools. Subcommands and flags mirror Kafka's scripts so a course's
//! command translates one to one (`kafka-dump-log` becomes `potok dump-log`).

mod dump_log;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "potok", version, about = "A Kafka-compatible streaming engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the batches and records of log segment files, like kafka-dump-log.
    DumpLog(dump_log::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::DumpLog(args) => dump_log::run(args),
    }
}
