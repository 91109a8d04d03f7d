//! `potok storage format -t CLUSTER_ID -c server.properties` and `potok storage random-uuid`, as Kafka's
//! `kafka-storage` does them. Formatting is optional for potok (an unformatted node writes its own
//! `meta.properties` at first start; nodes of one cluster derive the same id from the voters they list); it
//! exists so a course's set-up steps run as written, and so a cluster can be given an explicit id.

use std::path::PathBuf;

use anyhow::{bail, Context};
use potok::broker::BrokerConfig;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Writes meta.properties (cluster.id, node.id, directory.id) into every log directory of a config.
    Format {
        /// The cluster id (22 characters of URL-safe base64, as `random-uuid` prints).
        #[arg(short = 't', long = "cluster-id")]
        cluster_id: String,
        /// The node's server.properties.
        #[arg(short = 'c', long = "config")]
        config: PathBuf,
        /// Leave directories that are already formatted as they are and format the others.
        #[arg(short = 'g', long = "ignore-formatted")]
        ignore_formatted: bool,
        /// Accepted for Kafka's command line (a single-voter quorum needs nothing more in potok).
        #[arg(short = 's', long = "standalone")]
        standalone: bool,
    },
    /// Prints a new random cluster id.
    RandomUuid,
}

fn random_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let seed = (nanos as u64) ^ (u64::from(std::process::id()) << 32) ^ ((nanos >> 64) as u64);
    potok::controller::uuid_to_base64(&potok::controller::IdGenerator::new(seed).uuid())
}

/// Kafka's check: a cluster id is a UUID in URL-safe base64 without padding.
fn valid_cluster_id(id: &str) -> bool {
    id.len() == 22 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::RandomUuid => println!("{}", random_id()),
        Command::Format { cluster_id, config, ignore_formatted, standalone: _ } => {
            if !valid_cluster_id(&cluster_id) {
                bail!("Cluster ID string {cluster_id} does not appear to be a valid UUID");
            }
            let text = std::fs::read_to_string(&config).with_context(|| format!("reading {}", config.display()))?;
            let broker = BrokerConfig::from_properties(&text).with_context(|| format!("in {}", config.display()))?;
            let mut dirs: Vec<PathBuf> = broker.log_dir.iter().cloned().collect();
            if let Some(meta) = &broker.metadata_log_dir {
                if !dirs.contains(meta) {
                    dirs.push(meta.clone());
                }
            }
            if dirs.is_empty() {
                bail!("log.dirs must be set in {} to format it", config.display());
            }
            let mut formatted = 0;
            for dir in &dirs {
                let path = dir.join("meta.properties");
                if path.exists() {
                    if ignore_formatted {
                        continue;
                    }
                    bail!(
                        "Log directory {} is already formatted. Use --ignore-formatted to ignore this directory \
                         and format the others.",
                        dir.display()
                    );
                }
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
                let text = format!(
                    "#\n#Written by potok storage format\ncluster.id={cluster_id}\ndirectory.id={}\nnode.id={}\nversion=1\n",
                    random_id(),
                    broker.node_id
                );
                let tmp = dir.join("meta.properties.tmp");
                std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
                std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
                println!("Formatting metadata directory {} with metadata.version 4.1-IV1.", dir.display());
                formatted += 1;
            }
            if formatted == 0 {
                println!("All of the log directories are already formatted.");
            }
        }
    }
    Ok(())
}
