//! The JNI glue of bindings-java: the `native` methods of `io.potok.internal.Native`, each a conversion of Java
//! values into the C ABI's arguments, one call of a `potok_*` function of this crate, and a conversion back.
//! It lives in the same library as the C ABI (libpotok.so), so the Java package and C programs run exactly the
//! same code, and the jar carries one native file.
//!
//! Handles cross as `long` (the C ABI's pointers); the Java side guarantees a handle is live and not destroyed
//! while a call on it runs (`io.potok.internal.Handle`). A `potok_error` becomes the exception that
//! `io.potok.internal.Errors.create` builds (Kafka's own exception classes), thrown when the native method
//! returns. Records polled by a consumer come back in core's packed layout (`potok::host::records`): five arrays
//! per poll instead of several JNI calls per record.

/// Native methods that call one C ABI function on a live handle and throw its error, generated because each is
/// the same few lines: `name(h, extra: jtype, ...) => function` calls `function(handle, extra, ...)`.
/// `string` ones pass an out-pointer last and return the string it gets (`null` for NULL); `destroy` ones free
/// the handle. Java guarantees every handle is live and of the function's type, and hands each one back to its
/// destroy function once, with no call on it running (`io.potok.internal.Handle`).
macro_rules! native_call {
    ($java:ident(h $(, $arg:ident: $ty:ty)*) => $f:path) => {
        #[no_mangle]
        pub extern "system" fn $java<'l>(
            mut env: ::jni::JNIEnv<'l>,
            _class: ::jni::objects::JClass<'l>,
            h: ::jni::sys::jlong
            $(, $arg: $ty)*
        ) {
            // SAFETY: a live handle of the function's type (see the macro's documentation).
            $crate::jni::run(&mut env, (), |_| {
                $crate::jni::status(unsafe { $f($crate::jni::handle(h) $(, $arg)*) })
            })
        }
    };
    (string $java:ident(h $(, $arg:ident: $ty:ty)*) => $f:path) => {
        #[no_mangle]
        pub extern "system" fn $java<'l>(
            mut env: ::jni::JNIEnv<'l>,
            _class: ::jni::objects::JClass<'l>,
            h: ::jni::sys::jlong
            $(, $arg: $ty)*
        ) -> ::jni::sys::jstring {
            $crate::jni::run(&mut env, std::ptr::null_mut(), |env| {
                let mut out = std::ptr::null_mut();
                // SAFETY: a live handle of the function's type (see the macro's documentation); `out` is writable.
                $crate::jni::status(unsafe { $f($crate::jni::handle(h) $(, $arg)*, &mut out) })?;
                if out.is_null() {
                    return Ok(std::ptr::null_mut());
                }
                $crate::jni::owned_java_string(env, out)
            })
        }
    };
    (destroy $java:ident => $f:path) => {
        #[no_mangle]
        pub extern "system" fn $java<'l>(
            _env: ::jni::JNIEnv<'l>,
            _class: ::jni::objects::JClass<'l>,
            h: ::jni::sys::jlong,
        ) {
            // SAFETY: Java hands each handle back once, with no call on it running.
            unsafe { $f($crate::jni::handle(h)) }
        }
    };
}

mod consumer;
mod registry;

use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use jni::objects::{JByteArray, JClass, JIntArray, JLongArray, JObject, JObjectArray, JString, JValue};
use jni::sys::{jboolean, jint, jlong, jobject, jobjectArray, jshort, jstring};
use jni::JNIEnv;

use crate::admin::{self, potok_partition_info, potok_topic_description};
use crate::broker;
use crate::cluster::{self, POTOK_CLUSTER_MAX_BROKERS};
use crate::error::{self, potok_error};
use crate::producer::{self, potok_delivery_report, potok_header, potok_partition_offset, potok_record};

const ERRORS: &str = "io/potok/internal/Errors";

/// Why a native method did not return normally.
enum Failure {
    /// The C ABI returned an error: thrown as the matching Kafka exception.
    Potok(*mut potok_error),
    /// A JNI call failed (then a Java exception is usually pending already).
    Jni(jni::errors::Error),
}

impl From<jni::errors::Error> for Failure {
    fn from(e: jni::errors::Error) -> Failure {
        Failure::Jni(e)
    }
}

type Result<T> = std::result::Result<T, Failure>;

/// The C ABI's status as a result.
fn status(error: *mut potok_error) -> Result<()> {
    if error.is_null() {
        Ok(())
    } else {
        Err(Failure::Potok(error))
    }
}

/// Runs a native method's body; a failure (or a panic) is thrown as a Java exception and `fallback` returned.
fn run<'local, T>(env: &mut JNIEnv<'local>, fallback: T, body: impl FnOnce(&mut JNIEnv<'local>) -> Result<T>) -> T {
    let outcome = catch_unwind(AssertUnwindSafe(|| body(env)));
    match outcome {
        Ok(Ok(value)) => return value,
        Ok(Err(Failure::Potok(error))) => throw_potok(env, error),
        Ok(Err(Failure::Jni(jni::errors::Error::JavaException))) => {}
        Ok(Err(Failure::Jni(e))) => throw_plain(env, &format!("potok JNI call failed: {e}")),
        Err(_) => throw_plain(env, "internal error in potok's JNI glue (a bug, please report it)"),
    }
    fallback
}

fn throw_plain(env: &mut JNIEnv<'_>, message: &str) {
    if !env.exception_check().unwrap_or(true) {
        let _ = env.throw_new("org/apache/kafka/common/KafkaException", message);
    }
}

/// A C string of the error as a Java string (null for NULL).
fn c_str_value<'local>(env: &mut JNIEnv<'local>, ptr: *const c_char) -> jni::errors::Result<JObject<'local>> {
    if ptr.is_null() {
        return Ok(JObject::null());
    }
    // SAFETY: the accessors of a live error return NUL-terminated strings owned by it.
    let text = unsafe { CStr::from_ptr(ptr) }.to_string_lossy();
    Ok(env.new_string(text)?.into())
}

/// The Java exception for an error (Kafka's class for its code and kind), without throwing it.
fn exception<'local>(env: &mut JNIEnv<'local>, error: *const potok_error) -> jni::errors::Result<JObject<'local>> {
    // SAFETY (all accessor calls): `error` is a live error of this library.
    let (kind, code, retriable) = unsafe {
        (error::potok_error_kind(error) as jint, error::potok_error_code(error), error::potok_error_retriable(error))
    };
    let name = c_str_value(env, unsafe { error::potok_error_name(error) })?;
    let message = c_str_value(env, unsafe { error::potok_error_message(error) })?;
    let key = c_str_value(env, unsafe { error::potok_error_config_key(error) })?;
    // SAFETY: as above.
    let (registry_status, registry_code) =
        unsafe { (error::potok_error_registry_status(error), error::potok_error_registry_code(error)) };
    env.call_static_method(
        ERRORS,
        "create",
        "(IILjava/lang/String;Ljava/lang/String;ZLjava/lang/String;IJ)Ljava/lang/RuntimeException;",
        &[
            JValue::Int(kind),
            JValue::Int(code),
            JValue::Object(&name),
            JValue::Object(&message),
            JValue::Bool(jboolean::from(retriable)),
            JValue::Object(&key),
            JValue::Int(registry_status),
            JValue::Long(registry_code),
        ],
    )?
    .l()
}

/// Throws the Java exception for `error` and frees it.
fn throw_potok(env: &mut JNIEnv<'_>, error: *mut potok_error) {
    let built = exception(env, error);
    // SAFETY: `error` came from a C ABI call and is freed once, here.
    unsafe { error::potok_error_destroy(error) };
    match built {
        Ok(throwable) => {
            let _ = env.throw(jni::objects::JThrowable::from(throwable));
        }
        Err(_) => throw_plain(env, "potok: an error could not be converted to a Java exception"),
    }
}

/// A Java string (None for null).
fn string(env: &mut JNIEnv<'_>, s: &JString<'_>) -> Result<Option<String>> {
    if s.is_null() {
        return Ok(None);
    }
    Ok(Some(env.get_string(s)?.into()))
}

/// A Java string as a C string (an interior NUL, impossible in Kafka names, ends it).
fn c_string(env: &mut JNIEnv<'_>, s: &JString<'_>) -> Result<Option<CString>> {
    Ok(string(env, s)?.map(|s| crate::ffi::c_string(&s)))
}

/// A `String[]` (null entries kept as None; a null array is empty).
fn strings(env: &mut JNIEnv<'_>, array: &JObjectArray<'_>) -> Result<Vec<Option<CString>>> {
    if array.is_null() {
        return Ok(Vec::new());
    }
    let length = env.get_array_length(array)?;
    let mut out = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
    for i in 0..length {
        let item = JString::from(env.get_object_array_element(array, i)?);
        out.push(c_string(env, &item)?);
        env.delete_local_ref(item)?;
    }
    Ok(out)
}

fn ints(env: &mut JNIEnv<'_>, array: &JIntArray<'_>) -> Result<Vec<i32>> {
    if array.is_null() {
        return Ok(Vec::new());
    }
    let mut out = vec![0; usize::try_from(env.get_array_length(array)?).unwrap_or(0)];
    env.get_int_array_region(array, 0, &mut out)?;
    Ok(out)
}

fn longs(env: &mut JNIEnv<'_>, array: &JLongArray<'_>) -> Result<Vec<i64>> {
    if array.is_null() {
        return Ok(Vec::new());
    }
    let mut out = vec![0; usize::try_from(env.get_array_length(array)?).unwrap_or(0)];
    env.get_long_array_region(array, 0, &mut out)?;
    Ok(out)
}

fn bytes(env: &mut JNIEnv<'_>, array: &JByteArray<'_>) -> Result<Option<Vec<u8>>> {
    if array.is_null() {
        return Ok(None);
    }
    Ok(Some(env.convert_byte_array(array)?))
}

fn int_array<'local>(env: &mut JNIEnv<'local>, values: &[i32]) -> Result<JIntArray<'local>> {
    let array = env.new_int_array(jint::try_from(values.len()).unwrap_or(jint::MAX))?;
    env.set_int_array_region(&array, 0, values)?;
    Ok(array)
}

fn long_array<'local>(env: &mut JNIEnv<'local>, values: &[i64]) -> Result<JLongArray<'local>> {
    let array = env.new_long_array(jint::try_from(values.len()).unwrap_or(jint::MAX))?;
    env.set_long_array_region(&array, 0, values)?;
    Ok(array)
}

fn string_array<'local>(env: &mut JNIEnv<'local>, values: &[String]) -> Result<JObjectArray<'local>> {
    let array =
        env.new_object_array(jint::try_from(values.len()).unwrap_or(jint::MAX), "java/lang/String", JObject::null())?;
    for (i, value) in values.iter().enumerate() {
        let s = env.new_string(value)?;
        env.set_object_array_element(&array, jint::try_from(i).unwrap_or(jint::MAX), &s)?;
        env.delete_local_ref(s)?;
    }
    Ok(array)
}

fn object_array<'local>(env: &mut JNIEnv<'local>, items: Vec<JObject<'local>>) -> Result<JObjectArray<'local>> {
    let array =
        env.new_object_array(jint::try_from(items.len()).unwrap_or(jint::MAX), "java/lang/Object", JObject::null())?;
    for (i, item) in items.into_iter().enumerate() {
        env.set_object_array_element(&array, jint::try_from(i).unwrap_or(jint::MAX), &item)?;
        env.delete_local_ref(item)?;
    }
    Ok(array)
}

/// C strings and the NULL-terminated pointer list the C ABI takes for config (`{"k", "v", ..., NULL}`).
struct Config {
    _strings: Vec<CString>,
    pointers: Vec<*const c_char>,
}

/// A `String[]` of alternating keys and values as a C ABI config list.
fn config(env: &mut JNIEnv<'_>, array: &JObjectArray<'_>) -> Result<Config> {
    let strings: Vec<CString> = strings(env, array)?.into_iter().map(Option::unwrap_or_default).collect();
    let mut pointers: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
    pointers.push(std::ptr::null());
    Ok(Config { _strings: strings, pointers })
}

fn handle<T>(h: jlong) -> *mut T {
    h as usize as *mut T
}

fn to_handle<T>(ptr: *mut T) -> jlong {
    ptr as usize as jlong
}

fn c_ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr())
}

/// A Java string from a C ABI string the caller frees.
fn owned_java_string(env: &mut JNIEnv<'_>, s: *mut c_char) -> Result<jstring> {
    // SAFETY: `s` was just returned by the C ABI: NUL-terminated, ours to free once.
    let text = unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned();
    // SAFETY: as above.
    unsafe { crate::potok_string_free(s) };
    Ok(env.new_string(text)?.into_raw())
}

/// A topic description packed as `[count, is internal (0/1), then per partition: partition, leader, replica count,
/// replicas..., isr count, isr...]`, and freed.
fn packed_description(env: &mut JNIEnv<'_>, description: *mut potok_topic_description) -> Result<jobject> {
    let mut packed = Vec::new();
    // SAFETY: `description` was just returned by the C ABI and is freed below, once.
    let count = unsafe { admin::potok_topic_description_partition_count(description) };
    packed.push(i32::try_from(count).unwrap_or(i32::MAX));
    // SAFETY: as above.
    packed.push(i32::from(unsafe { admin::potok_topic_description_is_internal(description) }));
    for i in 0..count {
        let mut info = potok_partition_info {
            partition: 0,
            leader: -1,
            leader_epoch: -1,
            replicas: std::ptr::null(),
            replica_count: 0,
            isr: std::ptr::null(),
            isr_count: 0,
        };
        // SAFETY: as above; `info` is writable.
        if !unsafe { admin::potok_topic_description_partition(description, i, &mut info) } {
            break;
        }
        // SAFETY: the arrays belong to the live description and have the counts given.
        let (replicas, isr) = unsafe {
            (
                crate::ffi::array_arg(info.replicas, info.replica_count, "replicas").unwrap_or(&[]),
                crate::ffi::array_arg(info.isr, info.isr_count, "isr").unwrap_or(&[]),
            )
        };
        packed.extend_from_slice(&[info.partition, info.leader, i32::try_from(replicas.len()).unwrap_or(0)]);
        packed.extend_from_slice(replicas);
        packed.push(i32::try_from(isr.len()).unwrap_or(0));
        packed.extend_from_slice(isr);
    }
    // SAFETY: freed once.
    unsafe { admin::potok_topic_description_destroy(description) };
    Ok(int_array(env, &packed)?.into_raw())
}

/// A string list as a `String[]`, freed.
fn string_list(env: &mut JNIEnv<'_>, list: *mut admin::potok_string_list) -> Result<jobjectArray> {
    // SAFETY: `list` was just returned by the C ABI and is freed below, once.
    let names: Vec<String> = (0..unsafe { admin::potok_string_list_count(list) })
        .map(|i| {
            // SAFETY: in range of a live list.
            let p = unsafe { admin::potok_string_list_get(list, i) };
            // SAFETY: NUL-terminated, owned by the list.
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        })
        .collect();
    // SAFETY: freed once.
    unsafe { admin::potok_string_list_destroy(list) };
    Ok(string_array(env, &names)?.into_raw())
}

// ---- broker ----

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_brokerNew<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    config_array: JObjectArray<'l>,
) -> jlong {
    run(&mut env, 0, |env| {
        let config = config(env, &config_array)?;
        let mut out = std::ptr::null_mut();
        // SAFETY: a NULL-terminated list of C strings that outlive the call; `out` is writable.
        status(unsafe { broker::potok_broker_new(config.pointers.as_ptr(), &mut out) })?;
        Ok(to_handle(out))
    })
}

native_call!(Java_io_potok_internal_Native_brokerStart(h) => broker::potok_broker_start);

native_call!(Java_io_potok_internal_Native_brokerStop(h) => broker::potok_broker_stop);

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_brokerIsRunning<'l>(
    _env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
) -> jboolean {
    // SAFETY: Java passes a live broker handle.
    jboolean::from(unsafe { broker::potok_broker_is_running(handle(h)) })
}

native_call!(string Java_io_potok_internal_Native_brokerBootstrapServers(h) => broker::potok_broker_bootstrap_servers);

native_call!(string Java_io_potok_internal_Native_brokerLogDir(h) => broker::potok_broker_log_dir);

native_call!(destroy Java_io_potok_internal_Native_brokerDestroy => broker::potok_broker_destroy);

// ---- cluster ----

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_clusterStart<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    brokers: jint,
    controllers: jint,
    config_array: JObjectArray<'l>,
) -> jlong {
    run(&mut env, 0, |env| {
        let config = config(env, &config_array)?;
        let mut out = std::ptr::null_mut();
        // A negative broker count becomes 0, which the C ABI refuses with its own message; a negative
        // controller count becomes one above any the C ABI accepts, refused the same way.
        let brokers = usize::try_from(brokers).unwrap_or(0);
        let controllers = usize::try_from(controllers).unwrap_or(POTOK_CLUSTER_MAX_BROKERS + 1);
        let pointers = config.pointers.as_ptr();
        // SAFETY: a NULL-terminated list of C strings that outlive the call; `out` is writable.
        status(unsafe { cluster::potok_cluster_start_with_controllers(brokers, controllers, pointers, &mut out) })?;
        Ok(to_handle(out))
    })
}

native_call!(string Java_io_potok_internal_Native_clusterBootstrapServers(h)
    => cluster::potok_cluster_bootstrap_servers);

native_call!(string Java_io_potok_internal_Native_clusterLogDir(h, id: jint) => cluster::potok_cluster_log_dir);

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_clusterRunning<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
) -> jobject {
    run(&mut env, std::ptr::null_mut(), |env| {
        let mut ids = [0i32; POTOK_CLUSTER_MAX_BROKERS];
        let mut count = 0usize;
        // SAFETY: Java passes a live cluster handle; `ids` holds POTOK_CLUSTER_MAX_BROKERS ids; `count` is writable.
        status(unsafe { cluster::potok_cluster_running(handle(h), ids.as_mut_ptr(), ids.len(), &mut count) })?;
        Ok(int_array(env, &ids[..count.min(ids.len())])?.into_raw())
    })
}

native_call!(Java_io_potok_internal_Native_clusterStopBroker(h, id: jint) => cluster::potok_cluster_stop_broker);

native_call!(Java_io_potok_internal_Native_clusterKillBroker(h, id: jint) => cluster::potok_cluster_kill_broker);

native_call!(Java_io_potok_internal_Native_clusterStartBroker(h, id: jint) => cluster::potok_cluster_start_broker);

native_call!(Java_io_potok_internal_Native_clusterStop(h) => cluster::potok_cluster_stop);

native_call!(destroy Java_io_potok_internal_Native_clusterDestroy => cluster::potok_cluster_destroy);

// ---- admin ----

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_adminNew<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    config_array: JObjectArray<'l>,
) -> jlong {
    run(&mut env, 0, |env| {
        let config = config(env, &config_array)?;
        let mut out = std::ptr::null_mut();
        // SAFETY: a NULL-terminated list of C strings that outlive the call; `out` is writable.
        status(unsafe { admin::potok_admin_new(config.pointers.as_ptr(), &mut out) })?;
        Ok(to_handle(out))
    })
}

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_adminCreateTopic<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    name: JString<'l>,
    partitions: jint,
    replication_factor: jshort,
    configs: JObjectArray<'l>,
    timeout_ms: jlong,
) {
    run(&mut env, (), |env| {
        let name = c_string(env, &name)?;
        let configs = config(env, &configs)?;
        // SAFETY: a live admin handle; strings and the list outlive the call.
        status(unsafe {
            admin::potok_admin_create_topic(
                handle(h),
                c_ptr(&name),
                partitions,
                replication_factor,
                configs.pointers.as_ptr(),
                timeout_ms,
            )
        })
    })
}

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_adminDeleteTopic<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    name: JString<'l>,
    timeout_ms: jlong,
) {
    run(&mut env, (), |env| {
        let name = c_string(env, &name)?;
        // SAFETY: a live admin handle; the name outlives the call.
        status(unsafe { admin::potok_admin_delete_topic(handle(h), c_ptr(&name), timeout_ms) })
    })
}

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_adminDescribeTopic<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    name: JString<'l>,
    timeout_ms: jlong,
) -> jobject {
    run(&mut env, std::ptr::null_mut(), |env| {
        let name = c_string(env, &name)?;
        let mut out = std::ptr::null_mut();
        // SAFETY: a live admin handle; the name outlives the call; `out` is writable.
        status(unsafe { admin::potok_admin_describe_topic(handle(h), c_ptr(&name), timeout_ms, &mut out) })?;
        packed_description(env, out)
    })
}

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_adminListTopics<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    include_internal: jboolean,
    timeout_ms: jlong,
) -> jobjectArray {
    run(&mut env, std::ptr::null_mut(), |env| {
        let mut out = std::ptr::null_mut();
        // SAFETY: a live admin handle; `out` is writable.
        status(unsafe { admin::potok_admin_list_topics(handle(h), include_internal != 0, timeout_ms, &mut out) })?;
        string_list(env, out)
    })
}

native_call!(destroy Java_io_potok_internal_Native_adminDestroy => admin::potok_admin_destroy);

// ---- producer ----

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_producerNew<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    config_array: JObjectArray<'l>,
) -> jlong {
    run(&mut env, 0, |env| {
        let config = config(env, &config_array)?;
        let mut out = std::ptr::null_mut();
        // SAFETY: a NULL-terminated list of C strings that outlive the call; `out` is writable.
        status(unsafe { producer::potok_producer_new(config.pointers.as_ptr(), &mut out) })?;
        Ok(to_handle(out))
    })
}

#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "system" fn Java_io_potok_internal_Native_producerSend<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    topic: JString<'l>,
    partition: jint,
    key: JByteArray<'l>,
    value: JByteArray<'l>,
    timestamp: jlong,
    header_keys: JObjectArray<'l>,
    header_values: JObjectArray<'l>,
    token: jlong,
) {
    run(&mut env, (), |env| {
        let topic = c_string(env, &topic)?;
        let key = bytes(env, &key)?;
        let value = bytes(env, &value)?;
        let keys = strings(env, &header_keys)?;
        let mut values = Vec::with_capacity(keys.len());
        for i in 0..keys.len() {
            let item = JByteArray::from(env.get_object_array_element(&header_values, jint::try_from(i).unwrap_or(0))?);
            values.push(bytes(env, &item)?);
            env.delete_local_ref(item)?;
        }
        let headers: Vec<potok_header> = keys
            .iter()
            .zip(&values)
            .map(|(k, v)| potok_header {
                key: c_ptr(k),
                value: v.as_ref().map_or(std::ptr::null(), |v| v.as_ptr()),
                value_len: v.as_ref().map_or(0, Vec::len),
            })
            .collect();
        let slice =
            |b: &Option<Vec<u8>>| (b.as_ref().map_or(std::ptr::null(), |b| b.as_ptr()), b.as_ref().map_or(0, Vec::len));
        let ((key_ptr, key_len), (value_ptr, value_len)) = (slice(&key), slice(&value));
        // An empty key or value must not read as null: point at a byte that exists.
        let empty = [0u8; 1];
        let key_ptr = if key.is_some() && key_ptr.is_null() { empty.as_ptr() } else { key_ptr };
        let value_ptr = if value.is_some() && value_ptr.is_null() { empty.as_ptr() } else { value_ptr };
        let record = potok_record {
            topic: c_ptr(&topic),
            partition,
            key: key_ptr,
            key_len,
            value: value_ptr,
            value_len,
            timestamp,
            headers: headers.as_ptr(),
            header_count: headers.len(),
        };
        // SAFETY: a live producer handle; every buffer the record points to outlives the call.
        status(unsafe { producer::potok_producer_send(handle(h), &record, token as u64) })
    })
}

/// Reports collected by `producerPoll`'s callback.
#[derive(Default)]
struct Collected {
    tokens: Vec<i64>,
    partitions: Vec<i32>,
    offsets: Vec<i64>,
    timestamps: Vec<i64>,
    errors: Vec<Option<Box<potok_error>>>,
}

unsafe extern "C" fn collect_report(opaque: *mut std::ffi::c_void, report: *const potok_delivery_report) {
    // SAFETY: `producerPoll` passes its `Collected` and the C ABI a report valid during this call.
    let (collected, report) = unsafe { (&mut *opaque.cast::<Collected>(), &*report) };
    collected.tokens.push(report.token as i64);
    collected.partitions.push(report.partition);
    collected.offsets.push(report.offset);
    collected.timestamps.push(report.timestamp);
    // SAFETY: a report's error is live during the callback; copied out here.
    collected.errors.push(unsafe { report.error.as_ref() }.map(|e| Box::new(potok_error::new(e.error.clone()))));
}

/// Serves delivery reports: `{long[] tokens, int[] partitions, long[] offsets, long[] timestamps,
/// RuntimeException[] errors}`, or null when none came within the timeout.
#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_producerPoll<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    timeout_ms: jlong,
) -> jobjectArray {
    run(&mut env, std::ptr::null_mut(), |env| {
        let mut collected = Collected::default();
        // SAFETY: a live producer handle; `collect_report` is called on this thread with our `Collected`.
        let served = unsafe {
            producer::potok_producer_poll(
                handle(h),
                timeout_ms,
                Some(collect_report),
                (&mut collected as *mut Collected).cast(),
            )
        };
        if served == 0 {
            return Ok(std::ptr::null_mut());
        }
        let errors = env.new_object_array(
            jint::try_from(collected.errors.len()).unwrap_or(jint::MAX),
            "java/lang/RuntimeException",
            JObject::null(),
        )?;
        for (i, error) in collected.errors.iter().enumerate() {
            if let Some(error) = error {
                let exception = exception(env, &**error)?;
                env.set_object_array_element(&errors, jint::try_from(i).unwrap_or(0), &exception)?;
                env.delete_local_ref(exception)?;
            }
        }
        let items = vec![
            long_array(env, &collected.tokens)?.into(),
            int_array(env, &collected.partitions)?.into(),
            long_array(env, &collected.offsets)?.into(),
            long_array(env, &collected.timestamps)?.into(),
            errors.into(),
        ];
        Ok(object_array(env, items)?.into_raw())
    })
}

native_call!(Java_io_potok_internal_Native_producerFlush(h, timeout_ms: jlong) => producer::potok_producer_flush);

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_producerPartitionsFor<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    topic: JString<'l>,
) -> jobject {
    run(&mut env, std::ptr::null_mut(), |env| {
        let topic = c_string(env, &topic)?;
        let mut out = std::ptr::null_mut();
        // SAFETY: a live producer handle; the topic outlives the call; `out` is writable.
        status(unsafe { producer::potok_producer_partitions_for(handle(h), c_ptr(&topic), &mut out) })?;
        packed_description(env, out)
    })
}

native_call!(Java_io_potok_internal_Native_producerClose(h, timeout_ms: jlong) => producer::potok_producer_close);

native_call!(destroy Java_io_potok_internal_Native_producerDestroy => producer::potok_producer_destroy);

native_call!(Java_io_potok_internal_Native_producerInitTransactions(h, timeout_ms: jlong)
    => producer::potok_producer_init_transactions);

native_call!(Java_io_potok_internal_Native_producerBeginTransaction(h) => producer::potok_producer_begin_transaction);

native_call!(Java_io_potok_internal_Native_producerCommitTransaction(h, timeout_ms: jlong)
    => producer::potok_producer_commit_transaction);

native_call!(Java_io_potok_internal_Native_producerAbortTransaction(h, timeout_ms: jlong)
    => producer::potok_producer_abort_transaction);

/// Offsets as parallel arrays, converted for the C ABI (the strings must outlive the returned structs).
struct Offsets {
    _topics: Vec<Option<CString>>,
    _metadata: Vec<Option<CString>>,
    items: Vec<potok_partition_offset>,
}

fn offsets(
    env: &mut JNIEnv<'_>,
    topics: &JObjectArray<'_>,
    partitions: &JIntArray<'_>,
    offsets: &JLongArray<'_>,
    metadata: &JObjectArray<'_>,
) -> Result<Offsets> {
    let topics = strings(env, topics)?;
    let partitions = ints(env, partitions)?;
    let values = longs(env, offsets)?;
    let metadata = strings(env, metadata)?;
    let items = topics
        .iter()
        .enumerate()
        .map(|(i, t)| potok_partition_offset {
            topic: c_ptr(t),
            partition: partitions.get(i).copied().unwrap_or(-1),
            offset: values.get(i).copied().unwrap_or(-1),
            metadata: metadata.get(i).map_or(std::ptr::null(), c_ptr),
        })
        .collect();
    Ok(Offsets { _topics: topics, _metadata: metadata, items })
}

#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "system" fn Java_io_potok_internal_Native_producerSendOffsetsToTransaction<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    topics: JObjectArray<'l>,
    partitions: JIntArray<'l>,
    offset_values: JLongArray<'l>,
    metadata: JObjectArray<'l>,
    group_id: JString<'l>,
    generation_id: jint,
    member_id: JString<'l>,
    group_instance_id: JString<'l>,
    timeout_ms: jlong,
) {
    run(&mut env, (), |env| {
        let offsets = offsets(env, &topics, &partitions, &offset_values, &metadata)?;
        let (group_id, member_id, instance_id) =
            (c_string(env, &group_id)?, c_string(env, &member_id)?, c_string(env, &group_instance_id)?);
        let mut group = std::ptr::null_mut();
        // SAFETY: strings outlive the call; `group` is writable.
        status(unsafe {
            producer::potok_group_metadata_new(
                c_ptr(&group_id),
                generation_id,
                c_ptr(&member_id),
                c_ptr(&instance_id),
                &mut group,
            )
        })?;
        // SAFETY: a live producer handle; the offsets' strings and `group` outlive the call.
        let result = status(unsafe {
            producer::potok_producer_send_offsets_to_transaction(
                handle(h),
                offsets.items.as_ptr(),
                offsets.items.len(),
                group,
                timeout_ms,
            )
        });
        // SAFETY: made above, freed once.
        unsafe { producer::potok_group_metadata_destroy(group) };
        result
    })
}
