//! `potok consumer-groups`: kafka-consumer-groups, with Kafka 4.1's options and output through potok's admin
//! client:
//! - `--list` (with `--state [STATES]` and `--type [TYPES]` a table, filtered by the states/types given);
//! - `--describe` of `--group G...` or `--all-groups`: offsets and lag per partition with the owning member
//!   (default, or `--offsets`; `--verbose` adds the committed leader epoch), `--members` (`--verbose` adds epochs
//!   and assignments), `--state` (coordinator, assignor, state, member count; `--verbose` adds epochs);
//! - `--delete` of groups;
//! - `--reset-offsets` of inactive groups over `--topic T[:P,...]`, `--all-topics` or a `--from-file` plan, to
//!   `--to-earliest`, `--to-latest`, `--to-current`, `--to-offset N`, `--shift-by N`, `--to-datetime T`,
//!   `--by-duration PnDTnHnMnS` or the file's offsets; a dry run unless `--execute`; `--export` prints the
//!   result as the CSV `--from-file` reads.
//!
//! Rows are sorted by group, topic and partition (Kafka 4.1 prints them in hash order). Where Kafka prints an
//! error and exits 0, potok prints the same text and exits 1.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use potok::client::admin::{Admin, GroupDescription, GroupListing, IsolationLevel, OffsetSpec};
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
    /// Describe groups: offsets and lag (default, or --offsets), --members or --state.
    #[arg(long)]
    describe: bool,
    /// Delete groups (they must have no members).
    #[arg(long)]
    delete: bool,
    /// Reset the committed offsets of inactive groups.
    #[arg(long)]
    reset_offsets: bool,
    /// The group (repeatable).
    #[arg(long = "group")]
    groups: Vec<String>,
    /// Every consumer group (with --describe, --delete and --reset-offsets).
    #[arg(long)]
    all_groups: bool,
    /// With --reset-offsets: a topic, or topic:0,1 for some partitions (repeatable).
    #[arg(long = "topic")]
    topics: Vec<String>,
    /// With --reset-offsets: every topic the group has committed offsets for.
    #[arg(long)]
    all_topics: bool,
    /// With --describe: the members and how many partitions each has.
    #[arg(long)]
    members: bool,
    /// With --describe: offsets and lag per partition (the default).
    #[arg(long)]
    offsets: bool,
    /// With --describe: the group's state; with --list: show states, or keep these (comma-separated) only.
    #[arg(long, num_args = 0..=1, value_name = "STATES")]
    state: Option<Option<String>>,
    /// With --list: show group types, or keep these (comma-separated: classic, consumer) only.
    #[arg(long = "type", num_args = 0..=1, value_name = "TYPES")]
    group_type: Option<Option<String>>,
    /// More columns (epochs, assignments, leader epochs).
    #[arg(long)]
    verbose: bool,
    /// The timeout of each admin call, in ms.
    #[arg(long, default_value_t = 5000, value_name = "MS")]
    timeout: u64,
    /// Reset to the earliest offset.
    #[arg(long)]
    to_earliest: bool,
    /// Reset to the log end offset.
    #[arg(long)]
    to_latest: bool,
    /// Reset to the committed offset (the log end where none is committed).
    #[arg(long)]
    to_current: bool,
    /// Reset to this offset (kept within the partition's earliest and latest offsets).
    #[arg(long, allow_hyphen_values = true)]
    to_offset: Option<i64>,
    /// Move the committed offset by this many (negative: back).
    #[arg(long, allow_hyphen_values = true)]
    shift_by: Option<i64>,
    /// Reset to the first offset at or after this time: yyyy-MM-ddTHH:mm:ss.SSS, optionally with Z or an offset.
    #[arg(long, value_name = "DATETIME")]
    to_datetime: Option<String>,
    /// Reset to the first offset at or after this long ago (ISO 8601 duration, PnDTnHnMnS).
    #[arg(long, value_name = "DURATION")]
    by_duration: Option<String>,
    /// Reset to the offsets of a CSV plan (topic,partition,offset or group,topic,partition,offset lines).
    #[arg(long, value_name = "FILE")]
    from_file: Option<PathBuf>,
    /// Apply the reset.
    #[arg(long)]
    execute: bool,
    /// Only show what the reset would do (the default).
    #[arg(long)]
    dry_run: bool,
    /// With --reset-offsets: print the result as CSV (for --from-file) instead of a table.
    #[arg(long)]
    export: bool,
}

const MISSING: &str = "-";

/// The states a consumer group can be in, as Kafka names them (the order of Kafka's error message).
const GROUP_STATES: &[&str] =
    &["Stable", "Reconciling", "Dead", "PreparingRebalance", "CompletingRebalance", "Empty", "Assigning"];
const GROUP_TYPES: &[&str] = &["Classic", "Consumer"];

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut config = props::client_config(Some(&args.bootstrap_server), args.command_config.as_deref(), Vec::new())?;
    config.push(("default.api.timeout.ms".into(), args.timeout.max(1).to_string()));
    let admin = Admin::new(&config)?;
    admin.set_connection_listener(props::connection_warnings("AdminClient", admin.client_id()));
    match execute(&admin, &args) {
        Err(e) if !admin.has_connected() => Err(props::unreachable(&args.bootstrap_server, format!("{e:#}"))),
        other => other,
    }
}

fn execute(admin: &Admin, args: &Args) -> anyhow::Result<()> {
    if args.list {
        return list(admin, args);
    }
    if args.groups.is_empty() && !args.all_groups {
        bail!("Option [describe], [delete] and [reset-offsets] take one of these options: [all-groups], [group]");
    }
    if !args.groups.is_empty() && args.all_groups {
        bail!("Option [all-groups] cannot be used with [group]");
    }
    let groups: Vec<String> = if args.all_groups {
        consumer_groups(admin, args)?.into_iter().map(|g| g.group_id).collect()
    } else {
        args.groups.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect()
    };
    if args.describe {
        describe(admin, args, &groups)
    } else if args.delete {
        delete(admin, args, &groups)
    } else {
        reset(admin, args, &groups)
    }
}

fn timeout(args: &Args) -> Option<Duration> {
    Some(Duration::from_millis(args.timeout.max(1)))
}

/// Consumer groups: classic groups with the consumer protocol (or only committed offsets) and consumer protocol
/// groups, as Kafka's tool lists them.
fn consumer_groups(admin: &Admin, args: &Args) -> anyhow::Result<Vec<GroupListing>> {
    Ok(admin
        .list_groups(timeout(args))?
        .into_iter()
        .filter(|g| g.protocol_type == "consumer" || g.protocol_type.is_empty())
        .collect())
}

/// Kafka's names out of a comma-separated list, matched case-insensitively; anything else is an error in
/// Kafka's words.
fn parse_names(input: &str, valid: &[&'static str], what: &str) -> anyhow::Result<BTreeSet<&'static str>> {
    input
        .split(',')
        .map(|s| {
            let s = s.trim();
            valid
                .iter()
                .copied()
                .find(|v| v.eq_ignore_ascii_case(s))
                .ok_or_else(|| anyhow!("Invalid {what} list '{input}'. Valid {what}s are: {}", valid.join(", ")))
        })
        .collect()
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |c| c.to_uppercase().chain(chars.flat_map(char::to_lowercase)).collect())
}

fn list(admin: &Admin, args: &Args) -> anyhow::Result<()> {
    let wanted = |flag: &Option<Option<String>>, valid, what| match flag {
        Some(Some(list)) if !list.is_empty() => parse_names(list, valid, what).map(Some),
        _ => Ok(None),
    };
    let states = wanted(&args.state, GROUP_STATES, "state")?;
    let types = wanted(&args.group_type, GROUP_TYPES, "type")?;
    let groups = consumer_groups(admin, args)?;
    let (show_type, show_state) = (args.group_type.is_some(), args.state.is_some());
    if !show_type && !show_state {
        for g in &groups {
            outln!("{}", g.group_id)?;
        }
        return Ok(());
    }
    let type_of =
        |g: &GroupListing| if g.group_type.is_empty() { "Unknown".into() } else { capitalized(&g.group_type) };
    let state_of = |g: &GroupListing| if g.state.is_empty() { "Unknown".to_string() } else { g.state.clone() };
    let groups: Vec<&GroupListing> = groups
        .iter()
        .filter(|g| states.as_ref().is_none_or(|s| s.iter().any(|s| s.eq_ignore_ascii_case(&g.state))))
        .filter(|g| types.as_ref().is_none_or(|t| t.iter().any(|t| t.eq_ignore_ascii_case(&g.group_type))))
        .collect();
    let width = groups.iter().map(|g| g.group_id.len().max(15)).max().unwrap_or(15) + 10;
    let line = |id: &str, kind: &str, state: &str| {
        let mut text = format!("{id:<width$}");
        if show_type {
            text.push_str(&format!(" {kind:<20}"));
        }
        if show_state {
            text.push_str(&format!(" {state:<20}"));
        }
        text
    };
    outln!("{}", line("GROUP", "TYPE", "STATE"))?;
    for g in groups {
        outln!("{}", line(&g.group_id, &type_of(g), &state_of(g)))?;
    }
    Ok(())
}

fn describe_group(admin: &Admin, args: &Args, group: &str) -> anyhow::Result<GroupDescription> {
    let (_, result) = admin
        .describe_groups(&[group.to_string()], timeout(args))?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("no description of group {group}"))?;
    result.map_err(|e| anyhow!("{}", props::describe(&e)))
}

/// Kafka's note for a group that is not stable (on stderr); an error for a group that does not exist.
fn note_state(group: &str, state: &str) -> anyhow::Result<()> {
    match state {
        "Dead" => bail!("Consumer group '{group}' does not exist."),
        "Empty" => eprintln!("\nConsumer group '{group}' has no active members."),
        "PreparingRebalance" | "CompletingRebalance" | "Assigning" | "Reconciling" => {
            eprintln!("\nWarning: Consumer group '{group}' is rebalancing.")
        }
        _ => {}
    }
    Ok(())
}

fn describe(admin: &Admin, args: &Args, groups: &[String]) -> anyhow::Result<()> {
    let views = [args.members, args.offsets, args.state.is_some()].iter().filter(|&&v| v).count();
    if views > 1 {
        bail!("Option [describe] takes at most one of these options: [members], [offsets], [state]");
    }
    for group in groups {
        let description = describe_group(admin, args, group)?;
        if args.members {
            describe_members(group, &description, args.verbose)?;
        } else if args.state.is_some() {
            describe_state(admin, group, &description, args.verbose)?;
        } else {
            describe_offsets(admin, args, group, &description)?;
        }
    }
    Ok(())
}

/// Log end offsets of the partitions; a partition whose lookup fails has none.
fn offsets_of(
    admin: &Admin,
    args: &Args,
    partitions: &BTreeSet<TopicPartition>,
    spec: OffsetSpec,
) -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
    if partitions.is_empty() {
        return Ok(BTreeMap::new());
    }
    let specs: Vec<(TopicPartition, OffsetSpec)> = partitions.iter().map(|tp| (tp.clone(), spec)).collect();
    Ok(admin
        .list_offsets(&specs, IsolationLevel::ReadUncommitted, timeout(args))?
        .into_iter()
        .filter_map(|(tp, r)| r.ok().map(|info| (tp, info.offset)))
        .collect())
}

fn describe_offsets(admin: &Admin, args: &Args, group: &str, description: &GroupDescription) -> anyhow::Result<()> {
    let committed = admin.list_consumer_group_offsets(group, None, timeout(args))?;
    // Members with partitions, those with the most first (a stable sort keeps the broker's order otherwise),
    // then the partitions with a committed offset that no member has.
    let mut members: Vec<_> = description.members.iter().filter(|m| !m.assignment.is_empty()).collect();
    members.sort_by_key(|m| std::cmp::Reverse(m.assignment.len()));
    let mut owned: Vec<(TopicPartition, [String; 3])> = Vec::new();
    for m in &members {
        let mut partitions = m.assignment.clone();
        partitions.sort();
        owned.extend(partitions.into_iter().map(|tp| (tp, [m.member_id.clone(), m.host.clone(), m.client_id.clone()])));
    }
    let assigned: BTreeSet<&TopicPartition> = owned.iter().map(|(tp, _)| tp).collect();
    let unowned: Vec<TopicPartition> = committed.keys().filter(|tp| !assigned.contains(tp)).cloned().collect();
    let dashes = || [MISSING.to_string(), MISSING.to_string(), MISSING.to_string()];
    owned.extend(unowned.into_iter().map(|tp| (tp, dashes())));
    let all: BTreeSet<TopicPartition> = owned.iter().map(|(tp, _)| tp.clone()).collect();
    let ends = offsets_of(admin, args, &all, OffsetSpec::Latest)?;
    note_state(group, &description.state)?;
    if owned.is_empty() {
        return Ok(());
    }
    let text = |v: Option<i64>| v.map_or_else(|| MISSING.to_string(), |v| v.to_string());
    let rows: Vec<Vec<String>> = owned
        .iter()
        .map(|(tp, [member, host, client])| {
            let current = committed.get(tp).map(|o| o.offset);
            let end = ends.get(tp).copied();
            let lag = current.filter(|&c| c != -1).and_then(|c| end.map(|e| e - c));
            let mut row = vec![group.to_string(), tp.topic.clone(), tp.partition.to_string()];
            if args.verbose {
                row.push(text(committed.get(tp).and_then(|o| o.leader_epoch).map(i64::from)));
            }
            row.extend([text(current), text(end), text(lag), member.clone(), host.clone(), client.clone()]);
            row
        })
        .collect();
    let width = |column: usize| rows.iter().map(|r| r[column].len()).max().unwrap_or(0).max(15);
    let mut header = vec!["GROUP", "TOPIC", "PARTITION"];
    if args.verbose {
        header.push("LEADER-EPOCH");
    }
    header.extend(["CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"]);
    let n = header.len();
    // Kafka pads group, topic, consumer id and host to their longest value (at least 15), the partition to 10
    // and the numbers to 15; the client id ends the line unpadded.
    let widths: Vec<usize> = (0..n - 1)
        .map(|i| match i {
            0 | 1 => width(i),
            2 => 10,
            i if i == n - 3 || i == n - 2 => width(i),
            _ => 15,
        })
        .collect();
    let line = |cells: &[&str]| {
        let mut text = String::new();
        for (cell, w) in cells.iter().zip(&widths) {
            text.push_str(&format!("{cell:<w$} "));
        }
        text.push_str(cells[n - 1]);
        text
    };
    outln!()?;
    outln!("{}", line(&header))?;
    for r in &rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        outln!("{}", line(&cells))?;
    }
    Ok(())
}

/// `topic:0,1;other:2`, topics sorted, partitions sorted (Kafka's assignment column).
fn assignment_text(partitions: &[TopicPartition]) -> String {
    if partitions.is_empty() {
        return MISSING.into();
    }
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    let mut parts: Vec<String> = by_topic
        .into_iter()
        .map(|(topic, mut ps)| {
            ps.sort_unstable();
            format!("{topic}:{}", ps.iter().map(i32::to_string).collect::<Vec<_>>().join(","))
        })
        .collect();
    parts.sort();
    parts.join(";")
}

fn describe_members(group: &str, description: &GroupDescription, verbose: bool) -> anyhow::Result<()> {
    note_state(group, &description.state)?;
    let members = &description.members;
    let width = |min: usize, f: &dyn Fn(&potok::client::admin::MemberDescription) -> usize| {
        members.iter().map(f).max().unwrap_or(0).max(min)
    };
    // Kafka sizes the columns from the rows, so without members even a long group name leaves them at 15.
    let group_w = if members.is_empty() { 15 } else { group.len().max(15) };
    let id_w = width(15, &|m| m.member_id.len());
    let instance_w = width(17, &|m| m.group_instance_id.as_deref().unwrap_or_default().len());
    let host_w = width(15, &|m| m.host.len());
    let client_w = width(15, &|m| m.client_id.len());
    let current_w = width(20, &|m| assignment_text(&m.assignment).len());
    let target_w = width(20, &|m| assignment_text(&m.target_assignment).len());
    let with_instance = members.iter().any(|m| m.group_instance_id.as_deref().is_some_and(|i| !i.is_empty()));
    let migrating =
        members.iter().any(|m| m.upgraded == Some(true)) && members.iter().any(|m| m.upgraded == Some(false));
    let head = |cells: [&str; 6]| {
        let mut text = format!("{:<group_w$} {:<id_w$} ", cells[0], cells[1]);
        if with_instance {
            text.push_str(&format!("{:<instance_w$} ", cells[2]));
        }
        text.push_str(&format!("{:<host_w$} {:<client_w$} {:<15} ", cells[3], cells[4], cells[5]));
        text
    };
    let tail = |cells: [&str; 5]| {
        let mut text = format!("{:<15} {:<current_w$} {:<15} ", cells[0], cells[1], cells[2]);
        if migrating {
            text.push_str(&format!("{:<target_w$} {}", cells[3], cells[4]));
        } else {
            text.push_str(&format!("{:<target_w$}", cells[3]));
        }
        text
    };
    outln!()?;
    let mut header = head(["GROUP", "CONSUMER-ID", "GROUP-INSTANCE-ID", "HOST", "CLIENT-ID", "#PARTITIONS"]);
    if verbose {
        header.push_str(&tail([
            "CURRENT-EPOCH",
            "CURRENT-ASSIGNMENT",
            "TARGET-EPOCH",
            "TARGET-ASSIGNMENT",
            "UPGRADED",
        ]));
    }
    outln!("{header}")?;
    for m in members {
        let count = m.assignment.len().to_string();
        let mut line = head([
            group,
            &m.member_id,
            m.group_instance_id.as_deref().unwrap_or_default(),
            &m.host,
            &m.client_id,
            &count,
        ]);
        if verbose {
            let epoch = |e: Option<i32>| e.map_or_else(|| MISSING.to_string(), |e| e.to_string());
            let upgraded = m.upgraded.map_or_else(|| MISSING.to_string(), |u| u.to_string());
            line.push_str(&tail([
                &epoch(m.member_epoch),
                &assignment_text(&m.assignment),
                &epoch(description.target_assignment_epoch),
                &assignment_text(&m.target_assignment),
                &upgraded,
            ]));
        }
        outln!("{line}")?;
    }
    Ok(())
}

fn describe_state(admin: &Admin, group: &str, description: &GroupDescription, verbose: bool) -> anyhow::Result<()> {
    note_state(group, &description.state)?;
    let node = description.coordinator;
    let coordinator = match admin.cluster().metadata().brokers.get(&node) {
        Some(b) => format!("{}:{}  ({node})", b.host, b.port),
        None => format!("-:-  ({node})"),
    };
    let coordinator_w = coordinator.len().max(25);
    let group_w = group.len().max(15);
    let strategy = if description.protocol.is_empty() { MISSING } else { description.protocol.as_str() };
    let epoch = |e: Option<i32>| e.map_or_else(|| MISSING.to_string(), |e| e.to_string());
    let members = description.members.len().to_string();
    let line = |cells: &[&str]| {
        if verbose {
            format!(
                "{:<group_w$} {:<coordinator_w$} {:<20} {:<20} {:<15} {:<25} {}",
                cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6]
            )
        } else {
            format!(
                "{:<group_w$} {:<coordinator_w$} {:<20} {:<20} {}",
                cells[0], cells[1], cells[2], cells[3], cells[6]
            )
        }
    };
    outln!()?;
    outln!(
        "{}",
        line(&[
            "GROUP",
            "COORDINATOR (ID)",
            "ASSIGNMENT-STRATEGY",
            "STATE",
            "GROUP-EPOCH",
            "TARGET-ASSIGNMENT-EPOCH",
            "#MEMBERS"
        ])
    )?;
    outln!(
        "{}",
        line(&[
            group,
            &coordinator,
            strategy,
            &description.state,
            &epoch(description.group_epoch),
            &epoch(description.target_assignment_epoch),
            &members,
        ])
    )?;
    Ok(())
}

fn delete(admin: &Admin, args: &Args, groups: &[String]) -> anyhow::Result<()> {
    let mut failed = Vec::new();
    let mut deleted = Vec::new();
    for (group, result) in admin.delete_groups(groups, timeout(args))? {
        match result {
            Ok(()) => deleted.push(format!("'{group}'")),
            Err(e) => failed.push(format!("* Group '{group}' could not be deleted due to: {e}")),
        }
    }
    if failed.is_empty() {
        outln!("Deletion of requested consumer groups ({}) was successful.", deleted.join(", "))?;
        return Ok(());
    }
    let mut text = format!("Deletion of some consumer groups failed:\n{}", failed.join("\n"));
    if !deleted.is_empty() {
        text.push_str(&format!("\n\nThese consumer groups were deleted successfully: {}", deleted.join(", ")));
    }
    bail!(text)
}

/// Java's `Duration.parse` (`PnDTnHnMn.nS`, optionally signed) in milliseconds.
fn parse_duration_ms(text: &str) -> anyhow::Result<i64> {
    let bad = || anyhow!("Text cannot be parsed to a Duration: {text} (expected PnDTnHnMn.nS, e.g. PT1H or P1DT30M)");
    let upper = text.to_ascii_uppercase();
    let (sign, rest) = match upper.strip_prefix('-') {
        Some(rest) => (-1.0, rest),
        None => (1.0, upper.strip_prefix('+').unwrap_or(&upper)),
    };
    let rest = rest.strip_prefix('P').ok_or_else(bad)?;
    let (days, time) = match rest.split_once('T') {
        Some((days, time)) if !time.is_empty() => (days, time),
        Some(_) => return Err(bad()),
        None => (rest, ""),
    };
    let mut total_ms = 0.0f64;
    let mut units = 0;
    let mut take = |part: &str, allowed: &[(char, f64)]| -> anyhow::Result<()> {
        let mut number = String::new();
        let mut next_unit = 0;
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' || c == '-' || c == '+' {
                number.push(c);
                continue;
            }
            let at = allowed.iter().skip(next_unit).position(|(u, _)| *u == c).ok_or_else(bad)? + next_unit;
            let value: f64 = number.parse().map_err(|_| bad())?;
            if c != 'S' && number.contains('.') {
                return Err(bad());
            }
            total_ms += value * allowed[at].1;
            number.clear();
            next_unit = at + 1;
            units += 1;
        }
        if number.is_empty() {
            Ok(())
        } else {
            Err(bad())
        }
    };
    take(days, &[('D', 86_400_000.0)])?;
    take(time, &[('H', 3_600_000.0), ('M', 60_000.0), ('S', 1000.0)])?;
    if units == 0 {
        return Err(bad());
    }
    Ok((sign * total_ms) as i64)
}

/// A CSV field as Kafka's tool writes it (Jackson's CSV writer): quoted when longer than 24 characters or
/// holding a character below `-` (the separator, quotes, spaces among them), with quotes doubled.
fn csv_field(text: &str) -> String {
    if text.chars().count() > 24 || text.chars().any(|c| (c as u32) < u32::from(b'-')) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The fields of a CSV line, quoted or not.
fn csv_fields(line: &str) -> anyhow::Result<Vec<String>> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => bail!("unterminated quote in: {line}"),
                }
            }
        }
        while let Some(&c) = chars.peek() {
            if c == ',' {
                break;
            }
            field.push(c);
            chars.next();
        }
        fields.push(field.trim().to_string());
        if chars.next().is_none() {
            return Ok(fields);
        }
    }
}

/// A `--from-file` plan: offsets by group. `topic,partition,offset` lines belong to the one `--group`; otherwise
/// lines are `group,topic,partition,offset`.
fn parse_plan(text: &str, groups: &[String]) -> anyhow::Result<BTreeMap<String, BTreeMap<TopicPartition, i64>>> {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let three_columns = match lines.first() {
        Some(l) => {
            let cells = csv_fields(l)?;
            cells.len() == 3 && cells[1].parse::<i32>().is_ok() && cells[2].parse::<i64>().is_ok()
        }
        None => false,
    };
    let mut plan: BTreeMap<String, BTreeMap<TopicPartition, i64>> = BTreeMap::new();
    for (i, line) in lines.iter().enumerate() {
        let cells = csv_fields(line)?;
        let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
        let (group, topic, partition, offset) = match (groups.len() == 1 && three_columns, cells.as_slice()) {
            (true, [topic, partition, offset]) => (groups[0].as_str(), *topic, *partition, *offset),
            (false, [group, topic, partition, offset]) => (*group, *topic, *partition, *offset),
            _ => bail!(
                "line {} of the reset plan is not {}: {line}",
                i + 1,
                if groups.len() == 1 && three_columns {
                    "topic,partition,offset"
                } else {
                    "group,topic,partition,offset"
                }
            ),
        };
        let partition: i32 =
            partition.parse().with_context(|| format!("line {}: bad partition {partition:?}", i + 1))?;
        let offset: i64 = offset.parse().with_context(|| format!("line {}: bad offset {offset:?}", i + 1))?;
        plan.entry(group.to_string()).or_default().insert(TopicPartition::new(topic, partition), offset);
    }
    Ok(plan)
}

fn reset(admin: &Admin, args: &Args, groups: &[String]) -> anyhow::Result<()> {
    let scenarios = [
        args.to_earliest,
        args.to_latest,
        args.to_current,
        args.to_offset.is_some(),
        args.shift_by.is_some(),
        args.to_datetime.is_some(),
        args.by_duration.is_some(),
        args.from_file.is_some(),
    ];
    if scenarios.iter().filter(|&&s| s).count() != 1 {
        bail!(
            "Option [reset-offsets] takes exactly one of these options: [to-earliest], [to-latest], [to-current], \
             [to-offset], [shift-by], [to-datetime], [by-duration], [from-file]"
        );
    }
    if args.execute && args.dry_run {
        bail!("Option [execute] cannot be used with [dry-run]");
    }
    if !args.execute && !args.dry_run {
        eprintln!(
            "WARN: No action will be performed as the --execute option is missing. In a future major release, the \
             default behavior of this command will be to prompt the user before executing the reset rather than \
             doing a dry run. You should add the --dry-run option explicitly if you are scripting this command and \
             want to keep the current default behavior without prompting."
        );
    }
    let plan = match &args.from_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Some(parse_plan(&text, groups)?)
        }
        None => None,
    };
    let mut results: BTreeMap<String, BTreeMap<TopicPartition, i64>> = BTreeMap::new();
    let mut errors = 0;
    for group in groups {
        let description = describe_group(admin, args, group)?;
        if !matches!(description.state.as_str(), "Empty" | "Dead") {
            outln!(
                "\nError: Assignments can only be reset if the group '{group}' is inactive, but the current state is {}.",
                description.state
            )?;
            errors += 1;
            results.insert(group.clone(), BTreeMap::new());
            continue;
        }
        let offsets = match &plan {
            Some(plan) => match plan.get(group) {
                Some(offsets) => within_range(admin, args, offsets)?,
                None => {
                    outln!("\nError: No reset plan for group {group} found.")?;
                    errors += 1;
                    BTreeMap::new()
                }
            },
            None => new_offsets(admin, args, group)?,
        };
        if args.execute && !offsets.is_empty() {
            let committed: BTreeMap<TopicPartition, OffsetAndMetadata> =
                offsets.iter().map(|(tp, &o)| (tp.clone(), OffsetAndMetadata::new(o))).collect();
            for (tp, result) in admin.alter_consumer_group_offsets(group, &committed, timeout(args))? {
                result.map_err(|e| anyhow!("Error committing the offset of {tp} for group '{group}': {e}"))?;
            }
        }
        results.insert(group.clone(), offsets);
    }
    if args.export {
        for (group, offsets) in &results {
            for (tp, offset) in offsets {
                if groups.len() == 1 {
                    outln!("{},{},{offset}", csv_field(&tp.topic), tp.partition)?;
                } else {
                    outln!("{},{},{},{offset}", csv_field(group), csv_field(&tp.topic), tp.partition)?;
                }
            }
        }
        outln!()?;
    } else {
        if !results.is_empty() {
            outln!()?;
            print!("{:<30} {:<30} {:<10} {:<15}", "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET");
        }
        for (group, offsets) in &results {
            for (tp, offset) in offsets {
                print!("\n{group:<30} {:<30} {:<10} {offset:<15}", tp.topic, tp.partition);
            }
        }
        outln!()?;
    }
    if errors > 0 {
        bail!("the offsets of {errors} group(s) were not reset");
    }
    Ok(())
}

/// The partitions a reset covers: `--topic t` (all its partitions), `--topic t:0,2`, or `--all-topics`; every
/// one must exist and have a leader.
fn reset_scope(admin: &Admin, args: &Args, group: &str) -> anyhow::Result<BTreeSet<TopicPartition>> {
    if args.all_topics {
        return Ok(admin.list_consumer_group_offsets(group, None, timeout(args))?.into_keys().collect());
    }
    if args.topics.is_empty() {
        bail!("One of the reset scopes should be defined: --all-topics, --topic.");
    }
    let mut scope = BTreeSet::new();
    let mut whole_topics = Vec::new();
    for item in &args.topics {
        match item.split_once(':') {
            Some((topic, list)) => {
                for p in list.split(',') {
                    let partition = p
                        .trim()
                        .parse::<i32>()
                        .map_err(|_| anyhow!("Invalid partition '{p}' specified in topic arg '{item}''"))?;
                    scope.insert(TopicPartition::new(topic, partition));
                }
            }
            None => whole_topics.push(item.clone()),
        }
    }
    let named: BTreeSet<String> = scope.iter().map(|tp| tp.topic.clone()).chain(whole_topics.iter().cloned()).collect();
    let named: Vec<String> = named.into_iter().collect();
    let mut existing = BTreeMap::new();
    for (topic, described) in admin.describe_topics(&named, timeout(args))? {
        if let Ok(t) = described {
            existing.insert(topic, t);
        }
    }
    for topic in &whole_topics {
        let t = existing.get(topic).ok_or_else(|| anyhow!("The partitions \"{topic}\" do not exist"))?;
        scope.extend(t.partitions.iter().map(|p| TopicPartition::new(topic.clone(), p.partition)));
    }
    let missing: Vec<String> = scope
        .iter()
        .filter(|tp| existing.get(&tp.topic).and_then(|t| t.partition(tp.partition)).is_none())
        .map(|tp| tp.to_string())
        .collect();
    if !missing.is_empty() {
        bail!("The partitions \"{}\" do not exist", missing.join(","));
    }
    let leaderless: Vec<String> = scope
        .iter()
        .filter(|tp| existing.get(&tp.topic).and_then(|t| t.partition(tp.partition)).is_some_and(|p| p.leader < 0))
        .map(|tp| tp.to_string())
        .collect();
    if !leaderless.is_empty() {
        bail!("The partitions \"{}\" have no leader", leaderless.join(","));
    }
    Ok(scope)
}

/// Requested offsets moved within each partition's earliest and latest offsets, with Kafka's warning for each
/// one moved.
fn within_range(
    admin: &Admin,
    args: &Args,
    requested: &BTreeMap<TopicPartition, i64>,
) -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
    let partitions: BTreeSet<TopicPartition> = requested.keys().cloned().collect();
    let earliest = offsets_of(admin, args, &partitions, OffsetSpec::Earliest)?;
    let latest = offsets_of(admin, args, &partitions, OffsetSpec::Latest)?;
    let warn = |text: String| eprintln!("{} WARN {text}", crate::time::log_timestamp(std::time::SystemTime::now()));
    let mut out = BTreeMap::new();
    for (tp, &offset) in requested {
        let Some(&end) = latest.get(tp) else { bail!("Unexpected non-existing offset value for topic partition {tp}") };
        let value = match earliest.get(tp) {
            _ if offset > end => {
                warn(format!(
                    "New offset ({offset}) is higher than latest offset for topic partition {tp}. Value will be set to {end}"
                ));
                end
            }
            Some(&start) if offset < start => {
                warn(format!(
                    "New offset ({offset}) is lower than earliest offset for topic partition {tp}. Value will be set to {start}"
                ));
                start
            }
            _ => offset,
        };
        out.insert(tp.clone(), value);
    }
    Ok(out)
}

/// The first offset at or after `timestamp` in each partition, or its end (with Kafka's note) when none is.
fn offsets_at(
    admin: &Admin,
    args: &Args,
    scope: &BTreeSet<TopicPartition>,
    timestamp: i64,
) -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
    let at = offsets_of(admin, args, scope, OffsetSpec::Timestamp(timestamp))?;
    let latest = offsets_of(admin, args, scope, OffsetSpec::Latest)?;
    let mut out = BTreeMap::new();
    for tp in scope {
        let offset = match at.get(tp) {
            Some(&o) if o >= 0 => o,
            _ => {
                outln!(
                    "\nWarn: Partition {} from topic {} is empty. Falling back to latest known offset.",
                    tp.partition,
                    tp.topic
                )?;
                *latest.get(tp).ok_or_else(|| anyhow!("Error getting offset by timestamp of topic partition: {tp}"))?
            }
        };
        out.insert(tp.clone(), offset);
    }
    Ok(out)
}

fn new_offsets(admin: &Admin, args: &Args, group: &str) -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
    let scope = reset_scope(admin, args, group)?;
    let committed = || admin.list_consumer_group_offsets(group, None, timeout(args));
    let lookup = |spec, what: &str| -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
        let found = offsets_of(admin, args, &scope, spec)?;
        for tp in &scope {
            if !found.contains_key(tp) {
                bail!("Error getting {what} offset of topic partition: {tp}");
            }
        }
        Ok(found)
    };
    if args.to_earliest {
        lookup(OffsetSpec::Earliest, "starting")
    } else if args.to_latest {
        lookup(OffsetSpec::Latest, "ending")
    } else if let Some(offset) = args.to_offset {
        within_range(admin, args, &scope.iter().map(|tp| (tp.clone(), offset)).collect())
    } else if let Some(shift) = args.shift_by {
        let committed = committed()?;
        let mut requested = BTreeMap::new();
        for tp in &scope {
            let current = committed.get(tp).ok_or_else(|| {
                anyhow!("Cannot shift offset for partition {tp} since there is no current committed offset")
            })?;
            requested.insert(tp.clone(), current.offset.saturating_add(shift));
        }
        within_range(admin, args, &requested)
    } else if let Some(datetime) = &args.to_datetime {
        offsets_at(admin, args, &scope, crate::time::parse_datetime(datetime)?)
    } else if let Some(duration) = &args.by_duration {
        let ago = parse_duration_ms(duration)?;
        offsets_at(admin, args, &scope, potok::net::now_ms() - ago)
    } else {
        // --to-current: the committed offset, or the log end where the group has none.
        let committed = committed()?;
        let ends = lookup(OffsetSpec::Latest, "ending")?;
        Ok(scope.iter().map(|tp| (tp.clone(), committed.get(tp).map_or(ends[tp], |o| o.offset))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_as_java_parses_them() {
        assert_eq!(parse_duration_ms("PT1H").unwrap(), 3_600_000);
        assert_eq!(parse_duration_ms("P1DT30M").unwrap(), 86_400_000 + 1_800_000);
        assert_eq!(parse_duration_ms("PT0.5S").unwrap(), 500);
        assert_eq!(parse_duration_ms("pt2m").unwrap(), 120_000);
        assert_eq!(parse_duration_ms("-PT1S").unwrap(), -1000);
        for bad in ["", "P", "PT", "1H", "PT1H2H", "PT1M1H", "P1Y", "PT1.5H", "PTxS"] {
            assert!(parse_duration_ms(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reset_plans_read_both_csv_shapes() {
        let one = parse_plan("t,0,5\nt,1,7\n", &["g".into()]).unwrap();
        assert_eq!(one["g"][&TopicPartition::new("t", 1)], 7);
        let many = parse_plan("g1,t,0,5\ng2,u,3,1\n", &["g1".into(), "g2".into()]).unwrap();
        assert_eq!(many["g2"][&TopicPartition::new("u", 3)], 1);
        let grouped_for_one = parse_plan("g1,t,0,5\n", &["g1".into()]).unwrap();
        assert_eq!(grouped_for_one["g1"][&TopicPartition::new("t", 0)], 5);
        assert!(parse_plan("t,x,5\n", &["g".into()]).is_err());
        let quoted = parse_plan("\"a-topic-name-longer-than-24\",0,5\n", &["g".into()]).unwrap();
        assert_eq!(quoted["g"][&TopicPartition::new("a-topic-name-longer-than-24", 0)], 5);
    }

    #[test]
    fn csv_fields_are_quoted_as_jackson_quotes_them() {
        assert_eq!(csv_field("cg2"), "cg2");
        assert_eq!(csv_field("cli-topic-19467-1796294124"), "\"cli-topic-19467-1796294124\"");
        assert_eq!(csv_field("a b"), "\"a b\"");
        assert_eq!(csv_field("say\"hi"), "\"say\"\"hi\"");
        assert_eq!(csv_fields("\"say\"\"hi\",2, 3").unwrap(), ["say\"hi", "2", "3"]);
    }

    #[test]
    fn assignments_print_as_kafka_prints_them() {
        let tps = [TopicPartition::new("b", 2), TopicPartition::new("a", 1), TopicPartition::new("b", 0)];
        assert_eq!(assignment_text(&tps), "a:1;b:0,2");
        assert_eq!(assignment_text(&[]), "-");
        assert_eq!(capitalized("classic"), "Classic");
    }
}
