//! The boundary's plumbing: panics caught before they reach C, C strings and buffers checked on the way in,
//! timeouts, and out parameters. Every `extern "C"` function of the crate runs its body through [`guard`].

use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use engine::host::HostError;

use crate::error::potok_error;

/// The most key/value pairs one config list may hold; a list without its NULL terminator is caught here
/// instead of reading memory until a crash.
pub const POTOK_CONFIG_PAIRS_MAX: usize = 4096;

/// The most items (topics, partitions, offsets) one call's array may hold.
pub const POTOK_ITEMS_MAX: usize = 1_000_000;

/// Runs `body`, turning its error or a panic into an owned `potok_error` (NULL on success).
pub fn guard(body: impl FnOnce() -> Result<(), HostError>) -> *mut potok_error {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => std::ptr::null_mut(),
        Ok(Err(e)) => potok_error::boxed(e),
        Err(panic) => potok_error::boxed(panicked(panic)),
    }
}

/// Runs `body` for a call that cannot report an error (an accessor, a destroy): a panic yields `fallback`.
pub fn quiet<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

fn panicked(panic: Box<dyn std::any::Any + Send>) -> HostError {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    let mut error = HostError::state(format!("internal error in potok (a bug, please report it): {what}"));
    error.kind = engine::host::ErrorKind::Other;
    error
}

/// A NUL-terminated UTF-8 argument; `what` names it in the error.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string valid for the call.
pub unsafe fn str_arg<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, HostError> {
    if ptr.is_null() {
        return Err(HostError::invalid_argument(format!("{what} must not be NULL")));
    }
    // SAFETY: non-NULL, and the caller guarantees a NUL-terminated string that outlives the call.
    let s = unsafe { CStr::from_ptr(ptr) };
    s.to_str().map_err(|_| HostError::invalid_argument(format!("{what} is not UTF-8")))
}

/// Like [`str_arg`], NULL giving `None`.
///
/// # Safety
/// As [`str_arg`].
pub unsafe fn opt_str_arg<'a>(ptr: *const c_char, what: &str) -> Result<Option<&'a str>, HostError> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded from the caller.
    unsafe { str_arg(ptr, what) }.map(Some)
}

/// Bytes from a pointer and a length (NULL with length 0 is an empty slice).
///
/// # Safety
/// `ptr` is NULL or valid for reading `len` bytes during the call.
pub unsafe fn bytes_arg<'a>(ptr: *const u8, len: usize, what: &str) -> Result<&'a [u8], HostError> {
    if ptr.is_null() {
        if len == 0 {
            return Ok(&[]);
        }
        return Err(HostError::invalid_argument(format!("{what} is NULL with length {len}")));
    }
    if len > isize::MAX as usize {
        return Err(HostError::invalid_argument(format!("{what} length {len} is too large")));
    }
    // SAFETY: non-NULL, and the caller guarantees `len` readable bytes for the call.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// An array argument of `count` items (NULL with count 0 is empty), at most [`POTOK_ITEMS_MAX`].
///
/// # Safety
/// `ptr` is NULL or valid for reading `count` items during the call.
pub unsafe fn array_arg<'a, T>(ptr: *const T, count: usize, what: &str) -> Result<&'a [T], HostError> {
    if count > POTOK_ITEMS_MAX {
        return Err(HostError::invalid_argument(format!("{what}: {count} items, at most {POTOK_ITEMS_MAX}")));
    }
    if ptr.is_null() {
        if count == 0 {
            return Ok(&[]);
        }
        return Err(HostError::invalid_argument(format!("{what} is NULL with {count} items")));
    }
    // SAFETY: non-NULL, and the caller guarantees `count` readable items for the call.
    Ok(unsafe { std::slice::from_raw_parts(ptr, count) })
}

/// Kafka config pairs from a NULL-terminated list `{"key", "value", ..., NULL}` (NULL: no pairs).
///
/// # Safety
/// `list` is NULL or a NULL-terminated array of NUL-terminated strings.
pub unsafe fn config_arg(list: *const *const c_char) -> Result<Vec<(String, String)>, HostError> {
    let mut pairs = Vec::new();
    if list.is_null() {
        return Ok(pairs);
    }
    for i in 0..POTOK_CONFIG_PAIRS_MAX {
        // SAFETY: the list is NULL-terminated, and we stop at its terminator, so `2 * i` is inside it.
        let key = unsafe { *list.add(2 * i) };
        if key.is_null() {
            return Ok(pairs);
        }
        // SAFETY: a key is followed by its value (the terminator comes after a value).
        let value = unsafe { *list.add(2 * i + 1) };
        // SAFETY: entries are NUL-terminated strings.
        let key = unsafe { str_arg(key, "a config key") }?;
        if value.is_null() {
            return Err(HostError::invalid_argument(format!("config key {key:?} has no value (NULL)")));
        }
        // SAFETY: as above.
        let value = unsafe { str_arg(value, "a config value") }?;
        pairs.push((key.trim().to_string(), value.trim().to_string()));
    }
    Err(HostError::invalid_argument(format!(
        "config list has more than {POTOK_CONFIG_PAIRS_MAX} pairs (is its NULL terminator missing?)"
    )))
}

/// A list of `count` NUL-terminated strings.
///
/// # Safety
/// `list` is NULL or valid for reading `count` pointers to NUL-terminated strings.
pub unsafe fn strings_arg(list: *const *const c_char, count: usize, what: &str) -> Result<Vec<String>, HostError> {
    // SAFETY: forwarded from the caller.
    let items = unsafe { array_arg(list, count, what) }?;
    // SAFETY: each entry is a NUL-terminated string.
    items.iter().map(|&p| unsafe { str_arg(p, what) }.map(str::to_string)).collect()
}

/// `timeout_ms` as the engine takes it: negative means the call's default (`POTOK_TIMEOUT_DEFAULT`).
pub fn timeout(timeout_ms: i64) -> Option<Duration> {
    u64::try_from(timeout_ms).ok().map(Duration::from_millis)
}

/// Stores `value` through an out parameter.
///
/// # Safety
/// `out` is NULL (an argument error) or valid for writing a `T`.
pub unsafe fn write_out<T>(out: *mut T, value: T, what: &str) -> Result<(), HostError> {
    if out.is_null() {
        return Err(HostError::invalid_argument(format!("{what} (the out parameter) must not be NULL")));
    }
    // SAFETY: non-NULL and writable, as the caller guarantees.
    unsafe { out.write(value) };
    Ok(())
}

/// Checks an out parameter before any work is done, so a NULL one fails without side effects.
pub fn check_out<T>(out: *mut T, what: &str) -> Result<(), HostError> {
    if out.is_null() {
        return Err(HostError::invalid_argument(format!("{what} (the out parameter) must not be NULL")));
    }
    Ok(())
}

/// A handle argument, borrowed.
///
/// # Safety
/// `ptr` is NULL or a live handle of this type, not being destroyed concurrently.
pub unsafe fn handle<'a, T>(ptr: *const T, what: &str) -> Result<&'a T, HostError> {
    // SAFETY: the caller passes a live handle (or NULL, refused here).
    unsafe { ptr.as_ref() }.ok_or_else(|| HostError::invalid_argument(format!("{what} must not be NULL")))
}

/// A string for the caller to free with `potok_string_free`. An interior NUL (never in Kafka names or
/// addresses) ends the string there.
pub fn owned_string(s: &str) -> *mut c_char {
    c_string(s).into_raw()
}

/// `s` as a C string, cut at an interior NUL.
pub fn c_string(s: &str) -> CString {
    let end = s.find('\0').unwrap_or(s.len());
    CString::new(&s[..end]).unwrap_or_default()
}
