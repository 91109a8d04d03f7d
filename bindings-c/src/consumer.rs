//! `potok_consumer`: Kafka's consumer (core's `potok::client::consumer::Consumer`: group membership and
//! assignors, fetching, positions, commits, auto commit) behind C types; `potok_message` and
//! `potok_message_batch` are the records `poll` returns; `potok_partition_list` carries partitions and offsets
//! out of calls and callbacks.
//!
//! Callbacks run on the thread that drives the consumer, as Kafka's do: the rebalance callback inside
//! `potok_consumer_poll*` (and `unsubscribe`/`close`), commit callbacks of `potok_consumer_commit_async` from the
//! next `poll*`, `commit_sync` or `close` after the commit completed.

use std::collections::BTreeMap;
use std::ffi::{c_char, c_void, CString};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use engine::client::consumer::{Consumer, ConsumerRecord, RebalanceListener};
use engine::client::{ClientError, OffsetAndMetadata, TopicPartition};
use engine::host::HostError;
use engine::record::TimestampType;

use crate::admin::{potok_string_list, potok_topic_description};
use crate::error::potok_error;
use crate::ffi::write_out;
use crate::ffi::{array_arg, c_string, check_out, config_arg, guard, handle, quiet, str_arg, strings_arg, timeout};
use crate::producer::{offsets_arg, potok_group_metadata, potok_partition_offset};

/// An offset that is not known (no committed offset, no position yet), as Kafka's `OFFSET_INVALID`.
pub const POTOK_OFFSET_NONE: i64 = -1001;
/// The most records one `potok_consumer_poll_batch` call may ask for.
pub const POTOK_POLL_BATCH_MAX: usize = 1_000_000;

/// A topic and partition index, as calls take them.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct potok_topic_partition {
    pub topic: *const c_char,
    pub partition: i32,
}

/// What a rebalance callback is told.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum potok_rebalance_event {
    /// Partitions given to this member (Kafka's `onPartitionsAssigned`).
    POTOK_REBALANCE_ASSIGNED = 1,
    /// Partitions taken away; commit what was processed now (`onPartitionsRevoked`).
    POTOK_REBALANCE_REVOKED = 2,
    /// Partitions lost without a chance to commit (the member was fenced; `onPartitionsLost`).
    POTOK_REBALANCE_LOST = 3,
}

/// Called around rebalances on the thread calling `poll`; `partitions` lives until the callback returns.
pub type potok_rebalance_cb = Option<
    unsafe extern "C" fn(opaque: *mut c_void, event: potok_rebalance_event, partitions: *const potok_partition_list),
>;

/// Called with the outcome of `potok_consumer_commit_async` (`error` NULL on success; `offsets` and `error` live
/// until the callback returns and are owned by the library).
pub type potok_commit_cb =
    Option<unsafe extern "C" fn(opaque: *mut c_void, offsets: *const potok_partition_list, error: *const potok_error)>;

/// Partitions with offsets, out of a call or into a callback. Immutable; any thread.
#[derive(Debug)]
pub struct potok_partition_list {
    entries: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    topic: CString,
    partition: i32,
    offset: i64,
    metadata: Option<CString>,
    leader_epoch: i32,
    timestamp: i64,
}

impl Entry {
    fn new(tp: &TopicPartition, offset: i64) -> Entry {
        Entry {
            topic: c_string(&tp.topic),
            partition: tp.partition,
            offset,
            metadata: None,
            leader_epoch: -1,
            timestamp: -1,
        }
    }

    fn committed(tp: &TopicPartition, o: &OffsetAndMetadata) -> Entry {
        Entry {
            metadata: Some(c_string(&o.metadata)),
            leader_epoch: o.leader_epoch.unwrap_or(-1),
            ..Entry::new(tp, o.offset)
        }
    }
}

impl potok_partition_list {
    fn of(partitions: &[TopicPartition]) -> potok_partition_list {
        potok_partition_list { entries: partitions.iter().map(|tp| Entry::new(tp, POTOK_OFFSET_NONE)).collect() }
    }

    fn boxed(entries: Vec<Entry>) -> *mut potok_partition_list {
        Box::into_raw(Box::new(potok_partition_list { entries }))
    }
}

/// How many entries the list holds.
///
/// # Safety
/// `list` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn potok_partition_list_count(list: *const potok_partition_list) -> usize {
    // SAFETY: as the caller guarantees.
    unsafe { list.as_ref() }.map_or(0, |l| l.entries.len())
}

/// The `index`th entry into `*out` (its strings owned by the list; `offset` `POTOK_OFFSET_NONE` when unknown,
/// `metadata` NULL unless the entry is a committed offset). False when out of range.
///
/// # Safety
/// `list` is NULL or live; `out` is NULL or valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_partition_list_get(
    list: *const potok_partition_list,
    index: usize,
    out: *mut potok_partition_offset,
) -> bool {
    // SAFETY: as the caller guarantees.
    let Some(e) = unsafe { list.as_ref() }.and_then(|l| l.entries.get(index)) else { return false };
    let entry = potok_partition_offset {
        topic: e.topic.as_ptr(),
        partition: e.partition,
        offset: e.offset,
        metadata: e.metadata.as_ref().map_or(std::ptr::null(), |m| m.as_ptr()),
    };
    // SAFETY: as the caller guarantees (NULL is refused).
    unsafe { write_out(out, entry, "out") }.is_ok()
}

/// The leader epoch of the `index`th entry (-1: none or unknown).
///
/// # Safety
/// `list` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn potok_partition_list_leader_epoch(list: *const potok_partition_list, index: usize) -> i32 {
    // SAFETY: as the caller guarantees.
    unsafe { list.as_ref() }.and_then(|l| l.entries.get(index)).map_or(-1, |e| e.leader_epoch)
}

/// The record timestamp of the `index`th entry of `potok_consumer_offsets_for_times` (-1 otherwise).
///
/// # Safety
/// `list` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn potok_partition_list_timestamp(list: *const potok_partition_list, index: usize) -> i64 {
    // SAFETY: as the caller guarantees.
    unsafe { list.as_ref() }.and_then(|l| l.entries.get(index)).map_or(-1, |e| e.timestamp)
}

/// Frees a partition list. NULL is ignored.
///
/// # Safety
/// `list` is NULL or returned by this library (not one lent to a callback), not freed yet.
#[no_mangle]
pub unsafe extern "C" fn potok_partition_list_destroy(list: *mut potok_partition_list) {
    if !list.is_null() {
        // SAFETY: made by `Box::into_raw`; freed once, as the caller guarantees.
        quiet((), || drop(unsafe { Box::from_raw(list) }));
    }
}

/// One consumed record. Immutable; any thread. Freed with `potok_message_destroy` (a message of a batch belongs
/// to the batch).
#[derive(Debug)]
pub struct potok_message {
    pub(crate) record: ConsumerRecord,
    topic: CString,
    header_keys: Vec<CString>,
}

impl potok_message {
    fn new(record: ConsumerRecord) -> potok_message {
        potok_message {
            topic: c_string(&record.topic),
            header_keys: record.headers.iter().map(|(k, _)| c_string(k)).collect(),
            record,
        }
    }
}

/// Records of one `potok_consumer_poll_batch`, in the order the consumer hands them out. Immutable; any thread.
#[derive(Debug)]
pub struct potok_message_batch {
    pub(crate) messages: Vec<potok_message>,
}

fn message<'a>(m: *const potok_message) -> Option<&'a ConsumerRecord> {
    // SAFETY: the accessors' callers pass NULL or a live message.
    unsafe { m.as_ref() }.map(|m| &m.record)
}

/// The record's topic (owned by the message).
///
/// # Safety
/// `message` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn potok_message_topic(message: *const potok_message) -> *const c_char {
    // SAFETY: as the caller guarantees.
    unsafe { message.as_ref() }.map_or(std::ptr::null(), |m| m.topic.as_ptr())
}

/// The record's partition.
///
/// # Safety
/// `message` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn potok_message_partition(message: *const potok_message) -> i32 {
    self::message(message).map_or(-1, |r| r.partition)
}

/// The record's offset.
///
/// # Safety
/// `message` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn potok_message_offset(message: *const potok_message) -> i64 {
    self::message(message).map_or(-1, |r| r.offset)
}

/// The record's timestamp in milliseconds since the epoch (-1: none).
///
/// # Safety
/// `message` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn potok_message_timestamp(message: *const potok_message) -> i64 {
    self::message(message).map_or(-1, |r| r.timestamp)
}

/// 0 when the timestamp is the producer's (CreateTime), 1 when the broker's (LogAppendTime).
///
/// # Safety
/// `message` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn potok_message_timestamp_type(message: *const potok_message) -> i32 {
    self::message(message).map_or(0, |r| i32::from(r.timestamp_type == TimestampType::LogAppendTime))
}

/// The leader epoch the record was written in (-1: unknown).
///
/// # Safety
/// `message` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn potok_message_leader_epoch(message: *const potok_message) -> i32 {
    self::message(message).and_then(|r| r.leader_epoch).unwrap_or(-1)
}

fn bytes_out(bytes: Option<&bytes::Bytes>, len: *mut usize) -> *const u8 {
    if !len.is_null() {
        // SAFETY: the accessors' callers pass NULL or a writable length.
        unsafe { len.write(bytes.map_or(0, |b| b.len())) };
    }
    // A non-NULL pointer for an empty key or value, so that C can tell it from a null one.
    bytes.map_or(std::ptr::null(), |b| if b.is_empty() { std::ptr::NonNull::dangling().as_ptr() } else { b.as_ptr() })
}

/// The record's key (owned by the message) and its length in `*len` (may be NULL); NULL for a null key.
///
/// # Safety
/// `message` is NULL or live; `len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn potok_message_key(message: *const potok_message, len: *mut usize) -> *const u8 {
    bytes_out(self::message(message).and_then(|r| r.key.as_ref()), len)
}

/// The record's value (owned by the message) and its length in `*len` (may be NULL); NULL for a null value.
///
/// # Safety
/// `message` is NULL or live; `len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn potok_message_value(message: *const potok_message, len: *mut usize) -> *const u8 {
    bytes_out(self::message(message).and_then(|r| r.value.as_ref()), len)
}

/// How many headers the record has.
///
/// # Safety
/// `message` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn potok_message_header_count(message: *const potok_message) -> usize {
    self::message(message).map_or(0, |r| r.headers.len())
}

/// The `index`th header (in the order written; keys may repeat): `*key` and `*value`/`*value_len` point into
/// the message (`*value` NULL for a null value). False when out of range. Out parameters may be NULL.
///
/// # Safety
/// `message` is NULL or live; out parameters NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn potok_message_header(
    message: *const potok_message,
    index: usize,
    key: *mut *const c_char,
    value: *mut *const u8,
    value_len: *mut usize,
) -> bool {
    // SAFETY: as the caller guarantees.
    let Some(m) = (unsafe { message.as_ref() }) else { return false };
    let (Some((_, v)), Some(k)) = (m.record.headers.get(index), m.header_keys.get(index)) else { return false };
    let data = bytes_out(v.as_ref(), value_len);
    if !key.is_null() {
        // SAFETY: as the caller guarantees.
        unsafe { key.write(k.as_ptr()) };
    }
    if !value.is_null() {
        // SAFETY: as the caller guarantees.
        unsafe { value.write(data) };
    }
    true
}

/// Frees a message from `potok_consumer_poll`. NULL is ignored.
///
/// # Safety
/// `message` is NULL or from `potok_consumer_poll` (not from a batch), not freed yet.
#[no_mangle]
pub unsafe extern "C" fn potok_message_destroy(message: *mut potok_message) {
    if !message.is_null() {
        // SAFETY: made by `Box::into_raw` in `potok_consumer_poll`; freed once, as the caller guarantees.
        quiet((), || drop(unsafe { Box::from_raw(message) }));
    }
}

/// How many messages the batch holds.
///
/// # Safety
/// `batch` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn potok_message_batch_count(batch: *const potok_message_batch) -> usize {
    // SAFETY: as the caller guarantees.
    unsafe { batch.as_ref() }.map_or(0, |b| b.messages.len())
}

/// The `index`th message, owned by the batch (do not destroy it); NULL when out of range.
///
/// # Safety
/// `batch` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn potok_message_batch_get(
    batch: *const potok_message_batch,
    index: usize,
) -> *const potok_message {
    // SAFETY: as the caller guarantees.
    unsafe { batch.as_ref() }.and_then(|b| b.messages.get(index)).map_or(std::ptr::null(), |m| m as *const _)
}

/// Frees a batch and its messages. NULL is ignored.
///
/// # Safety
/// `batch` is NULL or from `potok_consumer_poll_batch`, not freed yet.
#[no_mangle]
pub unsafe extern "C" fn potok_message_batch_destroy(batch: *mut potok_message_batch) {
    if !batch.is_null() {
        // SAFETY: made by `Box::into_raw` in `potok_consumer_poll_batch`; freed once.
        quiet((), || drop(unsafe { Box::from_raw(batch) }));
    }
}

/// A C callback and its opaque pointer, called from the consumer's own thread.
#[derive(Clone, Copy)]
struct Callback<F> {
    function: F,
    opaque: *mut c_void,
}

// SAFETY: the pointers are only used to call the C callback on the thread driving the consumer (inside its
// calls), where the caller said the callback may run; the engine merely carries them between its threads.
unsafe impl<F: Send> Send for Callback<F> {}

type CommitCallback = Callback<unsafe extern "C" fn(*mut c_void, *const potok_partition_list, *const potok_error)>;

/// Commit outcomes waiting to be served on the consumer's thread.
type Completed = Vec<(CommitCallback, potok_partition_list, Option<HostError>)>;

/// A consumer. Use it from one thread at a time, as Kafka's consumer: only `potok_consumer_wakeup` may be
/// called from another thread while a call runs. `potok_consumer_destroy` must be the last call.
pub struct potok_consumer {
    pub(crate) inner: Consumer,
    completed_commits: Arc<Mutex<Completed>>,
}

impl std::fmt::Debug for potok_consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("potok_consumer").finish_non_exhaustive()
    }
}

impl potok_consumer {
    /// Runs the callbacks of completed async commits on this thread.
    fn serve_commit_callbacks(&self) {
        let completed = std::mem::take(&mut *self.completed_commits.lock().unwrap_or_else(PoisonError::into_inner));
        for (callback, list, error) in completed {
            let error = error.map(potok_error::new);
            let error_ptr = error.as_ref().map_or(std::ptr::null(), |e| e as *const potok_error);
            // SAFETY: the caller of `commit_async` gave a callback safe to call with its opaque pointer on this
            // thread; the list and error live until it returns.
            unsafe { (callback.function)(callback.opaque, &list, error_ptr) };
        }
    }
}

struct Listener(Callback<unsafe extern "C" fn(*mut c_void, potok_rebalance_event, *const potok_partition_list)>);

impl Listener {
    fn call(&self, event: potok_rebalance_event, partitions: &[TopicPartition]) {
        let list = potok_partition_list::of(partitions);
        // SAFETY: the engine calls the listener inside `poll`/`unsubscribe`/`close` on the thread that called them,
        // where the subscriber allowed the callback to run; the list lives until it returns.
        unsafe { (self.0.function)(self.0.opaque, event, &list) };
    }
}

impl RebalanceListener for Listener {
    fn on_partitions_revoked(&mut self, partitions: &[TopicPartition]) {
        self.call(potok_rebalance_event::POTOK_REBALANCE_REVOKED, partitions);
    }

    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition]) {
        self.call(potok_rebalance_event::POTOK_REBALANCE_ASSIGNED, partitions);
    }

    fn on_partitions_lost(&mut self, partitions: &[TopicPartition]) {
        self.call(potok_rebalance_event::POTOK_REBALANCE_LOST, partitions);
    }
}

/// Makes a consumer from Kafka consumer config pairs (`bootstrap.servers`; `group.id` for subscribe and
/// commits; `auto.offset.reset`, `enable.auto.commit`, `isolation.level`, `group.protocol`, ...). On success
/// `*out` is freed with `potok_consumer_destroy`.
///
/// # Safety
/// `config` is NULL or a NULL-terminated list of NUL-terminated strings; `out` is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_consumer_new(
    config: *const *const c_char,
    out: *mut *mut potok_consumer,
) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY: as the caller guarantees.
        let pairs = unsafe { config_arg(config) }?;
        let consumer = Box::new(potok_consumer { inner: Consumer::new(&pairs)?, completed_commits: Arc::default() });
        // SAFETY: checked non-NULL; writable as the caller guarantees.
        unsafe { write_out(out, Box::into_raw(consumer), "out") }
    })
}

/// Subscribes to `count` topics (a single name starting with `^` is a regular expression over topic names)
/// as a member of `group.id`; partitions come with the next polls. `callback` (may be NULL) is told of
/// assignments and revocations, on the thread calling `poll`.
///
/// # Safety
/// `consumer` is live; `topics` valid for `count` NUL-terminated strings; `callback` NULL or safe to call with
/// `opaque` on the thread driving the consumer.
#[no_mangle]
pub unsafe extern "C" fn potok_consumer_subscribe(
    consumer: *mut potok_consumer,
    topics: *const *const c_char,
    count: usize,
    callback: potok_rebalance_cb,
    opaque: *mut c_void,
) -> *mut potok_error {
    guard(|| {
        // SAFETY (both reads): as the caller guarantees.
        let consumer = unsafe { handle(consumer, "consumer") }?;
        let topics = unsafe { strings_arg(topics, count, "topics") }?;
        consumer.inner.subscribe(&topics)?;
        if let Some(function) = callback {
            consumer.inner.set_rebalance_listener(Box::new(Listener(Callback { function, opaque })));
        }
        Ok(())
    })
}

/// Drops the subscription or assignment (leaving the group).
///
/// # Safety
/// `consumer` is live.
#[no_mangle]
pub unsafe extern "C" fn potok_consumer_unsubscribe(consumer: *mut potok_consumer) -> *mut potok_error {
    // SAFETY: as the caller guarantees.
    guard(|| Ok(unsafe { handle(consumer, "consumer") }?.inner.unsubscribe()?))
}

/// Reads topic-partitions.
///
/// # Safety
/// `items` NULL or valid for `count` items with NUL-terminated topics.
unsafe fn partitions_arg(items: *const potok_topic_partition, count: usize) -> Result<Vec<TopicPartition>, HostError> {
    // SAFETY: as the caller guarantees.
    let items = unsafe { array_arg(items, count, "partitions") }?;
    items
        .iter()
        .map(|tp| {
            if tp.partition < 0 {
                return Err(HostError::invalid_argument(format!("partition {} is negative", tp.partition)));
            }
            // SAFETY: as the caller guarantees.
            Ok(TopicPartition::new(unsafe { str_arg(tp.topic, "partitions[].topic") }?, tp.partition))
        })
        .collect()
}

/// Assigns partitions by hand (no group membership; commits still go to `group.id` when set); positions
/// start from the committed offset or `auto.offset.reset`. An empty list unassigns.
///
/// # Safety
/// `consumer` is live; `partitions` valid for `count` items.
#[no_mangle]
pub unsafe extern "C" fn potok_consumer_assign(
    consumer: *mut potok_consumer,
    partitions: *const potok_topic_partition,
    count: usize,
) -> *mut potok_error {
    guard(|| {
        // SAFETY (both reads): as the caller guarantees.
        let consumer = unsafe { handle(consumer, "consumer") }?;
        let partitions = unsafe { partitions_arg(partitions, count) }?;
        Ok(consumer.inner.assign(&partitions)?)
    })
}

/// The partitions assigned now. `*out` is freed with `potok_partition_list_destroy`.
///
/// # Safety
/// `consumer` is live; `out` valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_consumer_assignment(
    consumer: *mut potok_consumer,
    out: *mut *mut potok_partition_list,
) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY: as the caller guarantees.
        let assigned = unsafe { handle(consumer, "consumer") }?.inner.assignment();
        let list = potok_partition_list::boxed(assigned.iter().map(|tp| Entry::new(tp, POTOK_OFFSET_NONE)).collect());
        // SAFETY: checked non-NULL; writable as the caller guarantees.
        unsafe { write_out(out, list, "out") }
    })
}

/// The subscribed topics (a pattern's current matches). `*out` is freed with `potok_string_list_destroy`.
///
/// # Safety
/// `consumer` is live; `out` valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_consumer_subscription(
    consumer: *mut potok_consumer,
    out: *mut *mut potok_string_list,
) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY: as the caller guarantees.
        let topics = unsafe { handle(consumer, "consumer") }?.inner.subscription();
        // SAFETY: checked non-NULL; writable as the caller guarantees.
        unsafe { write_out(out, potok_string_list::boxed(&topics), "out") }
    })
}

/// Polls up to `max` records, waiting up to `timeout_ms` (negative: until a record comes or a wakeup).
fn poll_records(consumer: &potok_consumer, timeout_ms: i64, max: usize) -> Result<Vec<ConsumerRecord>, HostError> {
    consumer.serve_commit_callbacks();
    let result = match timeout(timeout_ms) {
        Some(t) => consumer.inner.poll_at_most(t, max),
        None => loop {
            // Without a limit: wait in slices (a wakeup ends the wait with an error).
            match consumer.inner.poll_at_most(Duration::from_secs(1), max) {
                Ok(records) if records.is_empty() => continue,
                other => break other,
            }
        },
    };
    consumer.serve_commit_callbacks();
    Ok(result?)
}

/// Fetches the next record: waits up to `timeout_ms` (0: only what is buffered; negative: until one comes)
/// and sets `*out` to a message to free with `potok_message_destroy`, or to NULL when none came in time.
/// Rebalances and auto commits happen inside this call, as in Kafka. A `potok_consumer_wakeup` from another
/// thread ends it with a `POTOK_ERROR_WAKEUP` error.
///
/// # Safety
/// `consumer` is live; `out` valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_consumer_poll(
    consumer: *mut potok_consumer,
    timeout_ms: i64,
    out: *mut *mut potok_message,
) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY: as the caller guarantees.
        let consumer = unsafe { handle(consumer, "consumer") }?;
        let message = poll_records(consumer, timeout_ms, 1)?
            .into_iter()
            .next()
            .map_or(std::ptr::null_mut(), |r| Box::into_raw(Box::new(potok_message::new(r))));
        // SAFETY: checked non-NULL; writable as the caller guarantees.
        unsafe { write_out(out, message, "out") }
    })
}

/// Like `potok_consumer_poll`, returning up to `max_records` (and at most `max.poll.records`) records at once
/// (Kafka's `poll`): `*out` is a batch to free with `potok_message_batch_destroy`, or NULL when none came.
///
/// # Safety
/// `consumer` is live; `out` valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_consumer_poll_batch(
    consumer: *mut potok_consumer,
    timeout_ms: i64,
    max_records: usize,
    out: *mut *mut potok_message_batch,
) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        if max_records == 0 || max_records > POTOK_POLL_BATCH_MAX {
            return Err(HostError::invalid_argument(format!(
                "max_records must be between 1 and {POTOK_POLL_BATCH_MAX}"
            )));
        }
        // SAFETY: as the caller guarantees.
        let consumer = unsafe { handle(consumer, "consumer") }?;
        let records = poll_records(consumer, timeout_ms, max_records)?;
        let batch = if records.is_empty() {
            std::ptr::null_mut()
        } else {
            let messages = records.into_iter().map(potok_message::new).collect();
            Box::into_raw(Box::new(potok_message_batch { messages }))
        };
        // SAFETY: checked non-NULL; writable as the caller guarantees.
        unsafe { write_out(out, batch, "out") }
    })
}

/// Commits `count` offsets (each the next offset to read) and waits for the result; with `offsets` NULL and
/// `count` 0, commits the position of every assigned partition (what `poll` handed out). `timeout_ms`
/// negative: `default.api.timeout.ms`.
///
/// # Safety
/// `consumer` is live; `offsets` NULL or valid for `count` items.
#[no_mangle]
pub unsafe extern "C" fn potok_consumer_commit_sync(
    consumer: *mut potok_consumer,
    offsets: *const potok_partition_offset,
    count: usize,
    timeout_ms: i64,
) -> *mut potok_error {
    guard(|| {
        // SAFETY (both reads): as the caller guarantees.
        let consumer = unsafe { handle(consumer, "consumer") }?;
        let offsets = if count == 0 { None } else { Some(unsafe { offsets_arg(offsets, count) }?) };
        consumer.serve_commit_callbacks();
        let result = consumer.inner.commit_sync(offsets.as_ref(), timeout(timeout_ms));
        consumer.serve_commit_callbacks();
        Ok(result?)
    })
}

/// Commits like `potok_consumer_commit_sync` without waiting. `callback` (may be NULL) gets the outcome on this
/// consumer's thread, from the next `poll*`, `commit_sync` or `close` after the commit completed.
///
/// # Safety
/// `consumer` is live; `offsets` NULL or valid for `count` items; `callback` NULL or safe to call with `opaque`
/// on the thread driving the consumer.
#[no_mangle]
pub unsafe extern "C" fn potok_consumer_commit_async(
    consumer: *mut potok_consumer,
    offsets: *const potok_partition_offset,
    count: usize,
    callback: potok_commit_cb,
    opaque: *mut c_void,
) -> *mut potok_error {
    guard(|| {
        // SAFETY (both reads): as the caller guarantees.
        let consumer = unsafe { handle(consumer, "consumer") }?;
        let offsets: BTreeMap<TopicPartition, OffsetAndMetadata> =
            if count == 0 { consumer.inner.offsets_to_commit() } else { unsafe { offsets_arg(offsets, count) }? };
        let on_complete: Option<Box<dyn FnOnce(engine::client::Result<()>) + Send>> = match callback {
            Some(function) => {
                let callback = Callback { function, opaque };
                let completed = consumer.completed_commits.clone();
                let list =
                    potok_partition_list { entries: offsets.iter().map(|(tp, o)| Entry::committed(tp, o)).collect() };
                Some(Box::new(move |result: engine::client::Result<()>| {
                    let entry = (callback, list, result.err().map(HostError::from));
                    completed.lock().unwrap_or_else(PoisonError::into_inner).push(entry);
                }))
            }
            None => None,
        };
        consumer.inner.commit_async(Some(offsets), on_complete);
        Ok(())
    })
}

/// The group's committed offsets for `count` partitions. `*out` lists each partition with its offset and
/// metadata (`POTOK_OFFSET_NONE` when nothing is committed); freed with `potok_partition_list_destroy`.
///
/// # Safety
/// `consumer` is live; `partitions` valid for `count` items; `out` valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_consumer_committed(
    consumer: *mut potok_consumer,
    partitions: *const potok_topic_partition,
    count: usize,
    timeout_ms: i64,
    out: *mut *mut potok_partition_list,
) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY (both reads): as the caller guarantees.
        let consumer = unsafe { handle(consumer, "consumer") }?;
        let partitions = unsafe { partitions_arg(partitions, count) }?;
        let found = consumer.inner.committed(&partitions, timeout(timeout_ms))?;
        let entries = partitions
            .iter()
            .map(|tp| match found.get(tp) {
                Some(o) => Entry::committed(tp, o),
                None => Entry::new(tp, POTOK_OFFSET_NONE),
            })
            .collect();
        // SAFETY: checked non-NULL; writable as the caller guarantees.
        unsafe { write_out(out, potok_partition_list::boxed(entries), "out") }
    })
}

/// The offset of the next record `poll` returns for an assigned partition (looked up if not known yet).
///
/// # Safety
/// `consumer` is live; `topic` NUL-terminated; `out` valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_consumer_position(
    consumer: *mut potok_consumer,
    topic: *const c_char,
    partition: i32,
    timeout_ms: i64,
    out: *mut i64,
) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY (both reads): as the caller guarantees.
        let consumer = unsafe { handle(consumer, "consumer") }?;
        let tp = TopicPartition::new(unsafe { str_arg(topic, "topic") }?, partition);
        let position = consumer.inner.position(&tp, timeout(timeout_ms))?;
        // SAFETY: checked non-NULL; writable as the caller guarantees.
        unsafe { write_out(out, position, "out") }
    })
}

/// Moves an assigned partition's position: the next poll reads from `offset`.
///
/// # Safety
/// `consumer` is live; `topic` NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn potok_consumer_seek(
    consumer: *mut potok_consumer,
    topic: *const c_char,
    partition: i32,
    offset: i64,
) -> *mut potok_error {
    guard(|| {
        // SAFETY (both reads): as the caller guarantees.
        let consumer = unsafe { handle(consumer, "consumer") }?;
        let tp = TopicPartition::new(unsafe { str_arg(topic, "topic") }?, partition);
        Ok(consumer.inner.seek(&tp, offset)?)
    })
}

/// Seeks partitions (`count` 0: every assigned one) to their log start, evaluated at the next poll.
///
/// # Safety
/// `consumer` is live; `partitions` NULL or valid for `count` items.
#[no_mangle]
pub unsafe extern "C" fn potok_consumer_seek_to_beginning(
    consumer: *mut potok_consumer,
    partitions: *const potok_topic_partition,
    count: usize,
) -> *mut potok_error {
    guard(|| {
        // SAFETY (both reads): as the caller guarantees.
        let consumer = unsafe { handle(consumer, "consumer") }?;
        let partitions = unsafe { partitions_arg(partitions, count) }?;
        Ok(consumer.inner.seek_to_beginning(&partitions)?)
    })
}

/// Seeks partitions (`count` 0: every assigned one) to their end (the last stable offset for
/// `read_committed`), evaluated at the next poll.
///
/// # Safety
/// `consumer` is live; `partitions` NULL or valid for `count` items.
#[no_mangle]
pub unsafe extern "C" fn potok_consumer_seek_to_end(
    consumer: *mut potok_consumer,
    partitions: *const potok_topic_partition,
    count: usize,
) -> *mut potok_error {
    guard(|| {
        // SAFETY (both reads): as the caller guarantees.
        let consumer = unsafe { handle(consumer, "consumer") }?;
        let partitions = unsafe { partitions_arg(partitions, count) }?;
        Ok(consumer.inner.seek_to_end(&partitions)?)
    })
}

/// Stops fetching and returning records of these assigned partitions until `potok_consumer_resume`.
///
/// # Safety
/// `consumer` is live; `partitions` valid for `count` items.
#[no_mangle]
pub unsafe extern "C" fn potok_consumer_pause(
    consumer: *mut potok_consumer,
    partitions: *const potok_topic_partition,
    count: usize,
) -> *mut potok_error {
    guard(|| {
        // SAFETY (both reads): as the caller guarantees.
        let consumer = unsafe { handle(consumer, "consumer") }?;
        let partitions = unsafe { partitions_arg(partitions, count) }?;
        Ok(consumer.inner.pause(&partitions)?)
    })
}

/// Resumes paused partitions.
///
/// # Safety
/// `consumer` is live; `partitions` valid for `count` items.
#[no_mangle]
pub unsafe extern "C" fn potok_consumer_resume(
    consumer: *mut potok_consumer,
    partitions: *const potok_topic_partition,
    count: usize,
) -> *mut potok_error {
    guard(|| {
        // SAFETY (both reads): as the caller guarantees.
        let consumer = unsafe { handle(consumer, "consumer") }?;
        let partitions = unsafe { partitions_arg(partitions, count) }?;
        Ok(consumer.inner.resume(&partitions)?)
    })
}

/// The paused partitions. `*out` is freed with `potok_partition_list_destroy`.
///
/// # Safety
/// `consumer` is live; `out` valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_consumer_paused(
    consumer: *mut potok_consumer,
    out: *mut *mut potok_partition_list,
) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY: as the caller guarantees.
        let paused = unsafe { handle(consumer, "consumer") }?.inner.paused();
        let list = potok_partition_list::boxed(paused.iter().map(|tp| Entry::new(tp, POTOK_OFFSET_NONE)).collect());
        // SAFETY: checked non-NULL; writable as the caller guarantees.
        unsafe { write_out(out, list, "out") }
    })
}

fn offsets_list(partitions: &[TopicPartition], found: &BTreeMap<TopicPartition, i64>) -> *mut potok_partition_list {
    potok_partition_list::boxed(
        partitions.iter().map(|tp| Entry::new(tp, found.get(tp).copied().unwrap_or(POTOK_OFFSET_NONE))).collect(),
    )
}

/// The first offset of each partition (its log start). `*out` is freed with `potok_partition_list_destroy`.
///
/// # Safety
/// `consumer` is live; `partitions` valid for `count` items; `out` valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_consumer_beginning_offsets(
    consumer: *mut potok_consumer,
    partitions: *const potok_topic_partition,
    count: usize,
    timeout_ms: i64,
    out: *mut *mut potok_partition_list,
) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY (both reads): as the caller guarantees.
        let consumer = unsafe { handle(consumer, "consumer") }?;
        let partitions = unsafe { partitions_arg(partitions, count) }?;
        let found = consumer.inner.beginning_offsets(&partitions, timeout(timeout_ms))?;
        // SAFETY: checked non-NULL; writable as the caller guarantees.
        unsafe { write_out(out, offsets_list(&partitions, &found), "out") }
    })
}

/// The end offset of each partition (the high watermark, or the last stable offset for `read_committed`).
/// `*out` is freed with `potok_partition_list_destroy`.
///
/// # Safety
/// `consumer` is live; `partitions` valid for `count` items; `out` valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_consumer_end_offsets(
    consumer: *mut potok_consumer,
    partitions: *const potok_topic_partition,
    count: usize,
    timeout_ms: i64,
    out: *mut *mut potok_partition_list,
) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY (both reads): as the caller guarantees.
        let consumer = unsafe { handle(consumer, "consumer") }?;
        let partitions = unsafe { partitions_arg(partitions, count) }?;
        let found = consumer.inner.end_offsets(&partitions, timeout(timeout_ms))?;
        // SAFETY: checked non-NULL; writable as the caller guarantees.
        unsafe { write_out(out, offsets_list(&partitions, &found), "out") }
    })
}

/// For each entry of `query` (its `offset` field holding a timestamp in milliseconds), the earliest offset
/// whose record timestamp is at or after it: `*out` lists the offset (`POTOK_OFFSET_NONE` when there is no such
/// record) with the record's timestamp (`potok_partition_list_timestamp`) and leader epoch.
///
/// # Safety
/// `consumer` is live; `query` valid for `count` items; `out` valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_consumer_offsets_for_times(
    consumer: *mut potok_consumer,
    query: *const potok_partition_offset,
    count: usize,
    timeout_ms: i64,
    out: *mut *mut potok_partition_list,
) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY (both reads): as the caller guarantees.
        let consumer = unsafe { handle(consumer, "consumer") }?;
        let items = unsafe { array_arg(query, count, "query") }?;
        let specs = items
            .iter()
            // SAFETY: as the caller guarantees.
            .map(|q| Ok((TopicPartition::new(unsafe { str_arg(q.topic, "query[].topic") }?, q.partition), q.offset)))
            .collect::<Result<Vec<_>, HostError>>()?;
        let found = consumer.inner.offsets_for_times(&specs, timeout(timeout_ms))?;
        let entries = specs
            .iter()
            .map(|(tp, _)| match found.get(tp).and_then(|i| i.as_ref()) {
                Some(info) => Entry {
                    timestamp: info.timestamp,
                    leader_epoch: info.leader_epoch.unwrap_or(-1),
                    ..Entry::new(tp, info.offset)
                },
                None => Entry::new(tp, POTOK_OFFSET_NONE),
            })
            .collect();
        // SAFETY: checked non-NULL; writable as the caller guarantees.
        unsafe { write_out(out, potok_partition_list::boxed(entries), "out") }
    })
}

/// The consumer's group membership (group id, generation, member id), for
/// `potok_producer_send_offsets_to_transaction`. A consumer without `group.id` is an argument error. `*out` is
/// freed with `potok_group_metadata_destroy`.
///
/// # Safety
/// `consumer` is live; `out` valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_consumer_group_metadata(
    consumer: *mut potok_consumer,
    out: *mut *mut potok_group_metadata,
) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY: as the caller guarantees.
        let consumer = unsafe { handle(consumer, "consumer") }?;
        let metadata = consumer
            .inner
            .group_metadata()
            .ok_or_else(|| HostError::from(ClientError::InvalidArgument("this consumer has no group.id".into())))?;
        // SAFETY: checked non-NULL; writable as the caller guarantees.
        unsafe { write_out(out, potok_group_metadata::boxed(metadata), "out") }
    })
}

/// A topic's partitions, leaders, replicas and ISR (auto-creating it when `allow.auto.create.topics` and the
/// broker allow). `*out` is freed with `potok_topic_description_destroy`.
///
/// # Safety
/// `consumer` is live; `topic` NUL-terminated; `out` valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_consumer_partitions_for(
    consumer: *mut potok_consumer,
    topic: *const c_char,
    timeout_ms: i64,
    out: *mut *mut potok_topic_description,
) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY (both reads): as the caller guarantees.
        let consumer = unsafe { handle(consumer, "consumer") }?;
        let topic = unsafe { str_arg(topic, "topic") }?;
        let partitions = consumer.inner.partitions_for(topic, timeout(timeout_ms))?;
        // SAFETY: checked non-NULL; writable as the caller guarantees.
        unsafe { write_out(out, potok_topic_description::boxed(topic, false, partitions), "out") }
    })
}

/// The cluster's topics (internal ones only with `exclude.internal.topics=false`), sorted by name. `*out` is
/// freed with `potok_string_list_destroy`; describe one with `potok_consumer_partitions_for`.
///
/// # Safety
/// `consumer` is live; `out` valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_consumer_list_topics(
    consumer: *mut potok_consumer,
    timeout_ms: i64,
    out: *mut *mut potok_string_list,
) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY: as the caller guarantees.
        let consumer = unsafe { handle(consumer, "consumer") }?;
        let names: Vec<String> = consumer.inner.list_topics(timeout(timeout_ms))?.into_keys().collect();
        // SAFETY: checked non-NULL; writable as the caller guarantees.
        unsafe { write_out(out, potok_string_list::boxed(&names), "out") }
    })
}

/// Interrupts a blocking call of the consumer running on another thread (or the next one): it fails with a
/// `POTOK_ERROR_WAKEUP` error. Safe to call from any thread while the consumer is live.
///
/// # Safety
/// `consumer` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn potok_consumer_wakeup(consumer: *const potok_consumer) {
    // SAFETY: as the caller guarantees.
    if let Some(consumer) = unsafe { consumer.as_ref() } {
        quiet((), || consumer.inner.wakeup());
    }
}

/// Commits what was consumed (with `enable.auto.commit`), tells the rebalance callback of the revocation,
/// leaves the group and closes connections. Later calls fail with a `POTOK_ERROR_STATE` error.
/// `timeout_ms` negative: the client's default.
///
/// # Safety
/// `consumer` is live.
#[no_mangle]
pub unsafe extern "C" fn potok_consumer_close(consumer: *mut potok_consumer, timeout_ms: i64) -> *mut potok_error {
    guard(|| {
        // SAFETY: as the caller guarantees.
        let consumer = unsafe { handle(consumer, "consumer") }?;
        let result = consumer.inner.close(timeout(timeout_ms));
        consumer.serve_commit_callbacks();
        Ok(result?)
    })
}

/// Closes the consumer if needed and frees it. NULL is ignored.
///
/// # Safety
/// `consumer` is NULL or from `potok_consumer_new`, not freed yet, with no other call on it running.
#[no_mangle]
pub unsafe extern "C" fn potok_consumer_destroy(consumer: *mut potok_consumer) {
    if !consumer.is_null() {
        // SAFETY: made by `Box::into_raw` in `potok_consumer_new`; freed once, as the caller guarantees.
        quiet((), || drop(unsafe { Box::from_raw(consumer) }));
    }
}
