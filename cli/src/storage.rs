//! `potok storage format -t CLUSTER_ID -c server.properties [--standalone | --initial-controllers LIST |
//! --no-initial-controllers]` and `potok storage random-uuid`, as Kafka's `kafka-storage` does them. Formatting is optional for potok (an unformatted node writes its own
//! `meta.properties` at first start; nodes of one cluster derive the same id from the voters they list); it
//! exists so a course's set-up steps run as written, and so a cluster can be given an explicit id.

use std::path::PathBuf;

use anyhow::{bail, Context};
use potok::broker::BrokerConfig;
use potok::controller::BootstrapVoter;

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
        /// Starts a dynamic controller quorum (KIP-853) with this controller as its only voter.
        #[arg(short = 's', long = "standalone", conflicts_with_all = ["initial_controllers", "no_initial_controllers"])]
        standalone: bool,
        /// Starts a dynamic controller quorum (KIP-853) with these voters: `id@host:port:directory-id,...`, the
        /// same on every node (the directory id of this node's entry becomes its metadata directory's id).
        #[arg(short = 'I', long = "initial-controllers", conflicts_with = "no_initial_controllers")]
        initial_controllers: Option<String>,
        /// Formats a node of a dynamic quorum without writing its voters (brokers, or controllers that join later).
        #[arg(short = 'N', long = "no-initial-controllers")]
        no_initial_controllers: bool,
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

/// The voter set a format of a dynamic quorum's controller writes (`None`: no voter set to write), with Kafka's
/// checks of `--standalone` and `--initial-controllers`.
fn initial_voters(
    broker: &BrokerConfig,
    standalone: bool,
    initial_controllers: Option<&str>,
) -> anyhow::Result<Option<Vec<BootstrapVoter>>> {
    if !standalone && initial_controllers.is_none() {
        return Ok(None);
    }
    if !broker.controller_quorum_voters.is_empty() {
        bail!(
            "You cannot specify controller.quorum.voters and format the node with --initial-controllers or \
             --standalone. If you want to use dynamic quorum, please remove controller.quorum.voters and \
             specify controller.quorum.bootstrap.servers instead."
        );
    }
    if !broker.process_roles.controller {
        // Kafka formats a broker the same way and ignores the voters; only controllers keep them.
        return Ok(None);
    }
    let Some(list) = initial_controllers else {
        let name = broker.controller_listener_names.first().context("controller.listener.names is not set")?;
        let listener = broker
            .listeners
            .iter()
            .find(|l| &l.name == name)
            .with_context(|| format!("listeners has no {name} listener for --standalone"))?;
        let host = if listener.host.is_empty() { "localhost".to_string() } else { listener.host.clone() };
        let id = random_id();
        let directory_id = potok::controller::uuid_from_base64(&id).context("a fresh directory id")?;
        return Ok(Some(vec![BootstrapVoter {
            id: broker.node_id,
            directory_id,
            listener: name.clone(),
            host,
            port: listener.port,
        }]));
    };
    let listener = broker.controller_listener_names.first().cloned().unwrap_or_else(|| "CONTROLLER".into());
    let mut voters = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bad = || anyhow::anyhow!("--initial-controllers: expected id@host:port:directory-id, got {item:?}");
        let (id, rest) = item.split_once('@').ok_or_else(bad)?;
        let (address, directory) = rest.rsplit_once(':').ok_or_else(bad)?;
        let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
        let directory_id = potok::controller::uuid_from_base64(directory).ok_or_else(|| {
            anyhow::anyhow!("--initial-controllers: {directory:?} is not a directory id (a UUID in base64)")
        })?;
        voters.push(BootstrapVoter {
            id: id.parse().map_err(|_| bad())?,
            directory_id,
            listener: listener.clone(),
            host: host.trim_start_matches('[').trim_end_matches(']').to_string(),
            port: port.parse().map_err(|_| bad())?,
        });
    }
    if !voters.iter().any(|v| v.id == broker.node_id) {
        bail!("--initial-controllers does not name this controller (node.id={})", broker.node_id);
    }
    Ok(Some(voters))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::RandomUuid => outln!("{}", random_id())?,
        Command::Format { cluster_id, config, ignore_formatted, standalone, initial_controllers, .. } => {
            if !valid_cluster_id(&cluster_id) {
                bail!("Cluster ID string {cluster_id} does not appear to be a valid UUID");
            }
            let text = std::fs::read_to_string(&config).with_context(|| format!("reading {}", config.display()))?;
            let broker = BrokerConfig::from_properties(&text).with_context(|| format!("in {}", config.display()))?;
            let voters = initial_voters(&broker, standalone, initial_controllers.as_deref())?;
            // The metadata directory of a voter carries the directory id its voter entry names.
            let metadata_dir = broker.metadata_log_dir.clone().or_else(|| broker.log_dir.clone());
            let own_directory_id = voters.as_ref().and_then(|v| v.iter().find(|v| v.id == broker.node_id));
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
                let directory_id = match own_directory_id.filter(|_| Some(dir) == metadata_dir.as_ref()) {
                    Some(voter) => potok::controller::uuid_to_base64(&voter.directory_id),
                    None => random_id(),
                };
                let text = format!(
                    "#\n#Written by potok storage format\ncluster.id={cluster_id}\ndirectory.id={directory_id}\nnode.id={}\nversion=1\n",
                    broker.node_id
                );
                let tmp = dir.join("meta.properties.tmp");
                std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
                std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
                if let (Some(voters), true) = (&voters, Some(dir) == metadata_dir.as_ref()) {
                    let now = potok::net::now_ms();
                    potok::controller::write_bootstrap_voters(dir, voters, now)
                        .with_context(|| format!("writing the voter set into {}", dir.display()))?;
                    outln!(
                        "Formatting dynamic metadata voter directory {} with metadata.version 4.1-IV1.",
                        dir.display()
                    )?;
                } else {
                    outln!("Formatting metadata directory {} with metadata.version 4.1-IV1.", dir.display())?;
                }
                formatted += 1;
            }
            if formatted == 0 {
                outln!("All of the log directories are already formatted.")?;
            }
        }
    }
    Ok(())
}
