//! The engine logs through `tracing` (targets are module paths: `potok::net`, `potok::broker::txn_io`). This
//! module turns those events into plain [`LogRecord`]s for a host's own logger — Python's `logging`, a Node
//! callback, the CLI's Kafka-style lines, a C callback — through one process-wide dispatcher whose sink and
//! level can be changed at any time. It is a minimal `tracing::Subscriber` (events only; the engine opens no
//! spans), so no subscriber framework is needed.
//!
//! A sink is called on whatever engine thread logged, so it must not block on the host (e.g. wait for Python's
//! GIL while the host waits for that thread): bindings hand records to their own queue or non-blocking call.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

/// A record's severity, with Kafka's (log4j's) names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Level {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
}

impl Level {
    /// log4j's name: `INFO`, `WARN`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }

    /// Python's `logging` level number (TRACE has none there and goes out as 5, below DEBUG).
    pub fn python_level(self) -> i32 {
        match self {
            Level::Trace => 5,
            Level::Debug => 10,
            Level::Info => 20,
            Level::Warn => 30,
            Level::Error => 40,
        }
    }

    /// kafkajs's `logLevel` number (ERROR 1, WARN 2, INFO 4, DEBUG 5; TRACE as DEBUG).
    pub fn kafkajs_level(self) -> i32 {
        match self {
            Level::Trace | Level::Debug => 5,
            Level::Info => 4,
            Level::Warn => 2,
            Level::Error => 1,
        }
    }

    /// The level for a name, case-insensitive (`info`, `WARNING` as Python spells it, `error`).
    pub fn parse(name: &str) -> Option<Level> {
        match name.to_ascii_uppercase().as_str() {
            "TRACE" => Some(Level::Trace),
            "DEBUG" => Some(Level::Debug),
            "INFO" => Some(Level::Info),
            "WARN" | "WARNING" => Some(Level::Warn),
            "ERROR" | "CRITICAL" | "FATAL" => Some(Level::Error),
            _ => None,
        }
    }

    fn from_tracing(level: &tracing::Level) -> Level {
        match *level {
            tracing::Level::TRACE => Level::Trace,
            tracing::Level::DEBUG => Level::Debug,
            tracing::Level::INFO => Level::Info,
            tracing::Level::WARN => Level::Warn,
            tracing::Level::ERROR => Level::Error,
        }
    }
}

/// One log event as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub level: Level,
    /// The logger: the event's target with `.` for `::` (`potok.net`, `potok.broker.txn_io`), as Python's
    /// logger names and log4j's categories are written.
    pub logger: String,
    /// The message, followed by the event's other fields as ` key=value`.
    pub message: String,
    /// Milliseconds since the Unix epoch when the event was logged.
    pub timestamp_ms: i64,
}

impl LogRecord {
    /// Kafka's console line (log4j's `[%d] %p %m (%c)%n` without the newline), in UTC:
    /// `[2026-12-03 09:25:22,123] INFO potok broker listening on 127.0.0.1:9092 (potok.net)`.
    pub fn kafka_line(&self) -> String {
        format!("[{}] {} {} ({})", timestamp(self.timestamp_ms), self.level.as_str(), self.message, self.logger)
    }
}

/// `yyyy-MM-dd HH:mm:ss,SSS` in UTC.
fn timestamp(ms: i64) -> String {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60, ms_of_day / 1000 % 60, ms_of_day % 1000);
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02},{milli:03}")
}

type Sink = Arc<dyn Fn(&LogRecord) + Send + Sync>;

struct Dispatch {
    sink: RwLock<Option<Sink>>,
    /// The least severe level delivered; above `Level::Error` means none.
    min_level: AtomicU8,
    next_span: AtomicU64,
}

fn dispatch() -> &'static Dispatch {
    static DISPATCH: OnceLock<Dispatch> = OnceLock::new();
    DISPATCH.get_or_init(|| Dispatch {
        sink: RwLock::new(None),
        min_level: AtomicU8::new(Level::Error as u8 + 1),
        next_span: AtomicU64::new(1),
    })
}

/// Routes the engine's events at `min_level` and above to `sink`, replacing any earlier sink. Returns false
/// when the process already has another `tracing` subscriber (a Rust program embedding core that set its own),
/// which then keeps receiving the events.
pub fn set_sink(min_level: Level, sink: impl Fn(&LogRecord) + Send + Sync + 'static) -> bool {
    let installed = install();
    *dispatch().sink.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(sink));
    set_level(Some(min_level));
    installed
}

/// Stops delivering events (`None`), or changes the least severe level delivered.
pub fn set_level(min_level: Option<Level>) {
    let value = min_level.map_or(Level::Error as u8 + 1, |l| l as u8);
    dispatch().min_level.store(value, Ordering::Relaxed);
}

/// Removes the sink; events are dropped from then on.
pub fn clear_sink() {
    set_level(None);
    *dispatch().sink.write().unwrap_or_else(PoisonError::into_inner) = None;
}

fn install() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| tracing::subscriber::set_global_default(HostSubscriber).is_ok())
}

fn now_ms() -> i64 {
    // wasm32 without an OS has no clock to read; its host stamps records itself.
    #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    {
        0
    }
}

struct HostSubscriber;

#[derive(Default)]
struct Message {
    message: String,
    fields: String,
}

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.fields.push_str(&format!(" {}={value}", field.name()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message.push_str(&format!("{value:?}"));
        } else {
            self.fields.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

impl Subscriber for HostSubscriber {
    fn register_callsite(&self, _metadata: &'static Metadata<'static>) -> Interest {
        // The level can change at run time, so no callsite is ever ruled out for good.
        Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        let level = Level::from_tracing(metadata.level()) as u8;
        let min_level = dispatch().min_level.load(Ordering::Relaxed);
        // openraft narrates every election and logs an unreachable peer twice a second; the quorum's own
        // events (`potok::controller`) say what matters, so only openraft's errors about its state come out.
        if metadata.target().starts_with("openraft") {
            return level >= min_level.max(Level::Error as u8)
                && !metadata.target().starts_with("openraft::replication");
        }
        level >= min_level
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(dispatch().next_span.fetch_add(1, Ordering::Relaxed))
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let sink = dispatch().sink.read().unwrap_or_else(PoisonError::into_inner).clone();
        let Some(sink) = sink else { return };
        let mut visitor = Message::default();
        event.record(&mut visitor);
        let metadata = event.metadata();
        let record = LogRecord {
            level: Level::from_tracing(metadata.level()),
            logger: metadata.target().replace("::", "."),
            message: visitor.message + &visitor.fields,
            timestamp_ms: now_ms(),
        };
        sink(&record);
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn kafka_lines_have_log4j_shape() {
        let record = LogRecord {
            level: Level::Info,
            logger: "potok.net".into(),
            message: "started".into(),
            timestamp_ms: 1_796_289_922_123,
        };
        assert_eq!(record.kafka_line(), "[2026-12-03 09:25:22,123] INFO started (potok.net)");
        assert_eq!(timestamp(0), "1970-01-01 00:00:00,000");
        assert_eq!(timestamp(951_782_400_000), "2000-02-29 00:00:00,000");
    }

    #[test]
    fn events_reach_the_sink_at_its_level() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let into = seen.clone();
        set_sink(Level::Info, move |r| into.lock().unwrap_or_else(PoisonError::into_inner).push(r.clone()));
        tracing::debug!(target: "potok::test_log", "hidden");
        tracing::warn!(target: "potok::test_log", partition = 3, "skipping {}", "a record");
        set_level(Some(Level::Debug));
        tracing::debug!(target: "potok::test_log", "shown");
        clear_sink();
        tracing::error!(target: "potok::test_log", "after clear");
        let seen: Vec<_> = seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|r| r.logger == "potok.test_log")
            .map(|r| (r.level, r.message.clone()))
            .collect();
        assert_eq!(seen, [(Level::Warn, "skipping a record partition=3".to_string()), (Level::Debug, "shown".into())]);
    }
}
