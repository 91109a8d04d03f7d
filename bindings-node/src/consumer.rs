//! The consumer: core's `potok::client::consumer::Consumer` used from its own worker thread (Kafka's consumer
//! is single-threaded), with `wakeup` called directly from JavaScript to cut a waiting poll short.
//!
//! A poll comes back packed in core's flat record layout (`potok::host::records::pack_poll`), with offsets and
//! timestamps as `BigInt64Array`s (exact above 2^53; the JavaScript layer hands offsets on as strings, as
//! kafkajs does). The JavaScript layer takes views of `data` for each key and value, so a record costs no napi
//! call. Offsets JavaScript passes in (seek, commit) are decimal strings.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::{BigInt64Array, Buffer, Int32Array, Object};
use napi::Env;
use napi_derive::napi;
use potok::client::consumer::Consumer;
use potok::client::{ClientError, OffsetAndMetadata, TopicPartition};
use potok::host::records::{pack_poll, parse_offset};

use crate::admin::{PartitionOffset, TopicPartitionSpec};
use crate::error::Failure;
use crate::producer::{pairs, timeout};
use crate::worker::{run, run_plain, Worker};
use crate::ConfigEntry;

/// The records of one poll, packed (see the module docs).
#[napi(object)]
pub struct PolledRecords {
    pub topics: Vec<String>,
    pub layout: Int32Array,
    pub offsets: BigInt64Array,
    pub timestamps: BigInt64Array,
    pub data: Buffer,
}

fn partitions(specs: Vec<TopicPartitionSpec>) -> Vec<TopicPartition> {
    specs.into_iter().map(|s| TopicPartition::new(s.topic, s.partition)).collect()
}

/// Kafka's consumer (`bootstrap.servers`, `group.id`, `auto.offset.reset`, `enable.auto.commit`, ...).
#[napi]
#[derive(Debug)]
pub struct NativeConsumer {
    consumer: Arc<Consumer>,
    worker: Worker,
}

#[napi]
impl NativeConsumer {
    #[napi(constructor)]
    pub fn new(env: Env, config: Vec<ConfigEntry>) -> napi::Result<NativeConsumer> {
        let consumer = Consumer::new(&pairs(&config)).map_err(|e| Failure::from(e).into_js(&env))?;
        let worker = Worker::new("potok-node-consumer").map_err(|f| f.into_js(&env))?;
        Ok(NativeConsumer { consumer: Arc::new(consumer), worker })
    }

    /// Calls `callback` (on the JavaScript thread) for each failed broker connection.
    #[napi(ts_args_type = "callback: (failure: ConnectionFailureInfo) => void")]
    pub fn on_connection_error(
        &self,
        callback: napi::bindgen_prelude::Function<crate::events::ConnectionFailureInfo, ()>,
    ) -> napi::Result<()> {
        self.consumer.set_connection_listener(crate::events::connection_listener(callback)?);
        Ok(())
    }

    /// Subscribes to topics (a name starting with `^` is a regular expression).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn subscribe<'env>(&self, env: &'env Env, topics: Vec<String>) -> napi::Result<Object<'env>> {
        let consumer = self.consumer.clone();
        run_plain(env, &self.worker, move || consumer.subscribe(&topics).map_err(Failure::from))
    }

    /// Reads these partitions without a group subscription.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn assign<'env>(&self, env: &'env Env, specs: Vec<TopicPartitionSpec>) -> napi::Result<Object<'env>> {
        let consumer = self.consumer.clone();
        run_plain(env, &self.worker, move || consumer.assign(&partitions(specs)).map_err(Failure::from))
    }

    /// Fetches records, resolving as soon as some arrive, or empty after `timeout_ms` or a `wakeup()`.
    #[napi(ts_return_type = "Promise<PolledRecords>")]
    pub fn poll<'env>(&self, env: &'env Env, timeout_ms: f64) -> napi::Result<Object<'env>> {
        let consumer = self.consumer.clone();
        let wait = timeout(Some(timeout_ms)).unwrap_or(Duration::ZERO);
        run(
            env,
            &self.worker,
            move || match consumer.poll(wait) {
                Ok(records) => Ok(pack_poll(records)),
                // The JavaScript layer wakes a poll to get its own call (pause, seek, stop) served sooner.
                Err(ClientError::Wakeup) => Ok(pack_poll(Vec::new())),
                Err(e) => Err(e.into()),
            },
            |_, p| {
                Ok(PolledRecords {
                    topics: p.topics,
                    layout: Int32Array::new(p.layout),
                    offsets: BigInt64Array::new(p.offsets),
                    timestamps: BigInt64Array::new(p.timestamps),
                    data: Buffer::from(p.data),
                })
            },
        )
    }

    /// Interrupts a poll in progress (or the next one), from the JavaScript thread without waiting.
    #[napi]
    pub fn wakeup(&self) {
        self.consumer.wakeup();
    }

    /// Commits the given offsets (the next offset to read), or every assigned partition's position when null.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn commit<'env>(&self, env: &'env Env, offsets: Option<Vec<PartitionOffset>>) -> napi::Result<Object<'env>> {
        let consumer = self.consumer.clone();
        run_plain(env, &self.worker, move || {
            let offsets: Option<BTreeMap<TopicPartition, OffsetAndMetadata>> = offsets
                .map(|os| {
                    os.into_iter()
                        .map(|o| {
                            let metadata = OffsetAndMetadata {
                                offset: parse_offset(&o.offset)?,
                                leader_epoch: None,
                                metadata: o.metadata.unwrap_or_default(),
                            };
                            Ok((TopicPartition::new(o.topic, o.partition), metadata))
                        })
                        .collect::<Result<_, Failure>>()
                })
                .transpose()?;
            consumer.commit_sync(offsets.as_ref(), None).map_err(Failure::from)
        })
    }

    /// The group's committed offsets for these partitions (-1 where none).
    #[napi(ts_return_type = "Promise<Array<PartitionOffset>>")]
    pub fn committed<'env>(&self, env: &'env Env, specs: Vec<TopicPartitionSpec>) -> napi::Result<Object<'env>> {
        let consumer = self.consumer.clone();
        run_plain(env, &self.worker, move || {
            let tps = partitions(specs);
            let committed = consumer.committed(&tps, None)?;
            Ok(tps
                .into_iter()
                .map(|tp| {
                    let found = committed.get(&tp);
                    PartitionOffset {
                        offset: found.map_or(-1, |o| o.offset).to_string(),
                        metadata: found.map(|o| o.metadata.clone()),
                        topic: tp.topic,
                        partition: tp.partition,
                        timestamp: -1.0,
                        error: None,
                    }
                })
                .collect::<Vec<_>>())
        })
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn seek<'env>(
        &self,
        env: &'env Env,
        topic: String,
        partition: i32,
        offset: String,
    ) -> napi::Result<Object<'env>> {
        let consumer = self.consumer.clone();
        run_plain(env, &self.worker, move || {
            consumer.seek(&TopicPartition::new(topic, partition), parse_offset(&offset)?).map_err(Failure::from)
        })
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn pause<'env>(&self, env: &'env Env, specs: Vec<TopicPartitionSpec>) -> napi::Result<Object<'env>> {
        let consumer = self.consumer.clone();
        run_plain(env, &self.worker, move || consumer.pause(&partitions(specs)).map_err(Failure::from))
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn resume<'env>(&self, env: &'env Env, specs: Vec<TopicPartitionSpec>) -> napi::Result<Object<'env>> {
        let consumer = self.consumer.clone();
        run_plain(env, &self.worker, move || consumer.resume(&partitions(specs)).map_err(Failure::from))
    }

    /// The partitions currently paused.
    #[napi]
    pub fn paused(&self) -> Vec<TopicPartitionSpec> {
        self.consumer
            .paused()
            .into_iter()
            .map(|tp| TopicPartitionSpec { topic: tp.topic, partition: tp.partition })
            .collect()
    }

    /// The partitions currently assigned.
    #[napi]
    pub fn assignment(&self) -> Vec<TopicPartitionSpec> {
        self.consumer
            .assignment()
            .into_iter()
            .map(|tp| TopicPartitionSpec { topic: tp.topic, partition: tp.partition })
            .collect()
    }

    /// Commits (with auto commit on), leaves the group and closes connections.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close<'env>(&self, env: &'env Env, timeout_ms: Option<f64>) -> napi::Result<Object<'env>> {
        let consumer = self.consumer.clone();
        run_plain(env, &self.worker, move || consumer.close(timeout(timeout_ms)).map_err(Failure::from))
    }
}
