//! `potok_broker`: a Kafka broker inside the calling process, with core's embedded defaults
//! (`potok::host::broker`: 127.0.0.1, a port the OS picks, a fresh temporary log directory removed on stop
//! unless `log.dirs` is given) under the caller's Kafka `server.properties` keys.
//!
//! A broker is made (config checked), then started and stopped, possibly several times (with `log.dirs` set,
//! a restart finds its data again), and destroyed once. The embedded cluster (`potok_cluster_*`, in
//! `cluster.rs`) runs several nodes.

use std::ffi::c_char;
use std::sync::{Mutex, MutexGuard, PoisonError};

use engine::broker::BrokerConfig;
use engine::host::broker::embedded_config;
use engine::host::HostError;
use engine::net::RunningBroker;

use crate::error::potok_error;
use crate::ffi::{check_out, config_arg, guard, handle, owned_string, quiet, write_out};

/// An embedded broker. All functions but `potok_broker_destroy` may be called from any thread at once.
pub struct potok_broker {
    config: BrokerConfig,
    running: Mutex<Option<RunningBroker>>,
}

impl std::fmt::Debug for potok_broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("potok_broker").finish_non_exhaustive()
    }
}

impl potok_broker {
    fn running(&self) -> MutexGuard<'_, Option<RunningBroker>> {
        // A panic while holding the lock cannot leave the Option half-written.
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn with_running<T>(&self, read: impl FnOnce(&RunningBroker) -> T) -> Result<T, HostError> {
        self.running().as_ref().map(read).ok_or_else(|| HostError::state("the broker is not running"))
    }
}

/// Makes a broker from Kafka broker config pairs (`{"num.partitions", "3", NULL}`; NULL for none) without
/// starting it. An unknown key or a bad value is a `POTOK_ERROR_CONFIG` error naming the key. On success
/// `*out` is a broker to free with `potok_broker_destroy`.
///
/// # Safety
/// `config` is NULL or a NULL-terminated list of NUL-terminated strings; `out` is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_broker_new(
    config: *const *const c_char,
    out: *mut *mut potok_broker,
) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY: as the caller guarantees.
        let pairs = unsafe { config_arg(config) }?;
        let config = embedded_config(&pairs)?;
        let broker = Box::new(potok_broker { config, running: Mutex::new(None) });
        // SAFETY: checked non-NULL above; writable as the caller guarantees.
        unsafe { write_out(out, Box::into_raw(broker), "out") }
    })
}

/// Binds the listener and opens the log directory; returns once clients can connect. Starting a running broker
/// is a `POTOK_ERROR_STATE` error.
///
/// # Safety
/// `broker` is a live broker.
#[no_mangle]
pub unsafe extern "C" fn potok_broker_start(broker: *const potok_broker) -> *mut potok_error {
    guard(|| {
        // SAFETY: as the caller guarantees.
        let broker = unsafe { handle(broker, "broker") }?;
        let mut running = broker.running();
        if running.is_some() {
            return Err(HostError::state("the broker is already running"));
        }
        *running = Some(RunningBroker::start(broker.config.clone())?);
        Ok(())
    })
}

/// Stops serving, flushes and closes the logs (and removes a temporary log directory); returns when done.
/// Stopping a broker that is not running does nothing.
///
/// # Safety
/// `broker` is a live broker.
#[no_mangle]
pub unsafe extern "C" fn potok_broker_stop(broker: *const potok_broker) -> *mut potok_error {
    guard(|| {
        // SAFETY: as the caller guarantees.
        let broker = unsafe { handle(broker, "broker") }?;
        let running = broker.running().take();
        match running {
            Some(running) => running.stop().map_err(HostError::from),
            None => Ok(()),
        }
    })
}

/// Whether the broker is running.
///
/// # Safety
/// `broker` is NULL or a live broker.
#[no_mangle]
pub unsafe extern "C" fn potok_broker_is_running(broker: *const potok_broker) -> bool {
    // SAFETY: as the caller guarantees.
    quiet(false, || unsafe { broker.as_ref() }.is_some_and(|b| b.running().is_some()))
}

/// `host:port` for `bootstrap.servers` while the broker runs (the port the OS picked); `*out` is a string to
/// free with `potok_string_free`. A broker that is not running is a `POTOK_ERROR_STATE` error.
///
/// # Safety
/// `broker` is a live broker; `out` is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_broker_bootstrap_servers(
    broker: *const potok_broker,
    out: *mut *mut c_char,
) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY: as the caller guarantees.
        let servers = unsafe { handle(broker, "broker") }?.with_running(|b| b.bootstrap_servers())?;
        // SAFETY: checked non-NULL; writable as the caller guarantees.
        unsafe { write_out(out, owned_string(&servers), "out") }
    })
}

/// The schema registry's URL (`http://host:port`) while the broker runs with `schema.registry.listeners` set
/// (`http://127.0.0.1:0` picks a free port); `*out` is a string to free with `potok_string_free`, or NULL when
/// the broker serves no registry. A broker that is not running is a `POTOK_ERROR_STATE` error.
///
/// # Safety
/// `broker` is a live broker; `out` is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_broker_schema_registry_url(
    broker: *const potok_broker,
    out: *mut *mut c_char,
) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY: as the caller guarantees.
        let url = unsafe { handle(broker, "broker") }?.with_running(|b| b.schema_registry_url())?;
        let url = url.map_or(std::ptr::null_mut(), |u| owned_string(&u));
        // SAFETY: checked non-NULL; writable as the caller guarantees.
        unsafe { write_out(out, url, "out") }
    })
}

/// The log directory while the broker runs (a fresh temporary one unless `log.dirs` was given); `*out` is a
/// string to free with `potok_string_free`.
///
/// # Safety
/// `broker` is a live broker; `out` is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_broker_log_dir(broker: *const potok_broker, out: *mut *mut c_char) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY: as the caller guarantees.
        let dir = unsafe { handle(broker, "broker") }?.with_running(|b| b.log_dir().display().to_string())?;
        // SAFETY: checked non-NULL; writable as the caller guarantees.
        unsafe { write_out(out, owned_string(&dir), "out") }
    })
}

/// Stops the broker if it runs (errors while stopping are dropped: call `potok_broker_stop` first to see
/// them) and frees it. NULL is ignored.
///
/// # Safety
/// `broker` is NULL or a broker from `potok_broker_new`, not freed yet, with no other call on it running.
#[no_mangle]
pub unsafe extern "C" fn potok_broker_destroy(broker: *mut potok_broker) {
    if broker.is_null() {
        return;
    }
    // SAFETY: made by `Box::into_raw` in `potok_broker_new`; the caller hands it back once.
    let broker = unsafe { Box::from_raw(broker) };
    quiet((), move || {
        if let Some(running) = broker.running().take() {
            let _ = running.stop();
        }
    });
}
