//! The log cleaner's threads (`log.cleaner.threads`): each repeatedly cleans the dirtiest compacted log,
//! sleeps `log.cleaner.backoff.ms` when no log needs it, and all share one throttle that keeps their combined
//! reads and writes under `log.cleaner.io.max.bytes.per.second`, as Kafka's `Throttler` does. Cleaning blocks
//! on file IO, so these are plain threads, not tasks on the async runtime; shutdown interrupts their sleeps
//! and a pass in progress (it stops at its next chunk and leaves the log as it was).

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::now_ms;
use crate::broker::Broker;
use crate::storage::cleaner::{Cleaner, Throttle};

/// Kafka's throttler looks at the rate once this much time has passed since it last did.
const THROTTLE_CHECK_INTERVAL: Duration = Duration::from_millis(300);

/// The stop flag and the condition variable sleeps wait on, so a stop wakes them.
#[derive(Debug, Default)]
struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    fn is_set(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sleeps for `duration` or until stopped; returns whether stopped.
    fn sleep(&self, duration: Duration) -> bool {
        let stopped = self.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        let (stopped, _) = self
            .wake
            .wait_timeout_while(stopped, duration, |stopped| !*stopped)
            .unwrap_or_else(PoisonError::into_inner);
        *stopped
    }

    fn set(&self) {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.wake.notify_all();
    }
}

/// Limits the bytes per second all cleaner threads read and write together.
#[derive(Debug)]
struct Throttler {
    bytes_per_second: f64,
    /// When the current measuring period started and the bytes seen in it.
    period: Mutex<(Instant, u64)>,
    stop: Arc<Stop>,
}

impl Throttle for Throttler {
    fn bytes(&self, bytes: u64) {
        if self.bytes_per_second >= f64::MAX {
            return;
        }
        let sleep = {
            let mut period = self.period.lock().unwrap_or_else(PoisonError::into_inner);
            period.1 += bytes;
            let elapsed = period.0.elapsed();
            if elapsed < THROTTLE_CHECK_INTERVAL {
                return;
            }
            let wanted = Duration::from_secs_f64(period.1 as f64 / self.bytes_per_second);
            *period = (Instant::now(), 0);
            wanted.checked_sub(elapsed)
        };
        // Sleeping outside the lock lets other threads account their bytes meanwhile, as Kafka's does.
        if let Some(sleep) = sleep {
            self.stop.sleep(sleep);
            self.period.lock().unwrap_or_else(PoisonError::into_inner).0 = Instant::now();
        }
    }
}

/// The running cleaner threads.
#[derive(Debug)]
pub struct CleanerThreads {
    stop: Arc<Stop>,
    threads: Vec<JoinHandle<()>>,
}

impl CleanerThreads {
    /// Starts `log.cleaner.threads` threads (none when `log.cleaner.enable` is false).
    pub fn start(broker: &Arc<Broker>) -> std::io::Result<CleanerThreads> {
        let config = broker.config().cleaner.clone();
        let stop = Arc::new(Stop::default());
        let throttler = Arc::new(Throttler {
            bytes_per_second: config.io_max_bytes_per_second,
            period: Mutex::new((Instant::now(), 0)),
            stop: stop.clone(),
        });
        let threads_wanted = if config.enable { config.threads } else { 0 };
        let mut threads = Vec::with_capacity(threads_wanted);
        for i in 0..threads_wanted {
            let (broker, stop, throttler) = (broker.clone(), stop.clone(), throttler.clone());
            let backoff = Duration::from_millis(config.backoff_ms.max(0) as u64);
            let cleaner = Cleaner::new(config.clone());
            let thread = std::thread::Builder::new().name(format!("potok-log-cleaner-{i}")).spawn(move || {
                while !stop.is_set() {
                    let keep_going = || !stop.is_set();
                    let started = Instant::now();
                    let cleaned = broker.clean_dirtiest_log(&cleaner, now_ms(), throttler.as_ref(), &keep_going);
                    match cleaned {
                        Ok(Some((tp, stats))) => {
                            let secs = started.elapsed().as_secs_f64();
                            eprintln!(
                                "potok: log cleaner {i} cleaned {tp}: {} bytes read, {} written ({:.1} MB/s), {} of {} records kept",
                                stats.bytes_read,
                                stats.bytes_written,
                                (stats.bytes_read + stats.map_bytes_read) as f64 / 1e6 / secs.max(1e-9),
                                stats.records_written,
                                stats.records_read,
                            );
                            continue;
                        }
                        Ok(None) => {}
                        Err(e) => eprintln!("potok: log cleaner {i}: {e}"),
                    }
                    if stop.sleep(backoff) {
                        break;
                    }
                }
            })?;
            threads.push(thread);
        }
        Ok(CleanerThreads { stop, threads })
    }

    /// Stops the threads (a pass in progress ends at its next chunk) and waits for them.
    pub fn stop(self) {
        self.stop.set();
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}
