//! The consumer's JNI glue. Java's handle points to a [`JavaConsumer`]: the C ABI's `potok_consumer` plus what
//! its callbacks need to reach Java (the JVM and a global reference to the Java consumer's callback object,
//! `io.potok.internal.ConsumerCallbacks`). Both callbacks run on the Java thread that drives the consumer (inside
//! `poll`, `commitSync`, `close`), which is attached to the JVM already.

use std::collections::HashSet;
use std::ffi::{c_void, CStr};
use std::sync::{Mutex, PoisonError};

use engine::host::records::pack_poll;
use jni::objects::{GlobalRef, JClass, JIntArray, JLongArray, JObject, JObjectArray, JString, JValue};
use jni::sys::{jint, jlong, jobject, jobjectArray};
use jni::{JNIEnv, JavaVM};

use super::{
    c_ptr, c_string, config, exception, int_array, long_array, object_array, offsets, packed_description, run, status,
    string_array, string_list, strings, Result,
};
use crate::consumer::{self as c, potok_consumer, potok_partition_list, potok_rebalance_event, potok_topic_partition};
use crate::error::potok_error;
use crate::producer::potok_partition_offset;

/// What a consumer's callbacks need to call Java.
struct Context {
    vm: JavaVM,
    callbacks: GlobalRef,
    /// Commit tokens handed to the C ABI and not yet called back (freed on destroy if never served).
    pending: Mutex<HashSet<usize>>,
}

/// The object behind a Java consumer's handle.
pub(super) struct JavaConsumer {
    consumer: *mut potok_consumer,
    context: Box<Context>,
}

struct CommitToken {
    context: *const Context,
    token: jlong,
}

fn consumer(h: jlong) -> *mut potok_consumer {
    // SAFETY: Java passes a live handle made by `consumerNew`.
    unsafe { (*(h as usize as *const JavaConsumer)).consumer }
}

/// Topic-partitions as parallel arrays, converted for the C ABI.
struct Partitions {
    _topics: Vec<Option<std::ffi::CString>>,
    items: Vec<potok_topic_partition>,
}

fn partitions(env: &mut JNIEnv<'_>, topics: &JObjectArray<'_>, partitions: &JIntArray<'_>) -> Result<Partitions> {
    let topics = strings(env, topics)?;
    let indexes = super::ints(env, partitions)?;
    let items = topics
        .iter()
        .enumerate()
        .map(|(i, t)| potok_topic_partition { topic: c_ptr(t), partition: indexes.get(i).copied().unwrap_or(-1) })
        .collect();
    Ok(Partitions { _topics: topics, items })
}

/// A partition list read out: topics, partitions, offsets, metadata, leader epochs and timestamps.
struct Listed {
    topics: Vec<String>,
    partitions: Vec<i32>,
    offsets: Vec<i64>,
    metadata: Vec<String>,
    leader_epochs: Vec<i32>,
    timestamps: Vec<i64>,
}

fn read_list(list: *const potok_partition_list) -> Listed {
    let mut listed = Listed {
        topics: vec![],
        partitions: vec![],
        offsets: vec![],
        metadata: vec![],
        leader_epochs: vec![],
        timestamps: vec![],
    };
    // SAFETY: `list` is live (returned by the C ABI or lent to a callback).
    let count = unsafe { c::potok_partition_list_count(list) };
    for i in 0..count {
        let mut entry =
            potok_partition_offset { topic: std::ptr::null(), partition: -1, offset: -1, metadata: std::ptr::null() };
        // SAFETY: as above; `entry` is writable.
        if !unsafe { c::potok_partition_list_get(list, i, &mut entry) } {
            break;
        }
        // SAFETY: strings owned by the live list.
        let text = |p: *const std::ffi::c_char| {
            if p.is_null() {
                String::new()
            } else {
                unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
            }
        };
        listed.topics.push(text(entry.topic));
        listed.partitions.push(entry.partition);
        listed.offsets.push(entry.offset);
        listed.metadata.push(text(entry.metadata));
        // SAFETY: as above.
        listed.leader_epochs.push(unsafe { c::potok_partition_list_leader_epoch(list, i) });
        // SAFETY: as above.
        listed.timestamps.push(unsafe { c::potok_partition_list_timestamp(list, i) });
    }
    listed
}

/// `{String[] topics, int[] partitions, long[] offsets, String[] metadata, int[] leaderEpochs, long[] timestamps}`
/// for a list, which is freed.
fn list_arrays(env: &mut JNIEnv<'_>, list: *mut potok_partition_list) -> Result<jobjectArray> {
    let listed = read_list(list);
    // SAFETY: returned by the C ABI; freed once.
    unsafe { c::potok_partition_list_destroy(list) };
    let items: Vec<JObject> = vec![
        string_array(env, &listed.topics)?.into(),
        int_array(env, &listed.partitions)?.into(),
        long_array(env, &listed.offsets)?.into(),
        string_array(env, &listed.metadata)?.into(),
        int_array(env, &listed.leader_epochs)?.into(),
        long_array(env, &listed.timestamps)?.into(),
    ];
    Ok(object_array(env, items)?.into_raw())
}

unsafe extern "C" fn on_rebalance(
    opaque: *mut c_void,
    event: potok_rebalance_event,
    list: *const potok_partition_list,
) {
    // SAFETY: the opaque pointer is the consumer's `Context`, alive as long as the consumer.
    let context = unsafe { &*opaque.cast::<Context>() };
    let Ok(mut env) = context.vm.get_env() else { return };
    let listed = read_list(list);
    let _ = env.with_local_frame(16, |env| -> Result<()> {
        let topics = string_array(env, &listed.topics)?;
        let partitions = int_array(env, &listed.partitions)?;
        env.call_method(
            context.callbacks.as_obj(),
            "onRebalance",
            "(I[Ljava/lang/String;[I)V",
            &[JValue::Int(event as jint), JValue::Object(&topics), JValue::Object(&partitions)],
        )?;
        Ok(())
    });
    // The Java side catches what a listener throws; anything left (an Error) must not leak into the next call.
    if env.exception_check().unwrap_or(false) {
        let _ = env.exception_clear();
    }
}

unsafe extern "C" fn on_commit(opaque: *mut c_void, list: *const potok_partition_list, error: *const potok_error) {
    // SAFETY: made by `Box::into_raw` in `consumerCommitAsync`, called back once.
    let token = unsafe { Box::from_raw(opaque.cast::<CommitToken>()) };
    // SAFETY: the context outlives every token (tokens left are freed after the consumer in destroy).
    let context = unsafe { &*token.context };
    context.pending.lock().unwrap_or_else(PoisonError::into_inner).remove(&(opaque as usize));
    let Ok(mut env) = context.vm.get_env() else { return };
    let listed = read_list(list);
    let _ = env.with_local_frame(16, |env| -> Result<()> {
        let topics = string_array(env, &listed.topics)?;
        let partitions = int_array(env, &listed.partitions)?;
        let offsets = long_array(env, &listed.offsets)?;
        let metadata = string_array(env, &listed.metadata)?;
        let exception = if error.is_null() { JObject::null() } else { exception(env, error)? };
        env.call_method(
            context.callbacks.as_obj(),
            "onCommit",
            "(J[Ljava/lang/String;[I[J[Ljava/lang/String;Ljava/lang/RuntimeException;)V",
            &[
                JValue::Long(token.token),
                JValue::Object(&topics),
                JValue::Object(&partitions),
                JValue::Object(&offsets),
                JValue::Object(&metadata),
                JValue::Object(&exception),
            ],
        )?;
        Ok(())
    });
    if env.exception_check().unwrap_or(false) {
        let _ = env.exception_clear();
    }
}

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_consumerNew<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    config_array: JObjectArray<'l>,
    callbacks: JObject<'l>,
) -> jlong {
    run(&mut env, 0, |env| {
        let config = config(env, &config_array)?;
        let context = Box::new(Context {
            vm: env.get_java_vm()?,
            callbacks: env.new_global_ref(&callbacks)?,
            pending: Mutex::default(),
        });
        let mut out = std::ptr::null_mut();
        // SAFETY: a NULL-terminated list of C strings that outlive the call; `out` is writable.
        status(unsafe { c::potok_consumer_new(config.pointers.as_ptr(), &mut out) })?;
        Ok(Box::into_raw(Box::new(JavaConsumer { consumer: out, context })) as usize as jlong)
    })
}

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_consumerDestroy<'l>(
    _env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
) {
    if h == 0 {
        return;
    }
    // SAFETY: made by `consumerNew`; Java hands it back once, with no call on it running.
    let java = unsafe { Box::from_raw(h as usize as *mut JavaConsumer) };
    // SAFETY: the consumer is destroyed first: it may still call back into the context while closing.
    unsafe { c::potok_consumer_destroy(java.consumer) };
    for token in std::mem::take(&mut *java.context.pending.lock().unwrap_or_else(PoisonError::into_inner)) {
        // SAFETY: tokens never called back, made by `Box::into_raw`; freed once.
        drop(unsafe { Box::from_raw(token as *mut CommitToken) });
    }
}

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_consumerSubscribe<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    topics: JObjectArray<'l>,
    with_listener: jni::sys::jboolean,
) {
    run(&mut env, (), |env| {
        let names = strings(env, &topics)?;
        let pointers: Vec<_> = names.iter().map(c_ptr).collect();
        // SAFETY: a live handle; the context lives as long as the consumer.
        let context = unsafe { &*(h as usize as *const JavaConsumer) }.context.as_ref() as *const Context;
        let callback = if with_listener != 0 { Some(on_rebalance as _) } else { None };
        // SAFETY: a live consumer; the names outlive the call; the callback runs on this (attached) thread.
        status(unsafe {
            c::potok_consumer_subscribe(
                consumer(h),
                pointers.as_ptr(),
                pointers.len(),
                callback,
                context as *mut c_void,
            )
        })
    })
}

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_consumerUnsubscribe<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
) {
    // SAFETY: a live consumer.
    run(&mut env, (), |_| status(unsafe { c::potok_consumer_unsubscribe(consumer(h)) }))
}

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_consumerAssign<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    topics: JObjectArray<'l>,
    indexes: JIntArray<'l>,
) {
    run(&mut env, (), |env| {
        let tps = partitions(env, &topics, &indexes)?;
        // SAFETY: a live consumer; the items outlive the call.
        status(unsafe { c::potok_consumer_assign(consumer(h), tps.items.as_ptr(), tps.items.len()) })
    })
}

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_consumerAssignment<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
) -> jobjectArray {
    run(&mut env, std::ptr::null_mut(), |env| {
        let mut out = std::ptr::null_mut();
        // SAFETY: a live consumer; `out` writable.
        status(unsafe { c::potok_consumer_assignment(consumer(h), &mut out) })?;
        list_arrays(env, out)
    })
}

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_consumerPaused<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
) -> jobjectArray {
    run(&mut env, std::ptr::null_mut(), |env| {
        let mut out = std::ptr::null_mut();
        // SAFETY: a live consumer; `out` writable.
        status(unsafe { c::potok_consumer_paused(consumer(h), &mut out) })?;
        list_arrays(env, out)
    })
}

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_consumerSubscription<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
) -> jobjectArray {
    run(&mut env, std::ptr::null_mut(), |env| {
        let mut out = std::ptr::null_mut();
        // SAFETY: a live consumer; `out` writable.
        status(unsafe { c::potok_consumer_subscription(consumer(h), &mut out) })?;
        string_list(env, out)
    })
}

/// Polls up to `max` records: `{String[] topics, int[] layout, long[] offsets, long[] timestamps, byte[] data}` in
/// core's packed layout (`potok::host::records`), or null when none came within the timeout.
#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_consumerPoll<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    timeout_ms: jlong,
    max: jint,
) -> jobjectArray {
    run(&mut env, std::ptr::null_mut(), |env| {
        let mut batch = std::ptr::null_mut();
        let max = usize::try_from(max).unwrap_or(1).max(1);
        // SAFETY: a live consumer; `batch` writable.
        status(unsafe { c::potok_consumer_poll_batch(consumer(h), timeout_ms, max, &mut batch) })?;
        if batch.is_null() {
            return Ok(std::ptr::null_mut());
        }
        // SAFETY: a batch just returned by the C ABI, owned here (this takes its records, then frees it).
        let batch = unsafe { Box::from_raw(batch) };
        let packed = pack_poll(batch.messages.into_iter().map(|m| m.record).collect());
        let items: Vec<JObject> = vec![
            string_array(env, &packed.topics)?.into(),
            int_array(env, &packed.layout)?.into(),
            long_array(env, &packed.offsets)?.into(),
            long_array(env, &packed.timestamps)?.into(),
            env.byte_array_from_slice(&packed.data)?.into(),
        ];
        Ok(object_array(env, items)?.into_raw())
    })
}

#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "system" fn Java_io_potok_internal_Native_consumerCommitSync<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    topics: JObjectArray<'l>,
    indexes: JIntArray<'l>,
    values: JLongArray<'l>,
    metadata: JObjectArray<'l>,
    timeout_ms: jlong,
) {
    run(&mut env, (), |env| {
        let offsets = offsets(env, &topics, &indexes, &values, &metadata)?;
        // SAFETY: a live consumer; the offsets' strings outlive the call.
        status(unsafe {
            c::potok_consumer_commit_sync(consumer(h), offsets.items.as_ptr(), offsets.items.len(), timeout_ms)
        })
    })
}

#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "system" fn Java_io_potok_internal_Native_consumerCommitAsync<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    topics: JObjectArray<'l>,
    indexes: JIntArray<'l>,
    values: JLongArray<'l>,
    metadata: JObjectArray<'l>,
    token: jlong,
) {
    run(&mut env, (), |env| {
        let offsets = offsets(env, &topics, &indexes, &values, &metadata)?;
        // SAFETY: a live handle.
        let context = unsafe { &*(h as usize as *const JavaConsumer) }.context.as_ref();
        let opaque = Box::into_raw(Box::new(CommitToken { context, token }));
        context.pending.lock().unwrap_or_else(PoisonError::into_inner).insert(opaque as usize);
        // SAFETY: a live consumer; the offsets' strings outlive the call; `on_commit` runs on this thread later.
        let result = status(unsafe {
            c::potok_consumer_commit_async(
                consumer(h),
                offsets.items.as_ptr(),
                offsets.items.len(),
                Some(on_commit),
                opaque.cast(),
            )
        });
        if result.is_err() {
            context.pending.lock().unwrap_or_else(PoisonError::into_inner).remove(&(opaque as usize));
            // SAFETY: never handed to the engine (the call failed before queuing it); freed once.
            drop(unsafe { Box::from_raw(opaque) });
        }
        result
    })
}

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_consumerCommitted<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    topics: JObjectArray<'l>,
    indexes: JIntArray<'l>,
    timeout_ms: jlong,
) -> jobjectArray {
    run(&mut env, std::ptr::null_mut(), |env| {
        let tps = partitions(env, &topics, &indexes)?;
        let mut out = std::ptr::null_mut();
        // SAFETY: a live consumer; the items outlive the call; `out` writable.
        status(unsafe {
            c::potok_consumer_committed(consumer(h), tps.items.as_ptr(), tps.items.len(), timeout_ms, &mut out)
        })?;
        list_arrays(env, out)
    })
}

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_consumerPosition<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    topic: JString<'l>,
    partition: jint,
    timeout_ms: jlong,
) -> jlong {
    run(&mut env, -1, |env| {
        let topic = c_string(env, &topic)?;
        let mut out = -1;
        // SAFETY: a live consumer; the topic outlives the call; `out` writable.
        status(unsafe { c::potok_consumer_position(consumer(h), c_ptr(&topic), partition, timeout_ms, &mut out) })?;
        Ok(out)
    })
}

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_consumerSeek<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    topic: JString<'l>,
    partition: jint,
    offset: jlong,
) {
    run(&mut env, (), |env| {
        let topic = c_string(env, &topic)?;
        // SAFETY: a live consumer; the topic outlives the call.
        status(unsafe { c::potok_consumer_seek(consumer(h), c_ptr(&topic), partition, offset) })
    })
}

/// `what`: 0 seek to beginning, 1 seek to end, 2 pause, 3 resume.
#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_consumerPartitionsCall<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    what: jint,
    topics: JObjectArray<'l>,
    indexes: JIntArray<'l>,
) {
    run(&mut env, (), |env| {
        let tps = partitions(env, &topics, &indexes)?;
        let call = match what {
            0 => c::potok_consumer_seek_to_beginning,
            1 => c::potok_consumer_seek_to_end,
            2 => c::potok_consumer_pause,
            _ => c::potok_consumer_resume,
        };
        // SAFETY: a live consumer; the items outlive the call.
        status(unsafe { call(consumer(h), tps.items.as_ptr(), tps.items.len()) })
    })
}

/// `what`: 0 beginning offsets, 1 end offsets, 2 offsets for times (`timestamps` then holds the query).
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "system" fn Java_io_potok_internal_Native_consumerListOffsets<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    what: jint,
    topics: JObjectArray<'l>,
    indexes: JIntArray<'l>,
    timestamps: JLongArray<'l>,
    timeout_ms: jlong,
) -> jobjectArray {
    run(&mut env, std::ptr::null_mut(), |env| {
        let mut out = std::ptr::null_mut();
        if what == 2 {
            let query = offsets(env, &topics, &indexes, &timestamps, &JObjectArray::from(JObject::null()))?;
            // SAFETY: a live consumer; the query outlives the call; `out` writable.
            status(unsafe {
                c::potok_consumer_offsets_for_times(
                    consumer(h),
                    query.items.as_ptr(),
                    query.items.len(),
                    timeout_ms,
                    &mut out,
                )
            })?;
        } else {
            let tps = partitions(env, &topics, &indexes)?;
            let call = if what == 0 { c::potok_consumer_beginning_offsets } else { c::potok_consumer_end_offsets };
            // SAFETY: a live consumer; the items outlive the call; `out` writable.
            status(unsafe { call(consumer(h), tps.items.as_ptr(), tps.items.len(), timeout_ms, &mut out) })?;
        }
        list_arrays(env, out)
    })
}

/// `{groupId, generationId (Integer), memberId, groupInstanceId}`.
#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_consumerGroupMetadata<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
) -> jobjectArray {
    run(&mut env, std::ptr::null_mut(), |env| {
        let mut out = std::ptr::null_mut();
        // SAFETY: a live consumer; `out` writable.
        status(unsafe { c::potok_consumer_group_metadata(consumer(h), &mut out) })?;
        let text = |p: *const std::ffi::c_char| -> Option<String> {
            // SAFETY: strings owned by the live metadata.
            (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
        };
        // SAFETY (the four reads): `out` is live until destroyed below.
        let (group_id, generation, member_id, instance_id) = unsafe {
            (
                text(crate::producer::potok_group_metadata_group_id(out)),
                crate::producer::potok_group_metadata_generation_id(out),
                text(crate::producer::potok_group_metadata_member_id(out)),
                text(crate::producer::potok_group_metadata_group_instance_id(out)),
            )
        };
        // SAFETY: freed once.
        unsafe { crate::producer::potok_group_metadata_destroy(out) };
        let strings = [group_id, member_id, instance_id]
            .into_iter()
            .map(|s| match s {
                Some(s) => Ok(JObject::from(env.new_string(s)?)),
                None => Ok(JObject::null()),
            })
            .collect::<Result<Vec<_>>>()?;
        let generation = env.new_object("java/lang/Integer", "(I)V", &[JValue::Int(generation)])?;
        let mut strings = strings.into_iter();
        let items = vec![
            strings.next().unwrap_or_default(),
            generation,
            strings.next().unwrap_or_default(),
            strings.next().unwrap_or_default(),
        ];
        Ok(object_array(env, items)?.into_raw())
    })
}

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_consumerPartitionsFor<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    topic: JString<'l>,
    timeout_ms: jlong,
) -> jobject {
    run(&mut env, std::ptr::null_mut(), |env| {
        let topic = c_string(env, &topic)?;
        let mut out = std::ptr::null_mut();
        // SAFETY: a live consumer; the topic outlives the call; `out` writable.
        status(unsafe { c::potok_consumer_partitions_for(consumer(h), c_ptr(&topic), timeout_ms, &mut out) })?;
        packed_description(env, out)
    })
}

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_consumerListTopics<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    timeout_ms: jlong,
) -> jobjectArray {
    run(&mut env, std::ptr::null_mut(), |env| {
        let mut out = std::ptr::null_mut();
        // SAFETY: a live consumer; `out` writable.
        status(unsafe { c::potok_consumer_list_topics(consumer(h), timeout_ms, &mut out) })?;
        string_list(env, out)
    })
}

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_consumerWakeup<'l>(
    _env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
) {
    // SAFETY: a live consumer (wakeup may race with a call on another thread; the C ABI allows that).
    unsafe { c::potok_consumer_wakeup(consumer(h)) }
}

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_consumerClose<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    timeout_ms: jlong,
) {
    // SAFETY: a live consumer.
    run(&mut env, (), |_| status(unsafe { c::potok_consumer_close(consumer(h), timeout_ms) }))
}
