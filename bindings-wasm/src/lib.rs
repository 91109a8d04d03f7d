//! potok in WebAssembly: the same broker the native server runs, in memory, in a web page (or Node).
//!
//! - `Broker.start(config)` opens a single-node broker over the memory storage backend, configured with Kafka's
//!   config keys ([`potok::host::broker::memory_config`]).
//! - `broker.connect()` opens an in-memory connection; `conn.request(frame)` takes one Kafka request frame (size
//!   prefix included: exactly what a socket carries) and resolves with the response frame, also for requests that
//!   wait in the broker's purgatory. `broker.request(frame)` uses a connection of the broker's own.
//! - `Cluster.start({brokers: 3, config})` runs a KRaft cluster in the page (brokers and a controller over an
//!   in-memory network, with stop, kill, restart and cut links): see `src/cluster.rs`.
//! - `broker.inspect()` and `broker.segmentBytes(...)` return what a lesson draws
//!   ([`potok::host::inspect`]).
//!
//! The binding is thin: request handling, queuing per connection and inspection live in core
//! ([`potok::host::memory`]). This crate holds the conversions, the JS promises, the errors (JS `Error`s whose
//! `code` is Kafka's error name) and the driving of the broker's time-driven work from the page's event loop:
//! time is `Date.now()`, never a Rust clock (which traps on wasm32), and a JS timer calls the broker's `poll`
//! when it asks to be called.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use bytes::Bytes;
use js_sys::{Function, Object, Promise, Reflect, Uint8Array};
use potok::host::inspect::{self, InspectLimits};
use potok::host::memory::{Answer, ConnectionId, RequestId};
use potok::host::page_client::{Outcome, Page, Ticket};
use potok::host::{broker::memory_config, HostError};
use wasm_bindgen::prelude::*;

mod clients;
mod cluster;

#[wasm_bindgen]
extern "C" {
    /// The host's timer (the browser's and Node's global `setTimeout`); returns the timer's handle.
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &Function, delay_ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(handle: &JsValue);
    /// Runs a callback once the current JS task's synchronous code is done (browsers and Node).
    #[wasm_bindgen(js_name = queueMicrotask)]
    fn queue_microtask(callback: &Function);
}

/// The longest the driver waits between polls even when the broker wants nothing sooner (as the native
/// server's driver).
const POLL_INTERVAL_MAX_MS: i64 = 1_000;
/// What `segmentBytes` returns at most unless asked otherwise.
const SEGMENT_BYTES_DEFAULT_MAX: usize = 1 << 20;

pub(crate) fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// A [`HostError`] as a JS `Error`: `code` is Kafka's error name (`UNKNOWN_TOPIC_OR_PARTITION`, or the client's
/// own name such as `ILLEGAL_STATE`), `errorCode` Kafka's number (null when Kafka has none), `kind` the class of
/// failure (`config`, `protocol`, `closed`, ...), `retriable`, and `key` the config key for config errors.
pub(crate) fn js_error(e: &HostError) -> JsValue {
    let error = js_sys::Error::new(&e.message);
    error.set_name("PotokError");
    let set = |key: &str, value: JsValue| {
        // Setting a property on a fresh, extensible Error cannot fail.
        let _ = Reflect::set(&error, &JsValue::from_str(key), &value);
    };
    set("code", JsValue::from_str(&e.name));
    set("errorCode", e.code.map_or(JsValue::NULL, JsValue::from));
    set("kind", JsValue::from_str(e.kind.as_str()));
    set("retriable", JsValue::from_bool(e.retriable));
    set("key", e.key.as_deref().map_or(JsValue::NULL, JsValue::from_str));
    error.into()
}

pub(crate) fn invalid_argument(message: impl Into<String>) -> JsValue {
    js_error(&HostError::invalid_argument(message))
}

/// The broker, the page's clients of it, and what the page's side keeps.
pub(crate) struct Shared {
    pub(crate) page: Page,
    /// The promise callbacks (resolve, reject) of each request not yet answered.
    waiting: HashMap<RequestId, (Function, Function)>,
    /// The promise callbacks of each client operation (send, poll, commit, admin call) not yet settled.
    pub(crate) tickets: HashMap<Ticket, (Function, Function)>,
    /// The connection `broker.request` uses, opened on first use.
    own_connection: Option<ConnectionId>,
    /// The pending timer's handle and the time it fires.
    timer: Option<(JsValue, i64)>,
    /// The timer's callback, kept alive while the broker runs.
    on_timer: Option<Closure<dyn FnMut()>>,
    /// The page's clients have work queued by JS calls (records sent) and a microtask will run them: a loop of
    /// sends becomes one run, with the batches linger and batch.size make.
    pub(crate) run_queued: bool,
    /// The microtask's callback, kept alive while the broker runs.
    on_microtask: Option<Closure<dyn FnMut()>>,
}

impl Drop for Shared {
    /// A broker collected by JS's garbage collector while its timer is pending: the timer must not fire into a
    /// dropped callback.
    fn drop(&mut self) {
        if let Some((handle, _)) = self.timer.take() {
            clear_timeout(&handle);
        }
    }
}

pub(crate) type Inner = Rc<RefCell<Shared>>;

/// A promise's settle functions: (resolve, reject).
type Callbacks = (Function, Function);

/// Settles the promises of every decided answer and client outcome. The borrow is released before any JS runs.
pub(crate) fn deliver(inner: &Inner) {
    type Settled = (Vec<(Answer, Callbacks)>, Vec<(Outcome, Callbacks)>);
    let (settled, outcomes): Settled = {
        let mut shared = inner.borrow_mut();
        let answers = shared.page.take_host_answers();
        let settled = answers
            .into_iter()
            .filter_map(|a| shared.waiting.remove(&a.request).map(|callbacks| (a, callbacks)))
            .collect();
        let outcomes = shared.page.take_outcomes();
        let outcomes = outcomes.into_iter().filter_map(|(t, o)| shared.tickets.remove(&t).map(|c| (o, c))).collect();
        (settled, outcomes)
    };
    for (outcome, (resolve, reject)) in outcomes {
        let _ = match clients::outcome_value(outcome) {
            Ok(value) => resolve.call1(&JsValue::NULL, &value),
            Err(error) => reject.call1(&JsValue::NULL, &error),
        };
    }
    for (answer, (resolve, reject)) in settled {
        // A settle callback of a JS promise does not throw.
        let _ = match answer.frame {
            Ok(Some(frame)) => resolve.call1(&JsValue::NULL, &Uint8Array::from(&frame[..])),
            Ok(None) => resolve.call1(&JsValue::NULL, &JsValue::NULL),
            Err(e) => reject.call1(&JsValue::NULL, &js_error(&e)),
        };
    }
}

/// Makes sure the timer fires by `due_ms` (sooner timers are kept).
pub(crate) fn schedule(inner: &Inner, due_ms: i64) {
    let mut shared = inner.borrow_mut();
    if shared.page.broker().broker().is_none() {
        return;
    }
    if shared.timer.as_ref().is_some_and(|(_, at)| *at <= due_ms) {
        return;
    }
    if let Some((handle, _)) = shared.timer.take() {
        clear_timeout(&handle);
    }
    let Some(callback) = shared.on_timer.as_ref() else { return };
    let delay_ms = (due_ms - now_ms()).clamp(0, POLL_INTERVAL_MAX_MS);
    let handle = set_timeout(callback.as_ref().unchecked_ref(), delay_ms as f64);
    shared.timer = Some((handle, due_ms));
}

/// The timer's work: the broker's `poll`, the answers it decided, and the next timer.
fn tick(weak: &Weak<RefCell<Shared>>) {
    let Some(inner) = weak.upgrade() else { return };
    let now = now_ms();
    let next_ms = {
        let mut shared = inner.borrow_mut();
        shared.timer = None;
        shared.page.poll(now)
    };
    deliver(&inner);
    schedule(&inner, next_ms.min(now + POLL_INTERVAL_MAX_MS));
}

/// Makes sure the page's clients run once the current JS task's synchronous code is done.
pub(crate) fn queue_run(inner: &Inner) {
    let mut shared = inner.borrow_mut();
    if shared.run_queued || shared.page.broker().broker().is_none() {
        return;
    }
    let Some(callback) = shared.on_microtask.as_ref() else { return };
    queue_microtask(callback.as_ref().unchecked_ref());
    shared.run_queued = true;
}

/// The microtask's work: run the page's clients, settle what finished, arm the timer for what comes next.
fn run_queued(weak: &Weak<RefCell<Shared>>) {
    let Some(inner) = weak.upgrade() else { return };
    let next_ms = {
        let mut shared = inner.borrow_mut();
        shared.run_queued = false;
        shared.page.run(now_ms());
        shared.page.next_deadline_ms(i64::MAX)
    };
    deliver(&inner);
    if next_ms < i64::MAX {
        schedule(&inner, next_ms);
    }
}

/// Submits a frame on a connection; the promise settles when the broker answers.
fn request(inner: &Inner, connection: ConnectionId, frame: &Uint8Array) -> Promise {
    let mut bytes = Some(Bytes::from(frame.to_vec()));
    let promise = Promise::new(&mut |resolve, reject| {
        let Some(bytes) = bytes.take() else { return };
        let submitted = inner.borrow_mut().page.broker_mut().submit(connection, bytes, now_ms());
        match submitted {
            Ok(id) => {
                let mut shared = inner.borrow_mut();
                shared.waiting.insert(id, (resolve, reject));
                // The frame may have answered what a client of the page waits for (a Fetch, a Produce).
                shared.page.run(now_ms());
            }
            Err(e) => {
                let _ = reject.call1(&JsValue::NULL, &js_error(&e));
            }
        }
    });
    deliver(inner);
    // A request that waits (a long-polling Fetch, an acks=all Produce) may have moved the broker's next deadline
    // up: poll at once, and the poll says when next.
    if inner.borrow().page.broker().is_busy(connection) {
        schedule(inner, now_ms());
    }
    promise
}

/// Kafka `server.properties` entries from a JS object (`{"num.partitions": 3}`); values are taken as their
/// string form, as in a properties file.
pub(crate) fn config_entries(config: &JsValue) -> Result<Vec<(String, String)>, JsValue> {
    if config.is_undefined() || config.is_null() {
        return Ok(Vec::new());
    }
    if !config.is_object() {
        return Err(invalid_argument("the broker config must be an object of Kafka config keys and values"));
    }
    let mut entries = Vec::new();
    for entry in Object::entries(config.unchecked_ref::<Object>()).iter() {
        let pair: js_sys::Array = entry.unchecked_into();
        let key = pair.get(0).as_string().unwrap_or_default();
        let value = pair.get(1);
        let value = if let Some(s) = value.as_string() {
            s
        } else if let Some(n) = value.as_f64() {
            // As JS writes a number: integers without a fraction.
            if n.fract() == 0.0 && n.abs() <= 9_007_199_254_740_991.0 {
                (n as i64).to_string()
            } else {
                n.to_string()
            }
        } else if let Some(b) = value.as_bool() {
            b.to_string()
        } else {
            return Err(invalid_argument(format!("config {key}: the value must be a string, number or boolean")));
        };
        entries.push((key, value));
    }
    Ok(entries)
}

/// An integer JS number (an offset) as i64.
pub(crate) fn integer(value: f64, what: &str) -> Result<i64, JsValue> {
    if value.fract() != 0.0 || value.abs() > 9_007_199_254_740_991.0 {
        return Err(invalid_argument(format!("{what} must be a safe integer, not {value}")));
    }
    Ok(value as i64)
}

pub(crate) fn to_js(value: &impl serde::Serialize) -> Result<JsValue, JsValue> {
    let json = serde_json::to_string(value).map_err(|e| invalid_argument(e.to_string()))?;
    js_sys::JSON::parse(&json)
}

/// A potok broker running in this page.
#[wasm_bindgen]
pub struct Broker {
    inner: Inner,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker").finish_non_exhaustive()
    }
}

#[wasm_bindgen]
impl Broker {
    /// Starts a single-node broker in memory. `config` holds Kafka broker config keys
    /// (`{"num.partitions": 3, "log.segment.bytes": 4096}`); an unknown key or bad value rejects with a
    /// `PotokError` whose `code` is `INVALID_CONFIG` and `key` the key.
    #[wasm_bindgen(unchecked_return_type = "Promise<Broker>")]
    pub fn start(
        #[wasm_bindgen(unchecked_param_type = "Record<string, string | number | boolean>")] config: JsValue,
    ) -> Promise {
        match Self::open(&config) {
            Ok(broker) => Promise::resolve(&JsValue::from(broker)),
            Err(e) => Promise::reject(&e),
        }
    }

    fn open(config: &JsValue) -> Result<Broker, JsValue> {
        let entries = config_entries(config)?;
        let config = memory_config(&entries).map_err(|e| js_error(&e))?;
        let now = now_ms();
        // Ids (cluster id, member ids) differ between page loads.
        let seed = (js_sys::Math::random() * 9_007_199_254_740_991.0) as u64 ^ (now as u64).rotate_left(17);
        let page = Page::start(config, seed, now).map_err(|e| js_error(&e))?;
        let inner = Rc::new(RefCell::new(Shared {
            page,
            waiting: HashMap::new(),
            tickets: HashMap::new(),
            own_connection: None,
            timer: None,
            on_timer: None,
            run_queued: false,
            on_microtask: None,
        }));
        let weak = Rc::downgrade(&inner);
        inner.borrow_mut().on_timer = Some(Closure::new(move || tick(&weak)));
        let weak = Rc::downgrade(&inner);
        inner.borrow_mut().on_microtask = Some(Closure::new(move || run_queued(&weak)));
        schedule(&inner, now);
        Ok(Broker { inner })
    }

    /// Opens an in-memory connection: requests on one connection are answered in order, one at a time, as on
    /// a Kafka socket.
    pub fn connect(&self) -> Result<Connection, JsValue> {
        let id = self.inner.borrow_mut().page.broker_mut().connect().map_err(|e| js_error(&e))?;
        Ok(Connection { inner: self.inner.clone(), id })
    }

    /// Sends one request frame (size prefix included) on the broker's own connection; resolves with the
    /// response frame, or `null` for a request Kafka does not answer (Produce with acks=0).
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint8Array | null>")]
    pub fn request(&self, frame: &Uint8Array) -> Promise {
        // The broker's own connection, or a new one if a frame the broker could not read closed it.
        let own = self.inner.borrow().own_connection.filter(|id| self.inner.borrow().page.broker().is_open(*id));
        let connection = match own {
            Some(id) => id,
            None => match self.inner.borrow_mut().page.broker_mut().connect() {
                Ok(id) => id,
                Err(e) => return Promise::reject(&js_error(&e)),
            },
        };
        self.inner.borrow_mut().own_connection = Some(connection);
        request(&self.inner, connection, frame)
    }

    /// What the broker holds: topics, partitions (log start, high watermark, last stable offset, log end),
    /// segments with their index entries and batches, groups with members, assignments, committed offsets and
    /// lag, transactions. `options`: `batchesPerSegment`, `indexEntriesPerSegment` (default 1000 each),
    /// `internalTopics` (default true).
    #[wasm_bindgen(unchecked_return_type = "Inspection")]
    pub fn inspect(&self, options: JsValue) -> Result<JsValue, JsValue> {
        let mut limits = InspectLimits::default();
        if options.is_object() {
            let get = |key: &str| Reflect::get(&options, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED);
            if let Some(n) = get("batchesPerSegment").as_f64() {
                limits.batches_per_segment = integer(n, "batchesPerSegment")?.max(0) as usize;
            }
            if let Some(n) = get("indexEntriesPerSegment").as_f64() {
                limits.index_entries_per_segment = integer(n, "indexEntriesPerSegment")?.max(0) as usize;
            }
            if let Some(b) = get("internalTopics").as_bool() {
                limits.internal_topics = b;
            }
        }
        let shared = self.inner.borrow();
        let broker =
            shared.page.broker().broker().ok_or_else(|| js_error(&HostError::state("the broker is stopped")))?;
        let view = inspect::inspect(broker, &limits).map_err(|e| js_error(&e))?;
        to_js(&view)
    }

    /// The bytes of the segment of `topic`-`partition` whose base offset is `baseOffset` (whole batches, at
    /// most `maxBytes`, default 1 MiB, and at least the first batch), with Kafka's batch and record fields
    /// marked: `{bytes: Uint8Array, batches: [{start, end, header, fields: [{name, start, end, value}],
    /// records: [{offset, start, end, fields}]}], truncated, sizeBytes, ...}`.
    #[wasm_bindgen(js_name = segmentBytes, unchecked_return_type = "AnnotatedSegment")]
    pub fn segment_bytes(
        &self,
        topic: &str,
        partition: i32,
        #[wasm_bindgen(js_name = baseOffset)] base_offset: f64,
        #[wasm_bindgen(js_name = maxBytes)] max_bytes: Option<f64>,
    ) -> Result<JsValue, JsValue> {
        let base_offset = integer(base_offset, "baseOffset")?;
        let max_bytes = match max_bytes {
            Some(n) => integer(n, "maxBytes")?.max(0) as usize,
            None => SEGMENT_BYTES_DEFAULT_MAX,
        };
        let shared = self.inner.borrow();
        let broker =
            shared.page.broker().broker().ok_or_else(|| js_error(&HostError::state("the broker is stopped")))?;
        let segment =
            inspect::segment_bytes(broker, topic, partition, base_offset, max_bytes).map_err(|e| js_error(&e))?;
        let view = to_js(&segment)?;
        Reflect::set(&view, &JsValue::from_str("bytes"), &Uint8Array::from(&segment.bytes[..]))?;
        Ok(view)
    }

    /// Stops the broker: requests still waiting reject with `code` of the closed client, the timer stops.
    pub fn stop(&self) -> Result<(), JsValue> {
        let stopped = {
            let mut shared = self.inner.borrow_mut();
            if let Some((handle, _)) = shared.timer.take() {
                clear_timeout(&handle);
            }
            shared.page.stop(now_ms())
        };
        deliver(&self.inner);
        self.inner.borrow_mut().on_timer = None;
        self.inner.borrow_mut().on_microtask = None;
        stopped.map_err(|e| js_error(&e))
    }

    /// Whether the broker runs (false once stopped).
    #[wasm_bindgen(getter)]
    pub fn running(&self) -> bool {
        self.inner.borrow().page.broker().broker().is_some()
    }

    #[wasm_bindgen(getter, js_name = clusterId)]
    pub fn cluster_id(&self) -> Option<String> {
        self.inner.borrow().page.broker().broker().map(|b| b.cluster_id().to_string())
    }

    #[wasm_bindgen(getter, js_name = nodeId)]
    pub fn node_id(&self) -> i32 {
        self.inner.borrow().page.broker().broker().map_or(-1, |b| b.node_id())
    }
}

/// An in-memory connection to a [`Broker`].
#[wasm_bindgen]
pub struct Connection {
    inner: Inner,
    id: ConnectionId,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("id", &self.id).finish()
    }
}

#[wasm_bindgen]
impl Connection {
    /// Sends one request frame (size prefix included); resolves with the response frame, or `null` for a
    /// request Kafka does not answer (Produce with acks=0). A frame the broker cannot read rejects with a
    /// `PotokError` (`kind` "protocol") and closes the connection, as Kafka closes the socket.
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint8Array | null>")]
    pub fn request(&self, frame: &Uint8Array) -> Promise {
        request(&self.inner, self.id, frame)
    }

    /// Closes the connection; a request still waiting on it rejects.
    pub fn close(&self) {
        self.inner.borrow_mut().page.broker_mut().close(self.id);
        deliver(&self.inner);
    }
}

impl Drop for Connection {
    /// A connection collected by JS's garbage collector closes, so the broker forgets its parked request.
    fn drop(&mut self) {
        if let Ok(mut shared) = self.inner.try_borrow_mut() {
            shared.page.broker_mut().close(self.id);
        }
    }
}

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = include_str!("types.d.ts");
