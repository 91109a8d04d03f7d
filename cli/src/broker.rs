//! `potok broker [server.properties] [--override key=value]...`: runs a broker until SIGINT or SIGTERM, then
//! shuts it down cleanly (flushed logs, checkpoints, clean-shutdown marker).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use potok::broker::BrokerConfig;
use potok::net::{RunningBroker, ServerError};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A Kafka server.properties file.
    config: Option<PathBuf>,
    /// Sets a config, overriding the file (repeatable), as kafka-server-start's --override does.
    #[arg(long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut config = BrokerConfig::default();
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        for (key, value) in BrokerConfig::parse_properties(&text).with_context(|| format!("in {}", path.display()))? {
            config.set(&key, &value).with_context(|| format!("in {}", path.display()))?;
        }
    }
    for item in &args.overrides {
        let (key, value) = item.split_once('=').with_context(|| format!("--override {item}: expected key=value"))?;
        config.set(key.trim(), value.trim())?;
    }
    // Kafka's console log: `[2026-12-03 09:25:22,123] INFO message (logger)` on stdout, INFO and above.
    potok::host::log::set_sink(potok::host::log::Level::Info, |record| {
        let _ = writeln!(std::io::stdout().lock(), "{}", record.kafka_line());
    });
    let started = std::time::Instant::now();
    let broker = RunningBroker::start(config).map_err(|e| match &e {
        ServerError::Bind { address, error } if error.kind() == std::io::ErrorKind::AddrInUse => anyhow::anyhow!(
            "{e}. Another broker (potok or Kafka) may be running there: stop it, or pick another port with \
             --override listeners=PLAINTEXT://{}:9093 (port 0 takes any free port)",
            address.rsplit_once(':').map_or("127.0.0.1", |(host, _)| if host.is_empty() { "127.0.0.1" } else { host })
        ),
        _ => e.into(),
    })?;
    tracing::info!(target: "potok::cli::broker", "started in {} ms", started.elapsed().as_millis());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        anyhow::Ok(())
    })?;
    tracing::info!(target: "potok::cli::broker", "shutting down");
    broker.stop()?;
    Ok(())
}
