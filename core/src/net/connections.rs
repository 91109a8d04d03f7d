//! Connection hygiene for the server: per-address limits (`max.connections.per.ip` and its overrides), noticing a
//! peer that closed while its request waits, backing off when `accept` fails, and rate-limited logging of
//! misbehaving connections. Each piece is independent of how requests are dispatched.

use std::collections::HashMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::broker::BrokerConfig;

/// Counts connections per client address against `max.connections.per.ip` and its overrides.
#[derive(Debug)]
pub(crate) struct PerIpLimits {
    default_max: usize,
    overrides: HashMap<IpAddr, usize>,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection; gives its slot back when dropped.
#[derive(Debug)]
pub(crate) struct IpSlot {
    limits: Arc<PerIpLimits>,
    ip: IpAddr,
}

impl PerIpLimits {
    /// Overrides name hosts or addresses, as Kafka's do; host names are resolved once, here.
    pub(crate) fn new(config: &BrokerConfig) -> Arc<Self> {
        let mut overrides = HashMap::new();
        for (host, count) in &config.max_connections_per_ip_overrides {
            match host.parse::<IpAddr>() {
                Ok(ip) => {
                    overrides.insert(ip, *count);
                }
                Err(_) => match (host.as_str(), 0).to_socket_addrs() {
                    Ok(addresses) => overrides.extend(addresses.map(|a| (a.ip(), *count))),
                    Err(e) => tracing::warn!("max.connections.per.ip.overrides: cannot resolve {host}: {e}"),
                },
            }
        }
        Arc::new(PerIpLimits { default_max: config.max_connections_per_ip, overrides, open: Mutex::default() })
    }

    /// A slot for a new connection from `ip`, or the limit it would exceed.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<IpSlot, usize> {
        let max = self.overrides.get(&ip).copied().unwrap_or(self.default_max);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(ip).or_default();
        if *count >= max {
            return Err(max);
        }
        *count += 1;
        Ok(IpSlot { limits: self.clone(), ip })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Resolves once the peer has closed its side of `stream` (or the connection failed), without consuming
/// anything it sent: a request parked for later can race its answer against this and be dropped when nobody is
/// left to read the answer. Once the peer has sent more (a pipelined next request) it is evidently still there:
/// the watch stops, leaving the socket's readiness alone — clearing it would hide those buffered bytes from the
/// reader until the peer sent yet more (the socket is edge-triggered), so the next request would wait for the
/// client's timeout.
pub(crate) async fn peer_closed(stream: &TcpStream) {
    let mut probe = [0u8; 1];
    let Ok(ready) = stream.ready(Interest::READABLE).await else { return };
    if ready.is_read_closed() {
        return;
    }
    match stream.peek(&mut probe).await {
        Ok(0) | Err(_) => (),
        Ok(_) => std::future::pending().await,
    }
}

/// How long the accept loop pauses after `accept` fails (out of descriptors, most often): the pending
/// connection stays queued and the listener stays readable, so retrying at once would spin.
#[derive(Debug, Default)]
pub(crate) struct AcceptBackoff {
    failures: u32,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    /// The pause after one more failure in a row: 10 ms, doubling up to a second.
    pub(crate) fn failed(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        Self::FIRST.saturating_mul(1 << self.failures.min(8).saturating_sub(1)).min(Self::MAX)
    }

    pub(crate) fn succeeded(&mut self) {
        self.failures = 0;
    }
}

/// Logs at most `burst` lines per `window`, then says how many it left out: one client sending garbage in a
/// loop must not fill the disk with log.
#[derive(Debug)]
pub(crate) struct RateLimitedLog {
    burst: u32,
    window: Duration,
    state: Mutex<(Instant, u32, u64)>,
}

impl RateLimitedLog {
    pub(crate) fn new(burst: u32, window: Duration) -> Self {
        RateLimitedLog { burst, window, state: Mutex::new((Instant::now(), 0, 0)) }
    }

    pub(crate) fn log(&self, message: impl FnOnce() -> String) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (started, logged, suppressed) = &mut *state;
        if started.elapsed() >= self.window {
            if *suppressed > 0 {
                tracing::warn!("{suppressed} more such messages suppressed");
            }
            *started = Instant::now();
            *logged = 0;
            *suppressed = 0;
        }
        if *logged < self.burst {
            *logged += 1;
            tracing::warn!("{}", message());
        } else {
            *suppressed += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_backoff_grows_and_resets() {
        let mut b = AcceptBackoff::default();
        let delays: Vec<u128> = (0..10).map(|_| b.failed().as_millis()).collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        b.succeeded();
        assert_eq!(b.failed().as_millis(), 10);
    }

    #[test]
    fn per_ip_slots_are_counted_and_returned() {
        let mut config = BrokerConfig::default();
        config.set("max.connections.per.ip", "2").unwrap_or_else(|e| panic!("{e}"));
        config.set("max.connections.per.ip.overrides", "127.0.0.2:1, localhost:5").unwrap_or_else(|e| panic!("{e}"));
        let limits = PerIpLimits::new(&config);
        let a: IpAddr = [127, 0, 0, 3].into();
        let first = limits.admit(a).ok();
        let second = limits.admit(a).ok();
        assert!(first.is_some() && second.is_some());
        assert_eq!(limits.admit(a).err(), Some(2));
        drop(first);
        assert!(limits.admit(a).is_ok());
        let b: IpAddr = [127, 0, 0, 2].into();
        let _only = limits.admit(b).ok();
        assert_eq!(limits.admit(b).err(), Some(1));
    }
}
