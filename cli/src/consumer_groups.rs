//! `potok consumer-groups`: kafka-consumer-groups. Lists consumer groups, describes a group's offsets and lag
//! per partition with the member that owns each (the columns Kafka 4.1 prints), deletes groups, and resets a
//! group's committed offsets (`--to-earliest`, `--to-latest`, `--to-offset N`, `--to-current`, `--shift-by N`;
//! a dry run unless `--execute`). All through potok's admin client.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::bail;
use potok::client::admin::{Admin, GroupDescription, IsolationLevel, OffsetSpec};
use potok::client::{OffsetAndMetadata, TopicPartition};

use crate::props;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("action").required(true).args(["list", "describe", "delete", "reset_offsets"])))]
pub struct Args {
    /// The broker(s) to connect to (host:port,...).
    #[arg(long, value_name = "HOST:PORT")]
    bootstrap_server: String,
    /// Admin client config file.
    #[arg(long, value_name = "FILE")]
    command_config: Option<PathBuf>,
    /// List all consumer groups.
    #[arg(long)]
    list: bool,
    /// Describe a group: offsets, log end offsets, lag and owners.
    #[arg(long)]
    describe: bool,
    /// Delete groups (they must have no members).
    #[arg(long)]
    delete: bool,
    /// Reset a group's committed offsets (the group must have no members).
    #[arg(long)]
    reset_offsets: bool,
    /// The group (repeatable with --delete and --describe).
    #[arg(long = "group")]
    groups: Vec<String>,
    /// With --reset-offsets: a topic, or topic:0,1 for some partitions (repeatable).
    #[arg(long = "topic")]
    topics: Vec<String>,
    /// With --reset-offsets: every topic the group has offsets for.
    #[arg(long)]
    all_topics: bool,
    /// Reset to the earliest offset.
    #[arg(long)]
    to_earliest: bool,
    /// Reset to the log end offset.
    #[arg(long)]
    to_latest: bool,
    /// Reset to this offset (kept within the partition's earliest and latest offsets).
    #[arg(long)]
    to_offset: Option<i64>,
    /// Reset to the committed offset (a no-op that lists the offsets).
    #[arg(long)]
    to_current: bool,
    /// Move the committed offset by this many (negative: back).
    #[arg(long, allow_hyphen_values = true)]
    shift_by: Option<i64>,
    /// Apply the reset.
    #[arg(long)]
    execute: bool,
    /// Only show what the reset would do (the default).
    #[arg(long)]
    dry_run: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = props::client_config(Some(&args.bootstrap_server), args.command_config.as_deref(), Vec::new())?;
    let admin = Admin::new(&config)?;
    if args.list {
        for group in admin.list_groups(None)? {
            // Consumer groups only: a classic group with protocol type "consumer", or one that only holds
            // committed offsets (empty protocol type), as Kafka's tool filters them.
            if group.protocol_type == "consumer" || group.protocol_type.is_empty() {
                println!("{}", group.group_id);
            }
        }
        return Ok(());
    }
    if args.groups.is_empty() {
        bail!("Option '[group]' is required with --describe, --delete and --reset-offsets");
    }
    if args.describe {
        for group in &args.groups {
            describe(&admin, group)?;
        }
        Ok(())
    } else if args.delete {
        delete(&admin, &args.groups)
    } else {
        reset(&admin, &args)
    }
}

fn describe_one(admin: &Admin, group: &str) -> anyhow::Result<GroupDescription> {
    let (_, result) = admin
        .describe_groups(&[group.to_string()], None)?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no description of group {group}"))?;
    let description = result.map_err(|e| anyhow::anyhow!("{}", props::describe(&e)))?;
    if description.state == "Dead" {
        bail!("Consumer group '{group}' does not exist.");
    }
    Ok(description)
}

/// Log end offsets (high watermarks) of the given partitions; `None` where the lookup failed.
fn log_end_offsets(
    admin: &Admin,
    partitions: &BTreeSet<TopicPartition>,
) -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
    offsets(admin, partitions, OffsetSpec::Latest)
}

fn offsets(
    admin: &Admin,
    partitions: &BTreeSet<TopicPartition>,
    spec: OffsetSpec,
) -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
    let specs: Vec<(TopicPartition, OffsetSpec)> = partitions.iter().map(|tp| (tp.clone(), spec)).collect();
    if specs.is_empty() {
        return Ok(BTreeMap::new());
    }
    Ok(admin
        .list_offsets(&specs, IsolationLevel::ReadUncommitted, None)?
        .into_iter()
        .filter_map(|(tp, r)| r.ok().map(|info| (tp, info.offset)))
        .collect())
}

fn describe(admin: &Admin, group: &str) -> anyhow::Result<()> {
    let description = describe_one(admin, group)?;
    let committed = admin.list_consumer_group_offsets(group, None, None)?;
    let mut owners: BTreeMap<TopicPartition, (String, String, String)> = BTreeMap::new();
    let mut idle_members = Vec::new();
    for m in &description.members {
        if m.assignment.is_empty() {
            idle_members.push(m);
        }
        for tp in &m.assignment {
            owners.insert(tp.clone(), (m.member_id.clone(), m.host.clone(), m.client_id.clone()));
        }
    }
    let partitions: BTreeSet<TopicPartition> = owners.keys().chain(committed.keys()).cloned().collect();
    let ends = log_end_offsets(admin, &partitions)?;
    if description.members.is_empty() {
        eprintln!("\nConsumer group '{group}' has no active members.");
    }
    let dash = || "-".to_string();
    let mut rows: Vec<[String; 9]> = Vec::new();
    for tp in &partitions {
        let current = committed.get(tp).map(|o| o.offset);
        let end = ends.get(tp).copied();
        let lag = match (current, end) {
            (Some(c), Some(e)) => (e - c).max(0).to_string(),
            _ => dash(),
        };
        let (member, host, client) = owners.get(tp).cloned().unwrap_or_else(|| (dash(), dash(), dash()));
        rows.push([
            group.to_string(),
            tp.topic.clone(),
            tp.partition.to_string(),
            current.map_or_else(dash, |c| c.to_string()),
            end.map_or_else(dash, |e| e.to_string()),
            lag,
            member,
            host,
            client,
        ]);
    }
    for m in idle_members {
        rows.push([
            group.to_string(),
            dash(),
            dash(),
            dash(),
            dash(),
            dash(),
            m.member_id.clone(),
            m.host.clone(),
            m.client_id.clone(),
        ]);
    }
    let header =
        ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"];
    // Kafka pads the group, topic, consumer id and host columns to their longest value (at least 15), the
    // partition to 10 and the offsets to 15; the last column is not padded.
    let width = |i: usize| rows.iter().map(|r| r[i].len()).max().unwrap_or(0).max(15);
    let widths = [width(0), width(1), 10, 15, 15, 15, width(6), width(7)];
    println!();
    let line = |cells: &[&str]| {
        let mut text = String::new();
        for (i, w) in widths.iter().enumerate() {
            text.push_str(&format!("{:<w$} ", cells[i], w = *w));
        }
        text.push_str(cells[8]);
        text
    };
    println!("{}", line(&header));
    for r in &rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        println!("{}", line(&cells));
    }
    Ok(())
}

fn delete(admin: &Admin, groups: &[String]) -> anyhow::Result<()> {
    let mut failed = Vec::new();
    let mut deleted = Vec::new();
    for (group, result) in admin.delete_groups(groups, None)? {
        match result {
            Ok(()) => deleted.push(format!("'{group}'")),
            Err(e) => failed.push(format!("* Group '{group}' could not be deleted due to: {e}")),
        }
    }
    if !deleted.is_empty() {
        println!("Deletion of requested consumer groups ({}) was successful.", deleted.join(", "));
    }
    if !failed.is_empty() {
        bail!("Deletion of some consumer groups failed:\n{}", failed.join("\n"));
    }
    Ok(())
}

/// The partitions a reset covers: `--topic t` (all its partitions), `--topic t:0,2`, or `--all-topics`.
fn reset_scope(
    admin: &Admin,
    args: &Args,
    committed: &BTreeMap<TopicPartition, OffsetAndMetadata>,
) -> anyhow::Result<BTreeSet<TopicPartition>> {
    if args.all_topics {
        return Ok(committed.keys().cloned().collect());
    }
    if args.topics.is_empty() {
        bail!("One of the reset scopes should be defined: --all-topics, --topic.");
    }
    let mut scope = BTreeSet::new();
    for item in &args.topics {
        match item.split_once(':') {
            Some((topic, list)) => {
                for p in list.split(',') {
                    let partition =
                        p.trim().parse::<i32>().map_err(|_| anyhow::anyhow!("--topic {item}: bad partition {p:?}"))?;
                    scope.insert(TopicPartition::new(topic, partition));
                }
            }
            None => {
                let (_, described) = admin
                    .describe_topics(std::slice::from_ref(item), None)?
                    .into_iter()
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("no metadata for topic {item}"))?;
                let topic = described.map_err(|e| anyhow::anyhow!("Topic '{item}': {e}"))?;
                scope.extend(topic.partitions.iter().map(|p| TopicPartition::new(item.clone(), p.partition)));
            }
        }
    }
    Ok(scope)
}

fn reset(admin: &Admin, args: &Args) -> anyhow::Result<()> {
    let chosen = [args.to_earliest, args.to_latest, args.to_offset.is_some(), args.to_current, args.shift_by.is_some()]
        .iter()
        .filter(|&&c| c)
        .count();
    if chosen != 1 {
        bail!("Exactly one of --to-earliest, --to-latest, --to-offset, --to-current, --shift-by is required");
    }
    if args.execute && args.dry_run {
        bail!("--execute and --dry-run cannot be used together");
    }
    if args.groups.len() != 1 {
        bail!("--reset-offsets takes one --group");
    }
    let group = &args.groups[0];
    let description = admin
        .describe_groups(std::slice::from_ref(group), None)?
        .into_iter()
        .next()
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow::anyhow!("no description of group {group}"))?
        .map_err(|e| anyhow::anyhow!("{}", props::describe(&e)))?;
    if !matches!(description.state.as_str(), "Empty" | "Dead") {
        bail!(
            "Assignments can only be reset if the group '{group}' is inactive, but the current state is {}.",
            description.state
        );
    }
    let committed = admin.list_consumer_group_offsets(group, None, None)?;
    let scope = reset_scope(admin, args, &committed)?;
    let earliest = offsets(admin, &scope, OffsetSpec::Earliest)?;
    let latest = offsets(admin, &scope, OffsetSpec::Latest)?;
    let mut new_offsets = BTreeMap::new();
    for tp in &scope {
        let (Some(&low), Some(&high)) = (earliest.get(tp), latest.get(tp)) else {
            bail!("Error getting the offsets of partition {tp}: it does not exist or has no leader");
        };
        let current = committed.get(tp).map(|o| o.offset);
        let target = if args.to_earliest {
            low
        } else if args.to_latest {
            high
        } else if let Some(offset) = args.to_offset {
            offset
        } else if let Some(shift) = args.shift_by {
            current.unwrap_or(low).saturating_add(shift)
        } else {
            current.unwrap_or(low)
        };
        new_offsets.insert(tp.clone(), OffsetAndMetadata::new(target.clamp(low, high)));
    }
    if args.execute {
        for (tp, result) in admin.alter_consumer_group_offsets(group, &new_offsets, None)? {
            result.map_err(|e| anyhow::anyhow!("Error committing the offset of {tp}: {e}"))?;
        }
    } else if !args.dry_run {
        eprintln!(
            "WARN: No action will be performed as the --execute option is missing. In a future major release, the \
             default behavior of this command will be to prompt the user before executing the reset rather than \
             doing a dry run. You should add the --dry-run option explicitly if you are scripting this command and \
             want to keep the current default behavior without prompting."
        );
    }
    println!();
    println!("{:<30} {:<30} {:<10} {:<15}", "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET");
    for (tp, offset) in &new_offsets {
        println!("{:<30} {:<30} {:<10} {:<15}", group, tp.topic, tp.partition, offset.offset);
    }
    Ok(())
}
