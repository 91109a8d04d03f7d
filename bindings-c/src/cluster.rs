//! `potok_cluster`: an embedded cluster of N nodes inside the calling process (`potok::host::cluster`), each a
//! broker and a voter of the controller quorum, or N broker-only nodes beside C controller-only nodes
//! (`potok_cluster_start_with_controllers`), on 127.0.0.1 ports picked at start (a restarted node keeps its
//! address), with data in a temporary directory removed when the cluster stops. Nodes are numbered 1 to N (then
//! N+1 to N+C for dedicated controllers) and can be stopped (controlled shutdown, as SIGTERM), killed (as
//! SIGKILL) and started again.
//!
//! Unlike `potok_broker`, a cluster is started by the call that makes it (there is nothing to configure
//! between the two), stopped once with `potok_cluster_stop` and freed with `potok_cluster_destroy`.

use std::ffi::c_char;
use std::sync::{Mutex, MutexGuard, PoisonError};

use engine::host::cluster::{EmbeddedCluster, MAX_NODES};
use engine::host::HostError;

use crate::error::potok_error;
use crate::ffi::{check_out, config_arg, guard, handle, owned_string, quiet, write_out};

/// The most nodes one cluster runs.
pub const POTOK_CLUSTER_MAX_BROKERS: usize = 9;
const _: () = assert!(POTOK_CLUSTER_MAX_BROKERS == MAX_NODES);

/// An embedded cluster. All functions but `potok_cluster_destroy` may be called from any thread at once; they
/// take turns (a call waits while another thread stops or starts a node).
pub struct potok_cluster {
    cluster: Mutex<Option<EmbeddedCluster>>,
}

impl std::fmt::Debug for potok_cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("potok_cluster").finish_non_exhaustive()
    }
}

impl potok_cluster {
    fn lock(&self) -> MutexGuard<'_, Option<EmbeddedCluster>> {
        // A panic while holding the lock cannot leave the Option half-written.
        self.cluster.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn with<T>(&self, f: impl FnOnce(&mut EmbeddedCluster) -> Result<T, HostError>) -> Result<T, HostError> {
        f(self.lock().as_mut().ok_or_else(|| HostError::state("the cluster is stopped"))?)
    }
}

/// Starts `brokers` nodes (1 to `POTOK_CLUSTER_MAX_BROKERS`), each a broker and a controller, with Kafka broker
/// config pairs applied to each (`{"min.insync.replicas", "2", NULL}`; NULL for none; `node.id`, `listeners`,
/// `log.dirs` and the quorum keys are the cluster's own). Returns once every node accepts connections and every
/// broker is registered and unfenced in the cluster's metadata (a topic with a replication factor of `brokers`
/// can be created at once); a `POTOK_ERROR_STATE` error naming the broker if that takes over 30 s. A broker
/// count out of range is a `POTOK_ERROR_INVALID_ARGUMENT` error, an unknown key or bad value a
/// `POTOK_ERROR_CONFIG` error naming the key. On success `*out` is a cluster to free with
/// `potok_cluster_destroy`.
///
/// # Safety
/// `config` is NULL or a NULL-terminated list of NUL-terminated strings; `out` is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_cluster_start(
    brokers: usize,
    config: *const *const c_char,
    out: *mut *mut potok_cluster,
) -> *mut potok_error {
    // SAFETY: as the caller guarantees.
    unsafe { potok_cluster_start_with_controllers(brokers, 0, config, out) }
}

/// As `potok_cluster_start`, with `controllers` dedicated controllers: nodes 1 to `brokers` are broker-only
/// (`process.roles=broker`) and nodes `brokers`+1 to `brokers`+`controllers` controller-only
/// (`process.roles=controller`), as a production KRaft cluster runs, so brokers can die without taking the
/// quorum with them. Only the brokers take clients (`potok_cluster_bootstrap_servers`). With `controllers` 0,
/// every node is both, as `potok_cluster_start`. More than `POTOK_CLUSTER_MAX_BROKERS` controllers is a
/// `POTOK_ERROR_INVALID_ARGUMENT` error.
///
/// # Safety
/// `config` is NULL or a NULL-terminated list of NUL-terminated strings; `out` is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_cluster_start_with_controllers(
    brokers: usize,
    controllers: usize,
    config: *const *const c_char,
    out: *mut *mut potok_cluster,
) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY: as the caller guarantees.
        let pairs = unsafe { config_arg(config) }?;
        let cluster = EmbeddedCluster::start_with_controllers(brokers, controllers, &pairs)?;
        let cluster = Box::new(potok_cluster { cluster: Mutex::new(Some(cluster)) });
        // SAFETY: checked non-NULL above; writable as the caller guarantees.
        unsafe { write_out(out, Box::into_raw(cluster), "out") }
    })
}

/// `host:port,...` of every running broker (dedicated controllers take no clients), for `bootstrap.servers`; `*out` is a string to free with
/// `potok_string_free`. A stopped cluster is a `POTOK_ERROR_STATE` error.
///
/// # Safety
/// `cluster` is a live cluster; `out` is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_cluster_bootstrap_servers(
    cluster: *const potok_cluster,
    out: *mut *mut c_char,
) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY: as the caller guarantees.
        let servers = unsafe { handle(cluster, "cluster") }?.with(|c| Ok(c.bootstrap_servers()))?;
        // SAFETY: checked non-NULL; writable as the caller guarantees.
        unsafe { write_out(out, owned_string(&servers), "out") }
    })
}

/// The schema registry URL of broker `id` (`http://host:port`) while it runs, or with `id` 0 the URLs of every
/// running broker's registry, comma-separated (what Confluent's `schema.registry.url` takes: a client tries the
/// next when one cannot be reached). Registries run when the cluster was started with
/// `schema.registry.listeners` (`http://127.0.0.1:0`: a port picked once per broker). `*out` is a string to
/// free with `potok_string_free`, or NULL when there is no such registry. An id out of range is a
/// `POTOK_ERROR_INVALID_ARGUMENT` error.
///
/// # Safety
/// `cluster` is a live cluster; `out` is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_cluster_schema_registry_url(
    cluster: *const potok_cluster,
    id: i32,
    out: *mut *mut c_char,
) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY: as the caller guarantees.
        let url = unsafe { handle(cluster, "cluster") }?.with(|c| {
            if id == 0 {
                Ok(c.schema_registry_urls())
            } else {
                c.schema_registry_url(id)
            }
        })?;
        let url = url.map_or(std::ptr::null_mut(), |u| owned_string(&u));
        // SAFETY: checked non-NULL; writable as the caller guarantees.
        unsafe { write_out(out, url, "out") }
    })
}

/// The log directory of node `id` (running or not): `<dir>/<topic>-<partition>/` holds that partition's segment
/// files. `*out` is a string to free with `potok_string_free`. An id that is not one of the cluster's nodes is a
/// `POTOK_ERROR_INVALID_ARGUMENT` error, a stopped cluster a `POTOK_ERROR_STATE` error.
///
/// # Safety
/// `cluster` is a live cluster; `out` is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_cluster_log_dir(
    cluster: *const potok_cluster,
    id: i32,
    out: *mut *mut c_char,
) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY: as the caller guarantees.
        let dirs = unsafe { handle(cluster, "cluster") }?.with(|c| Ok(c.log_dirs()))?;
        let dir = dirs
            .into_iter()
            .find(|(node, _)| *node == id)
            .ok_or_else(|| HostError::invalid_argument(format!("no node {id} in the cluster")))?;
        // SAFETY: checked non-NULL; writable as the caller guarantees.
        unsafe { write_out(out, owned_string(&dir.1.display().to_string()), "out") }
    })
}

/// The ids of the running nodes, ascending: `*count` is how many run, and the first `min(*count, capacity)` of
/// them are written to `ids` (NULL when `capacity` is 0). An array of `POTOK_CLUSTER_MAX_BROKERS` always holds
/// them all.
///
/// # Safety
/// `cluster` is a live cluster; `ids` is NULL or valid for writing `capacity` ids; `count` is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_cluster_running(
    cluster: *const potok_cluster,
    ids: *mut i32,
    capacity: usize,
    count: *mut usize,
) -> *mut potok_error {
    guard(|| {
        check_out(count, "count")?;
        if ids.is_null() && capacity > 0 {
            return Err(HostError::invalid_argument(format!("ids is NULL with capacity {capacity}")));
        }
        // SAFETY: as the caller guarantees.
        let running = unsafe { handle(cluster, "cluster") }?.with(|c| Ok(c.running()))?;
        for (i, id) in running.iter().take(capacity).enumerate() {
            // SAFETY: `i < capacity`, and `ids` holds `capacity` writable ids as the caller guarantees.
            unsafe { ids.add(i).write(*id) };
        }
        // SAFETY: checked non-NULL; writable as the caller guarantees.
        unsafe { write_out(count, running.len(), "count") }
    })
}

fn node_call(
    cluster: *const potok_cluster,
    call: impl FnOnce(&mut EmbeddedCluster) -> Result<(), HostError>,
) -> *mut potok_error {
    guard(|| {
        // SAFETY: the callers' callers guarantee a live cluster (or NULL, refused here).
        unsafe { handle(cluster, "cluster") }?.with(call)
    })
}

/// Stops node `id` as SIGTERM does: its partition leaderships move to other nodes first; returns when it has
/// stopped. An id out of range is a `POTOK_ERROR_INVALID_ARGUMENT` error, a node that is not running a
/// `POTOK_ERROR_STATE` error.
///
/// # Safety
/// `cluster` is a live cluster.
#[no_mangle]
pub unsafe extern "C" fn potok_cluster_stop_broker(cluster: *const potok_cluster, id: i32) -> *mut potok_error {
    node_call(cluster, |c| c.stop_broker(id))
}

/// Stops node `id` as SIGKILL does: no controlled shutdown and nothing flushed; the other nodes notice when
/// its session times out (`broker.session.timeout.ms`, 3 s by default here). Errors as
/// `potok_cluster_stop_broker`.
///
/// # Safety
/// `cluster` is a live cluster.
#[no_mangle]
pub unsafe extern "C" fn potok_cluster_kill_broker(cluster: *const potok_cluster, id: i32) -> *mut potok_error {
    node_call(cluster, |c| c.kill_broker(id))
}

/// Starts a stopped or killed node again, on its address and data; returns once it accepts connections and, for
/// a broker, once it is registered and unfenced in every running broker's metadata (after 30 s, a
/// `POTOK_ERROR_STATE` error saying what did not happen; the node is left running). A node that is running is
/// a `POTOK_ERROR_STATE` error.
///
/// # Safety
/// `cluster` is a live cluster.
#[no_mangle]
pub unsafe extern "C" fn potok_cluster_start_broker(cluster: *const potok_cluster, id: i32) -> *mut potok_error {
    node_call(cluster, |c| c.start_broker(id))
}

/// Stops every node and removes the cluster's data; later calls but this one and `potok_cluster_destroy` are
/// `POTOK_ERROR_STATE` errors. Stopping a stopped cluster does nothing.
///
/// # Safety
/// `cluster` is a live cluster.
#[no_mangle]
pub unsafe extern "C" fn potok_cluster_stop(cluster: *const potok_cluster) -> *mut potok_error {
    guard(|| {
        // SAFETY: as the caller guarantees.
        let running = unsafe { handle(cluster, "cluster") }?.lock().take();
        running.map_or(Ok(()), EmbeddedCluster::stop)
    })
}

/// Stops the cluster if it runs (errors while stopping are dropped: call `potok_cluster_stop` first to see
/// them) and frees it. NULL is ignored.
///
/// # Safety
/// `cluster` is NULL or a cluster from `potok_cluster_start` or `potok_cluster_start_with_controllers`, not freed yet, with no other call on it running.
#[no_mangle]
pub unsafe extern "C" fn potok_cluster_destroy(cluster: *mut potok_cluster) {
    if cluster.is_null() {
        return;
    }
    // SAFETY: made by `Box::into_raw` in `potok_cluster_start`; the caller hands it back once.
    let cluster = unsafe { Box::from_raw(cluster) };
    quiet((), move || {
        if let Some(running) = cluster.lock().take() {
            let _ = running.stop();
        }
    });
}
