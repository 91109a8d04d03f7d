//! The engine's log records (`potok::host::log`) forwarded to Python's `logging`, under logger names starting
//! with `potok.` (`potok.net`, `potok.broker.txn_io`), so they go wherever the application sends its logs.
//!
//! Engine threads never wait for the GIL: a record is queued (and dropped if 1,024 are already waiting) and one
//! forwarding thread hands it to `logging`. A broker stopped while Python holds the GIL (a garbage-collected
//! `Broker`) therefore cannot deadlock on its own shutdown message.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::OnceLock;

use potok::host::log::{self, Level, LogRecord};
use pyo3::prelude::*;

const QUEUE: usize = 1024;

static DROPPED: AtomicU64 = AtomicU64::new(0);

fn forward(records: Receiver<LogRecord>) {
    for record in records {
        // None once the interpreter is finalizing: nothing can be logged any more.
        let delivered = Python::try_attach(|py| {
            let emit = || -> PyResult<()> {
                let logger = py.import("logging")?.call_method1("getLogger", (record.logger.as_str(),))?;
                let dropped = DROPPED.swap(0, Ordering::Relaxed);
                if dropped > 0 {
                    let message = format!("{dropped} engine log records were dropped (the queue was full)");
                    logger.call_method1("log", (Level::Warn.python_level(), message))?;
                }
                let level = record.level.python_level();
                if logger.call_method1("isEnabledFor", (level,))?.is_truthy()? {
                    // `created` is when the engine logged it, not when this thread got to it.
                    let created = record.timestamp_ms as f64 / 1000.0;
                    let args = (record.logger.as_str(), level, "", 0, record.message.as_str(), (), py.None());
                    let made = logger.call_method1("makeRecord", args)?;
                    made.setattr("created", created)?;
                    made.setattr("msecs", (record.timestamp_ms % 1000) as f64)?;
                    logger.call_method1("handle", (made,))?;
                }
                Ok(())
            };
            // A failing handler is the application's; `logging` itself reports handler errors on stderr.
            let _ = emit();
        });
        if delivered.is_none() {
            return;
        }
    }
}

fn sender() -> Option<&'static SyncSender<LogRecord>> {
    static SENDER: OnceLock<Option<SyncSender<LogRecord>>> = OnceLock::new();
    SENDER
        .get_or_init(|| {
            let (tx, rx) = sync_channel(QUEUE);
            std::thread::Builder::new().name("potok-py-log".into()).spawn(move || forward(rx)).ok().map(|_| tx)
        })
        .as_ref()
}

/// Forwards the engine's records at `level` and above ("DEBUG", "INFO", "WARNING", ...) to `logging`;
/// `None` stops forwarding.
#[pyfunction]
pub fn forward_logs(level: Option<String>) -> PyResult<()> {
    let Some(level) = level else {
        log::set_level(None);
        return Ok(());
    };
    let level = Level::parse(&level)
        .ok_or_else(|| pyo3::exceptions::PyValueError::new_err(format!("unknown log level {level:?}")))?;
    let Some(sender) = sender() else {
        return Err(pyo3::exceptions::PyRuntimeError::new_err("cannot start the log forwarding thread"));
    };
    log::set_sink(level, move |record| {
        if let Err(TrySendError::Full(_)) = sender.try_send(record.clone()) {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    });
    Ok(())
}
