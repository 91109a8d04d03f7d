//! The native consumer's blocking public API: config, subscription, offset lookups and commits, and the `poll`
//! loop that runs fetch rounds of the sans-IO [`Fetcher`] (`driver.rs`) and the callbacks of the sans-IO group
//! membership [`ConsumerCoordinator`] (driven by `group.rs`) on the client runtime. Each assigned partition's
//! position lives in the fetcher, under the `state` lock; the membership lives under the `coordinator` lock.
//!
//! Callbacks (the rebalance listener) run on the thread calling `poll`, never on an IO thread, and no lock is
//! held while they run, so they may call the consumer (e.g. `commit_sync` in `on_partitions_revoked`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::coordinator::{Action, ConsumerCoordinator, CoordinatorConfig};
use super::driver;
use super::fetcher::{Fetcher, FetcherConfig, ResetPolicy};
use super::group;
use super::ConsumerRecord;
use crate::client::admin::{IsolationLevel, ListOffsetsInfo, OffsetSpec};
use crate::client::assignor::assignor_by_name;
use crate::client::cluster::Cluster;
use crate::client::config::{ClientKind, CommonConfig, Properties};
use crate::client::error::{ClientError, Result};
use crate::client::producer::{lock, ConsumerGroupMetadata};
use crate::client::requests;
use crate::client::{runtime, OffsetAndMetadata, TopicPartition};

/// Called around rebalances, on the thread calling `poll` (Kafka's `ConsumerRebalanceListener`).
pub trait RebalanceListener: Send {
    fn on_partitions_revoked(&mut self, partitions: &[TopicPartition]);
    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition]);
    /// Partitions lost without a chance to commit (the member was fenced); defaults to revoked.
    fn on_partitions_lost(&mut self, partitions: &[TopicPartition]) {
        self.on_partitions_revoked(partitions);
    }
}

#[derive(Debug, Clone)]
pub(super) struct ConsumerConfig {
    /// Group settings (present when `group.id` is set); the retry backoffs and the auto-commit interval are
    /// filled in by [`Consumer::new`].
    group: Option<CoordinatorConfig>,
    max_poll_records: usize,
    fetch_min_bytes: i32,
    fetch_max_bytes: i32,
    fetch_max_wait: Duration,
    max_partition_fetch_bytes: i32,
    auto_commit: Option<Duration>,
    reset: ResetPolicy,
    isolation_level: IsolationLevel,
    exclude_internal_topics: bool,
    pub(super) allow_auto_create_topics: bool,
    default_api_timeout: Duration,
}

impl ConsumerConfig {
    fn from_properties(props: &Properties) -> Result<ConsumerConfig> {
        if props.str("group.protocol").is_some_and(|p| p.eq_ignore_ascii_case("consumer")) {
            return Err(ClientError::config(
                "group.protocol",
                "potok's consumer speaks the classic group protocol only (the broker serves both)",
            ));
        }
        let group = match props.str("group.id").filter(|g| !g.is_empty()) {
            None => None,
            Some(group_id) => {
                let assignors = props
                    .str("partition.assignment.strategy")
                    .unwrap_or("range")
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(assignor_by_name)
                    .collect::<Result<Vec<_>>>()?;
                if assignors.is_empty() {
                    return Err(ClientError::config("partition.assignment.strategy", "is empty"));
                }
                let session_timeout = props.ms("session.timeout.ms");
                let heartbeat_interval = props.ms("heartbeat.interval.ms");
                if heartbeat_interval >= session_timeout {
                    return Err(ClientError::config("heartbeat.interval.ms", "must be lower than session.timeout.ms"));
                }
                let ms = |d: Duration| d.as_millis().min(u64::MAX as u128) as u64;
                Some(CoordinatorConfig {
                    group_id: group_id.to_string(),
                    group_instance_id: props.str("group.instance.id").filter(|s| !s.is_empty()).map(str::to_string),
                    session_timeout_ms: ms(session_timeout),
                    rebalance_timeout_ms: ms(props.ms("max.poll.interval.ms")),
                    heartbeat_interval_ms: ms(heartbeat_interval),
                    assignors,
                    client_rack: props.str("client.rack").filter(|s| !s.is_empty()).map(str::to_string),
                    retry_backoff_ms: 0,
                    retry_backoff_max_ms: 0,
                    auto_commit_interval_ms: None,
                })
            }
        };
        let max_poll_records = props.i64("max.poll.records");
        if max_poll_records < 1 {
            return Err(ClientError::config("max.poll.records", "must be at least 1"));
        }
        Ok(ConsumerConfig {
            auto_commit: (group.is_some() && props.bool("enable.auto.commit"))
                .then(|| props.ms("auto.commit.interval.ms")),
            group,
            max_poll_records: max_poll_records as usize,
            fetch_min_bytes: props.i32("fetch.min.bytes"),
            fetch_max_bytes: props.i32("fetch.max.bytes"),
            fetch_max_wait: props.ms("fetch.max.wait.ms"),
            max_partition_fetch_bytes: props.i32("max.partition.fetch.bytes"),
            reset: match props.str("auto.offset.reset") {
                Some("earliest") => ResetPolicy::Earliest,
                Some("none") => ResetPolicy::None,
                _ => ResetPolicy::Latest,
            },
            isolation_level: if props.str("isolation.level") == Some("read_committed") {
                IsolationLevel::ReadCommitted
            } else {
                IsolationLevel::ReadUncommitted
            },
            exclude_internal_topics: props.bool("exclude.internal.topics"),
            allow_auto_create_topics: props.bool("allow.auto.create.topics"),
            default_api_timeout: props.ms("default.api.timeout.ms"),
        })
    }
}

#[derive(Debug, Clone)]
enum Subscription {
    None,
    Topics(Vec<String>),
    Pattern(regex::Regex),
    Assigned,
}

#[derive(Debug)]
pub(super) struct State {
    subscription: Option<SubscriptionBox>,
    /// The assigned partitions' positions and fetched records.
    pub(super) fetcher: Fetcher,
    /// Topics the pattern matched at the last check.
    matched_topics: Vec<String>,
    pattern_checked: Option<Instant>,
    /// As the leader: partition counts of the topics the current assignment was computed from (absent: topic
    /// unknown). `None` for a follower.
    joined_partition_counts: Option<BTreeMap<String, usize>>,
    /// When the subscribed topics' metadata was last compared with `joined_partition_counts`.
    topics_checked: Option<Instant>,
}

#[derive(Debug)]
struct SubscriptionBox(Subscription);

impl Default for SubscriptionBox {
    fn default() -> Self {
        SubscriptionBox(Subscription::None)
    }
}

/// State shared by the consumer and its background tasks.
#[derive(Debug)]
pub(crate) struct ConsumerInner {
    pub(super) cluster: Arc<Cluster>,
    pub(super) config: ConsumerConfig,
    pub(super) state: Mutex<State>,
    /// Signalled when a fetch answer was applied to the fetcher (a fetch round waits for its answers).
    pub(super) fetched: Notify,
    /// The start of the fetcher's millisecond clock (see [`ConsumerInner::now_ms`]).
    clock: Instant,
    /// The group membership (with `group.id`).
    pub(super) coordinator: Option<Mutex<ConsumerCoordinator>>,
    /// Counts the answers fed to the membership; `group_changed` wakes the consumer's poll waiting for one.
    pub(super) group_events: AtomicU64,
    pub(super) group_changed: Notify,
    /// Wakes the group task (`group.rs`) to look at the membership's timers again.
    pub(super) group_task: Notify,
    group_task_started: AtomicBool,
    listener: Mutex<Option<Box<dyn RebalanceListener>>>,
    woken: AtomicBool,
    wake: Notify,
    closed: AtomicBool,
}

impl std::fmt::Debug for dyn RebalanceListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RebalanceListener")
    }
}

impl ConsumerInner {
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Milliseconds on the consumer's monotonic clock: the time the fetcher works in.
    pub(super) fn now_ms(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    /// The instant a time on the consumer's clock stands for.
    pub(super) fn instant(&self, ms: u64) -> Instant {
        self.clock + Duration::from_millis(ms)
    }
}

static CONSUMER_IDS: AtomicU64 = AtomicU64::new(1);

/// Kafka's consumer. Use it from one thread at a time (as Kafka's); `wakeup` may be called from any thread.
#[derive(Debug)]
pub struct Consumer {
    inner: Arc<ConsumerInner>,
}

impl Consumer {
    /// A consumer from Kafka config pairs (`bootstrap.servers`; `group.id` for subscribe and commits).
    pub fn new(config: &[(String, String)]) -> Result<Consumer> {
        let props = Properties::parse(ClientKind::Consumer, config)?;
        let consumer_config = ConsumerConfig::from_properties(&props)?;
        let id = CONSUMER_IDS.fetch_add(1, Ordering::Relaxed);
        let common = CommonConfig::from_properties(&props, format!("consumer-{id}"))?;
        let fetcher = Fetcher::new(FetcherConfig {
            fetch_min_bytes: consumer_config.fetch_min_bytes,
            fetch_max_bytes: consumer_config.fetch_max_bytes,
            max_partition_fetch_bytes: consumer_config.max_partition_fetch_bytes,
            isolation_level: consumer_config.isolation_level,
            reset: consumer_config.reset,
            client_rack: consumer_config.group.as_ref().and_then(|g| g.client_rack.clone()),
            retry_backoff_ms: common.retry_backoff.as_millis() as u64,
        });
        let state = State {
            subscription: None,
            fetcher,
            matched_topics: Vec::new(),
            pattern_checked: None,
            joined_partition_counts: None,
            topics_checked: None,
        };
        let group = consumer_config.group.clone().map(|g| {
            let ms = |d: Duration| d.as_millis().min(u64::MAX as u128) as u64;
            ConsumerCoordinator::new(CoordinatorConfig {
                retry_backoff_ms: ms(common.retry_backoff),
                retry_backoff_max_ms: ms(common.retry_backoff_max),
                auto_commit_interval_ms: consumer_config.auto_commit.map(ms),
                ..g
            })
        });
        Ok(Consumer {
            inner: Arc::new(ConsumerInner {
                cluster: Cluster::new(common),
                config: consumer_config,
                state: Mutex::new(state),
                fetched: Notify::new(),
                clock: Instant::now(),
                coordinator: group.map(Mutex::new),
                group_events: AtomicU64::new(0),
                group_changed: Notify::new(),
                group_task: Notify::new(),
                group_task_started: AtomicBool::new(false),
                listener: Mutex::new(None),
                woken: AtomicBool::new(false),
                wake: Notify::new(),
                closed: AtomicBool::new(false),
            }),
        })
    }

    fn group(&self) -> Result<&CoordinatorConfig> {
        self.inner.config.group.as_ref().ok_or_else(|| {
            ClientError::InvalidArgument("this consumer has no group.id: subscribe and commits need one".into())
        })
    }

    fn check_open(&self) -> Result<()> {
        if self.inner.is_closed() {
            return Err(ClientError::IllegalState("this consumer has already been closed".into()));
        }
        Ok(())
    }

    /// Subscribes to topics by name; a name starting with `^` is a regular expression over all topic names.
    pub fn subscribe(&self, topics: &[String]) -> Result<()> {
        self.check_open()?;
        self.group()?;
        if topics.is_empty() {
            return self.unsubscribe();
        }
        let subscription = if topics.len() == 1 && topics[0].starts_with('^') {
            let pattern = regex::Regex::new(&topics[0])
                .map_err(|e| ClientError::InvalidArgument(format!("bad topic pattern {:?}: {e}", topics[0])))?;
            Subscription::Pattern(pattern)
        } else {
            if let Some(bad) = topics.iter().find(|t| t.is_empty() || t.starts_with('^')) {
                return Err(ClientError::InvalidArgument(format!("invalid topic {bad:?} in a subscription")));
            }
            let mut topics = topics.to_vec();
            topics.sort();
            topics.dedup();
            Subscription::Topics(topics)
        };
        let mut state = lock(&self.inner.state);
        state.subscription = Some(SubscriptionBox(subscription));
        state.pattern_checked = None;
        drop(state);
        self.request_rejoin();
        Ok(())
    }

    /// Drops the subscription or manual assignment (leaving the group).
    pub fn unsubscribe(&self) -> Result<()> {
        self.leave_group("the consumer unsubscribed", None);
        let mut state = lock(&self.inner.state);
        state.subscription = None;
        state.fetcher.assign(&[]);
        Ok(())
    }

    /// Leaves the group: the rebalance listener hears of the partitions revoked, and the LeaveGroup is waited
    /// for (at most `timeout`, else `request.timeout.ms`).
    fn leave_group(&self, reason: &str, timeout: Option<Duration>) {
        let Some(coordinator) = self.inner.coordinator.as_ref() else { return };
        let actions = lock(coordinator).leave(reason);
        let mut sends = Vec::new();
        for action in actions {
            match action {
                Action::Send { id, node, timeout_ms, request } => sends.push((id, node, timeout_ms, request)),
                other => self.run_action(other),
            }
        }
        if sends.is_empty() {
            return;
        }
        let inner = self.inner.clone();
        let timeout = timeout.unwrap_or(self.inner.cluster.config.request_timeout);
        let _ = runtime::block_on(async move {
            let leaving = async {
                for (id, node, timeout_ms, request) in sends {
                    group::send(&inner, id, node, timeout_ms, request).await;
                }
            };
            let _ = tokio::time::timeout(timeout, leaving).await;
        });
    }

    fn request_rejoin(&self) {
        if let Some(coordinator) = self.inner.coordinator.as_ref() {
            lock(coordinator).request_rejoin();
        }
    }

    /// Whether the consumer is a member of a group generation with its assignment handed out.
    fn is_joined(&self) -> bool {
        self.inner.coordinator.as_ref().is_some_and(|c| lock(c).is_stable())
    }

    /// Runs the membership's actions in order on the application's thread: commits and rebalance callbacks
    /// (with no lock held, so the listener may call the consumer) before the requests that follow them.
    fn run_actions(&self, actions: Vec<Action>) {
        for action in actions {
            self.run_action(action);
        }
    }

    fn run_action(&self, action: Action) {
        match action {
            Action::Revoke { partitions, commit } => {
                if commit {
                    let _ = self.commit_partitions(&partitions);
                }
                self.call_listener(|l| l.on_partitions_revoked(&partitions));
                self.drop_partitions(&partitions);
            }
            Action::Lose { partitions } => {
                self.call_listener(|l| l.on_partitions_lost(&partitions));
                self.drop_partitions(&partitions);
            }
            Action::Assign { partitions, added, assigned_with } => {
                {
                    let mut state = lock(&self.inner.state);
                    state.fetcher.assign(&partitions);
                    // Only the leader knows what the assignment was computed from; followers rely on it, as in
                    // Kafka.
                    state.joined_partition_counts = assigned_with;
                    state.topics_checked = Some(Instant::now());
                }
                self.call_listener(|l| l.on_partitions_assigned(&added));
            }
            // Fire and forget, as Kafka's commitAsync in auto-commit: a failed one is retried at the next interval.
            Action::AutoCommit => self.commit_async(None, None),
            Action::Send { id, node, timeout_ms, request } => {
                group::dispatch(&self.inner, vec![Action::Send { id, node, timeout_ms, request }])
            }
        }
    }

    /// Stops fetching `partitions` (revoked or lost).
    fn drop_partitions(&self, partitions: &[TopicPartition]) {
        let mut state = lock(&self.inner.state);
        let kept: Vec<TopicPartition> =
            state.fetcher.partitions().keys().filter(|tp| !partitions.contains(tp)).cloned().collect();
        state.fetcher.assign(&kept);
    }

    /// Assigns partitions by hand (no group membership; commits still go to `group.id` if set).
    pub fn assign(&self, partitions: &[TopicPartition]) -> Result<()> {
        self.check_open()?;
        let mut state = lock(&self.inner.state);
        if matches!(state.subscription.as_ref().map(|s| &s.0), Some(Subscription::Topics(_) | Subscription::Pattern(_)))
        {
            return Err(ClientError::IllegalState("subscribe() and assign() cannot be mixed".into()));
        }
        state.fetcher.assign(partitions);
        state.subscription =
            Some(SubscriptionBox(if partitions.is_empty() { Subscription::None } else { Subscription::Assigned }));
        Ok(())
    }

    /// The partitions currently assigned.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        lock(&self.inner.state).fetcher.partitions().keys().cloned().collect()
    }

    /// Subscribed topic names (the pattern's matches for a pattern subscription).
    pub fn subscription(&self) -> Vec<String> {
        let state = lock(&self.inner.state);
        match state.subscription.as_ref().map(|s| &s.0) {
            Some(Subscription::Topics(t)) => t.clone(),
            Some(Subscription::Pattern(_)) => state.matched_topics.clone(),
            _ => Vec::new(),
        }
    }

    pub fn set_rebalance_listener(&self, listener: Box<dyn RebalanceListener>) {
        *lock(&self.inner.listener) = Some(listener);
    }

    fn call_listener(&self, f: impl FnOnce(&mut dyn RebalanceListener)) {
        // Taken out of the mutex while it runs so the callback may use the consumer.
        let taken = lock(&self.inner.listener).take();
        if let Some(mut listener) = taken {
            f(listener.as_mut());
            let mut slot = lock(&self.inner.listener);
            if slot.is_none() {
                *slot = Some(listener);
            }
        }
    }

    /// Sets who hears about failed broker connections (a failure repeated for the same address is reported once).
    pub fn set_connection_listener(
        &self,
        listener: impl Fn(&crate::client::cluster::ConnectionFailure) + Send + Sync + 'static,
    ) {
        self.inner.cluster.set_connection_listener(Arc::new(listener));
    }

    /// Whether the consumer ever reached a broker.
    pub fn has_connected(&self) -> bool {
        self.inner.cluster.has_connected()
    }

    /// `client.id`, or the one the consumer made up (`consumer-N`).
    pub fn client_id(&self) -> &str {
        &self.inner.cluster.config.client_id
    }

    /// Interrupts a blocking call (now, or the next one): it fails with [`ClientError::Wakeup`].
    pub fn wakeup(&self) {
        self.inner.woken.store(true, Ordering::Release);
        self.inner.wake.notify_waiters();
    }

    fn check_wakeup(&self) -> Result<()> {
        if self.inner.woken.swap(false, Ordering::AcqRel) {
            return Err(ClientError::Wakeup);
        }
        Ok(())
    }

    /// Fetches records: returns as soon as some are available (at most `max.poll.records`), or empty after
    /// `timeout`.
    pub fn poll(&self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        self.poll_at_most(timeout, self.inner.config.max_poll_records)
    }

    /// Like [`Consumer::poll`], returning at most `max_records` (and at most `max.poll.records`): records fetched
    /// beyond that stay buffered in the consumer, not counted as consumed (positions, commits and auto commit
    /// only cover what was returned). A host API that hands out one message per call (confluent-kafka's
    /// `poll()`) uses this with 1.
    pub fn poll_at_most(&self, timeout: Duration, max_records: usize) -> Result<Vec<ConsumerRecord>> {
        let max_records = max_records.clamp(1, self.inner.config.max_poll_records);
        self.check_open()?;
        let deadline = Instant::now() + timeout;
        if lock(&self.inner.state).subscription.is_none() {
            return Err(ClientError::IllegalState(
                "consumer is not subscribed to any topics or assigned any partitions".into(),
            ));
        }
        loop {
            self.check_wakeup()?;
            if self.is_group_subscription() {
                self.coordinate(deadline)?;
            } else if let Some(coordinator) = self.inner.coordinator.as_ref() {
                // A manual assignment with a group.id: only auto-commit applies.
                let actions = lock(coordinator).poll_consumer(self.inner.now_ms(), None);
                self.run_actions(actions);
            }
            self.update_positions(deadline)?;
            let records = self.take_buffered(max_records);
            if !records.is_empty() {
                return Ok(records);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            let wait = self.inner.config.fetch_max_wait.min(deadline - now);
            let inner = self.inner.clone();
            let fetched = runtime::block_on(async move {
                tokio::select! {
                    r = driver::fetch(&inner, wait) => r,
                    _ = inner.wake.notified() => Ok(()),
                }
            })?;
            fetched?;
            if !self.has_fetchable() {
                // Nothing to fetch yet (a join in progress, positions unknown): wait a little instead of spinning.
                let pause = Duration::from_millis(20).min(deadline.saturating_duration_since(Instant::now()));
                std::thread::sleep(pause);
            }
        }
    }

    fn is_group_subscription(&self) -> bool {
        matches!(
            lock(&self.inner.state).subscription.as_ref().map(|s| &s.0),
            Some(Subscription::Topics(_) | Subscription::Pattern(_))
        )
    }

    /// A member of a group (`subscribe`) commits only within a stable generation. Between generations (joining,
    /// or after its generation was reset) its partitions may already belong to another member, so the commit is
    /// refused here, as Kafka's consumer refuses it (`RebalanceInProgressException`), rather than sent with no
    /// generation, which a broker answers with UNKNOWN_MEMBER_ID for a group that has members.
    fn check_generation(&self) -> Result<()> {
        let Some(coordinator) = self.inner.coordinator.as_ref() else { return Ok(()) };
        if self.is_group_subscription() && lock(coordinator).commit_identity().0 < 0 {
            return Err(ClientError::from_code(
                27,
                Some(
                    "the consumer is not in a stable generation of its group (it is joining or rebalancing): the \
                      commit was not sent, and the partitions' next owner resumes from the last committed offsets"
                        .into(),
                ),
            ));
        }
        Ok(())
    }

    fn has_fetchable(&self) -> bool {
        lock(&self.inner.state).fetcher.has_fetchable()
    }

    /// The subscribed topics now (resolving a pattern against metadata every `metadata.max.age.ms`).
    fn subscribed_topics(&self) -> Result<Vec<String>> {
        let (pattern, checked) = {
            let state = lock(&self.inner.state);
            match state.subscription.as_ref().map(|s| &s.0) {
                Some(Subscription::Topics(t)) => {
                    let topics = t.clone();
                    drop(state);
                    self.check_subscribed_metadata(&topics)?;
                    return Ok(topics);
                }
                Some(Subscription::Pattern(p)) => (p.clone(), state.pattern_checked),
                _ => return Ok(Vec::new()),
            }
        };
        if checked.is_some_and(|t| t.elapsed() < self.inner.cluster.config.metadata_max_age) {
            return Ok(lock(&self.inner.state).matched_topics.clone());
        }
        let cluster = self.inner.cluster.clone();
        let metadata = runtime::block_on(async move { cluster.refresh(None, false).await })??;
        let exclude_internal = self.inner.config.exclude_internal_topics;
        let mut matched: Vec<String> = metadata
            .topics
            .values()
            .filter(|t| !(exclude_internal && t.is_internal) && pattern.is_match(&t.name))
            .map(|t| t.name.clone())
            .collect();
        matched.sort();
        let mut state = lock(&self.inner.state);
        if state.matched_topics != matched {
            self.request_rejoin();
            state.matched_topics = matched.clone();
        }
        state.pattern_checked = Some(Instant::now());
        Ok(matched)
    }

    /// Looks for subscribed topics that appeared or changed partition count since the assignment was made, and
    /// asks for a rebalance when one did (Kafka's consumer does the same from its metadata updates). Topics
    /// still unknown are looked up every `retry.backoff.ms`-ish (auto-creating them when allowed, as Kafka's
    /// consumer does); known ones every `metadata.max.age.ms`.
    fn check_subscribed_metadata(&self, topics: &[String]) -> Result<()> {
        if !self.is_joined() {
            return Ok(());
        }
        let (counts, checked) = {
            let state = lock(&self.inner.state);
            match &state.joined_partition_counts {
                Some(counts) => (counts.clone(), state.topics_checked),
                None => return Ok(()),
            }
        };
        // The leader's counts cover every member's topics; this member watches its own.
        let counts: BTreeMap<String, usize> = counts.into_iter().filter(|(t, _)| topics.contains(t)).collect();
        let some_unknown = topics.iter().any(|t| !counts.contains_key(t));
        let interval = if some_unknown {
            self.inner.cluster.config.retry_backoff.max(Duration::from_millis(200))
        } else {
            self.inner.cluster.config.metadata_max_age
        };
        if checked.is_some_and(|t| t.elapsed() < interval) {
            return Ok(());
        }
        let (cluster, wanted) = (self.inner.cluster.clone(), topics.to_vec());
        let auto_create = self.inner.config.allow_auto_create_topics;
        let metadata = runtime::block_on(async move { cluster.refresh(Some(&wanted), auto_create).await })?;
        let mut state = lock(&self.inner.state);
        state.topics_checked = Some(Instant::now());
        if let Ok(metadata) = metadata {
            let now: BTreeMap<String, usize> = topics
                .iter()
                .filter_map(|t| metadata.topics.get(t).map(|m| (t.clone(), m.partitions.len())))
                .filter(|(_, n)| *n > 0)
                .collect();
            if now != counts {
                self.request_rejoin();
            }
        }
        Ok(())
    }

    /// Runs the group protocol as far as it can before `deadline`: starts the consumer's group task, then feeds
    /// the application's poll to the membership and runs what it asks for (a rebalance's commits and callbacks,
    /// auto-commit, the requests that follow) until the member is stable with its assignment handed out.
    fn coordinate(&self, deadline: Instant) -> Result<()> {
        let Some(coordinator) = self.inner.coordinator.as_ref() else { return Ok(()) };
        let topics = self.subscribed_topics()?;
        if !self.inner.group_task_started.swap(true, Ordering::AcqRel) {
            runtime::handle().spawn(group::run(self.inner.clone()));
        }
        loop {
            let seen = self.inner.group_events.load(Ordering::Acquire);
            let (actions, error, rebalancing, next_ms) = {
                let mut c = lock(coordinator);
                let actions = c.poll_consumer(self.inner.now_ms(), Some(&topics));
                (actions, c.take_error(), c.rebalancing(), c.next_deadline_ms())
            };
            if rebalancing || !actions.is_empty() {
                // The group task learns of a join started here, and of its new timers. A quiet poll of a stable
                // member changes none, and does not wake the task.
                self.inner.group_task.notify_one();
            }
            self.run_actions(actions);
            if let Some(e) = error {
                return Err(e);
            }
            let now = Instant::now();
            if !rebalancing || now >= deadline || self.inner.woken.load(Ordering::Acquire) {
                return Ok(());
            }
            let until = next_ms.map_or(deadline, |ms| self.inner.instant(ms).min(deadline));
            let inner = self.inner.clone();
            runtime::block_on(async move {
                let changed = inner.group_changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if inner.group_events.load(Ordering::Acquire) != seen {
                    return;
                }
                tokio::select! {
                    _ = changed => {}
                    _ = inner.wake.notified() => {}
                    _ = tokio::time::sleep_until(until.into()) => {}
                }
            })?;
        }
    }

    /// Finds a position for every assigned partition without one: the committed offset, else `auto.offset.reset`.
    fn update_positions(&self, deadline: Instant) -> Result<()> {
        let (missing, resets) = {
            let state = lock(&self.inner.state);
            (state.fetcher.missing_positions(), state.fetcher.pending_resets())
        };
        if missing.is_empty() && resets.is_empty() {
            return Ok(());
        }
        let mut to_reset = resets;
        if !missing.is_empty() {
            let committed = if self.inner.config.group.is_some() {
                self.committed_inner(&missing, deadline)?
            } else {
                BTreeMap::new()
            };
            let mut state = lock(&self.inner.state);
            for tp in missing {
                match committed.get(&tp) {
                    Some(o) => state.fetcher.set_committed_position(&tp, o.offset, o.leader_epoch),
                    None => match self.inner.config.reset.offset_spec() {
                        Some(spec) => to_reset.push((tp, spec)),
                        None => {
                            return Err(ClientError::IllegalState(format!(
                                "no committed offset for {tp} and auto.offset.reset is none (NoOffsetForPartition)"
                            )))
                        }
                    },
                }
            }
        }
        if to_reset.is_empty() {
            return Ok(());
        }
        let offsets = self.list_offsets_inner(&to_reset, deadline)?;
        let mut state = lock(&self.inner.state);
        for (tp, result) in offsets {
            if let Ok(info) = result {
                state.fetcher.reset_done(&tp, info.offset);
            }
        }
        Ok(())
    }

    fn list_offsets_inner(
        &self,
        specs: &[(TopicPartition, OffsetSpec)],
        deadline: Instant,
    ) -> Result<Vec<(TopicPartition, Result<ListOffsetsInfo>)>> {
        let (cluster, specs, isolation) =
            (self.inner.cluster.clone(), specs.to_vec(), self.inner.config.isolation_level);
        let deadline = deadline.max(Instant::now() + self.inner.cluster.config.request_timeout);
        runtime::block_on(async move { requests::list_offsets(&cluster, &specs, isolation, deadline).await })?
    }

    /// Takes up to `max` buffered records, advancing positions.
    fn take_buffered(&self, max: usize) -> Vec<ConsumerRecord> {
        lock(&self.inner.state).fetcher.take(max)
    }

    /// Commits offsets (`None`: the current positions of all assigned partitions) and waits for the result.
    pub fn commit_sync(
        &self,
        offsets: Option<&BTreeMap<TopicPartition, OffsetAndMetadata>>,
        timeout: Option<Duration>,
    ) -> Result<()> {
        let offsets = match offsets {
            Some(o) => o.clone(),
            None => self.positions_to_commit(None),
        };
        if offsets.is_empty() {
            return Ok(());
        }
        self.check_generation()?;
        let timeout = timeout.unwrap_or(self.inner.config.default_api_timeout);
        let inner = self.inner.clone();
        let group = self.group()?.clone();
        let results =
            runtime::block_on(async move { commit(&inner, &group, &offsets, Instant::now() + timeout).await })??;
        for (_, r) in results {
            r?;
        }
        Ok(())
    }

    fn commit_partitions(&self, partitions: &[TopicPartition]) -> Result<()> {
        let offsets = self.positions_to_commit(Some(partitions));
        self.commit_sync(Some(&offsets), None)
    }

    /// What `commit_sync(None)` would commit now: the position of every assigned partition that has one, i.e.
    /// the offset after the last record handed out. A host API whose commit returns the offsets it wrote (as
    /// confluent-kafka's does) reads them here.
    pub fn offsets_to_commit(&self) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        self.positions_to_commit(None)
    }

    fn positions_to_commit(&self, only: Option<&[TopicPartition]>) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        let state = lock(&self.inner.state);
        state
            .fetcher
            .partitions()
            .iter()
            .filter(|(tp, _)| only.is_none_or(|o| o.contains(tp)))
            .filter_map(|(tp, p)| {
                p.position.map(|offset| {
                    (tp.clone(), OffsetAndMetadata { offset, leader_epoch: p.leader_epoch, metadata: String::new() })
                })
            })
            .collect()
    }

    /// Commits without waiting; `callback` (if any) gets the outcome on a client IO thread.
    pub fn commit_async(
        &self,
        offsets: Option<BTreeMap<TopicPartition, OffsetAndMetadata>>,
        callback: Option<Box<dyn FnOnce(Result<()>) + Send>>,
    ) {
        let offsets = offsets.unwrap_or_else(|| self.positions_to_commit(None));
        let Some(group) = self.inner.config.group.clone() else {
            if let Some(cb) = callback {
                cb(Err(ClientError::InvalidArgument("no group.id".into())));
            }
            return;
        };
        if !offsets.is_empty() {
            if let Err(e) = self.check_generation() {
                if let Some(cb) = callback {
                    cb(Err(e));
                }
                return;
            }
        }
        let inner = self.inner.clone();
        let deadline = Instant::now() + self.inner.config.default_api_timeout;
        runtime::handle().spawn(async move {
            let result = if offsets.is_empty() {
                Ok(())
            } else {
                commit(&inner, &group, &offsets, deadline).await.and_then(|rs| rs.into_iter().try_for_each(|(_, r)| r))
            };
            if let Some(cb) = callback {
                cb(result);
            }
        });
    }

    /// The group's committed offsets for these partitions (absent: none committed).
    pub fn committed(
        &self,
        partitions: &[TopicPartition],
        timeout: Option<Duration>,
    ) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>> {
        self.committed_inner(partitions, Instant::now() + timeout.unwrap_or(self.inner.config.default_api_timeout))
    }

    fn committed_inner(
        &self,
        partitions: &[TopicPartition],
        deadline: Instant,
    ) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>> {
        let group_id = self.group()?.group_id.clone();
        let (inner, partitions) = (self.inner.clone(), partitions.to_vec());
        let require_stable = self.inner.config.isolation_level == IsolationLevel::ReadCommitted;
        runtime::block_on(async move {
            let mut backoff = inner.cluster.config.retry_backoff.max(Duration::from_millis(10));
            loop {
                let result = async {
                    let coordinator = inner.cluster.find_coordinator(0, &group_id, deadline).await?;
                    requests::fetch_offsets(&inner.cluster, coordinator, &group_id, Some(&partitions), require_stable)
                        .await
                }
                .await;
                match result {
                    Err(e) if e.is_retriable() && Instant::now() + backoff < deadline => {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(inner.cluster.config.retry_backoff_max);
                    }
                    other => return other,
                }
            }
        })?
    }

    /// The offset of the next record `poll` returns for a partition (looked up if not known yet).
    pub fn position(&self, tp: &TopicPartition, timeout: Option<Duration>) -> Result<i64> {
        let deadline = Instant::now() + timeout.unwrap_or(self.inner.config.default_api_timeout);
        if lock(&self.inner.state).fetcher.partition(tp).is_none() {
            return Err(ClientError::IllegalState(format!(
                "can only check the position of assigned partitions ({tp})"
            )));
        }
        self.update_positions(deadline)?;
        lock(&self.inner.state)
            .fetcher
            .partition(tp)
            .and_then(|p| p.position)
            .ok_or_else(|| ClientError::Timeout(format!("position of {tp}")))
    }

    /// Moves a partition's position (the next poll reads from `offset`).
    pub fn seek(&self, tp: &TopicPartition, offset: i64) -> Result<()> {
        if offset < 0 {
            return Err(ClientError::InvalidArgument(format!("seek offset must not be negative: {offset}")));
        }
        if !lock(&self.inner.state).fetcher.seek(tp, offset) {
            return Err(ClientError::IllegalState(format!("no current assignment for partition {tp}")));
        }
        Ok(())
    }

    fn seek_to(&self, partitions: &[TopicPartition], spec: OffsetSpec) -> Result<()> {
        let mut state = lock(&self.inner.state);
        let targets: Vec<TopicPartition> = if partitions.is_empty() {
            state.fetcher.partitions().keys().cloned().collect()
        } else {
            partitions.to_vec()
        };
        for tp in &targets {
            if !state.fetcher.request_reset(tp, spec) {
                return Err(ClientError::IllegalState(format!("no current assignment for partition {tp}")));
            }
        }
        Ok(())
    }

    /// Seeks to the log start (an empty list: every assigned partition); evaluated lazily, as in Kafka.
    pub fn seek_to_beginning(&self, partitions: &[TopicPartition]) -> Result<()> {
        self.seek_to(partitions, OffsetSpec::Earliest)
    }

    /// Seeks to the log end (the last stable offset for read_committed).
    pub fn seek_to_end(&self, partitions: &[TopicPartition]) -> Result<()> {
        self.seek_to(partitions, OffsetSpec::Latest)
    }

    /// The earliest offset whose timestamp is at or after each given timestamp (`None`: no such record).
    pub fn offsets_for_times(
        &self,
        timestamps: &[(TopicPartition, i64)],
        timeout: Option<Duration>,
    ) -> Result<BTreeMap<TopicPartition, Option<ListOffsetsInfo>>> {
        let specs: Vec<(TopicPartition, OffsetSpec)> =
            timestamps.iter().map(|(tp, t)| (tp.clone(), OffsetSpec::Timestamp(*t))).collect();
        self.offsets_by_spec(&specs, timeout)
            .map(|m| m.into_iter().map(|(tp, i)| (tp, (i.offset >= 0).then_some(i))).collect())
    }

    fn offsets_by_spec(
        &self,
        specs: &[(TopicPartition, OffsetSpec)],
        timeout: Option<Duration>,
    ) -> Result<BTreeMap<TopicPartition, ListOffsetsInfo>> {
        let deadline = Instant::now() + timeout.unwrap_or(self.inner.config.default_api_timeout);
        let mut out = BTreeMap::new();
        for (tp, r) in self.list_offsets_inner(specs, deadline)? {
            out.insert(tp, r?);
        }
        Ok(out)
    }

    pub fn beginning_offsets(
        &self,
        partitions: &[TopicPartition],
        timeout: Option<Duration>,
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        let specs: Vec<_> = partitions.iter().map(|tp| (tp.clone(), OffsetSpec::Earliest)).collect();
        Ok(self.offsets_by_spec(&specs, timeout)?.into_iter().map(|(tp, i)| (tp, i.offset)).collect())
    }

    pub fn end_offsets(
        &self,
        partitions: &[TopicPartition],
        timeout: Option<Duration>,
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        let specs: Vec<_> = partitions.iter().map(|tp| (tp.clone(), OffsetSpec::Latest)).collect();
        Ok(self.offsets_by_spec(&specs, timeout)?.into_iter().map(|(tp, i)| (tp, i.offset)).collect())
    }

    /// Stops returning (and fetching) records of these partitions until `resume`.
    pub fn pause(&self, partitions: &[TopicPartition]) -> Result<()> {
        self.set_paused(partitions, true)
    }

    pub fn resume(&self, partitions: &[TopicPartition]) -> Result<()> {
        self.set_paused(partitions, false)
    }

    fn set_paused(&self, partitions: &[TopicPartition], paused: bool) -> Result<()> {
        let mut state = lock(&self.inner.state);
        for tp in partitions {
            if !state.fetcher.set_paused(tp, paused) {
                return Err(ClientError::IllegalState(format!("no current assignment for partition {tp}")));
            }
        }
        Ok(())
    }

    pub fn paused(&self) -> Vec<TopicPartition> {
        let state = lock(&self.inner.state);
        state.fetcher.partitions().iter().filter(|(_, p)| p.paused).map(|(tp, _)| tp.clone()).collect()
    }

    /// The group, generation and member id, for a transactional producer's `send_offsets_to_transaction`.
    pub fn group_metadata(&self) -> Option<ConsumerGroupMetadata> {
        let group = self.inner.config.group.as_ref()?;
        let c = lock(self.inner.coordinator.as_ref()?);
        Some(ConsumerGroupMetadata {
            group_id: group.group_id.clone(),
            generation_id: c.generation(),
            member_id: c.member_id().to_string(),
            group_instance_id: group.group_instance_id.clone(),
        })
    }

    /// Commits (with auto commit on), leaves the group and closes connections.
    pub fn close(&self, timeout: Option<Duration>) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Ok(());
        }
        let joined = self.is_joined();
        // As Kafka's consumer does on close: commit what was consumed when auto commit is on, for a group member
        // and for a manual assignment (no membership; commits still go to `group.id`). A member caught in the
        // middle of a rebalance has no generation to commit with and skips it, as Kafka's does.
        let manual =
            matches!(lock(&self.inner.state).subscription.as_ref().map(|s| &s.0), Some(Subscription::Assigned));
        if self.inner.config.auto_commit.is_some() && (joined || manual) {
            let _ = self.commit_sync(None, timeout.or(Some(Duration::from_secs(5))));
        }
        self.leave_group("the consumer is being closed", timeout);
        self.inner.closed.store(true, Ordering::Release);
        self.inner.group_task.notify_one();
        self.inner.cluster.close();
        Ok(())
    }

    /// Topic metadata, for `list_topics`-style calls.
    pub fn partitions_for(
        &self,
        topic: &str,
        timeout: Option<Duration>,
    ) -> Result<Vec<crate::client::cluster::PartitionMetadata>> {
        let deadline = Instant::now() + timeout.unwrap_or(self.inner.config.default_api_timeout);
        let (cluster, name) = (self.inner.cluster.clone(), topic.to_string());
        let auto_create = self.inner.config.allow_auto_create_topics;
        Ok(runtime::block_on(async move { cluster.topic(&name, auto_create, deadline).await })??.partitions)
    }

    /// Every topic the cluster has, with its partitions (Kafka's `listTopics`); internal topics only when
    /// `exclude.internal.topics=false`.
    pub fn list_topics(
        &self,
        timeout: Option<Duration>,
    ) -> Result<BTreeMap<String, Vec<crate::client::cluster::PartitionMetadata>>> {
        let deadline = Instant::now() + timeout.unwrap_or(self.inner.config.default_api_timeout);
        let cluster = self.inner.cluster.clone();
        let metadata = runtime::block_on(async move {
            tokio::time::timeout_at(deadline.into(), cluster.refresh(None, false))
                .await
                .unwrap_or_else(|_| Err(ClientError::Timeout("listing topics".into())))
        })??;
        let exclude_internal = self.inner.config.exclude_internal_topics;
        Ok(metadata
            .topics
            .values()
            .filter(|t| !(exclude_internal && t.is_internal))
            .map(|t| (t.name.clone(), t.partitions.clone()))
            .collect())
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let _ = self.close(Some(Duration::from_secs(5)));
    }
}

async fn commit(
    inner: &ConsumerInner,
    group: &CoordinatorConfig,
    offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    deadline: Instant,
) -> Result<Vec<(TopicPartition, Result<()>)>> {
    let mut backoff = inner.cluster.config.retry_backoff.max(Duration::from_millis(10));
    loop {
        let (generation, member_id) =
            inner.coordinator.as_ref().map_or((-1, String::new()), |c| lock(c).commit_identity());
        let result = async {
            let coordinator = inner.cluster.find_coordinator(0, &group.group_id, deadline).await?;
            requests::commit_offsets(
                &inner.cluster,
                coordinator,
                &group.group_id,
                generation,
                &member_id,
                group.group_instance_id.as_deref(),
                offsets,
            )
            .await
        }
        .await;
        let retriable = match &result {
            Err(e) => e.is_retriable(),
            Ok(rs) => rs.iter().any(|(_, r)| {
                r.as_ref()
                    .err()
                    .is_some_and(|e| e.is_retriable() && !matches!(e.code(), Some(27) | Some(22) | Some(25)))
            }),
        };
        if retriable && Instant::now() + backoff < deadline {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(inner.cluster.config.retry_backoff_max);
            continue;
        }
        return result;
    }
}
