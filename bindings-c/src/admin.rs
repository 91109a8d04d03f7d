//! `potok_admin`: the admin subset of Kafka's `Admin` client (core's `potok::client::admin::Admin`): create,
//! delete, describe and list topics. `potok_topic_description` (a topic's partitions, leaders, replicas and
//! ISR) is shared with the producer's and consumer's `partitions_for`; `potok_string_list` holds names.

use std::ffi::{c_char, CString};

use engine::client::admin::{Admin, NewTopic};
use engine::client::cluster::PartitionMetadata;
use engine::host::HostError;

use crate::error::potok_error;
use crate::ffi::{c_string, check_out, config_arg, guard, handle, quiet, str_arg, timeout, write_out};

/// An admin client. Every function may be called from any thread at once, except `potok_admin_destroy`.
pub struct potok_admin {
    inner: Admin,
}

impl std::fmt::Debug for potok_admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

/// One partition of a described topic. The arrays belong to the description.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct potok_partition_info {
    pub partition: i32,
    /// The leader's broker id (-1: none).
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: *const i32,
    pub replica_count: usize,
    pub isr: *const i32,
    pub isr_count: usize,
}

/// A topic's partitions (sorted by index). Immutable; any thread. Freed with `potok_topic_description_destroy`.
#[derive(Debug)]
pub struct potok_topic_description {
    name: CString,
    is_internal: bool,
    pub(crate) partitions: Vec<PartitionMetadata>,
}

impl potok_topic_description {
    pub(crate) fn boxed(name: &str, is_internal: bool, mut partitions: Vec<PartitionMetadata>) -> *mut Self {
        partitions.sort_by_key(|p| p.partition);
        Box::into_raw(Box::new(potok_topic_description { name: c_string(name), is_internal, partitions }))
    }
}

/// A list of names. Immutable; any thread. Freed with `potok_string_list_destroy`.
#[derive(Debug)]
pub struct potok_string_list {
    pub(crate) items: Vec<CString>,
}

impl potok_string_list {
    pub(crate) fn boxed(items: &[String]) -> *mut potok_string_list {
        Box::into_raw(Box::new(potok_string_list { items: items.iter().map(|s| c_string(s)).collect() }))
    }
}

/// Makes an admin client from Kafka admin config pairs (`bootstrap.servers` required). On success `*out` is
/// freed with `potok_admin_destroy`.
///
/// # Safety
/// `config` is NULL or a NULL-terminated list of NUL-terminated strings; `out` is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_admin_new(config: *const *const c_char, out: *mut *mut potok_admin) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY: as the caller guarantees.
        let pairs = unsafe { config_arg(config) }?;
        let admin = Box::new(potok_admin { inner: Admin::new(&pairs)? });
        // SAFETY: checked non-NULL; writable as the caller guarantees.
        unsafe { write_out(out, Box::into_raw(admin), "out") }
    })
}

/// Frees an admin client. NULL is ignored.
///
/// # Safety
/// `admin` is NULL or from `potok_admin_new`, not freed yet, with no other call on it running.
#[no_mangle]
pub unsafe extern "C" fn potok_admin_destroy(admin: *mut potok_admin) {
    if !admin.is_null() {
        // SAFETY: made by `Box::into_raw` in `potok_admin_new`; freed once, as the caller guarantees.
        quiet((), || drop(unsafe { Box::from_raw(admin) }));
    }
}

/// Creates a topic with `num_partitions` partitions and `replication_factor` replicas (-1 for either: the
/// broker's `num.partitions` / `default.replication.factor`) and topic configs `{"cleanup.policy", "compact",
/// NULL}` (NULL: none). A topic that exists is a `POTOK_ERROR_KAFKA` error with code 36
/// (TOPIC_ALREADY_EXISTS). `timeout_ms` negative: `default.api.timeout.ms`.
///
/// # Safety
/// `admin` is live; `name` NUL-terminated; `configs` NULL or a NULL-terminated list.
#[no_mangle]
pub unsafe extern "C" fn potok_admin_create_topic(
    admin: *mut potok_admin,
    name: *const c_char,
    num_partitions: i32,
    replication_factor: i16,
    configs: *const *const c_char,
    timeout_ms: i64,
) -> *mut potok_error {
    guard(|| {
        // SAFETY (the three reads): as the caller guarantees.
        let admin = unsafe { handle(admin, "admin") }?;
        let name = unsafe { str_arg(name, "name") }?;
        let configs = unsafe { config_arg(configs) }?;
        let topic = NewTopic { configs, ..NewTopic::new(name, num_partitions, replication_factor) };
        let results = admin.inner.create_topics(&[topic], false, timeout(timeout_ms))?;
        first_result(results)
    })
}

fn first_result(results: Vec<(String, engine::client::Result<()>)>) -> Result<(), HostError> {
    match results.into_iter().next() {
        Some((_, result)) => Ok(result?),
        None => Err(HostError::state("the broker returned no result")),
    }
}

/// Deletes a topic. `timeout_ms` negative: `default.api.timeout.ms`.
///
/// # Safety
/// `admin` is live; `name` NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn potok_admin_delete_topic(
    admin: *mut potok_admin,
    name: *const c_char,
    timeout_ms: i64,
) -> *mut potok_error {
    guard(|| {
        // SAFETY (both reads): as the caller guarantees.
        let admin = unsafe { handle(admin, "admin") }?;
        let name = unsafe { str_arg(name, "name") }?.to_string();
        first_result(admin.inner.delete_topics(&[name], timeout(timeout_ms))?)
    })
}

/// Describes a topic: its partitions with leaders, replicas and ISR. An unknown topic is a `POTOK_ERROR_KAFKA`
/// error with code 3 (UNKNOWN_TOPIC_OR_PARTITION). `*out` is freed with `potok_topic_description_destroy`.
///
/// # Safety
/// `admin` is live; `name` NUL-terminated; `out` valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_admin_describe_topic(
    admin: *mut potok_admin,
    name: *const c_char,
    timeout_ms: i64,
    out: *mut *mut potok_topic_description,
) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY (both reads): as the caller guarantees.
        let admin = unsafe { handle(admin, "admin") }?;
        let name = unsafe { str_arg(name, "name") }?.to_string();
        let results = admin.inner.describe_topics(std::slice::from_ref(&name), timeout(timeout_ms))?;
        let topic = match results.into_iter().next() {
            Some((_, result)) => result?,
            None => return Err(HostError::state("the broker returned no result")),
        };
        let description = potok_topic_description::boxed(&topic.name, topic.is_internal, topic.partitions);
        // SAFETY: checked non-NULL; writable as the caller guarantees.
        unsafe { write_out(out, description, "out") }
    })
}

/// The names of the cluster's topics, sorted (internal topics such as `__consumer_offsets` only when
/// `include_internal`). `*out` is freed with `potok_string_list_destroy`.
///
/// # Safety
/// `admin` is live; `out` valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_admin_list_topics(
    admin: *mut potok_admin,
    include_internal: bool,
    timeout_ms: i64,
    out: *mut *mut potok_string_list,
) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY: as the caller guarantees.
        let admin = unsafe { handle(admin, "admin") }?;
        let names = admin.inner.list_topics(include_internal, timeout(timeout_ms))?;
        // SAFETY: checked non-NULL; writable as the caller guarantees.
        unsafe { write_out(out, potok_string_list::boxed(&names), "out") }
    })
}

/// The topic's name (owned by the description).
///
/// # Safety
/// `description` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn potok_topic_description_name(description: *const potok_topic_description) -> *const c_char {
    // SAFETY: as the caller guarantees.
    unsafe { description.as_ref() }.map_or(std::ptr::null(), |d| d.name.as_ptr())
}

/// Whether the topic is internal (`__consumer_offsets`, `__transaction_state`).
///
/// # Safety
/// `description` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn potok_topic_description_is_internal(description: *const potok_topic_description) -> bool {
    // SAFETY: as the caller guarantees.
    unsafe { description.as_ref() }.is_some_and(|d| d.is_internal)
}

/// How many partitions the topic has.
///
/// # Safety
/// `description` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn potok_topic_description_partition_count(description: *const potok_topic_description) -> usize {
    // SAFETY: as the caller guarantees.
    unsafe { description.as_ref() }.map_or(0, |d| d.partitions.len())
}

/// The `index`th partition (in partition order) into `*out`, whose arrays live as long as the description.
/// False when `index` is out of range (then `*out` is untouched).
///
/// # Safety
/// `description` is NULL or live; `out` is NULL or valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_topic_description_partition(
    description: *const potok_topic_description,
    index: usize,
    out: *mut potok_partition_info,
) -> bool {
    // SAFETY: as the caller guarantees.
    let Some(p) = unsafe { description.as_ref() }.and_then(|d| d.partitions.get(index)) else { return false };
    let info = potok_partition_info {
        partition: p.partition,
        leader: p.leader,
        leader_epoch: p.leader_epoch,
        replicas: p.replicas.as_ptr(),
        replica_count: p.replicas.len(),
        isr: p.isr.as_ptr(),
        isr_count: p.isr.len(),
    };
    // SAFETY: as the caller guarantees (NULL is refused by `write_out`).
    unsafe { write_out(out, info, "out") }.is_ok()
}

/// Frees a topic description. NULL is ignored.
///
/// # Safety
/// `description` is NULL or from this library, not freed yet.
#[no_mangle]
pub unsafe extern "C" fn potok_topic_description_destroy(description: *mut potok_topic_description) {
    if !description.is_null() {
        // SAFETY: made by `Box::into_raw`; freed once, as the caller guarantees.
        quiet((), || drop(unsafe { Box::from_raw(description) }));
    }
}

/// How many names the list holds.
///
/// # Safety
/// `list` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn potok_string_list_count(list: *const potok_string_list) -> usize {
    // SAFETY: as the caller guarantees.
    unsafe { list.as_ref() }.map_or(0, |l| l.items.len())
}

/// The `index`th name (owned by the list), NULL when out of range.
///
/// # Safety
/// `list` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn potok_string_list_get(list: *const potok_string_list, index: usize) -> *const c_char {
    // SAFETY: as the caller guarantees.
    unsafe { list.as_ref() }.and_then(|l| l.items.get(index)).map_or(std::ptr::null(), |s| s.as_ptr())
}

/// Frees a list of names. NULL is ignored.
///
/// # Safety
/// `list` is NULL or from this library, not freed yet.
#[no_mangle]
pub unsafe extern "C" fn potok_string_list_destroy(list: *mut potok_string_list) {
    if !list.is_null() {
        // SAFETY: made by `Box::into_raw`; freed once, as the caller guarantees.
        quiet((), || drop(unsafe { Box::from_raw(list) }));
    }
}
