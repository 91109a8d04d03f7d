//! The registry serializers of `io.potok.serde` (`potok_registry_*`) and the registry URLs of brokers and
//! clusters. Values cross as JSON text one way and as the Confluent wire format's bytes the other.

use jni::objects::{JByteArray, JClass, JObjectArray, JString};
use jni::sys::{jboolean, jbyteArray, jlong, jstring};
use jni::JNIEnv;

use super::{bytes, c_ptr, c_string, config, handle, owned_java_string, run, status, to_handle};
use crate::broker;
use crate::registry::{self as r, potok_registry_deserializer, potok_registry_serializer};

native_call!(string Java_io_potok_internal_Native_brokerSchemaRegistryUrl(h)
    => broker::potok_broker_schema_registry_url);

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_registrySerializerNew<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    url: JString<'l>,
    schema_type: JString<'l>,
    schema: JString<'l>,
    is_key: jboolean,
    config_array: JObjectArray<'l>,
) -> jlong {
    run(&mut env, 0, |env| {
        let (url, schema_type, schema) = (c_string(env, &url)?, c_string(env, &schema_type)?, c_string(env, &schema)?);
        let config = config(env, &config_array)?;
        let mut out: *mut potok_registry_serializer = std::ptr::null_mut();
        // SAFETY: C strings (or NULL) and a NULL-terminated config list that outlive the call; `out` is writable.
        status(unsafe {
            r::potok_registry_serializer_new(
                c_ptr(&url),
                c_ptr(&schema_type),
                c_ptr(&schema),
                is_key != 0,
                config.pointers.as_ptr(),
                &mut out,
            )
        })?;
        Ok(to_handle(out))
    })
}

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_registrySerializerSerialize<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    topic: JString<'l>,
    json: JString<'l>,
) -> jbyteArray {
    run(&mut env, std::ptr::null_mut(), |env| {
        let (topic, json) = (c_string(env, &topic)?, c_string(env, &json)?);
        let (mut data, mut len) = (std::ptr::null_mut(), 0usize);
        // SAFETY: Java passes a live serializer handle; the strings outlive the call; the outs are writable.
        status(unsafe {
            r::potok_registry_serializer_serialize(handle(h), c_ptr(&topic), c_ptr(&json), &mut data, &mut len)
        })?;
        // SAFETY: `data` holds `len` bytes the call just returned, freed once below.
        let slice = unsafe { crate::ffi::bytes_arg(data, len, "data") }.unwrap_or(&[]);
        let array = env.byte_array_from_slice(slice);
        // SAFETY: returned by the serializer with this length; freed once.
        unsafe { r::potok_bytes_free(data, len) };
        Ok(array?.into_raw())
    })
}

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_registrySerializerDestroy<'l>(
    _env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
) {
    // SAFETY: Java hands back a serializer handle once (`io.potok.internal.Handle`).
    unsafe { r::potok_registry_serializer_destroy(handle(h)) }
}

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_registryDeserializerNew<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    url: JString<'l>,
    schema_type: JString<'l>,
    is_key: jboolean,
) -> jlong {
    run(&mut env, 0, |env| {
        let (url, schema_type) = (c_string(env, &url)?, c_string(env, &schema_type)?);
        let mut out: *mut potok_registry_deserializer = std::ptr::null_mut();
        // SAFETY: C strings (or NULL) that outlive the call; `out` is writable.
        status(unsafe { r::potok_registry_deserializer_new(c_ptr(&url), c_ptr(&schema_type), is_key != 0, &mut out) })?;
        Ok(to_handle(out))
    })
}

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_registryDeserializerDeserialize<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    data: JByteArray<'l>,
) -> jstring {
    run(&mut env, std::ptr::null_mut(), |env| {
        let data = bytes(env, &data)?.unwrap_or_default();
        let (mut json, mut id) = (std::ptr::null_mut(), 0i32);
        // SAFETY: Java passes a live deserializer handle; `data` outlives the call; the outs are writable.
        status(unsafe {
            r::potok_registry_deserializer_deserialize(handle(h), data.as_ptr(), data.len(), &mut json, &mut id)
        })?;
        owned_java_string(env, json)
    })
}

#[no_mangle]
pub extern "system" fn Java_io_potok_internal_Native_registryDeserializerDestroy<'l>(
    _env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
) {
    // SAFETY: Java hands back a deserializer handle once (`io.potok.internal.Handle`).
    unsafe { r::potok_registry_deserializer_destroy(handle(h)) }
}

native_call!(string Java_io_potok_internal_Native_clusterSchemaRegistryUrl(h, id: jni::sys::jint)
    => crate::cluster::potok_cluster_schema_registry_url);
