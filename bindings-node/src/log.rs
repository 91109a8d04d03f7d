//! The engine's log records (`potok::host::log`) handed to a JavaScript callback (`setLogger`, and kafkajs's
//! `logCreator` built on it in `lib/log.js`). Engine threads never wait for JavaScript: a record is queued on a
//! threadsafe function without blocking and dropped if 1,024 are already waiting. The function is weak, so a
//! logger never keeps Node's event loop alive. Without a callback, warnings and errors go to stderr as Kafka's
//! console lines.

use std::io::Write;

use napi::bindgen_prelude::Function;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use potok::host::log::{self, Level};

use crate::error::invalid_argument;

/// One engine log record.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// log4j's name: `ERROR`, `WARN`, `INFO`, `DEBUG`, `TRACE`.
    pub label: String,
    /// kafkajs's `logLevel` number: ERROR 1, WARN 2, INFO 4, DEBUG 5.
    pub level: i32,
    /// The logger, e.g. `potok.net`.
    pub logger: String,
    pub message: String,
    /// Milliseconds since the Unix epoch.
    pub timestamp: f64,
}

type Callback = ThreadsafeFunction<LogEntry, (), LogEntry, napi::Status, false, true, 1024>;

/// Sends the engine's records at `level` and above (`"ERROR"`, `"WARN"`, `"INFO"`, `"DEBUG"`) to `callback`;
/// with no callback, warnings and errors go to stderr; `level` null turns logging off.
#[napi]
pub fn set_logger(env: napi::Env, callback: Option<Function<LogEntry, ()>>, level: Option<String>) -> napi::Result<()> {
    let Some(level) = level else {
        log::set_level(None);
        return Ok(());
    };
    let level =
        Level::parse(&level).ok_or_else(|| invalid_argument(format!("unknown log level {level:?}")).into_js(&env))?;
    match callback {
        None => {
            log::set_sink(level, |record| {
                let _ = writeln!(std::io::stderr().lock(), "{}", record.kafka_line());
            });
        }
        Some(callback) => {
            let tsfn: Callback = callback
                .build_threadsafe_function::<LogEntry>()
                .callee_handled::<false>()
                .weak::<true>()
                .max_queue_size::<1024>()
                .build()?;
            log::set_sink(level, move |record| {
                let entry = LogEntry {
                    label: record.level.as_str().to_string(),
                    level: record.level.kafkajs_level(),
                    logger: record.logger.clone(),
                    message: record.message.clone(),
                    timestamp: record.timestamp_ms as f64,
                };
                // A full queue or a closing environment drops the record rather than stall the engine.
                let _ = tsfn.call(entry, ThreadsafeFunctionCallMode::NonBlocking);
            });
        }
    }
    Ok(())
}
