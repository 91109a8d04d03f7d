//! The page's producer, consumer and admin: JS classes over [`potok::host::page_client`], which runs potok's
//! own client machines against the page's broker through Kafka frames. This file holds only conversions (JS
//! values to records, offsets and admin calls and back) and promises: each operation gets a ticket from the
//! page, its promise settles when the page reports the ticket's outcome (from a JS call or the timer).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use potok::client::admin::{AlterConfigOp, AlterOp, ConfigResource, NewTopic, ResourceType};
use potok::client::consumer::ConsumerRecord;
use potok::client::producer::ProducerRecord;
use potok::client::{ClientError, IsolationLevel, OffsetAndMetadata, OffsetSpec, TopicPartition};
use potok::host::page_client::{
    offsets_json, AdminCall, ClientHandle, ConsumerGroupMetadata, Outcome, RebalanceEvent, Ticket,
};
use potok::host::HostError;
use wasm_bindgen::prelude::*;

use super::{
    config_entries, deliver, integer, invalid_argument, js_error, now_ms, queue_run, schedule, to_js, Broker, Inner,
};

fn client_error(e: ClientError) -> JsValue {
    js_error(&HostError::from(e))
}

thread_local! {
    /// Property names as JS strings, made once: a record crosses the boundary with a dozen of them, and making a
    /// JS string from Rust decodes UTF-8 on the JS side each time.
    static NAMES: RefCell<HashMap<&'static str, JsValue>> = RefCell::new(HashMap::new());
    /// The topic name of the records converted last, as a JS string (a poll's records share few topics).
    static TOPIC: RefCell<Option<(String, JsValue)>> = const { RefCell::new(None) };
}

fn name(key: &'static str) -> JsValue {
    NAMES.with(|names| names.borrow_mut().entry(key).or_insert_with(|| JsValue::from_str(key)).clone())
}

fn topic_value(topic: &str) -> JsValue {
    TOPIC.with(|cached| {
        let mut cached = cached.borrow_mut();
        match cached.as_ref() {
            Some((name, value)) if name == topic => value.clone(),
            _ => {
                let value = JsValue::from_str(topic);
                *cached = Some((topic.to_string(), value.clone()));
                value
            }
        }
    })
}

fn get(object: &JsValue, key: &'static str) -> JsValue {
    Reflect::get(object, &name(key)).unwrap_or(JsValue::UNDEFINED)
}

fn set(object: &Object, key: &'static str, value: &JsValue) {
    // Setting a property on a fresh plain object cannot fail.
    let _ = Reflect::set(object, &name(key), value);
}

/// Bytes from a string (UTF-8), a Uint8Array, or null/undefined.
fn bytes_of(value: &JsValue, what: &str) -> Result<Option<Bytes>, JsValue> {
    if value.is_null() || value.is_undefined() {
        Ok(None)
    } else if let Some(s) = value.as_string() {
        Ok(Some(Bytes::from(s.into_bytes())))
    } else if value.is_instance_of::<Uint8Array>() {
        Ok(Some(Bytes::from(value.unchecked_ref::<Uint8Array>().to_vec())))
    } else {
        Err(invalid_argument(format!("{what} must be a string, a Uint8Array or null")))
    }
}

fn bytes_value(bytes: &Option<Bytes>) -> JsValue {
    bytes.as_ref().map_or(JsValue::NULL, |b| Uint8Array::from(&b[..]).into())
}

fn record_of(value: &JsValue) -> Result<ProducerRecord, JsValue> {
    if !value.is_object() {
        return Err(invalid_argument(
            "a record must be an object {topic, key?, value, headers?, partition?, timestamp?}",
        ));
    }
    let topic = get(value, "topic").as_string().ok_or_else(|| invalid_argument("a record needs a topic (a string)"))?;
    let partition = match get(value, "partition").as_f64() {
        Some(p) => Some(integer(p, "partition")? as i32),
        None => None,
    };
    let timestamp = match get(value, "timestamp").as_f64() {
        Some(t) => Some(integer(t, "timestamp")?),
        None => None,
    };
    let mut headers = Vec::new();
    let h = get(value, "headers");
    if Array::is_array(&h) {
        for entry in h.unchecked_ref::<Array>().iter() {
            let key =
                get(&entry, "key").as_string().ok_or_else(|| invalid_argument("a header needs a key (a string)"))?;
            headers.push((key, bytes_of(&get(&entry, "value"), "a header value")?));
        }
    } else if h.is_object() {
        for entry in Object::entries(h.unchecked_ref::<Object>()).iter() {
            let pair: Array = entry.unchecked_into();
            let key = pair.get(0).as_string().unwrap_or_default();
            headers.push((key, bytes_of(&pair.get(1), "a header value")?));
        }
    }
    Ok(ProducerRecord {
        topic,
        partition,
        key: bytes_of(&get(value, "key"), "key")?,
        value: bytes_of(&get(value, "value"), "value")?,
        timestamp,
        headers,
    })
}

fn topic_partition(value: &JsValue) -> Result<TopicPartition, JsValue> {
    let topic = get(value, "topic").as_string().ok_or_else(|| invalid_argument("a partition needs a topic"))?;
    let partition =
        get(value, "partition").as_f64().ok_or_else(|| invalid_argument("a partition needs a partition number"))?;
    Ok(TopicPartition::new(topic, integer(partition, "partition")? as i32))
}

fn topic_partitions(value: &JsValue) -> Result<Vec<TopicPartition>, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(Vec::new());
    }
    if !Array::is_array(value) {
        return Err(invalid_argument("partitions must be an array of {topic, partition}"));
    }
    value.unchecked_ref::<Array>().iter().map(|v| topic_partition(&v)).collect()
}

fn record_value(r: ConsumerRecord) -> JsValue {
    let o = Object::new();
    set(&o, "topic", &topic_value(&r.topic));
    set(&o, "partition", &JsValue::from(r.partition));
    set(&o, "offset", &JsValue::from(r.offset as f64));
    set(&o, "timestamp", &JsValue::from(r.timestamp as f64));
    set(
        &o,
        "timestampType",
        &name(match r.timestamp_type {
            potok::record::TimestampType::LogAppendTime => "LogAppendTime",
            _ => "CreateTime",
        }),
    );
    set(&o, "key", &bytes_value(&r.key));
    set(&o, "value", &bytes_value(&r.value));
    let headers = Array::new();
    for (key, value) in &r.headers {
        let h = Object::new();
        set(&h, "key", &JsValue::from_str(key));
        set(&h, "value", &bytes_value(value));
        headers.push(&h);
    }
    set(&o, "headers", &headers);
    set(&o, "leaderEpoch", &r.leader_epoch.map_or(JsValue::NULL, JsValue::from));
    o.into()
}

/// A client operation's outcome as the value its promise resolves with, or the error it rejects with.
pub(crate) fn outcome_value(outcome: Outcome) -> Result<JsValue, JsValue> {
    match outcome {
        Outcome::Delivered(result) => {
            let m = result.map_err(client_error)?;
            let o = Object::new();
            set(&o, "topic", &topic_value(&m.topic));
            set(&o, "partition", &JsValue::from(m.partition));
            set(&o, "offset", &JsValue::from(m.offset as f64));
            set(&o, "timestamp", &JsValue::from(m.timestamp as f64));
            Ok(o.into())
        }
        Outcome::Done(result) => result.map(|()| JsValue::UNDEFINED).map_err(client_error),
        Outcome::Records(result) => {
            let records = result.map_err(client_error)?;
            Ok(records.into_iter().map(record_value).collect::<Array>().into())
        }
        Outcome::Position(result) => result.map(|p| JsValue::from(p as f64)).map_err(client_error),
        Outcome::Committed(result) => to_js(&offsets_json(&result.map_err(client_error)?)),
        Outcome::Admin(result) => to_js(&result.map_err(client_error)?),
    }
}

/// Runs the page's clients now, settles what finished, and arms the timer for what comes next.
fn settle(inner: &Inner) {
    let next_ms = {
        let mut shared = inner.borrow_mut();
        let now = now_ms();
        shared.page.run(now);
        shared.page.next_deadline_ms(i64::MAX)
    };
    deliver(inner);
    if next_ms < i64::MAX {
        schedule(inner, next_ms);
    }
}

/// A promise for the ticket `start` returns (a failure to start rejects it at once).
fn promise(
    inner: &Inner,
    start: impl FnOnce(&mut potok::host::page_client::Page) -> Result<Ticket, ClientError>,
) -> Promise {
    let started = start(&mut inner.borrow_mut().page);
    let ticket = match started {
        Ok(t) => t,
        Err(e) => return Promise::reject(&client_error(e)),
    };
    let promise = pending(inner, ticket);
    settle(inner);
    promise
}

/// The promise of `ticket`, settled by [`deliver`] when the page reports its outcome.
fn pending(inner: &Inner, ticket: Ticket) -> Promise {
    let mut register = Some(ticket);
    Promise::new(&mut |resolve, reject| {
        if let Some(ticket) = register.take() {
            inner.borrow_mut().tickets.insert(ticket, (resolve, reject));
        }
    })
}

#[wasm_bindgen]
impl Broker {
    /// A producer running potok's producer in the page (Kafka's producer config keys: `linger.ms`,
    /// `batch.size`, `acks`, `enable.idempotence`, `compression.type`, ...; `bootstrap.servers` is not needed).
    pub fn producer(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Record<string, string | number | boolean>")] config: JsValue,
    ) -> Result<Producer, JsValue> {
        let entries = config_entries(&config)?;
        let handle = self.inner.borrow_mut().page.producer(&entries, now_ms()).map_err(|e| js_error(&e))?;
        Ok(Producer { inner: self.inner.clone(), handle })
    }

    /// A consumer running potok's consumer (fetcher) in the page (Kafka's consumer config keys: `group.id`,
    /// `auto.offset.reset`, `isolation.level`, `max.poll.records`, `fetch.max.wait.ms`, ...).
    pub fn consumer(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Record<string, string | number | boolean>")] config: JsValue,
    ) -> Result<Consumer, JsValue> {
        let entries = config_entries(&config)?;
        let handle = self.inner.borrow_mut().page.consumer(&entries, now_ms()).map_err(|e| js_error(&e))?;
        Ok(Consumer { inner: self.inner.clone(), handle })
    }

    /// An admin client (config: `client.id`).
    pub fn admin(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Record<string, string | number | boolean> | undefined")] config: JsValue,
    ) -> Result<Admin, JsValue> {
        let entries = config_entries(&config)?;
        let handle = self.inner.borrow_mut().page.admin(&entries, now_ms()).map_err(|e| js_error(&e))?;
        Ok(Admin { inner: self.inner.clone(), handle })
    }
}

/// potok's producer in the page.
#[wasm_bindgen]
pub struct Producer {
    inner: Inner,
    handle: ClientHandle,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").field("handle", &self.handle).finish()
    }
}

#[wasm_bindgen]
impl Producer {
    /// Sends a record `{topic, key?, value, headers?, partition?, timestamp?}` (key, value and header values:
    /// string, Uint8Array or null); resolves with `{topic, partition, offset, timestamp}` once the broker wrote
    /// it.
    #[wasm_bindgen(unchecked_return_type = "Promise<RecordMetadata>")]
    pub fn send(&self, #[wasm_bindgen(unchecked_param_type = "ProducerRecord")] record: JsValue) -> Promise {
        let record = match record_of(&record) {
            Ok(r) => r,
            Err(e) => return Promise::reject(&e),
        };
        let handle = self.handle;
        let started = self.inner.borrow_mut().page.send(handle, record, now_ms());
        let ticket = match started {
            Ok(t) => t,
            Err(e) => return Promise::reject(&client_error(e)),
        };
        let promise = pending(&self.inner, ticket);
        // The record is in the accumulator; the clients run once the caller's synchronous code is done, so a
        // loop of sends is one run.
        queue_run(&self.inner);
        promise
    }

    /// Sends records; resolves with their metadata in order (rejects with the first failure).
    #[wasm_bindgen(js_name = sendBatch, unchecked_return_type = "Promise<RecordMetadata[]>")]
    pub fn send_batch(&self, #[wasm_bindgen(unchecked_param_type = "ProducerRecord[]")] records: JsValue) -> Promise {
        if !Array::is_array(&records) {
            return Promise::reject(&invalid_argument("sendBatch takes an array of records"));
        }
        let promises = Array::new();
        for r in records.unchecked_ref::<Array>().iter() {
            promises.push(&self.send(r));
        }
        Promise::all(&promises)
    }

    /// Sends every queued batch now (regardless of `linger.ms`); resolves once every record sent before is
    /// complete.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn flush(&self) -> Promise {
        let handle = self.handle;
        promise(&self.inner, |page| page.flush(handle))
    }

    /// Delivers what is queued, then closes the producer.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        let handle = self.handle;
        promise(&self.inner, |page| page.close_producer(handle))
    }

    /// Gets the producer id and epoch of its `transactional.id` (fencing an older producer with that id, and
    /// finishing a transaction it left open); needed once before the first transaction.
    #[wasm_bindgen(js_name = initTransactions, unchecked_return_type = "Promise<void>")]
    pub fn init_transactions(&self) -> Promise {
        let handle = self.handle;
        promise(&self.inner, |page| page.init_transactions(handle, now_ms()))
    }

    /// Starts a transaction: records sent until `commitTransaction` or `abortTransaction` belong to it.
    #[wasm_bindgen(js_name = beginTransaction)]
    pub fn begin_transaction(&self) -> Result<(), JsValue> {
        unit(self.inner.borrow_mut().page.begin_transaction(self.handle))
    }

    /// Commits a consumer group's offsets `[{topic, partition, offset, metadata?}]` as part of the transaction:
    /// `group` is the consumer's `groupMetadata()` (fenced if the member's generation is stale) or a group id.
    #[wasm_bindgen(js_name = sendOffsetsToTransaction, unchecked_return_type = "Promise<void>")]
    pub fn send_offsets_to_transaction(
        &self,
        #[wasm_bindgen(unchecked_param_type = "OffsetToCommit[]")] offsets: JsValue,
        #[wasm_bindgen(unchecked_param_type = "ConsumerGroupMetadata | string")] group: JsValue,
    ) -> Promise {
        let offsets = match offsets_of(&offsets) {
            Ok(Some(o)) => o,
            Ok(None) => return Promise::reject(&invalid_argument("sendOffsetsToTransaction needs offsets")),
            Err(e) => return Promise::reject(&e),
        };
        let group = match group_metadata_of(&group) {
            Ok(g) => g,
            Err(e) => return Promise::reject(&e),
        };
        let handle = self.handle;
        promise(&self.inner, |page| page.send_offsets_to_transaction(handle, offsets, group, now_ms()))
    }

    /// Sends what the transaction holds and commits it.
    #[wasm_bindgen(js_name = commitTransaction, unchecked_return_type = "Promise<void>")]
    pub fn commit_transaction(&self) -> Promise {
        let handle = self.handle;
        promise(&self.inner, |page| page.end_transaction(handle, true, now_ms()))
    }

    /// Aborts the transaction: its records are never shown to read_committed consumers.
    #[wasm_bindgen(js_name = abortTransaction, unchecked_return_type = "Promise<void>")]
    pub fn abort_transaction(&self) -> Promise {
        let handle = self.handle;
        promise(&self.inner, |page| page.end_transaction(handle, false, now_ms()))
    }

    /// The idempotent producer's id and epoch (`{producerId: -1, producerEpoch: -1}` before it has one).
    #[wasm_bindgen(js_name = producerId, unchecked_return_type = "{ producerId: number; producerEpoch: number }")]
    pub fn producer_id(&self) -> JsValue {
        let (id, epoch) = self.inner.borrow().page.producer_id(self.handle).unwrap_or((-1, -1));
        let o = Object::new();
        set(&o, "producerId", &JsValue::from(id as f64));
        set(&o, "producerEpoch", &JsValue::from(epoch));
        o.into()
    }

    #[wasm_bindgen(getter, js_name = clientId)]
    pub fn client_id(&self) -> Option<String> {
        self.inner.borrow().page.client_id(self.handle).map(str::to_string)
    }
}

/// potok's consumer in the page.
#[wasm_bindgen]
pub struct Consumer {
    inner: Inner,
    handle: ClientHandle,
}

impl Drop for Producer {
    /// A producer collected by JS's garbage collector delivers what it queued, then closes.
    fn drop(&mut self) {
        if let Ok(mut shared) = self.inner.try_borrow_mut() {
            let _ = shared.page.close_producer(self.handle);
        }
    }
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer").field("handle", &self.handle).finish()
    }
}

impl Drop for Consumer {
    /// A consumer collected by JS's garbage collector closes its connections.
    fn drop(&mut self) {
        if let Ok(mut shared) = self.inner.try_borrow_mut() {
            shared.page.close_consumer(self.handle, now_ms());
        }
    }
}

fn unit(result: Result<(), ClientError>) -> Result<(), JsValue> {
    result.map_err(client_error)
}

#[wasm_bindgen]
impl Consumer {
    /// Assigns partitions `[{topic, partition}]` by hand (no group membership: a subscribed consumer leaves its
    /// group first).
    pub fn assign(
        &self,
        #[wasm_bindgen(unchecked_param_type = "TopicPartition[]")] partitions: JsValue,
    ) -> Result<(), JsValue> {
        let partitions = topic_partitions(&partitions)?;
        unit(self.inner.borrow_mut().page.assign(self.handle, &partitions, now_ms()))?;
        settle(&self.inner);
        Ok(())
    }

    /// The assigned partitions.
    #[wasm_bindgen(unchecked_return_type = "TopicPartition[]")]
    pub fn assignment(&self) -> Result<JsValue, JsValue> {
        let assigned = self.inner.borrow().page.assignment(self.handle);
        to_js(
            &assigned
                .iter()
                .map(|tp| serde_json::json!({"topic": tp.topic, "partition": tp.partition}))
                .collect::<Vec<_>>(),
        )
    }

    /// Subscribes to topics (a name or an array of names) with group management (`group.id` needed): the
    /// consumer joins its group at its next poll, and shares the topics' partitions with the group's other
    /// members (in this page or on the broker's other connections). `rebalances()` tells what changed.
    pub fn subscribe(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | string[]")] topics: JsValue,
    ) -> Result<(), JsValue> {
        let topics: Vec<String> = if let Some(topic) = topics.as_string() {
            vec![topic]
        } else if Array::is_array(&topics) {
            topics
                .unchecked_ref::<Array>()
                .iter()
                .map(|t| t.as_string().ok_or_else(|| invalid_argument("subscribe takes topic names")))
                .collect::<Result<_, _>>()?
        } else {
            return Err(invalid_argument("subscribe takes a topic name or an array of them"));
        };
        unit(self.inner.borrow_mut().page.subscribe(self.handle, &topics))?;
        settle(&self.inner);
        Ok(())
    }

    /// Drops the subscription (leaving the group) or the manual assignment.
    pub fn unsubscribe(&self) -> Result<(), JsValue> {
        unit(self.inner.borrow_mut().page.unsubscribe(self.handle, now_ms()))?;
        settle(&self.inner);
        Ok(())
    }

    /// The subscribed topics (none with a manual assignment).
    pub fn subscription(&self) -> Vec<String> {
        self.inner.borrow().page.subscription(self.handle)
    }

    /// The assignment changes since the last call, oldest first: `{type: "assigned", partitions, added}` when a
    /// rebalance finished, `{type: "revoked", partitions}` when partitions were given up in one,
    /// `{type: "lost", partitions}` when they were lost without a chance to commit.
    #[wasm_bindgen(unchecked_return_type = "RebalanceEvent[]")]
    pub fn rebalances(&self) -> Result<JsValue, JsValue> {
        let events = self.inner.borrow_mut().page.take_rebalances(self.handle);
        let tps = |partitions: &[TopicPartition]| {
            partitions
                .iter()
                .map(|tp| serde_json::json!({"topic": tp.topic, "partition": tp.partition}))
                .collect::<Vec<_>>()
        };
        let events: Vec<serde_json::Value> = events
            .iter()
            .map(|e| match e {
                RebalanceEvent::Assigned { partitions, added } => {
                    serde_json::json!({"type": "assigned", "partitions": tps(partitions), "added": tps(added)})
                }
                RebalanceEvent::Revoked(partitions) => {
                    serde_json::json!({"type": "revoked", "partitions": tps(partitions)})
                }
                RebalanceEvent::Lost(partitions) => serde_json::json!({"type": "lost", "partitions": tps(partitions)}),
            })
            .collect();
        to_js(&events)
    }

    /// The group, generation and member id (`undefined` without `group.id`): what a transactional producer's
    /// `sendOffsetsToTransaction` takes.
    #[wasm_bindgen(js_name = groupMetadata, unchecked_return_type = "ConsumerGroupMetadata | undefined")]
    pub fn group_metadata(&self) -> Result<JsValue, JsValue> {
        match self.inner.borrow().page.group_metadata(self.handle) {
            None => Ok(JsValue::UNDEFINED),
            Some(g) => to_js(&serde_json::json!({
                "groupId": g.group_id,
                "generationId": g.generation_id,
                "memberId": g.member_id,
                "groupInstanceId": g.group_instance_id,
            })),
        }
    }

    /// Moves a partition's position: the next poll reads from `offset`.
    pub fn seek(
        &self,
        #[wasm_bindgen(unchecked_param_type = "TopicPartition & { offset: number }")] target: JsValue,
    ) -> Result<(), JsValue> {
        let tp = topic_partition(&target)?;
        let offset = get(&target, "offset").as_f64().ok_or_else(|| invalid_argument("seek needs an offset"))?;
        let offset = integer(offset, "offset")?;
        unit(self.inner.borrow_mut().page.seek(self.handle, &tp, offset))?;
        settle(&self.inner);
        Ok(())
    }

    /// Seeks to the log start (no argument: every assigned partition).
    #[wasm_bindgen(js_name = seekToBeginning)]
    pub fn seek_to_beginning(
        &self,
        #[wasm_bindgen(unchecked_param_type = "TopicPartition[] | undefined")] partitions: JsValue,
    ) -> Result<(), JsValue> {
        let partitions = topic_partitions(&partitions)?;
        unit(self.inner.borrow_mut().page.seek_to(self.handle, &partitions, OffsetSpec::Earliest))?;
        settle(&self.inner);
        Ok(())
    }

    /// Seeks to the log end (the last stable offset for read_committed).
    #[wasm_bindgen(js_name = seekToEnd)]
    pub fn seek_to_end(
        &self,
        #[wasm_bindgen(unchecked_param_type = "TopicPartition[] | undefined")] partitions: JsValue,
    ) -> Result<(), JsValue> {
        let partitions = topic_partitions(&partitions)?;
        unit(self.inner.borrow_mut().page.seek_to(self.handle, &partitions, OffsetSpec::Latest))?;
        settle(&self.inner);
        Ok(())
    }

    /// Resolves with records (at most `maxRecords` and `max.poll.records`) as soon as some are fetched, or
    /// with none after `timeoutMs` (default 1000).
    #[wasm_bindgen(unchecked_return_type = "Promise<ConsumerRecord[]>")]
    pub fn poll(
        &self,
        #[wasm_bindgen(js_name = timeoutMs)] timeout_ms: Option<f64>,
        #[wasm_bindgen(js_name = maxRecords)] max_records: Option<f64>,
    ) -> Promise {
        let handle = self.handle;
        let timeout_ms = timeout_ms.unwrap_or(1000.0).max(0.0) as i64;
        let max = max_records.map(|m| m.max(1.0) as usize);
        promise(&self.inner, |page| page.poll_consumer(handle, max, now_ms() + timeout_ms))
    }

    /// The records fetched already, without waiting (at most `maxRecords`).
    #[wasm_bindgen(js_name = pollNow, unchecked_return_type = "ConsumerRecord[]")]
    pub fn poll_now(&self, #[wasm_bindgen(js_name = maxRecords)] max_records: Option<f64>) -> Result<JsValue, JsValue> {
        let max = max_records.map(|m| m.max(1.0) as usize);
        let records = self.inner.borrow_mut().page.poll_now(self.handle, max).map_err(client_error)?;
        settle(&self.inner);
        Ok(records.into_iter().map(record_value).collect::<Array>().into())
    }

    /// Stops fetching and handing out these partitions until `resume`.
    pub fn pause(
        &self,
        #[wasm_bindgen(unchecked_param_type = "TopicPartition[]")] partitions: JsValue,
    ) -> Result<(), JsValue> {
        let partitions = topic_partitions(&partitions)?;
        unit(self.inner.borrow_mut().page.set_paused(self.handle, &partitions, true))
    }

    pub fn resume(
        &self,
        #[wasm_bindgen(unchecked_param_type = "TopicPartition[]")] partitions: JsValue,
    ) -> Result<(), JsValue> {
        let partitions = topic_partitions(&partitions)?;
        unit(self.inner.borrow_mut().page.set_paused(self.handle, &partitions, false))?;
        settle(&self.inner);
        Ok(())
    }

    #[wasm_bindgen(unchecked_return_type = "TopicPartition[]")]
    pub fn paused(&self) -> Result<JsValue, JsValue> {
        let paused = self.inner.borrow().page.paused(self.handle);
        to_js(
            &paused
                .iter()
                .map(|tp| serde_json::json!({"topic": tp.topic, "partition": tp.partition}))
                .collect::<Vec<_>>(),
        )
    }

    /// The offset of the next record a poll returns for `{topic, partition}` (looked up when not known yet).
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn position(&self, #[wasm_bindgen(unchecked_param_type = "TopicPartition")] tp: JsValue) -> Promise {
        let tp = match topic_partition(&tp) {
            Ok(tp) => tp,
            Err(e) => return Promise::reject(&e),
        };
        let handle = self.handle;
        promise(&self.inner, |page| page.position(handle, tp))
    }

    /// Commits the consumer's positions, or the given offsets `[{topic, partition, offset, metadata?}]`, for its
    /// `group.id` (a group member's commit carries its generation and member id; with `assign()` generation
    /// -1, as Kafka's consumer commits); resolves with what was committed.
    #[wasm_bindgen(unchecked_return_type = "Promise<CommittedOffset[]>")]
    pub fn commit(
        &self,
        #[wasm_bindgen(unchecked_param_type = "OffsetToCommit[] | undefined")] offsets: JsValue,
    ) -> Promise {
        let offsets = match offsets_of(&offsets) {
            Ok(o) => o,
            Err(e) => return Promise::reject(&e),
        };
        let handle = self.handle;
        promise(&self.inner, |page| page.commit(handle, offsets, now_ms()))
    }

    /// The group's committed offsets of these partitions (every assigned one by default).
    #[wasm_bindgen(unchecked_return_type = "Promise<CommittedOffset[]>")]
    pub fn committed(
        &self,
        #[wasm_bindgen(unchecked_param_type = "TopicPartition[] | undefined")] partitions: JsValue,
    ) -> Promise {
        let partitions = match topic_partitions(&partitions) {
            Ok(p) => p,
            Err(e) => return Promise::reject(&e),
        };
        let handle = self.handle;
        promise(&self.inner, |page| page.committed(handle, &partitions, now_ms()))
    }

    /// Closes the consumer: a group member commits what it consumed (with auto-commit on) and leaves its group
    /// (its partitions go to the other members at once); a waiting poll rejects as closed.
    pub fn close(&self) {
        self.inner.borrow_mut().page.close_consumer(self.handle, now_ms());
        deliver(&self.inner);
    }

    #[wasm_bindgen(getter, js_name = clientId)]
    pub fn client_id(&self) -> Option<String> {
        self.inner.borrow().page.client_id(self.handle).map(str::to_string)
    }
}

/// A group for `sendOffsetsToTransaction`: a consumer's `groupMetadata()` or a group id alone.
fn group_metadata_of(value: &JsValue) -> Result<ConsumerGroupMetadata, JsValue> {
    if let Some(group_id) = value.as_string() {
        return Ok(ConsumerGroupMetadata::new(group_id));
    }
    let group_id =
        get(value, "groupId").as_string().ok_or_else(|| invalid_argument("the group needs a groupId (or is one)"))?;
    let generation_id = get(value, "generationId").as_f64().map_or(Ok(-1), |g| integer(g, "generationId"))?;
    Ok(ConsumerGroupMetadata {
        group_id,
        generation_id: i32::try_from(generation_id).map_err(|_| invalid_argument("generationId is out of range"))?,
        member_id: get(value, "memberId").as_string().unwrap_or_default(),
        group_instance_id: get(value, "groupInstanceId").as_string(),
    })
}

fn offsets_of(value: &JsValue) -> Result<Option<BTreeMap<TopicPartition, OffsetAndMetadata>>, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    if !Array::is_array(value) {
        return Err(invalid_argument("offsets must be an array of {topic, partition, offset}"));
    }
    let mut out = BTreeMap::new();
    for entry in value.unchecked_ref::<Array>().iter() {
        let tp = topic_partition(&entry)?;
        let offset =
            get(&entry, "offset").as_f64().ok_or_else(|| invalid_argument("an offset to commit needs an offset"))?;
        let metadata = get(&entry, "metadata").as_string().unwrap_or_default();
        out.insert(tp, OffsetAndMetadata { offset: integer(offset, "offset")?, leader_epoch: None, metadata });
    }
    Ok(Some(out))
}

/// potok's admin client in the page.
#[wasm_bindgen]
pub struct Admin {
    inner: Inner,
    handle: ClientHandle,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").field("handle", &self.handle).finish()
    }
}

impl Drop for Admin {
    /// An admin collected by JS's garbage collector closes its connection.
    fn drop(&mut self) {
        if let Ok(mut shared) = self.inner.try_borrow_mut() {
            shared.page.close_admin(self.handle);
        }
    }
}

fn strings(value: &JsValue, what: &str) -> Result<Vec<String>, JsValue> {
    if !Array::is_array(value) {
        return Err(invalid_argument(format!("{what} must be an array of strings")));
    }
    value
        .unchecked_ref::<Array>()
        .iter()
        .map(|v| v.as_string().ok_or_else(|| invalid_argument(format!("{what} must be an array of strings"))))
        .collect()
}

fn resource_of(value: &JsValue) -> Result<ConfigResource, JsValue> {
    let resource_type = match get(value, "type").as_string().as_deref().unwrap_or("topic") {
        "topic" => ResourceType::Topic,
        "broker" => ResourceType::Broker,
        "group" => ResourceType::Group,
        other => return Err(invalid_argument(format!("resource type {other:?} is not one of topic, broker, group"))),
    };
    let name = get(value, "name").as_string().ok_or_else(|| invalid_argument("a config resource needs a name"))?;
    Ok(ConfigResource { resource_type, name })
}

fn value_string(value: &JsValue) -> Option<String> {
    value
        .as_string()
        .or_else(|| value.as_f64().map(|n| if n.fract() == 0.0 { (n as i64).to_string() } else { n.to_string() }))
}

impl Admin {
    fn call(&self, call: Result<AdminCall, JsValue>) -> Promise {
        let call = match call {
            Ok(c) => c,
            Err(e) => return Promise::reject(&e),
        };
        let handle = self.handle;
        promise(&self.inner, |page| page.admin_call(handle, call, now_ms()))
    }
}

#[wasm_bindgen]
impl Admin {
    /// Creates topics `[{name, numPartitions?, replicationFactor?, configs?}]` (-1 or absent: the broker's
    /// defaults); resolves with their names, rejects with Kafka's error (e.g. `TOPIC_ALREADY_EXISTS`).
    #[wasm_bindgen(js_name = createTopics, unchecked_return_type = "Promise<string[]>")]
    pub fn create_topics(&self, #[wasm_bindgen(unchecked_param_type = "NewTopic[]")] topics: JsValue) -> Promise {
        let call = (|| {
            if !Array::is_array(&topics) {
                return Err(invalid_argument(
                    "createTopics takes an array of {name, numPartitions?, replicationFactor?, configs?}",
                ));
            }
            let mut out = Vec::new();
            for t in topics.unchecked_ref::<Array>().iter() {
                let name = get(&t, "name").as_string().ok_or_else(|| invalid_argument("a new topic needs a name"))?;
                let partitions =
                    get(&t, "numPartitions").as_f64().map_or(Ok(-1), |n| integer(n, "numPartitions"))? as i32;
                let rf =
                    get(&t, "replicationFactor").as_f64().map_or(Ok(-1), |n| integer(n, "replicationFactor"))? as i16;
                let mut topic = NewTopic::new(name, partitions, rf);
                let configs = get(&t, "configs");
                if configs.is_object() {
                    topic.configs = config_entries(&configs)?;
                }
                out.push(topic);
            }
            Ok(AdminCall::CreateTopics { topics: out, validate_only: false, timeout_ms: 30_000 })
        })();
        self.call(call)
    }

    /// Deletes topics by name; resolves with their names.
    #[wasm_bindgen(js_name = deleteTopics, unchecked_return_type = "Promise<string[]>")]
    pub fn delete_topics(&self, #[wasm_bindgen(unchecked_param_type = "string[]")] names: JsValue) -> Promise {
        self.call(strings(&names, "topic names").map(|names| AdminCall::DeleteTopics { names, timeout_ms: 30_000 }))
    }

    /// Topic names, sorted (internal topics when `includeInternal`).
    #[wasm_bindgen(js_name = listTopics, unchecked_return_type = "Promise<string[]>")]
    pub fn list_topics(&self, #[wasm_bindgen(js_name = includeInternal)] include_internal: Option<bool>) -> Promise {
        self.call(Ok(AdminCall::ListTopics { include_internal: include_internal.unwrap_or(false) }))
    }

    /// Partitions, leaders, replicas and ISR of each topic (every topic without names).
    #[wasm_bindgen(js_name = describeTopics, unchecked_return_type = "Promise<TopicDescription[]>")]
    pub fn describe_topics(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[] | undefined")] names: JsValue,
    ) -> Promise {
        let names =
            if names.is_undefined() || names.is_null() { Ok(None) } else { strings(&names, "topic names").map(Some) };
        self.call(names.map(|names| AdminCall::DescribeTopics { names }))
    }

    /// Every config of each resource `[{type: "topic" | "broker" | "group", name}]`, with its source.
    #[wasm_bindgen(js_name = describeConfigs, unchecked_return_type = "Promise<ConfigDescription[]>")]
    pub fn describe_configs(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ConfigResource[]")] resources: JsValue,
    ) -> Promise {
        let call = (|| {
            if !Array::is_array(&resources) {
                return Err(invalid_argument("describeConfigs takes an array of {type, name}"));
            }
            let resources =
                resources.unchecked_ref::<Array>().iter().map(|r| resource_of(&r)).collect::<Result<_, _>>()?;
            Ok(AdminCall::DescribeConfigs { resources })
        })();
        self.call(call)
    }

    /// Incremental config changes (IncrementalAlterConfigs): `[{type, name, set?: {key: value}, delete?:
    /// [key]}]`.
    #[wasm_bindgen(js_name = alterConfigs, unchecked_return_type = "Promise<ConfigResource[]>")]
    pub fn alter_configs(&self, #[wasm_bindgen(unchecked_param_type = "ConfigChange[]")] changes: JsValue) -> Promise {
        let call = (|| {
            if !Array::is_array(&changes) {
                return Err(invalid_argument("alterConfigs takes an array of {type, name, set?, delete?}"));
            }
            let mut out = Vec::new();
            for c in changes.unchecked_ref::<Array>().iter() {
                let resource = resource_of(&c)?;
                let mut ops = Vec::new();
                let set_ = get(&c, "set");
                if set_.is_object() {
                    for entry in Object::entries(set_.unchecked_ref::<Object>()).iter() {
                        let pair: Array = entry.unchecked_into();
                        let name = pair.get(0).as_string().unwrap_or_default();
                        let value = value_string(&pair.get(1)).ok_or_else(|| {
                            invalid_argument(format!("config {name}: the value must be a string or number"))
                        })?;
                        ops.push(AlterConfigOp { name, value: Some(value), op: AlterOp::Set });
                    }
                }
                let delete = get(&c, "delete");
                if !delete.is_undefined() {
                    for name in strings(&delete, "delete")? {
                        ops.push(AlterConfigOp { name, value: None, op: AlterOp::Delete });
                    }
                }
                out.push((resource, ops));
            }
            Ok(AdminCall::IncrementalAlterConfigs { changes: out, validate_only: false })
        })();
        self.call(call)
    }

    /// Every group of the broker.
    #[wasm_bindgen(js_name = listGroups, unchecked_return_type = "Promise<GroupListing[]>")]
    pub fn list_groups(&self) -> Promise {
        self.call(Ok(AdminCall::ListGroups))
    }

    /// State, protocol and members (with assignments) of each group.
    #[wasm_bindgen(js_name = describeGroups, unchecked_return_type = "Promise<GroupDescription[]>")]
    pub fn describe_groups(
        &self,
        #[wasm_bindgen(js_name = groupIds, unchecked_param_type = "string[]")] group_ids: JsValue,
    ) -> Promise {
        self.call(strings(&group_ids, "group ids").map(|group_ids| AdminCall::DescribeGroups { group_ids }))
    }

    /// Deletes groups (they must be empty); resolves with their ids.
    #[wasm_bindgen(js_name = deleteGroups, unchecked_return_type = "Promise<string[]>")]
    pub fn delete_groups(
        &self,
        #[wasm_bindgen(js_name = groupIds, unchecked_param_type = "string[]")] group_ids: JsValue,
    ) -> Promise {
        self.call(strings(&group_ids, "group ids").map(|group_ids| AdminCall::DeleteGroups { group_ids }))
    }

    /// A group's committed offsets (every partition, or the ones given).
    #[wasm_bindgen(js_name = listGroupOffsets, unchecked_return_type = "Promise<CommittedOffset[]>")]
    pub fn list_group_offsets(
        &self,
        #[wasm_bindgen(js_name = groupId)] group_id: String,
        #[wasm_bindgen(unchecked_param_type = "TopicPartition[] | undefined")] partitions: JsValue,
    ) -> Promise {
        let partitions = if partitions.is_undefined() || partitions.is_null() {
            Ok(None)
        } else {
            topic_partitions(&partitions).map(Some)
        };
        self.call(partitions.map(|partitions| AdminCall::ListGroupOffsets { group_id, partitions }))
    }

    /// Offsets by spec `[{topic, partition, spec: "earliest" | "latest" | "maxTimestamp" | timestamp}]`.
    #[wasm_bindgen(js_name = listOffsets, unchecked_return_type = "Promise<ListedOffset[]>")]
    pub fn list_offsets(
        &self,
        #[wasm_bindgen(unchecked_param_type = "OffsetQuery[]")] queries: JsValue,
        #[wasm_bindgen(js_name = isolationLevel, unchecked_param_type = "'read_uncommitted' | 'read_committed' | undefined")]
        isolation_level: Option<String>,
    ) -> Promise {
        let call = (|| {
            if !Array::is_array(&queries) {
                return Err(invalid_argument("listOffsets takes an array of {topic, partition, spec}"));
            }
            let mut specs = Vec::new();
            for q in queries.unchecked_ref::<Array>().iter() {
                let tp = topic_partition(&q)?;
                let spec = get(&q, "spec");
                let spec = match (spec.as_string().as_deref(), spec.as_f64()) {
                    (_, Some(timestamp)) => OffsetSpec::Timestamp(integer(timestamp, "spec")?),
                    (Some("earliest"), _) => OffsetSpec::Earliest,
                    (Some("latest") | None, _) => OffsetSpec::Latest,
                    (Some("maxTimestamp"), _) => OffsetSpec::MaxTimestamp,
                    (Some(other), _) => {
                        return Err(invalid_argument(format!(
                            "offset spec {other:?} is not earliest, latest, maxTimestamp or a timestamp"
                        )))
                    }
                };
                specs.push((tp, spec));
            }
            let isolation_level = if isolation_level.as_deref() == Some("read_committed") {
                IsolationLevel::ReadCommitted
            } else {
                IsolationLevel::ReadUncommitted
            };
            Ok(AdminCall::ListOffsets { specs, isolation_level })
        })();
        self.call(call)
    }

    /// Closes the admin's connection.
    pub fn close(&self) {
        self.inner.borrow_mut().page.close_admin(self.handle);
        deliver(&self.inner);
    }
}
