//! The engine's log records (core's `potok::host::log`: one process-wide dispatcher over `tracing`) to a C
//! callback.

use std::ffi::{c_char, c_void};

use engine::host::log::{clear_sink, set_sink, Level, LogRecord};

use crate::ffi::{c_string, quiet};

/// A record's severity, with Kafka's (log4j's) names.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum potok_log_level {
    POTOK_LOG_TRACE = 0,
    POTOK_LOG_DEBUG = 1,
    POTOK_LOG_INFO = 2,
    POTOK_LOG_WARN = 3,
    POTOK_LOG_ERROR = 4,
}

/// One log record, valid during the callback. `logger` is the engine module (`potok.net`,
/// `potok.broker.txn_io`); `message` carries the event's fields as ` key=value`.
#[repr(C)]
#[derive(Debug)]
pub struct potok_log_record {
    pub level: potok_log_level,
    pub logger: *const c_char,
    pub message: *const c_char,
    pub timestamp_ms: i64,
}

/// Receives log records. It is called on whatever engine thread logged, possibly several at once, so it must
/// be thread-safe and must not block for long (hand the record to your own logger or queue).
pub type potok_log_cb = Option<unsafe extern "C" fn(opaque: *mut c_void, record: *const potok_log_record)>;

struct Sink {
    callback: unsafe extern "C" fn(*mut c_void, *const potok_log_record),
    opaque: *mut c_void,
}

// SAFETY: `potok_set_log_callback`'s caller promises a thread-safe callback and opaque pointer.
unsafe impl Send for Sink {}
// SAFETY: as above.
unsafe impl Sync for Sink {}

fn level(level: Level) -> potok_log_level {
    match level {
        Level::Trace => potok_log_level::POTOK_LOG_TRACE,
        Level::Debug => potok_log_level::POTOK_LOG_DEBUG,
        Level::Info => potok_log_level::POTOK_LOG_INFO,
        Level::Warn => potok_log_level::POTOK_LOG_WARN,
        Level::Error => potok_log_level::POTOK_LOG_ERROR,
    }
}

impl Sink {
    fn deliver(&self, record: &LogRecord) {
        let logger = c_string(&record.logger);
        let message = c_string(&record.message);
        let out = potok_log_record {
            level: level(record.level),
            logger: logger.as_ptr(),
            message: message.as_ptr(),
            timestamp_ms: record.timestamp_ms,
        };
        // SAFETY: the caller of `potok_set_log_callback` promised a thread-safe callback; the record and its
        // strings live until it returns.
        unsafe { (self.callback)(self.opaque, &out) };
    }
}

/// Sends the engine's log records at `min_level` (0 trace .. 4 error) and above to `callback`, replacing an
/// earlier callback; NULL stops logging. Returns false when the process already has another Rust `tracing`
/// subscriber, which then keeps the records. Nothing is logged until this is called.
///
/// # Safety
/// `callback` is NULL or a thread-safe function that may be called with `opaque` from any thread until it is
/// replaced and the replacing call has returned.
#[no_mangle]
pub unsafe extern "C" fn potok_set_log_callback(min_level: i32, callback: potok_log_cb, opaque: *mut c_void) -> bool {
    let Some(callback) = callback else {
        quiet((), clear_sink);
        return true;
    };
    let min = match min_level {
        i32::MIN..=0 => Level::Trace,
        1 => Level::Debug,
        2 => Level::Info,
        3 => Level::Warn,
        _ => Level::Error,
    };
    let sink = Sink { callback, opaque };
    quiet(false, move || set_sink(min, move |record: &LogRecord| sink.deliver(record)))
}
