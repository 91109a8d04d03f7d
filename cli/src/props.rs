//! Config plumbing shared by the client subcommands: `key=value` flags and Java properties files turned into
//! the Kafka config pairs potok's clients take, and Kafka-style error text for client errors.

use std::path::Path;

use anyhow::{bail, Context};
use potok::broker::BrokerConfig;
use potok::client::cluster::ConnectionFailure;
use potok::client::ClientError;

/// Config pairs, in order; a later pair for the same key wins (the clients keep the last value).
pub type Pairs = Vec<(String, String)>;

/// Splits one `key=value` flag value (the value may itself contain `=`).
pub fn key_value(item: &str, flag: &str) -> anyhow::Result<(String, String)> {
    match item.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_string(), value.trim().to_string())),
        _ => bail!("{flag} {item}: expected key=value"),
    }
}

/// Every `key=value` of a repeatable flag.
pub fn key_values(items: &[String], flag: &str) -> anyhow::Result<Pairs> {
    items.iter().map(|item| key_value(item, flag)).collect()
}

/// The pairs of a Java properties file (`--producer.config`, `--consumer.config`, `--command-config`).
pub fn load_file(path: &Path) -> anyhow::Result<Pairs> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    BrokerConfig::parse_properties(&text).with_context(|| format!("in {}", path.display()))
}

/// Client config: a properties file first, then `bootstrap.servers` from the flag, then the overrides.
pub fn client_config(bootstrap: Option<&str>, file: Option<&Path>, overrides: Pairs) -> anyhow::Result<Pairs> {
    let mut pairs = match file {
        Some(path) => load_file(path)?,
        None => Vec::new(),
    };
    if let Some(servers) = bootstrap {
        pairs.push(("bootstrap.servers".into(), servers.to_string()));
    }
    pairs.extend(overrides);
    Ok(pairs)
}

/// The text Kafka's tools print for an error: the broker's message where it sent one, else the error itself.
pub fn describe(error: &ClientError) -> String {
    match error {
        ClientError::Kafka { message: Some(message), .. } => message.clone(),
        other => other.to_string(),
    }
}

/// Whether a write failed because the reader went away (`potok console-consumer | head`): a normal end.
pub fn is_broken_pipe(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::BrokenPipe
}

/// Runs `action` once on SIGINT or SIGTERM (from a thread of its own), so a tool can stop its loop and print
/// its summary as Kafka's tools do on Ctrl-C.
pub fn on_interrupt(action: impl FnOnce() + Send + 'static) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // Registered here, before returning, so a signal that arrives right away is not missed.
    let mut term = {
        let _entered = runtime.enter();
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?
    };
    std::thread::Builder::new().name("potok-signals".into()).spawn(move || {
        runtime.block_on(async {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        });
        action();
    })?;
    Ok(())
}

/// A number that differs between runs, for generated names (Kafka draws a random one).
pub fn random_suffix(bound: u64) -> u64 {
    let seed = potok::net::now_ms() as u64 ^ (u64::from(std::process::id()) << 20);
    // One xorshift step spreads runs that start in the same millisecond apart.
    let mut x = seed | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x % bound
}

/// A connection listener printing Kafka's warning for a broker that cannot be reached, on stderr in the shape
/// of Kafka's tool logs (`[time] WARN [Producer clientId=console-producer] Connection to node -1
/// (127.0.0.1:9092) could not be established. Node may not be available.`) with the reason added. The client
/// reports a repeated failure of one address once, so a tool retrying for a minute prints it once.
pub fn connection_warnings(kind: &str, client_id: &str) -> impl Fn(&ConnectionFailure) + Send + Sync + 'static {
    let prefix = format!("[{kind} clientId={client_id}]");
    move |failure| {
        let reason = match &failure.error {
            ClientError::Io(text) => {
                text.strip_prefix(&format!("connecting to {}: ", failure.address)).unwrap_or(text).to_string()
            }
            ClientError::Timeout(_) => "connection timed out".to_string(),
            other => other.to_string(),
        };
        eprintln!(
            "{} WARN {prefix} Connection to node {} ({}) could not be established. Node may not be available. ({reason})",
            crate::time::log_timestamp(std::time::SystemTime::now()),
            failure.node_id,
            failure.address,
        );
    }
}

/// The error of a tool whose client never reached a broker: it names the bootstrap servers.
pub fn unreachable(bootstrap: &str, error: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("no broker is reachable at bootstrap servers {bootstrap} ({error})")
}
