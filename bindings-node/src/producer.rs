//! The producer: core's `potok::client::producer::Producer` behind a worker thread (sends keep their order and
//! a full buffer's `max.block.ms` wait never blocks JavaScript) with delivery reported through core's callbacks.
//!
//! A send arrives packed, so that a batch of records costs a few napi calls instead of several per record:
//! `data` holds every key, value, header key and header value back to back, and `layout` describes each record
//! as `[topic index, partition (-1: none), key length (-1: null), value length (-1: null), header count,
//! then per header: key length, value length (-1: null)]`. Keys and values become slices of one `Bytes` that
//! owns the JavaScript buffer, so nothing is copied between JavaScript and the record accumulator.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use napi::bindgen_prelude::{Buffer, Float64Array, Int32Array, Object};
use napi::Env;
use napi_derive::napi;
use potok::client::producer::{ConsumerGroupMetadata, Producer, ProducerRecord, RecordMetadata};
use potok::client::{ClientError, OffsetAndMetadata, TopicPartition};

use crate::error::{invalid_argument, Failure};
use crate::events::ConnectionFailureInfo;
use crate::worker::{run_plain, Settle, Worker};
use crate::ConfigEntry;

/// Where each record of one send was written, in the order given (`offsets` -1 with `acks=0`).
#[napi(object)]
pub struct SendResult {
    pub partitions: Int32Array,
    pub offsets: Float64Array,
    pub timestamps: Float64Array,
}

/// A partition of a topic as the producer's metadata knows it.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct PartitionInfo {
    pub partition: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

pub(crate) fn pairs(config: &[ConfigEntry]) -> Vec<(String, String)> {
    config.iter().map(|e| (e.name.trim().to_string(), e.value.trim().to_string())).collect()
}

pub(crate) fn timeout(ms: Option<f64>) -> Option<Duration> {
    ms.filter(|ms| ms.is_finite() && *ms >= 0.0).map(|ms| Duration::from_millis(ms as u64))
}

/// Kafka's producer (`bootstrap.servers`, `acks`, `linger.ms`, `enable.idempotence`, `transactional.id`, ...).
#[napi]
#[derive(Debug)]
pub struct NativeProducer {
    producer: Producer,
    worker: Worker,
}

#[napi]
impl NativeProducer {
    #[napi(constructor)]
    pub fn new(env: Env, config: Vec<ConfigEntry>) -> napi::Result<NativeProducer> {
        let producer = Producer::new(&pairs(&config)).map_err(|e| Failure::from(e).into_js(&env))?;
        let worker = Worker::new("potok-node-producer").map_err(|f| f.into_js(&env))?;
        Ok(NativeProducer { producer, worker })
    }

    /// Sends a packed batch (see the module docs); resolves when every record is acknowledged, rejects with
    /// the first record's error otherwise (records appended before a failed append are still delivered).
    #[napi(ts_return_type = "Promise<SendResult>")]
    pub fn send<'env>(
        &self,
        env: &'env Env,
        topics: Vec<String>,
        layout: Int32Array,
        timestamps: Float64Array,
        data: Buffer,
    ) -> napi::Result<Object<'env>> {
        let records = unpack(&topics, &layout, &timestamps, data).map_err(|f| f.into_js(env))?;
        let (settle, promise) = Settle::<SendResult>::new(env)?;
        let producer = self.producer.clone();
        let job = move || append_all(&producer, records, settle);
        self.worker.submit(Box::new(job)).map_err(|f| f.into_js(env))?;
        Ok(promise)
    }

    /// Calls `callback` (on the JavaScript thread) for each failed broker connection.
    #[napi(ts_args_type = "callback: (failure: ConnectionFailureInfo) => void")]
    pub fn on_connection_error(
        &self,
        callback: napi::bindgen_prelude::Function<ConnectionFailureInfo, ()>,
    ) -> napi::Result<()> {
        self.producer.set_connection_listener(crate::events::connection_listener(callback)?);
        Ok(())
    }

    /// Sends what is queued and waits for every earlier send to complete.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn flush<'env>(&self, env: &'env Env, timeout_ms: Option<f64>) -> napi::Result<Object<'env>> {
        let producer = self.producer.clone();
        run_plain(env, &self.worker, move || producer.flush(timeout(timeout_ms)).map_err(Failure::from))
    }

    /// Delivers what is queued (within the timeout), then closes the producer.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close<'env>(&self, env: &'env Env, timeout_ms: Option<f64>) -> napi::Result<Object<'env>> {
        let producer = self.producer.clone();
        run_plain(env, &self.worker, move || producer.close(timeout(timeout_ms)).map_err(Failure::from))
    }

    /// The partitions of `topic` (waiting up to `max.block.ms` for metadata).
    #[napi(ts_return_type = "Promise<Array<PartitionInfo>>")]
    pub fn partitions_for<'env>(&self, env: &'env Env, topic: String) -> napi::Result<Object<'env>> {
        let producer = self.producer.clone();
        run_plain(env, &self.worker, move || {
            let partitions = producer.partitions_for(&topic)?;
            Ok(partitions
                .into_iter()
                .map(|p| PartitionInfo { partition: p.partition, leader: p.leader, replicas: p.replicas, isr: p.isr })
                .collect::<Vec<_>>())
        })
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn init_transactions<'env>(&self, env: &'env Env, timeout_ms: Option<f64>) -> napi::Result<Object<'env>> {
        let producer = self.producer.clone();
        run_plain(env, &self.worker, move || producer.init_transactions(timeout(timeout_ms)).map_err(Failure::from))
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn begin_transaction<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        let producer = self.producer.clone();
        run_plain(env, &self.worker, move || producer.begin_transaction().map_err(Failure::from))
    }

    /// Adds a group's offsets to the open transaction (kafkajs's `sendOffsets`: the group id alone, no
    /// generation check, as Kafka's `sendOffsetsToTransaction(offsets, String)`).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn send_offsets_to_transaction<'env>(
        &self,
        env: &'env Env,
        group_id: String,
        offsets: Vec<crate::admin::PartitionOffset>,
        timeout_ms: Option<f64>,
    ) -> napi::Result<Object<'env>> {
        let producer = self.producer.clone();
        run_plain(env, &self.worker, move || {
            let offsets: BTreeMap<TopicPartition, OffsetAndMetadata> = offsets
                .into_iter()
                .map(|o| {
                    let metadata = OffsetAndMetadata {
                        offset: o.offset as i64,
                        leader_epoch: None,
                        metadata: o.metadata.unwrap_or_default(),
                    };
                    (TopicPartition::new(o.topic, o.partition), metadata)
                })
                .collect();
            let group = ConsumerGroupMetadata::new(group_id);
            producer.send_offsets_to_transaction(&offsets, &group, timeout(timeout_ms)).map_err(Failure::from)
        })
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn commit_transaction<'env>(&self, env: &'env Env, timeout_ms: Option<f64>) -> napi::Result<Object<'env>> {
        let producer = self.producer.clone();
        run_plain(env, &self.worker, move || producer.commit_transaction(timeout(timeout_ms)).map_err(Failure::from))
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn abort_transaction<'env>(&self, env: &'env Env, timeout_ms: Option<f64>) -> napi::Result<Object<'env>> {
        let producer = self.producer.clone();
        run_plain(env, &self.worker, move || producer.abort_transaction(timeout(timeout_ms)).map_err(Failure::from))
    }
}

/// Reads a packed batch, checking every length against what is actually there.
fn unpack(topics: &[String], layout: &[i32], timestamps: &[f64], data: Buffer) -> Result<Vec<ProducerRecord>, Failure> {
    let data = Bytes::from_owner(data);
    let mut records = Vec::with_capacity(timestamps.len());
    let mut at = 0usize;
    let mut fields = layout.iter().copied();
    let mut next =
        |what: &str| fields.next().ok_or_else(|| invalid_argument(format!("packed batch ends before {what}")));
    let mut slice = |length: i32| -> Result<Option<Bytes>, Failure> {
        if length < 0 {
            return Ok(None);
        }
        let end = at.checked_add(length as usize).filter(|&end| end <= data.len());
        let end = end.ok_or_else(|| invalid_argument("packed batch lengths exceed its data"))?;
        let bytes = data.slice(at..end);
        at = end;
        Ok(Some(bytes))
    };
    for &timestamp in timestamps {
        let topic_index = next("a topic index")?;
        let topic = usize::try_from(topic_index)
            .ok()
            .and_then(|i| topics.get(i))
            .ok_or_else(|| invalid_argument(format!("topic index {topic_index} out of range")))?;
        let partition = next("a partition")?;
        let (key_length, value_length, header_count) = (next("a key")?, next("a value")?, next("headers")?);
        let key = slice(key_length)?;
        let value = slice(value_length)?;
        let mut headers = Vec::with_capacity(header_count.clamp(0, 64) as usize);
        for _ in 0..header_count.max(0) {
            let (name_length, value_length) = (next("a header key")?, next("a header value")?);
            let name = slice(name_length)?.unwrap_or_default();
            let name = String::from_utf8(name.to_vec()).map_err(|_| invalid_argument("a header key is not UTF-8"))?;
            headers.push((name, slice(value_length)?));
        }
        records.push(ProducerRecord {
            topic: topic.clone(),
            partition: (partition >= 0).then_some(partition),
            key,
            value,
            timestamp: timestamp.is_finite().then_some(timestamp as i64),
            headers,
        });
    }
    if fields.next().is_some() || at != data.len() {
        return Err(invalid_argument("packed batch has trailing data"));
    }
    Ok(records)
}

/// Outcomes of one send, filled in by core's delivery callbacks on its IO threads.
struct Delivery {
    outcomes: Mutex<Vec<Option<Result<RecordMetadata, ClientError>>>>,
    /// Callbacks still to come; the one that brings it to zero settles the promise.
    pending: AtomicUsize,
    /// The error of an append that failed (no record after it was appended).
    append_error: Mutex<Option<ClientError>>,
    settle: Mutex<Option<Settle<SendResult>>>,
}

impl Delivery {
    fn finish(&self) {
        let Some(settle) = self.settle.lock().unwrap_or_else(PoisonError::into_inner).take() else { return };
        let outcomes = std::mem::take(&mut *self.outcomes.lock().unwrap_or_else(PoisonError::into_inner));
        let append_error = self.append_error.lock().unwrap_or_else(PoisonError::into_inner).take();
        let mut partitions = Vec::with_capacity(outcomes.len());
        let mut offsets = Vec::with_capacity(outcomes.len());
        let mut timestamps = Vec::with_capacity(outcomes.len());
        for outcome in outcomes {
            match outcome {
                Some(Ok(metadata)) => {
                    partitions.push(metadata.partition);
                    offsets.push(metadata.offset as f64);
                    timestamps.push(metadata.timestamp as f64);
                }
                Some(Err(e)) => return settle.reject(e.into()),
                None => break,
            }
        }
        if let Some(e) = append_error {
            return settle.reject(e.into());
        }
        settle.resolve_with(move |_| {
            Ok(SendResult {
                partitions: Int32Array::new(partitions),
                offsets: Float64Array::new(offsets),
                timestamps: Float64Array::new(timestamps),
            })
        });
    }
}

fn append_all(producer: &Producer, records: Vec<ProducerRecord>, settle: Settle<SendResult>) {
    let count = records.len();
    let delivery = Arc::new(Delivery {
        outcomes: Mutex::new((0..count).map(|_| None).collect()),
        // One extra count held by this loop, so no callback can settle before every append was tried.
        pending: AtomicUsize::new(count + 1),
        append_error: Mutex::new(None),
        settle: Mutex::new(Some(settle)),
    });
    for (index, record) in records.into_iter().enumerate() {
        let on_delivery = delivery.clone();
        let appended = producer.send_with_callback(record, move |outcome| {
            on_delivery.outcomes.lock().unwrap_or_else(PoisonError::into_inner)[index] = Some(outcome);
            if on_delivery.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
                on_delivery.finish();
            }
        });
        if let Err(e) = appended {
            *delivery.append_error.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
            // The records never appended will get no callback; the loop's own count goes with them.
            let never = count - index + 1;
            if delivery.pending.fetch_sub(never, Ordering::AcqRel) == never {
                delivery.finish();
            }
            return;
        }
    }
    if delivery.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
        delivery.finish();
    }
}
