//! The producer: core's `potok::client::producer::Producer` behind a worker thread (sends keep their order and
//! a full buffer's `max.block.ms` wait never blocks JavaScript) with delivery reported through core's callbacks.
//!
//! A send arrives packed in core's flat record layout (`potok::host::records`), so that a batch of records costs
//! a few napi calls instead of several per record; keys and values become slices of one `Bytes` that owns the
//! JavaScript buffer, so nothing is copied between JavaScript and the record accumulator. Timestamps and the
//! offsets that come back are 64-bit integers (`BigInt64Array`), never doubles.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use napi::bindgen_prelude::{BigInt64Array, Buffer, Int32Array, Object};
use napi::Env;
use napi_derive::napi;
use potok::client::producer::{ConsumerGroupMetadata, Producer, ProducerRecord, RecordMetadata};
use potok::client::{ClientError, OffsetAndMetadata, TopicPartition};

use potok::host::records;

use crate::error::Failure;
use crate::events::ConnectionFailureInfo;
use crate::worker::{run_plain, Settle, Worker};
use crate::ConfigEntry;

/// Where each record of one send was written, in the order given (`offsets` -1 with `acks=0`).
#[napi(object)]
pub struct SendResult {
    pub partitions: Int32Array,
    pub offsets: BigInt64Array,
    pub timestamps: BigInt64Array,
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
    /// the first record's error otherwise. The batch may block up to `max.block.ms` from this call for metadata
    /// and `buffer.memory` (also while it waits behind earlier sends on the client's thread), as Java's `send()`;
    /// a record that cannot be appended by then rejects the promise at once with a `TimeoutError` (records
    /// appended before it are still delivered).
    #[napi(ts_return_type = "Promise<SendResult>")]
    pub fn send<'env>(
        &self,
        env: &'env Env,
        topics: Vec<String>,
        layout: Int32Array,
        timestamps: BigInt64Array,
        data: Buffer,
    ) -> napi::Result<Object<'env>> {
        let records = unpack(&topics, &layout, &timestamps, data).map_err(|f| f.into_js(env))?;
        // max.block.ms counts from JavaScript's call, not from when the worker gets to the batch.
        let deadline = self.producer.block_deadline();
        let (settle, promise) = Settle::<SendResult>::new(env)?;
        let producer = self.producer.clone();
        let job = move || append_all(&producer, records, deadline, settle);
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
                        offset: records::parse_offset(&o.offset)?,
                        leader_epoch: None,
                        metadata: o.metadata.unwrap_or_default(),
                    };
                    Ok((TopicPartition::new(o.topic, o.partition), metadata))
                })
                .collect::<Result<_, Failure>>()?;
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

/// Reads a packed batch (core's layout, `potok::host::records`), checking every length against what is there.
fn unpack(topics: &[String], layout: &[i32], timestamps: &[i64], data: Buffer) -> Result<Vec<ProducerRecord>, Failure> {
    let flat = records::unpack_send(topics.len(), layout, timestamps, Bytes::from_owner(data))?;
    Ok(flat
        .into_iter()
        .map(|r| ProducerRecord {
            topic: topics[r.topic].clone(),
            partition: r.partition,
            key: r.key,
            value: r.value,
            timestamp: r.timestamp,
            headers: r.headers,
        })
        .collect())
}

/// Outcomes of one send, filled in by core's delivery callbacks on its IO threads.
struct Delivery {
    outcomes: Mutex<Vec<Option<Result<RecordMetadata, ClientError>>>>,
    /// Callbacks still to come; the one that brings it to zero settles the promise.
    pending: AtomicUsize,
    /// Taken by whoever settles the promise: the last delivery callback, or a failed append (at once).
    settle: Mutex<Option<Settle<SendResult>>>,
}

impl Delivery {
    /// Rejects the promise now with the error of an append that failed (no record after it was appended), without
    /// waiting for the records appended before it: their delivery may take until `delivery.timeout.ms`.
    fn append_failed(&self, error: ClientError) {
        if let Some(settle) = self.settle.lock().unwrap_or_else(PoisonError::into_inner).take() {
            settle.reject(error.into());
        }
    }

    fn finish(&self) {
        let Some(settle) = self.settle.lock().unwrap_or_else(PoisonError::into_inner).take() else { return };
        let outcomes = std::mem::take(&mut *self.outcomes.lock().unwrap_or_else(PoisonError::into_inner));
        let mut partitions = Vec::with_capacity(outcomes.len());
        let mut offsets = Vec::with_capacity(outcomes.len());
        let mut timestamps = Vec::with_capacity(outcomes.len());
        for outcome in outcomes {
            match outcome {
                Some(Ok(metadata)) => {
                    partitions.push(metadata.partition);
                    offsets.push(metadata.offset);
                    timestamps.push(metadata.timestamp);
                }
                Some(Err(e)) => return settle.reject(e.into()),
                None => break,
            }
        }
        settle.resolve_with(move |_| {
            Ok(SendResult {
                partitions: Int32Array::new(partitions),
                offsets: BigInt64Array::new(offsets),
                timestamps: BigInt64Array::new(timestamps),
            })
        });
    }
}

fn append_all(producer: &Producer, records: Vec<ProducerRecord>, deadline: Instant, settle: Settle<SendResult>) {
    let count = records.len();
    let delivery = Arc::new(Delivery {
        outcomes: Mutex::new((0..count).map(|_| None).collect()),
        // One extra count held by this loop, so no callback can settle before every append was tried.
        pending: AtomicUsize::new(count + 1),
        settle: Mutex::new(Some(settle)),
    });
    for (index, record) in records.into_iter().enumerate() {
        let on_delivery = delivery.clone();
        let appended = producer.send_with_callback_until(record, deadline, move |outcome| {
            on_delivery.outcomes.lock().unwrap_or_else(PoisonError::into_inner)[index] = Some(outcome);
            if on_delivery.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
                on_delivery.finish();
            }
        });
        if let Err(e) = appended {
            delivery.append_failed(e);
            return;
        }
    }
    if delivery.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
        delivery.finish();
    }
}
