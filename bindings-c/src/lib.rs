//! potok's C ABI: the native engine (`potok-core`) behind plain C types, declared in `include/potok.h`
//! (generated from this crate by cbindgen, committed, checked for staleness by `scripts/c-tests.sh`).
//!
//! Shape (automerge's C crate is the model): every call that can fail returns a `potok_error *`, NULL on
//! success, which the caller owns and frees with `potok_error_destroy`; results come back through out
//! parameters. Every handle (`potok_broker`, `potok_cluster`, `potok_producer`, `potok_consumer`,
//! `potok_admin`, `potok_message`, `potok_message_batch`) has one `*_destroy` function and strings the library allocates for
//! the caller are freed with `potok_string_free`. No call panics across the boundary: a panic inside the engine
//! becomes an error of kind `POTOK_ERROR_OTHER`.
//!
//! Like every binding, this crate holds conversions, ownership and error plumbing only: what a failure is
//! (`potok::host::error`), the embedded broker's defaults (`potok::host::broker`), the packed record layout the
//! JNI glue hands Java (`potok::host::records`) and the log records (`potok::host::log`) come from core's host
//! layer; producing, consuming, batching, partitioning, retries and offsets are core's clients.
//!
//! Modules: [`error`] (status and accessors), [`broker`] (the embedded broker), [`cluster`] (an embedded
//! cluster of N nodes, each stopped, killed and started again by node id), [`producer`] (send with poll-based
//! delivery reports, flush, transactions), [`consumer`] (subscribe/assign, poll returning message handles,
//! commit, seek, close), [`admin`] (create/delete/describe/list topics), [`registry`] (registry-aware Avro and
//! JSON Schema serializers in the Confluent wire format), [`log`] (the engine's log records to a
//! C callback), and `jni` (the `Java_io_potok_*` functions of bindings-java, which call the functions of this crate).

// The C names (`potok_broker`, `potok_error`) are the header's names; cbindgen copies them verbatim.
#![allow(non_camel_case_types)]
// Errors are core's `HostError`, plain data turned into a `potok_error` at the boundary (as in `potok::host`);
// boxing them on the way would only add an allocation.
#![allow(clippy::result_large_err)]

pub mod admin;
pub mod broker;
pub mod cluster;
pub mod consumer;
pub mod error;
mod ffi;
pub mod log;
pub mod producer;
pub mod registry;

/// cbindgen:ignore
#[cfg(feature = "jni")]
mod jni;

pub use error::potok_error;

/// The library's version (`"0.1.0"`), a static string: do not free it.
#[no_mangle]
pub extern "C" fn potok_version() -> *const std::os::raw::c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Frees a string the library allocated for the caller (`potok_broker_bootstrap_servers`, ...). NULL is
/// ignored.
///
/// # Safety
/// `s` is NULL or a string returned by this library and not freed yet.
#[no_mangle]
pub unsafe extern "C" fn potok_string_free(s: *mut std::os::raw::c_char) {
    if !s.is_null() {
        // SAFETY: the caller passes a pointer this library made with `CString::into_raw`, freed only once.
        drop(unsafe { std::ffi::CString::from_raw(s) });
    }
}
