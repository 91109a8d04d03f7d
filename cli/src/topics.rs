//! `potok topics`: kafka-topics. Creates, lists, describes, alters (partition count) and deletes topics through
//! potok's admin client, printing what Kafka 4.1's `kafka-topics.sh` prints. `--topic` is a regular expression
//! (matching whole names, `,` meaning "or") except with `--create`, as in Kafka.

use std::path::PathBuf;

use anyhow::bail;
use base64::Engine;
use potok::client::admin::{Admin, ConfigResource, NewTopic, ResourceType};
use potok::client::ClientError;

use crate::props;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("action").required(true).args(["create", "list", "describe", "delete", "alter"])))]
pub struct Args {
    /// The broker(s) to connect to (host:port,...).
    #[arg(long, value_name = "HOST:PORT")]
    bootstrap_server: String,
    /// Admin client config file (Kafka's --command-config).
    #[arg(long, value_name = "FILE")]
    command_config: Option<PathBuf>,
    /// Create a topic.
    #[arg(long)]
    create: bool,
    /// List topic names.
    #[arg(long)]
    list: bool,
    /// Describe topics: partitions, leaders, replicas, ISR and non-default configs.
    #[arg(long)]
    describe: bool,
    /// Delete topics.
    #[arg(long)]
    delete: bool,
    /// Raise a topic's partition count (--partitions).
    #[arg(long)]
    alter: bool,
    /// The topic (a regular expression, except with --create).
    #[arg(long)]
    topic: Option<String>,
    /// The partition count (the broker's num.partitions when not given).
    #[arg(long)]
    partitions: Option<i32>,
    /// The replication factor (the broker's default.replication.factor when not given).
    #[arg(long)]
    replication_factor: Option<i16>,
    /// A topic config (repeatable), e.g. --config retention.ms=60000.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    configs: Vec<String>,
    /// With --create: do nothing when the topic exists.
    #[arg(long)]
    if_not_exists: bool,
    /// With --alter, --describe or --delete: do nothing when no topic matches.
    #[arg(long)]
    if_exists: bool,
    /// Leave internal topics (__consumer_offsets) out of --list and --describe.
    #[arg(long)]
    exclude_internal: bool,
    /// With --describe: only partitions whose ISR is smaller than their replica list.
    #[arg(long)]
    under_replicated_partitions: bool,
    /// With --describe: only partitions without a leader.
    #[arg(long)]
    unavailable_partitions: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    // Kafka's tool reports every failure on one line in this shape and exits 1.
    execute(&args).map_err(|e| {
        if crate::broken_pipe(&e) {
            e
        } else {
            anyhow::anyhow!("Error while executing topic command : {e:#}")
        }
    })
}

fn execute(args: &Args) -> anyhow::Result<()> {
    let config = props::client_config(Some(&args.bootstrap_server), args.command_config.as_deref(), Vec::new())?;
    let admin = Admin::new(&config)?;
    admin.set_connection_listener(props::connection_warnings("AdminClient", admin.client_id()));
    let result = action(&admin, args);
    match result {
        Err(e) if !admin.has_connected() => Err(props::unreachable(&args.bootstrap_server, format!("{e:#}"))),
        other => other,
    }
}

fn action(admin: &Admin, args: &Args) -> anyhow::Result<()> {
    if args.create {
        create(admin, args)
    } else if args.list {
        for name in matching(admin, args)? {
            outln!("{name}")?;
        }
        Ok(())
    } else if args.describe {
        describe(admin, args)
    } else if args.alter {
        alter(admin, args)
    } else {
        delete(admin, args)
    }
}

fn create(admin: &Admin, args: &Args) -> anyhow::Result<()> {
    let Some(name) = &args.topic else { bail!("--topic is required with --create") };
    if args.partitions.is_some_and(|p| p < 1) {
        bail!("The partitions must be greater than 0");
    }
    if args.replication_factor.is_some_and(|r| r < 1) {
        bail!("The replication factor must be between 1 and 32767 inclusive");
    }
    if name.contains('.') || name.contains('_') {
        outln!(
            "WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') could \
             collide. To avoid issues it is best to use either, but not both."
        )?;
    }
    let topic = NewTopic {
        configs: props::key_values(&args.configs, "--config")?,
        ..NewTopic::new(name.clone(), args.partitions.unwrap_or(-1), args.replication_factor.unwrap_or(-1))
    };
    let results = admin.create_topics(&[topic], false, None)?;
    for (name, result) in results {
        match result {
            Ok(()) => outln!("Created topic {name}.")?,
            Err(e) if args.if_not_exists && e.code() == Some(TOPIC_ALREADY_EXISTS) => {}
            Err(e) => bail!("{}", props::describe(&e)),
        }
    }
    Ok(())
}

const TOPIC_ALREADY_EXISTS: i16 = 36;

/// Topic names selected by --topic (all when absent), sorted; internal ones unless --exclude-internal.
fn matching(admin: &Admin, args: &Args) -> anyhow::Result<Vec<String>> {
    let names = admin.list_topics(!args.exclude_internal, None)?;
    let Some(filter) = &args.topic else { return Ok(names) };
    let pattern = regex::Regex::new(&format!("^(?:{})$", filter.replace(',', "|")));
    Ok(names
        .into_iter()
        .filter(|n| match &pattern {
            Ok(p) => p.is_match(n),
            // A name that is not a valid expression can only mean itself.
            Err(_) => n == filter,
        })
        .collect())
}

/// The selected topics, or Kafka's error when none matched (unless --if-exists).
fn existing(admin: &Admin, args: &Args) -> anyhow::Result<Vec<String>> {
    let names = matching(admin, args)?;
    if names.is_empty() && !args.if_exists {
        if let Some(topic) = &args.topic {
            bail!("Topic '{topic}' does not exist as expected");
        }
    }
    Ok(names)
}

fn describe(admin: &Admin, args: &Args) -> anyhow::Result<()> {
    let names = existing(admin, args)?;
    let resources: Vec<ConfigResource> =
        names.iter().map(|n| ConfigResource { resource_type: ResourceType::Topic, name: n.clone() }).collect();
    let configs = admin.describe_configs(&resources, None)?;
    for (name, described) in admin.describe_topics(&names, None)? {
        let topic = described.map_err(|e| anyhow::anyhow!("{}", props::describe(&e)))?;
        let non_default: Vec<String> = configs
            .iter()
            .find(|(r, _)| r.name == name)
            .and_then(|(_, entries)| entries.as_ref().ok())
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| !e.is_default)
                    .map(|e| {
                        format!(
                            "{}={}",
                            e.name,
                            if e.sensitive { "null" } else { e.value.as_deref().unwrap_or("null") }
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let replication_factor = topic.partitions.first().map_or(0, |p| p.replicas.len());
        // Kafka's tool prints only the matching partitions, without the topic's line, when asked for a report.
        let report = args.under_replicated_partitions || args.unavailable_partitions;
        let wanted = |p: &potok::client::cluster::PartitionMetadata| {
            !report
                || (args.under_replicated_partitions && p.isr.len() < p.replicas.len())
                || (args.unavailable_partitions && p.leader < 0)
        };
        if !report {
            outln!(
                "Topic: {name}\tTopicId: {}\tPartitionCount: {}\tReplicationFactor: {replication_factor}\tConfigs: {}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(topic.topic_id.as_bytes()),
                topic.partitions.len(),
                non_default.join(",")
            )?;
        }
        for p in topic.partitions.iter().filter(|p| wanted(p)) {
            let leader = if p.leader >= 0 { p.leader.to_string() } else { "none".to_string() };
            // Metadata carries no eligible leader replicas; a single-node cluster never has any, which Kafka
            // prints as empty lists.
            outln!(
                "\tTopic: {name}\tPartition: {}\tLeader: {leader}\tReplicas: {}\tIsr: {}\tElr: \tLastKnownElr: ",
                p.partition,
                join(&p.replicas),
                join(&p.isr)
            )?;
        }
    }
    Ok(())
}

fn join(ids: &[i32]) -> String {
    ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",")
}

fn alter(admin: &Admin, args: &Args) -> anyhow::Result<()> {
    if !args.configs.is_empty() {
        bail!("--config cannot be used with --alter: use kafka-configs (topic configs are altered there)");
    }
    let Some(partitions) = args.partitions else { bail!("--partitions is required with --alter") };
    let names = existing(admin, args)?;
    let totals: Vec<(String, i32)> = names.iter().map(|n| (n.clone(), partitions)).collect();
    for (_, result) in admin.create_partitions(&totals, false, None)? {
        result.map_err(|e: ClientError| anyhow::anyhow!("{}", props::describe(&e)))?;
    }
    Ok(())
}

fn delete(admin: &Admin, args: &Args) -> anyhow::Result<()> {
    let names = existing(admin, args)?;
    if names.is_empty() {
        return Ok(());
    }
    for (_, result) in admin.delete_topics(&names, None)? {
        result.map_err(|e| anyhow::anyhow!("{}", props::describe(&e)))?;
    }
    Ok(())
}
