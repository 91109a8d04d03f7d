//! The schema registry end to end: a broker serving it, potok's registry client and serializers against it,
//! restarts, two registries sharing one `_schemas` topic, and bad input.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use potok::broker::BrokerConfig;
use potok::client::consumer::Consumer;
use potok::client::producer::{Producer, ProducerRecord};
use potok::client::TopicPartition;
use potok::net::registry::RegistryServer;
use potok::net::RunningBroker;
use potok::serde::registry::{
    RegistryDeserializer, RegistrySchema, RegistrySerdeConfig, RegistrySerializer, SchemaRegistryClient,
};
use potok::serde::{Deserializer, Serializer};
use serde_json::{json, Value};

fn start(dir: &std::path::Path) -> RunningBroker {
    let mut config = BrokerConfig::default();
    config.set("listeners", "PLAINTEXT://127.0.0.1:0").unwrap();
    config.set("log.dirs", dir.to_str().unwrap()).unwrap();
    config.set("schema.registry.listeners", "http://127.0.0.1:0").unwrap();
    RunningBroker::start(config).unwrap()
}

const V1: &str =
    r#"{"type":"record","name":"Invoice","namespace":"pos","fields":[{"name":"StoreID","type":"string"}]}"#;
const V2: &str = r#"{"type":"record","name":"Invoice","namespace":"pos","fields":[{"name":"StoreID","type":"string"},{"name":"Total","type":["null","double"],"default":null}]}"#;
const BAD: &str = r#"{"type":"record","name":"Invoice","namespace":"pos","fields":[{"name":"StoreID","type":"int"}]}"#;

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn serializers_round_trip_and_the_registry_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let url = broker.schema_registry_url().expect("registry");
    let client = Arc::new(SchemaRegistryClient::new(&url).unwrap());
    let ser = RegistrySerializer::new(client.clone(), "AVRO", Some(V1), false, RegistrySerdeConfig::default()).unwrap();
    let value = json!({"StoreID": "STR7443"});
    let bytes = ser.serialize("pos", Some(&value)).unwrap().unwrap();
    assert_eq!(&bytes[..5], &[0, 0, 0, 0, 1], "magic byte and the registry's id");

    let producer = Producer::new(&pairs(&[("bootstrap.servers", &broker.bootstrap_servers())])).unwrap();
    producer.send(ProducerRecord::new("pos", bytes.clone())).unwrap().wait().unwrap();
    let consumer = Consumer::new(&pairs(&[("bootstrap.servers", &broker.bootstrap_servers())])).unwrap();
    let tp = TopicPartition::new("pos", 0);
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    consumer.seek(&tp, 0).unwrap();
    let mut got = Vec::new();
    for _ in 0..50 {
        got.extend(consumer.poll(Duration::from_millis(100)).unwrap());
        if !got.is_empty() {
            break;
        }
    }
    let de = RegistryDeserializer::new(client.clone(), "AVRO");
    assert_eq!(de.deserialize("pos", got[0].value.as_deref()).unwrap(), Some(value.clone()));

    // Evolve compatibly, refuse an incompatible change.
    assert_eq!(client.register("pos-value", &RegistrySchema::new("AVRO", V2), false).unwrap(), 2);
    let err = client.register("pos-value", &RegistrySchema::new("AVRO", BAD), false).unwrap_err();
    assert_eq!((err.status, err.error_code), (409, 40901));
    // A serializer that only looks schemas up finds V2; one that writes with the latest version uses id 2.
    let lookup = RegistrySerializer::new(
        client.clone(),
        "AVRO",
        Some(V2),
        false,
        RegistrySerdeConfig { auto_register_schemas: false, ..Default::default() },
    )
    .unwrap();
    assert_eq!(lookup.serialize("pos", Some(&value)).unwrap().unwrap()[4], 2);
    let latest = RegistrySerializer::new(
        client.clone(),
        "AVRO",
        None,
        false,
        RegistrySerdeConfig { auto_register_schemas: false, use_latest_version: true, ..Default::default() },
    )
    .unwrap();
    let v2_bytes = latest.serialize("pos", Some(&value)).unwrap().unwrap();
    assert_eq!(de.deserialize_with_id(&v2_bytes).unwrap(), (2, json!({"StoreID": "STR7443", "Total": null})));
    drop((producer, consumer));
    broker.stop().unwrap();

    // After a restart the schemas, ids and versions are read back from `_schemas`.
    let broker = start(dir.path());
    let client = SchemaRegistryClient::new(&broker.schema_registry_url().unwrap()).unwrap();
    let found = client.lookup("pos-value", &RegistrySchema::new("AVRO", V1), false).unwrap();
    assert_eq!((found.id, found.version), (1, 1));
    assert_eq!(client.latest_version("pos-value").unwrap().version, 2);
    assert_eq!(client.schema_by_id(2).unwrap().schema, V2);
    // New ids continue after the ones in the log.
    let id = client.register("other-value", &RegistrySchema::new("JSON", r#"{"type":"string"}"#), false).unwrap();
    assert_eq!(id, 3);
    broker.stop().unwrap();
}

#[test]
fn two_registries_on_one_log_never_hand_out_the_same_id() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    // A second registry on the same broker shares `_schemas`, as registries on the brokers of a cluster do.
    let second = RegistryServer::start(&broker.bootstrap_servers(), "127.0.0.1", 0).unwrap();
    let urls = [broker.schema_registry_url().unwrap(), second.url()];
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let url = urls[t % 2].clone();
            std::thread::spawn(move || {
                let client = SchemaRegistryClient::new(&url).unwrap();
                (0..5)
                    .map(|i| {
                        let schema = format!(r#"{{"type":"fixed","name":"F{t}x{i}","size":{}}}"#, i + 1);
                        let id =
                            client.register(&format!("s{t}-{i}"), &RegistrySchema::new("AVRO", schema), false).unwrap();
                        (format!("s{t}-{i}"), id)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<(String, i32)> = writers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    all.sort_by_key(|(_, id)| *id);
    let ids: Vec<i32> = all.iter().map(|(_, id)| *id).collect();
    assert_eq!(ids, (1..=20).collect::<Vec<_>>(), "every id handed out once: {all:?}");
    // Both registries converge on the same answers.
    for url in &urls {
        let client = SchemaRegistryClient::new(url).unwrap();
        for (subject, id) in &all {
            let mut latest = None;
            for _ in 0..100 {
                match client.latest_version(subject) {
                    Ok(l) => {
                        latest = Some(l);
                        break;
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
            assert_eq!(latest.map(|l| l.id), Some(*id), "{url} {subject}");
        }
    }
    second.stop();
    broker.stop().unwrap();
}

#[test]
fn bad_input_gets_confluents_error_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let client = SchemaRegistryClient::new(&broker.schema_registry_url().unwrap()).unwrap();
    let cases: Vec<(&str, &str, Option<Value>, u16, i64)> = vec![
        ("GET", "/subjects/missing/versions", None, 404, 40401),
        ("GET", "/schemas/ids/4242", None, 404, 40403),
        ("POST", "/subjects/x/versions", Some(json!({"schema": "{not avro"})), 422, 42201),
        ("POST", "/subjects/x/versions", Some(json!({"schema": r#"{"type":"record","name":"R"}"#})), 422, 42201),
        ("POST", "/subjects/x/versions", Some(json!({"schemaType": "JSON", "schema": "[1,2]"})), 422, 42201),
        ("POST", "/subjects/x/versions", Some(json!({"schema": 12})), 422, 422),
        ("GET", "/subjects/x/versions/-7", None, 422, 42202),
        ("PUT", "/config", Some(json!({"compatibility": "EVENTUALLY"})), 422, 42203),
        ("GET", "/no/such/route", None, 404, 404),
    ];
    for (method, path, body, status, code) in cases {
        let err = client.request(method, path, body.as_ref()).unwrap_err();
        assert_eq!((err.status, err.error_code), (status, code), "{method} {path}: {}", err.message);
        assert!(!err.message.is_empty());
    }
    broker.stop().unwrap();
}

/// `_schemas` partition 0's (leader, replicas) as broker `bootstrap` describes it.
fn schemas_partition(bootstrap: &str) -> Option<(i32, Vec<i32>, Vec<i32>)> {
    let admin = potok::client::admin::Admin::new(&pairs(&[("bootstrap.servers", bootstrap)])).ok()?;
    let t = admin.describe_topics(&["_schemas".to_string()], Some(Duration::from_secs(2))).ok()?.remove(0).1.ok()?;
    let p = t.partitions.iter().find(|p| p.partition == 0)?;
    Some((p.leader, p.replicas.clone(), p.isr.clone()))
}

/// Retries `f` every 100 ms for up to 60 s (a registry reading `_schemas` may be a moment behind a write made
/// through another, and leaderships move after a broker's loss).
fn eventually<T, E: std::fmt::Debug>(what: &str, mut f: impl FnMut() -> Result<T, E>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if std::time::Instant::now() >= deadline => panic!("{what}: {e:?}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

#[test]
fn a_cluster_registry_survives_the_loss_of_the_broker_that_leads_schemas() {
    use potok::host::cluster::EmbeddedCluster;
    let mut cluster = EmbeddedCluster::start(3, &[("schema.registry.listeners", "http://127.0.0.1:0")]).unwrap();
    let urls: Vec<String> =
        (1..=3).map(|id| cluster.schema_registry_url(id).unwrap().expect("a registry per broker")).collect();
    let (leader, replicas, _) =
        eventually("describe _schemas", || schemas_partition(&cluster.bootstrap_servers()).ok_or("not yet"));
    assert_eq!(replicas.len(), 3, "_schemas is replicated on every broker of the cluster: {replicas:?}");

    // Register through the registry of the broker that leads `_schemas`, then lose that broker (as SIGKILL).
    let serving = SchemaRegistryClient::new(&urls[leader as usize - 1]).unwrap();
    let v1 = serving.register("pos-value", &RegistrySchema::new("AVRO", V1), false).unwrap();
    cluster.kill_broker(leader).unwrap();
    let others: Vec<&String> = (1..=3).filter(|&id| id != leader).map(|id| &urls[id as usize - 1]).collect();

    // Another broker's registry reads the schema back by id and by subject...
    let reader = SchemaRegistryClient::new(others[0]).unwrap();
    let schema = eventually("read back by id", || reader.schema_by_id(v1));
    assert_eq!(schema.schema, V1);
    assert_eq!(eventually("latest", || reader.latest_version("pos-value")).id, v1);
    // ...and registers again once `_schemas` has a new leader: a new version, a new id, still checked against
    // the first (BACKWARD refuses BAD).
    let writer = SchemaRegistryClient::new(others[1]).unwrap();
    let v2 =
        eventually("register after the loss", || writer.register("pos-value", &RegistrySchema::new("AVRO", V2), false));
    assert_ne!(v2, v1);
    let refused = writer.register("pos-value", &RegistrySchema::new("AVRO", BAD), false).unwrap_err();
    assert_eq!((refused.status, refused.error_code), (409, 40901));
    let (new_leader, _, _) = schemas_partition(&cluster.bootstrap_servers()).expect("described");
    assert_ne!(new_leader, leader, "leadership moved off the lost broker");

    // A client given every registry (the lost one first) fails over, and serializes and reads back by id.
    let all = format!("{},{},{}", urls[leader as usize - 1], others[0], others[1]);
    let client = Arc::new(SchemaRegistryClient::new(&all).unwrap());
    let ser = RegistrySerializer::new(client.clone(), "AVRO", Some(V2), false, RegistrySerdeConfig::default()).unwrap();
    let value = json!({"StoreID": "STR1", "Total": {"double": 9.5}});
    let bytes = ser.serialize("pos", Some(&value)).unwrap().unwrap();
    assert_eq!(&bytes[1..5], &v2.to_be_bytes(), "the id the surviving registries gave V2");
    let de = RegistryDeserializer::new(Arc::new(SchemaRegistryClient::new(others[0]).unwrap()), "AVRO");
    assert_eq!(de.deserialize_with_id(&bytes).unwrap(), (v2, json!({"StoreID": "STR1", "Total": 9.5})));

    // The lost broker comes back: its registry (same URL) catches up on what was written without it.
    cluster.start_broker(leader).unwrap();
    assert_eq!(cluster.schema_registry_url(leader).unwrap().as_ref(), Some(&urls[leader as usize - 1]));
    let back = SchemaRegistryClient::new(&urls[leader as usize - 1]).unwrap();
    assert_eq!(back.latest_version("pos-value").unwrap().id, v2);
    cluster.stop().unwrap();
}
