//! A KRaft cluster in this page: `Cluster.start({brokers: 3, config})` runs N brokers and one controller over an
//! in-memory network ([`potok::host::memory_cluster`]). `cluster.connect(nodeId)` opens a connection to one
//! broker (`conn.request(frame)` as for a `Broker`); `stop`, `kill` and `restart` act on a node, `cut` and
//! `heal` on the link between two; `inspect()` returns the cluster's picture (nodes, links, partitions with
//! leader, ISR, high watermark and each replica's log end) and `inspectBroker(id)` what one broker holds.
//!
//! As for `Broker`, time is `Date.now()` and one JS timer runs the cluster's timed work (heartbeats, session
//! expiry, fetch long-polls, ISR checks) when it asks. Everything else lives in core.

// The closures hand core's HostError through as it is: it is plain data read field by field into a JS Error
// (as in core's host module), and boxing it would only add an allocation on the way there.
#![allow(clippy::result_large_err)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use bytes::Bytes;
use js_sys::{Function, Promise, Reflect, Uint8Array};
use potok::host::broker::memory_config;
use potok::host::inspect::InspectLimits;
use potok::host::memory::{Answer, ConnectionId, RequestId};
use potok::host::memory_cluster::MemoryCluster;
use potok::host::HostError;
use wasm_bindgen::prelude::*;

use super::{clear_timeout, config_entries, integer, invalid_argument, js_error, now_ms, set_timeout, to_js};

/// The longest the timer waits between polls (as for `Broker`).
const POLL_INTERVAL_MAX_MS: i64 = 1_000;
/// How long `Cluster.start` waits for every broker to be registered and unfenced (the embedded cluster's).
const READY_TIMEOUT_MS: i64 = 30_000;

/// `Cluster.start`'s promise: its callbacks, the cluster it resolves with, and when it gives up.
struct Starting {
    resolve: Function,
    reject: Function,
    cluster: JsValue,
    deadline_ms: i64,
}

struct Shared {
    cluster: MemoryCluster,
    waiting: HashMap<RequestId, (Function, Function)>,
    timer: Option<(JsValue, i64)>,
    on_timer: Option<Closure<dyn FnMut()>>,
    /// False once the host stopped the whole cluster.
    running: bool,
    /// `Cluster.start`'s promise until every broker is unfenced.
    starting: Option<Starting>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some((handle, _)) = self.timer.take() {
            clear_timeout(&handle);
        }
    }
}

type Inner = Rc<RefCell<Shared>>;

/// Settles the promises of every decided answer. The borrow is released before any JS runs.
fn deliver(inner: &Inner) {
    let settled: Vec<(Answer, (Function, Function))> = {
        let mut shared = inner.borrow_mut();
        let answers = shared.cluster.take_answers();
        answers.into_iter().filter_map(|a| shared.waiting.remove(&a.request).map(|callbacks| (a, callbacks))).collect()
    };
    for (answer, (resolve, reject)) in settled {
        let _ = match answer.frame {
            Ok(Some(frame)) => resolve.call1(&JsValue::NULL, &Uint8Array::from(&frame[..])),
            Ok(None) => resolve.call1(&JsValue::NULL, &JsValue::NULL),
            Err(e) => reject.call1(&JsValue::NULL, &js_error(&e)),
        };
    }
}

/// Makes sure the timer fires by the cluster's next deadline (sooner timers are kept).
fn schedule(inner: &Inner) {
    let mut shared = inner.borrow_mut();
    if !shared.running {
        return;
    }
    let now = now_ms();
    let due_ms = shared.cluster.next_deadline().min(now + POLL_INTERVAL_MAX_MS);
    if shared.timer.as_ref().is_some_and(|(_, at)| *at <= due_ms) {
        return;
    }
    if let Some((handle, _)) = shared.timer.take() {
        clear_timeout(&handle);
    }
    let Some(callback) = shared.on_timer.as_ref() else { return };
    let delay_ms = (due_ms - now).clamp(0, POLL_INTERVAL_MAX_MS);
    let handle = set_timeout(callback.as_ref().unchecked_ref(), delay_ms as f64);
    shared.timer = Some((handle, due_ms));
}

fn tick(weak: &Weak<RefCell<Shared>>) {
    let Some(inner) = weak.upgrade() else { return };
    {
        let mut shared = inner.borrow_mut();
        shared.timer = None;
        shared.cluster.poll(now_ms());
    }
    deliver(&inner);
    check_ready(&inner);
    schedule(&inner);
}

/// Runs a call on the cluster, then hands out what it decided and re-arms the timer.
fn act<T>(inner: &Inner, f: impl FnOnce(&mut MemoryCluster, i64) -> Result<T, HostError>) -> Result<T, JsValue> {
    let result = {
        let mut shared = inner.borrow_mut();
        if !shared.running {
            return Err(js_error(&HostError::state("the cluster is stopped")));
        }
        f(&mut shared.cluster, now_ms())
    };
    deliver(inner);
    schedule(inner);
    result.map_err(|e| js_error(&e))
}

fn node_id(value: f64, what: &str) -> Result<i32, JsValue> {
    i32::try_from(integer(value, what)?).map_err(|_| invalid_argument(format!("{what} is not a node id")))
}

/// A potok cluster running in this page: brokers 1 to N and a controller, node N+1.
#[wasm_bindgen]
pub struct Cluster {
    inner: Inner,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").finish_non_exhaustive()
    }
}

#[wasm_bindgen]
impl Cluster {
    /// Starts a cluster: `options.brokers` brokers (default 3, at most 8) and one controller, each node
    /// configured with the Kafka config keys in `options.config` (`{"replica.lag.time.max.ms": 5000}`). Resolves
    /// once every broker is registered with the controller and unfenced.
    #[wasm_bindgen(unchecked_return_type = "Promise<Cluster>")]
    pub fn start(
        #[wasm_bindgen(
            unchecked_param_type = "{brokers?: number, config?: Record<string, string | number | boolean>}"
        )]
        options: JsValue,
    ) -> Promise {
        let cluster = match Self::open(&options) {
            Ok(cluster) => cluster,
            Err(e) => return Promise::reject(&e),
        };
        let inner = cluster.inner.clone();
        let mut cluster = Some(cluster);
        // Resolves once every broker is registered and unfenced (checked at each tick): from then on the
        // cluster serves.
        let promise = Promise::new(&mut |resolve, reject| {
            let Some(cluster) = cluster.take() else { return };
            let deadline_ms = now_ms() + READY_TIMEOUT_MS;
            inner.borrow_mut().starting =
                Some(Starting { resolve, reject, cluster: JsValue::from(cluster), deadline_ms });
        });
        check_ready(&inner);
        promise
    }

    fn open(options: &JsValue) -> Result<Cluster, JsValue> {
        let get = |key: &str| {
            if options.is_object() {
                Reflect::get(options, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
            } else {
                JsValue::UNDEFINED
            }
        };
        let brokers = match get("brokers").as_f64() {
            Some(n) => {
                usize::try_from(integer(n, "brokers")?).map_err(|_| invalid_argument("brokers must be positive"))?
            }
            None => 3,
        };
        let entries = config_entries(&get("config"))?;
        let config = memory_config(&entries).map_err(|e| js_error(&e))?;
        let now = now_ms();
        let seed = (js_sys::Math::random() * 9_007_199_254_740_991.0) as u64 ^ (now as u64).rotate_left(17);
        let cluster = MemoryCluster::start(brokers, &config, seed, now).map_err(|e| js_error(&e))?;
        let inner = Rc::new(RefCell::new(Shared {
            cluster,
            waiting: HashMap::new(),
            timer: None,
            on_timer: None,
            running: true,
            starting: None,
        }));
        let weak = Rc::downgrade(&inner);
        inner.borrow_mut().on_timer = Some(Closure::new(move || tick(&weak)));
        schedule(&inner);
        Ok(Cluster { inner })
    }

    /// The brokers' node ids.
    #[wasm_bindgen(getter, js_name = brokerIds)]
    pub fn broker_ids(&self) -> Vec<i32> {
        self.inner.borrow().cluster.broker_ids()
    }

    #[wasm_bindgen(getter, js_name = controllerId)]
    pub fn controller_id(&self) -> i32 {
        self.inner.borrow().cluster.controller_id()
    }

    #[wasm_bindgen(getter, js_name = clusterId)]
    pub fn cluster_id(&self) -> String {
        self.inner.borrow().cluster.cluster_id().to_string()
    }

    /// Opens a connection to broker `nodeId` (rejects with `kind` "closed" while it is down). Requests on one
    /// connection are answered in order; the connection closes when its broker stops or crashes.
    pub fn connect(&self, #[wasm_bindgen(js_name = nodeId)] node: f64) -> Result<ClusterConnection, JsValue> {
        let node = node_id(node, "nodeId")?;
        let id = act(&self.inner, |c, _| c.connect(node))?;
        Ok(ClusterConnection { inner: self.inner.clone(), id, node })
    }

    /// A controlled shutdown of node `nodeId`: the controller moves its leaderships away, then it stops cleanly.
    pub fn stop(&self, #[wasm_bindgen(js_name = nodeId)] node: f64) -> Result<(), JsValue> {
        let node = node_id(node, "nodeId")?;
        act(&self.inner, |c, now| c.stop(node, now))
    }

    /// Kills node `nodeId` as SIGKILL would.
    pub fn kill(&self, #[wasm_bindgen(js_name = nodeId)] node: f64) -> Result<(), JsValue> {
        let node = node_id(node, "nodeId")?;
        act(&self.inner, |c, now| c.kill(node, now))
    }

    /// Starts a stopped or killed node again over its files.
    pub fn restart(&self, #[wasm_bindgen(js_name = nodeId)] node: f64) -> Result<(), JsValue> {
        let node = node_id(node, "nodeId")?;
        act(&self.inner, |c, now| c.restart(node, now))
    }

    /// Cuts the link between nodes `a` and `b` (either may be the controller).
    pub fn cut(&self, a: f64, b: f64) -> Result<(), JsValue> {
        let (a, b) = (node_id(a, "a")?, node_id(b, "b")?);
        act(&self.inner, |c, now| c.cut(a, b, now))
    }

    /// Heals the link between nodes `a` and `b`.
    pub fn heal(&self, a: f64, b: f64) -> Result<(), JsValue> {
        let (a, b) = (node_id(a, "a")?, node_id(b, "b")?);
        act(&self.inner, |c, now| c.heal(a, b, now))
    }

    /// The cluster as the controller's metadata and the brokers' logs show it. `options.internalTopics`
    /// (default false) lists `__consumer_offsets` and `__transaction_state` too.
    #[wasm_bindgen(unchecked_return_type = "ClusterView")]
    pub fn inspect(&self, options: JsValue) -> Result<JsValue, JsValue> {
        let internal = options.is_object()
            && Reflect::get(&options, &JsValue::from_str("internalTopics")).ok().and_then(|v| v.as_bool())
                == Some(true);
        to_js(&self.inner.borrow().cluster.view(internal))
    }

    /// What broker `nodeId` holds, as `Broker.inspect()` returns it (rejects while it is down).
    #[wasm_bindgen(js_name = inspectBroker, unchecked_return_type = "Inspection")]
    pub fn inspect_broker(&self, #[wasm_bindgen(js_name = nodeId)] node: f64) -> Result<JsValue, JsValue> {
        let node = node_id(node, "nodeId")?;
        let view = self.inner.borrow().cluster.inspect(node, &InspectLimits::default()).map_err(|e| js_error(&e))?;
        to_js(&view)
    }

    /// Stops every node at once (no controlled shutdown) and the timer; requests still waiting reject.
    #[wasm_bindgen(js_name = stopAll)]
    pub fn stop_all(&self) {
        {
            let mut shared = self.inner.borrow_mut();
            if let Some((handle, _)) = shared.timer.take() {
                clear_timeout(&handle);
            }
            let now = now_ms();
            let mut ids = shared.cluster.broker_ids();
            ids.push(shared.cluster.controller_id());
            for id in ids {
                // Killing a node of a cluster that goes away entirely loses nothing anyone will read.
                let _ = shared.cluster.kill(id, now);
            }
            shared.running = false;
        }
        deliver(&self.inner);
        self.inner.borrow_mut().on_timer = None;
    }

    /// Whether the cluster runs (false after `stopAll`).
    #[wasm_bindgen(getter)]
    pub fn running(&self) -> bool {
        self.inner.borrow().running
    }
}

/// Resolves `Cluster.start`'s promise once every broker is registered and unfenced; rejects it (and stops the
/// cluster's timer) when that takes longer than 30 s.
fn check_ready(inner: &Inner) {
    let (starting, ready) = {
        let mut shared = inner.borrow_mut();
        let ready = shared.cluster.view(false).brokers.iter().all(|b| b.registered && !b.fenced);
        let late = shared.starting.as_ref().is_some_and(|s| now_ms() > s.deadline_ms);
        if !ready && late {
            shared.running = false;
            if let Some((handle, _)) = shared.timer.take() {
                clear_timeout(&handle);
            }
        }
        (if ready || late { shared.starting.take() } else { None }, ready)
    };
    let Some(starting) = starting else { return };
    let _ = if ready {
        starting.resolve.call1(&JsValue::NULL, &starting.cluster)
    } else {
        let error =
            HostError::state(format!("the brokers were not all registered and unfenced within {READY_TIMEOUT_MS} ms"));
        starting.reject.call1(&JsValue::NULL, &js_error(&error))
    };
}

/// A connection to one broker of a [`Cluster`].
#[wasm_bindgen]
pub struct ClusterConnection {
    inner: Inner,
    id: ConnectionId,
    node: i32,
}

impl std::fmt::Debug for ClusterConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConnection").field("id", &self.id).field("node", &self.node).finish()
    }
}

#[wasm_bindgen]
impl ClusterConnection {
    /// The broker this connection goes to.
    #[wasm_bindgen(getter, js_name = nodeId)]
    pub fn node_id(&self) -> i32 {
        self.node
    }

    /// Sends one request frame (size prefix included); resolves with the response frame (`null` for acks=0),
    /// rejects with `kind` "closed" when the broker goes down first.
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint8Array | null>")]
    pub fn request(&self, frame: &Uint8Array) -> Promise {
        let mut bytes = Some(Bytes::from(frame.to_vec()));
        let inner = &self.inner;
        let id = self.id;
        let promise = Promise::new(&mut |resolve, reject| {
            let Some(bytes) = bytes.take() else { return };
            let submitted = {
                let mut shared = inner.borrow_mut();
                if shared.running {
                    shared.cluster.submit(id, bytes, now_ms())
                } else {
                    Err(HostError::state("the cluster is stopped"))
                }
            };
            match submitted {
                Ok(request) => {
                    inner.borrow_mut().waiting.insert(request, (resolve, reject));
                }
                Err(e) => {
                    let _ = reject.call1(&JsValue::NULL, &js_error(&e));
                }
            }
        });
        deliver(inner);
        schedule(inner);
        promise
    }

    /// Closes the connection; a request still waiting on it rejects.
    pub fn close(&self) {
        self.inner.borrow_mut().cluster.close(self.id);
        deliver(&self.inner);
    }
}

impl Drop for ClusterConnection {
    fn drop(&mut self) {
        if let Ok(mut shared) = self.inner.try_borrow_mut() {
            shared.cluster.close(self.id);
        }
    }
}

#[wasm_bindgen(typescript_custom_section)]
const CLUSTER_TYPES: &'static str = include_str!("cluster.d.ts");
