//! `potok_producer`: Kafka's producer (core's `potok::client::producer::Producer`: accumulator, batching,
//! partitioner, idempotence, retries, transactions) behind C types.
//!
//! Delivery reports follow librdkafka's poll model: the engine completes each record on one of its IO threads,
//! which only queues the outcome here; `potok_producer_poll` hands the queued reports to a C callback on the
//! caller's thread. Records sent with token `POTOK_NO_REPORT` get no report and are only counted, so
//! fire-and-forget sends keep no per-record state.

use std::collections::{BTreeMap, VecDeque};
use std::ffi::{c_char, c_void, CString};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use engine::client::producer::{ConsumerGroupMetadata, Producer, ProducerRecord, RecordMetadata};
use engine::client::{ClientError, OffsetAndMetadata, TopicPartition};
use engine::host::HostError;

use crate::admin::potok_topic_description;
use crate::error::potok_error;
use crate::ffi::{
    array_arg, bytes_arg, check_out, config_arg, guard, handle, opt_str_arg, quiet, str_arg, timeout, write_out,
};

/// `potok_record.partition` when the producer's partitioner is to choose.
pub const POTOK_PARTITION_ANY: i32 = -1;
/// `potok_record.timestamp` when the producer is to stamp the record.
pub const POTOK_NO_TIMESTAMP: i64 = -1;
/// The token of a send that wants no delivery report.
pub const POTOK_NO_REPORT: u64 = 0;
/// The most delivery reports one `potok_producer_poll` serves; the rest wait for the next call.
pub const POTOK_REPORTS_PER_POLL_MAX: usize = 10_000;
/// Any `timeout_ms`: negative means the call's default (documented per call).
pub const POTOK_TIMEOUT_DEFAULT: i64 = -1;

/// One record header. `value` NULL is a null header value (not the same as an empty one).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct potok_header {
    pub key: *const c_char,
    pub value: *const u8,
    pub value_len: usize,
}

/// A record to send. The library copies what it needs during `potok_producer_send`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct potok_record {
    pub topic: *const c_char,
    /// A partition index, or `POTOK_PARTITION_ANY`.
    pub partition: i32,
    /// NULL: a null key.
    pub key: *const u8,
    pub key_len: usize,
    /// NULL: a null value (a tombstone).
    pub value: *const u8,
    pub value_len: usize,
    /// Milliseconds since the epoch, or `POTOK_NO_TIMESTAMP`.
    pub timestamp: i64,
    pub headers: *const potok_header,
    pub header_count: usize,
}

/// The outcome of one send, valid only during the delivery callback.
#[repr(C)]
#[derive(Debug)]
pub struct potok_delivery_report {
    /// The token given to `potok_producer_send`.
    pub token: u64,
    /// The record's topic.
    pub topic: *const c_char,
    /// Where the record was written (-1 on error).
    pub partition: i32,
    /// Its offset (-1 on error, and with `acks=0`).
    pub offset: i64,
    /// Its timestamp: the producer's, or the broker's with `message.timestamp.type=LogAppendTime` (-1 on error).
    pub timestamp: i64,
    /// NULL on success; otherwise the failure, owned by the library (do not destroy it).
    pub error: *const potok_error,
}

/// Called by `potok_producer_poll` for each delivery report, on the thread calling it.
pub type potok_delivery_cb = Option<unsafe extern "C" fn(opaque: *mut c_void, report: *const potok_delivery_report)>;

type Outcome = (u64, String, Result<RecordMetadata, ClientError>);

/// Outcomes of records sent with a token, waiting for `poll`, and the count of records in flight.
#[derive(Debug, Default)]
struct Reports {
    queue: Mutex<VecDeque<Outcome>>,
    ready: Condvar,
    in_flight: AtomicUsize,
}

impl Reports {
    fn complete(&self, token: u64, topic: String, result: Result<RecordMetadata, ClientError>) {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if token != POTOK_NO_REPORT {
            queue.push_back((token, topic, result));
        }
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        drop(queue);
        self.ready.notify_all();
    }

    /// Waits up to `timeout` (None: until a report is ready or nothing is in flight), then takes at most
    /// `POTOK_REPORTS_PER_POLL_MAX` reports.
    fn take(&self, timeout: Option<Duration>) -> Vec<Outcome> {
        let deadline = timeout.map(|t| Instant::now().checked_add(t));
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        while queue.is_empty() {
            let wait = match deadline {
                Some(Some(deadline)) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => break,
                },
                // A timeout too large for the clock: wait as for none.
                Some(None) | None => {
                    if deadline.is_none() && self.in_flight.load(Ordering::Acquire) == 0 {
                        break;
                    }
                    Duration::from_millis(100)
                }
            };
            queue = self.ready.wait_timeout(queue, wait).unwrap_or_else(PoisonError::into_inner).0;
        }
        let n = queue.len().min(POTOK_REPORTS_PER_POLL_MAX);
        queue.drain(..n).collect()
    }
}

/// A producer. Every function may be called from any thread at once (the producer is thread-safe, as Kafka's),
/// except `potok_producer_destroy`, which must be the last call.
pub struct potok_producer {
    pub(crate) inner: Producer,
    reports: Arc<Reports>,
}

impl std::fmt::Debug for potok_producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("potok_producer").finish_non_exhaustive()
    }
}

/// Makes a producer from Kafka producer config pairs (`bootstrap.servers` required; `acks`, `linger.ms`,
/// `enable.idempotence`, `transactional.id`, ...; the Java client's serializer and interceptor keys are accepted
/// and ignored). On success `*out` is a producer to free with `potok_producer_destroy`.
///
/// # Safety
/// `config` is NULL or a NULL-terminated list of NUL-terminated strings; `out` is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_producer_new(
    config: *const *const c_char,
    out: *mut *mut potok_producer,
) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY: as the caller guarantees.
        let pairs = unsafe { config_arg(config) }?;
        let inner = Producer::new(&pairs)?;
        let producer = Box::new(potok_producer { inner, reports: Arc::default() });
        // SAFETY: checked non-NULL; writable as the caller guarantees.
        unsafe { write_out(out, Box::into_raw(producer), "out") }
    })
}

/// Reads a `potok_record` into an engine record, copying keys, values and headers.
///
/// # Safety
/// Every pointer of `record` is NULL or valid as its field documents.
unsafe fn record_arg(record: &potok_record) -> Result<ProducerRecord, HostError> {
    // SAFETY (all blocks below): the caller guarantees the record's pointers.
    let topic = unsafe { str_arg(record.topic, "record.topic") }?.to_string();
    let bytes = |ptr: *const u8, len: usize, what: &str| -> Result<Option<Bytes>, HostError> {
        if ptr.is_null() {
            return Ok(None);
        }
        Ok(Some(Bytes::copy_from_slice(unsafe { bytes_arg(ptr, len, what) }?)))
    };
    let key = bytes(record.key, record.key_len, "record.key")?;
    let value = bytes(record.value, record.value_len, "record.value")?;
    let headers = unsafe { array_arg(record.headers, record.header_count, "record.headers") }?
        .iter()
        .map(|h| {
            Ok((unsafe { str_arg(h.key, "a header key") }?.to_string(), bytes(h.value, h.value_len, "a header value")?))
        })
        .collect::<Result<Vec<_>, HostError>>()?;
    if record.partition < POTOK_PARTITION_ANY {
        return Err(HostError::invalid_argument(format!("record.partition {} is negative", record.partition)));
    }
    Ok(ProducerRecord {
        topic,
        partition: (record.partition != POTOK_PARTITION_ANY).then_some(record.partition),
        key,
        value,
        timestamp: (record.timestamp != POTOK_NO_TIMESTAMP).then_some(record.timestamp),
        headers,
    })
}

/// Queues one record for sending (blocking up to `max.block.ms` for metadata or buffer space). With a
/// `token` other than `POTOK_NO_REPORT`, its outcome is reported by `potok_producer_poll` under that token.
/// An error here means the record was not queued (and gets no report).
///
/// # Safety
/// `producer` is a live producer; `record` points to a record whose pointers are valid for the call.
#[no_mangle]
pub unsafe extern "C" fn potok_producer_send(
    producer: *mut potok_producer,
    record: *const potok_record,
    token: u64,
) -> *mut potok_error {
    guard(|| {
        // SAFETY: as the caller guarantees.
        let producer = unsafe { handle(producer, "producer") }?;
        // SAFETY: as the caller guarantees.
        let record = unsafe { record_arg(handle(record, "record")?) }?;
        send(producer, record, token)
    })
}

pub(crate) fn send(producer: &potok_producer, record: ProducerRecord, token: u64) -> Result<(), HostError> {
    let reports = producer.reports.clone();
    let topic = record.topic.clone();
    reports.in_flight.fetch_add(1, Ordering::AcqRel);
    let sent = producer.inner.send_with_callback(record, move |result| reports.complete(token, topic, result));
    sent.map_err(|e| {
        producer.reports.in_flight.fetch_sub(1, Ordering::AcqRel);
        HostError::from(e)
    })
}

/// Serves delivery reports: waits up to `timeout_ms` for one (0: no wait; negative: until one is ready or no
/// record is in flight), then calls `callback` for each ready report, at most `POTOK_REPORTS_PER_POLL_MAX`, on
/// this thread, in the order the engine completed them (records of one partition in send order). Returns how
/// many reports were served. A NULL callback drops the reports.
///
/// # Safety
/// `producer` is a live producer; `callback` is NULL or a function safe to call with `opaque`.
#[no_mangle]
pub unsafe extern "C" fn potok_producer_poll(
    producer: *mut potok_producer,
    timeout_ms: i64,
    callback: potok_delivery_cb,
    opaque: *mut c_void,
) -> usize {
    // SAFETY: as the caller guarantees.
    let Ok(producer) = (unsafe { handle(producer, "producer") }) else { return 0 };
    let taken = quiet(Vec::new(), || producer.reports.take(timeout(timeout_ms)));
    let count = taken.len();
    for (token, topic, result) in taken {
        let Some(callback) = callback else { continue };
        let topic = crate::ffi::c_string(&topic);
        let (report, _error) = match result {
            Ok(m) => (
                potok_delivery_report {
                    token,
                    topic: topic.as_ptr(),
                    partition: m.partition,
                    offset: m.offset,
                    timestamp: m.timestamp,
                    error: std::ptr::null(),
                },
                None,
            ),
            Err(e) => {
                let error = Box::new(potok_error::new(HostError::from(e)));
                let report = potok_delivery_report {
                    token,
                    topic: topic.as_ptr(),
                    partition: -1,
                    offset: -1,
                    timestamp: -1,
                    error: &*error,
                };
                (report, Some(error))
            }
        };
        // SAFETY: the caller guarantees the callback; the report and its strings live until it returns.
        unsafe { callback(opaque, &report) };
    }
    count
}

/// Records sent and not yet acknowledged or failed.
///
/// # Safety
/// `producer` is NULL or a live producer.
#[no_mangle]
pub unsafe extern "C" fn potok_producer_in_flight(producer: *const potok_producer) -> usize {
    // SAFETY: as the caller guarantees.
    quiet(0, || unsafe { producer.as_ref() }.map_or(0, |p| p.reports.in_flight.load(Ordering::Acquire)))
}

/// Sends what is queued and waits up to `timeout_ms` (negative: without limit) for every record sent so far
/// to complete; their reports then wait for `potok_producer_poll`. A `POTOK_ERROR_TIMEOUT` error says some
/// are still in flight.
///
/// # Safety
/// `producer` is a live producer.
#[no_mangle]
pub unsafe extern "C" fn potok_producer_flush(producer: *mut potok_producer, timeout_ms: i64) -> *mut potok_error {
    // SAFETY: as the caller guarantees.
    guard(|| Ok(unsafe { handle(producer, "producer") }?.inner.flush(timeout(timeout_ms))?))
}

/// The partitions of `topic` with their leaders, replicas and ISR (waiting up to `max.block.ms` for
/// metadata). `*out` is freed with `potok_topic_description_destroy`.
///
/// # Safety
/// `producer` is a live producer; `topic` a NUL-terminated string; `out` valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_producer_partitions_for(
    producer: *mut potok_producer,
    topic: *const c_char,
    out: *mut *mut potok_topic_description,
) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY: as the caller guarantees.
        let producer = unsafe { handle(producer, "producer") }?;
        // SAFETY: as the caller guarantees.
        let topic = unsafe { str_arg(topic, "topic") }?;
        let partitions = producer.inner.partitions_for(topic)?;
        let description = potok_topic_description::boxed(topic, false, partitions);
        // SAFETY: checked non-NULL; writable as the caller guarantees.
        unsafe { write_out(out, description, "out") }
    })
}

/// Delivers what is queued (waiting up to `timeout_ms`; negative: without limit), then closes the producer's
/// connections. Later sends fail with `POTOK_ERROR_CLOSED`. Reports of the records delivered stay available
/// to `potok_producer_poll`.
///
/// # Safety
/// `producer` is a live producer.
#[no_mangle]
pub unsafe extern "C" fn potok_producer_close(producer: *mut potok_producer, timeout_ms: i64) -> *mut potok_error {
    // SAFETY: as the caller guarantees.
    guard(|| Ok(unsafe { handle(producer, "producer") }?.inner.close(timeout(timeout_ms))?))
}

/// Closes the producer (waiting for queued records without limit, as `potok_producer_close` with -1; call
/// that first to bound it) and frees it, dropping undelivered reports. NULL is ignored.
///
/// # Safety
/// `producer` is NULL or a producer from `potok_producer_new`, not freed yet, with no other call on it running.
#[no_mangle]
pub unsafe extern "C" fn potok_producer_destroy(producer: *mut potok_producer) {
    if producer.is_null() {
        return;
    }
    // SAFETY: made by `Box::into_raw` in `potok_producer_new`; the caller hands it back once.
    let producer = unsafe { Box::from_raw(producer) };
    quiet((), move || {
        let _ = producer.inner.close(None);
    });
}

/// Registers the producer's `transactional.id` with its coordinator (fencing older producers with the same
/// id, aborting a transaction they left open). `timeout_ms` negative: `max.block.ms`.
///
/// # Safety
/// `producer` is a live producer.
#[no_mangle]
pub unsafe extern "C" fn potok_producer_init_transactions(
    producer: *mut potok_producer,
    timeout_ms: i64,
) -> *mut potok_error {
    // SAFETY: as the caller guarantees.
    guard(|| Ok(unsafe { handle(producer, "producer") }?.inner.init_transactions(timeout(timeout_ms))?))
}

/// Starts a transaction.
///
/// # Safety
/// `producer` is a live producer.
#[no_mangle]
pub unsafe extern "C" fn potok_producer_begin_transaction(producer: *mut potok_producer) -> *mut potok_error {
    // SAFETY: as the caller guarantees.
    guard(|| Ok(unsafe { handle(producer, "producer") }?.inner.begin_transaction()?))
}

/// Flushes and commits the open transaction. `timeout_ms` negative: `max.block.ms`.
///
/// # Safety
/// `producer` is a live producer.
#[no_mangle]
pub unsafe extern "C" fn potok_producer_commit_transaction(
    producer: *mut potok_producer,
    timeout_ms: i64,
) -> *mut potok_error {
    // SAFETY: as the caller guarantees.
    guard(|| Ok(unsafe { handle(producer, "producer") }?.inner.commit_transaction(timeout(timeout_ms))?))
}

/// Aborts the open transaction: its records are never shown to `read_committed` consumers.
///
/// # Safety
/// `producer` is a live producer.
#[no_mangle]
pub unsafe extern "C" fn potok_producer_abort_transaction(
    producer: *mut potok_producer,
    timeout_ms: i64,
) -> *mut potok_error {
    // SAFETY: as the caller guarantees.
    guard(|| Ok(unsafe { handle(producer, "producer") }?.inner.abort_transaction(timeout(timeout_ms))?))
}

/// A partition's offset to commit: `offset` is the next offset to read; `metadata` may be NULL.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct potok_partition_offset {
    pub topic: *const c_char,
    pub partition: i32,
    pub offset: i64,
    pub metadata: *const c_char,
}

/// Reads offsets to commit.
///
/// # Safety
/// `offsets` is NULL or valid for `count` items whose strings are NUL-terminated.
pub(crate) unsafe fn offsets_arg(
    offsets: *const potok_partition_offset,
    count: usize,
) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>, HostError> {
    // SAFETY: as the caller guarantees.
    let items = unsafe { array_arg(offsets, count, "offsets") }?;
    items
        .iter()
        .map(|o| {
            // SAFETY: as the caller guarantees.
            let topic = unsafe { str_arg(o.topic, "offsets[].topic") }?;
            // SAFETY: as the caller guarantees.
            let metadata = unsafe { opt_str_arg(o.metadata, "offsets[].metadata") }?.unwrap_or_default();
            if o.offset < 0 || o.partition < 0 {
                return Err(HostError::invalid_argument(format!(
                    "offsets[]: partition {} and offset {} must not be negative",
                    o.partition, o.offset
                )));
            }
            let value = OffsetAndMetadata { offset: o.offset, leader_epoch: None, metadata: metadata.to_string() };
            Ok((TopicPartition::new(topic, o.partition), value))
        })
        .collect()
}

/// A consumer's group membership, for `potok_producer_send_offsets_to_transaction` (from
/// `potok_consumer_group_metadata`, or made with `potok_group_metadata_new`). Immutable; any thread.
#[derive(Debug)]
pub struct potok_group_metadata {
    pub(crate) inner: ConsumerGroupMetadata,
    pub(crate) group_id: CString,
    pub(crate) member_id: CString,
    pub(crate) group_instance_id: Option<CString>,
}

impl potok_group_metadata {
    pub(crate) fn boxed(inner: ConsumerGroupMetadata) -> *mut potok_group_metadata {
        Box::into_raw(Box::new(potok_group_metadata {
            group_id: crate::ffi::c_string(&inner.group_id),
            member_id: crate::ffi::c_string(&inner.member_id),
            group_instance_id: inner.group_instance_id.as_deref().map(crate::ffi::c_string),
            inner,
        }))
    }
}

/// Group metadata from its parts (Kafka's `new ConsumerGroupMetadata(...)`): a generation of -1 and an empty
/// member id skip the broker's generation check. `member_id` and `group_instance_id` may be NULL.
///
/// # Safety
/// Strings are NULL (where allowed) or NUL-terminated; `out` valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_group_metadata_new(
    group_id: *const c_char,
    generation_id: i32,
    member_id: *const c_char,
    group_instance_id: *const c_char,
    out: *mut *mut potok_group_metadata,
) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY (the three reads): as the caller guarantees.
        let group_id = unsafe { str_arg(group_id, "group_id") }?.to_string();
        let member_id = unsafe { opt_str_arg(member_id, "member_id") }?.unwrap_or_default().to_string();
        let group_instance_id = unsafe { opt_str_arg(group_instance_id, "group_instance_id") }?.map(str::to_string);
        let inner = ConsumerGroupMetadata { group_id, generation_id, member_id, group_instance_id };
        // SAFETY: checked non-NULL; writable as the caller guarantees.
        unsafe { write_out(out, potok_group_metadata::boxed(inner), "out") }
    })
}

/// The group id (owned by the metadata).
///
/// # Safety
/// `metadata` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn potok_group_metadata_group_id(metadata: *const potok_group_metadata) -> *const c_char {
    // SAFETY: as the caller guarantees.
    unsafe { metadata.as_ref() }.map_or(std::ptr::null(), |m| m.group_id.as_ptr())
}

/// The generation (-1: none).
///
/// # Safety
/// `metadata` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn potok_group_metadata_generation_id(metadata: *const potok_group_metadata) -> i32 {
    // SAFETY: as the caller guarantees.
    unsafe { metadata.as_ref() }.map_or(-1, |m| m.inner.generation_id)
}

/// The member id ("" when not a member; owned by the metadata).
///
/// # Safety
/// `metadata` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn potok_group_metadata_member_id(metadata: *const potok_group_metadata) -> *const c_char {
    // SAFETY: as the caller guarantees.
    unsafe { metadata.as_ref() }.map_or(std::ptr::null(), |m| m.member_id.as_ptr())
}

/// The static member id, or NULL (owned by the metadata).
///
/// # Safety
/// `metadata` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn potok_group_metadata_group_instance_id(
    metadata: *const potok_group_metadata,
) -> *const c_char {
    // SAFETY: as the caller guarantees.
    unsafe { metadata.as_ref() }.and_then(|m| m.group_instance_id.as_ref()).map_or(std::ptr::null(), |id| id.as_ptr())
}

/// Frees group metadata. NULL is ignored.
///
/// # Safety
/// `metadata` is NULL or from this library, not freed yet.
#[no_mangle]
pub unsafe extern "C" fn potok_group_metadata_destroy(metadata: *mut potok_group_metadata) {
    if !metadata.is_null() {
        // SAFETY: made by `Box::into_raw`; freed once, as the caller guarantees.
        quiet((), || drop(unsafe { Box::from_raw(metadata) }));
    }
}

/// Adds a consumer group's offsets to the open transaction (consume-transform-produce): they are committed
/// with it, or dropped if it aborts. `timeout_ms` negative: `max.block.ms`.
///
/// # Safety
/// `producer` and `group` are live; `offsets` valid for `count` items.
#[no_mangle]
pub unsafe extern "C" fn potok_producer_send_offsets_to_transaction(
    producer: *mut potok_producer,
    offsets: *const potok_partition_offset,
    count: usize,
    group: *const potok_group_metadata,
    timeout_ms: i64,
) -> *mut potok_error {
    guard(|| {
        // SAFETY (the three reads): as the caller guarantees.
        let producer = unsafe { handle(producer, "producer") }?;
        let group = unsafe { handle(group, "group") }?;
        let offsets = unsafe { offsets_arg(offsets, count) }?;
        Ok(producer.inner.send_offsets_to_transaction(&offsets, &group.inner, timeout(timeout_ms))?)
    })
}
