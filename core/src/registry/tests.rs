//! The registry driven through its REST routes with `_schemas` simulated in memory: every write's records are
//! applied (and kept, to replay into a fresh registry), then the compatibility rules on a table of schema pairs.

use serde_json::{json, Value};

use super::rest::parse_query;
use super::{CompatibilityLevel, Outcome, Registry, Request};

/// A registry with its `_schemas` log.
struct Sim {
    reg: Registry,
    log: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Sim {
    fn new() -> Sim {
        Sim { reg: Registry::new(CompatibilityLevel::Backward), log: Vec::new() }
    }

    fn call(&mut self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let req = Request {
            method: method.into(),
            path: path.into(),
            query: parse_query(query),
            content_type: body.as_ref().map(|_| "application/vnd.schemaregistry.v1+json".into()),
            body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
        };
        let response = match self.reg.handle(&req) {
            Outcome::Done(r) => r,
            Outcome::Write { records, response } => {
                for (k, v) in records {
                    self.reg.apply(&k, v.as_deref()).expect("own records apply");
                    self.log.push((k, v));
                }
                response
            }
        };
        let body = serde_json::from_str(&response.body).unwrap_or(Value::String(response.body.clone()));
        (response.status, body)
    }

    fn register(&mut self, subject: &str, schema: &str, schema_type: &str) -> (u16, Value) {
        self.call(
            "POST",
            &format!("/subjects/{subject}/versions"),
            Some(json!({"schema": schema, "schemaType": schema_type})),
        )
    }

    fn replayed(&self) -> Registry {
        let mut reg = Registry::new(CompatibilityLevel::Backward);
        for (k, v) in &self.log {
            reg.apply(k, v.as_deref()).expect("replay");
        }
        reg
    }
}

const V1: &str =
    r#"{"type":"record","name":"Pos","namespace":"course","fields":[{"name":"StoreID","type":["null","string"]}]}"#;
const V2: &str = r#"{"type":"record","name":"Pos","namespace":"course","fields":[{"name":"StoreID","type":["null","string"]},{"name":"PosID","type":["null","string"],"default":null}]}"#;
const V3_BAD: &str = r#"{"type":"record","name":"Pos","namespace":"course","fields":[{"name":"StoreID","type":["null","string"]},{"name":"Total","type":"double"}]}"#;

#[test]
fn register_evolve_refuse_and_read_back() {
    let mut sim = Sim::new();
    let (status, body) = sim.register("pos-value", V1, "AVRO");
    assert_eq!((status, body.clone()), (200, json!({"id": 1})));
    // Idempotent for the same schema, whatever its whitespace.
    let spaced = V1.replace(',', " , ");
    assert_eq!(sim.register("pos-value", &spaced, "AVRO"), (200, json!({"id": 1})));
    assert_eq!(sim.register("pos-value", V2, "AVRO"), (200, json!({"id": 2})));
    let (status, body) = sim.register("pos-value", V3_BAD, "AVRO");
    assert_eq!(status, 409);
    assert_eq!(body["error_code"], 40901);
    let msg = body["message"].as_str().expect("message");
    assert!(
        msg.starts_with("Schema being registered is incompatible with an earlier schema for subject \"pos-value\""),
        "{msg}"
    );
    assert!(msg.contains("READER_FIELD_MISSING_DEFAULT_VALUE"), "{msg}");
    assert!(msg.contains("{oldSchemaVersion: 2}"), "{msg}");
    assert!(msg.contains("compatibility: 'BACKWARD'"), "{msg}");
    // The same schema under another subject keeps its id.
    assert_eq!(sim.register("other-value", V1, "AVRO"), (200, json!({"id": 1})));

    let (_, v) = sim.call("GET", "/subjects/pos-value/versions/latest", None);
    assert_eq!(v["version"], 2);
    assert_eq!(v["id"], 2);
    assert_eq!(v["subject"], "pos-value");
    assert!(v.get("schemaType").is_none(), "AVRO is left out");
    assert_eq!(sim.call("GET", "/subjects/pos-value/versions", None), (200, json!([1, 2])));
    assert_eq!(sim.call("GET", "/subjects", None), (200, json!(["other-value", "pos-value"])));
    let (_, s) = sim.call("GET", "/schemas/ids/1", None);
    assert_eq!(s, json!({"schema": V1}));
    assert_eq!(sim.call("GET", "/schemas/ids/1/subjects", None), (200, json!(["other-value", "pos-value"])));
    assert_eq!(
        sim.call("GET", "/schemas/ids/1/versions", None),
        (200, json!([{"subject": "other-value", "version": 1}, {"subject": "pos-value", "version": 1}]))
    );
    let (status, raw) = sim.call("GET", "/subjects/pos-value/versions/1/schema", None);
    assert_eq!(status, 200);
    assert_eq!(raw, serde_json::from_str::<Value>(V1).expect("json"));
    // Look-up finds the version of an equal schema.
    let (status, found) = sim.call("POST", "/subjects/pos-value", Some(json!({"schema": V2})));
    assert_eq!((status, found["version"].clone(), found["id"].clone()), (200, json!(2), json!(2)));
    assert_eq!(sim.call("GET", "/schemas/types", None), (200, json!(["JSON", "AVRO"])));

    // A fresh registry replaying the log reaches the same answers.
    let replayed = Sim { reg: sim.replayed(), log: Vec::new() };
    let mut replayed = replayed;
    assert_eq!(replayed.call("GET", "/subjects/pos-value/versions", None), (200, json!([1, 2])));
    assert_eq!(replayed.register("new-value", V3_BAD, "AVRO"), (200, json!({"id": 3})));
}

#[test]
fn errors_carry_confluents_codes() {
    let mut sim = Sim::new();
    let expect = |(status, body): (u16, Value), s: u16, code: u32| {
        assert_eq!(status, s, "{body}");
        assert_eq!(body["error_code"], code, "{body}");
        body["message"].as_str().expect("message").to_string()
    };
    assert_eq!(expect(sim.call("GET", "/subjects/nope/versions", None), 404, 40401), "Subject 'nope' not found.");
    sim.register("s", r#""string""#, "AVRO");
    assert_eq!(expect(sim.call("GET", "/subjects/s/versions/7", None), 404, 40402), "Version 7 not found.");
    assert_eq!(expect(sim.call("GET", "/schemas/ids/99", None), 404, 40403), "Schema 99 not found");
    expect(sim.call("GET", "/subjects/s/versions/zero", None), 422, 42202);
    expect(sim.call("GET", "/subjects/s/versions/0", None), 422, 42202);
    let m = expect(
        sim.register("s", r#"{"type":"record","name":"R","fields":[{"name":"a","type":"Nope"}]}"#, "AVRO"),
        422,
        42201,
    );
    assert!(m.starts_with("Invalid schema of type AVRO, details:"), "{m}");
    expect(sim.register("s", "{not json", "AVRO"), 422, 42201);
    expect(sim.register("s", r#"{"type":"strin"}"#, "JSON"), 422, 42201);
    expect(sim.register("s", r#""string""#, "XML"), 422, 42201);
    // Bodies that are not JSON, or not the right shape, are client errors.
    let req = Request {
        method: "POST".into(),
        path: "/subjects/s/versions".into(),
        body: b"{oops".to_vec(),
        ..Default::default()
    };
    let Outcome::Done(r) = sim.reg.handle(&req) else { panic!("no write") };
    assert_eq!(r.status, 400);
    assert_eq!(serde_json::from_str::<Value>(&r.body).expect("json")["error_code"], 400);
    expect(sim.call("POST", "/subjects/s/versions", Some(json!({"schema": 5}))), 422, 422);
    expect(sim.call("POST", "/subjects/s/versions", Some(json!([1]))), 422, 422);
    expect(sim.call("GET", "/nowhere", None), 404, 404);
    expect(sim.call("PATCH", "/subjects", None), 405, 405);
    expect(sim.call("PUT", "/config", Some(json!({"compatibility": "SIDEWAYS"}))), 422, 42203);
    expect(sim.call("PUT", "/mode", Some(json!({"mode": "WRITEONLY"}))), 422, 42204);
    expect(sim.call("GET", "/config/s", None), 404, 40408);
    expect(sim.call("GET", "/mode/s", None), 404, 40409);
    let mut ct =
        Request { method: "POST".into(), path: "/subjects/s".into(), body: b"{}".to_vec(), ..Default::default() };
    ct.content_type = Some("text/plain".into());
    let Outcome::Done(r) = sim.reg.handle(&ct) else { panic!("no write") };
    assert_eq!(r.status, 415);
}

#[test]
fn soft_and_permanent_deletes() {
    let mut sim = Sim::new();
    sim.register("s", r#""string""#, "AVRO");
    sim.call("PUT", "/config/s", Some(json!({"compatibility": "NONE"})));
    sim.register("s", r#""int""#, "AVRO");
    let code = |r: (u16, Value)| r.1["error_code"].clone();
    assert_eq!(code(sim.call("DELETE", "/subjects/s/versions/1?permanent=true", None)), 40407);
    assert_eq!(sim.call("DELETE", "/subjects/s/versions/1", None), (200, json!(1)));
    assert_eq!(code(sim.call("DELETE", "/subjects/s/versions/1", None)), 40406);
    assert_eq!(sim.call("GET", "/subjects/s/versions", None), (200, json!([2])));
    assert_eq!(sim.call("GET", "/subjects/s/versions?deleted=true", None), (200, json!([1, 2])));
    let (_, v1) = sim.call("GET", "/subjects/s/versions/1?deleted=true", None);
    assert_eq!(v1["deleted"], true);
    assert_eq!(code(sim.call("DELETE", "/subjects/s?permanent=true", None)), 40405);
    assert_eq!(sim.call("DELETE", "/subjects/s", None), (200, json!([2])));
    assert_eq!(code(sim.call("DELETE", "/subjects/s", None)), 40404);
    assert_eq!(code(sim.call("GET", "/subjects/s/versions", None)), 40401);
    assert_eq!(sim.call("GET", "/subjects?deleted=true", None), (200, json!(["s"])));
    // The ids stay readable after a soft delete; a re-registration continues the versions and keeps the id.
    assert_eq!(sim.call("GET", "/schemas/ids/2", None).0, 200);
    assert_eq!(sim.register("s", r#""int""#, "AVRO"), (200, json!({"id": 2})));
    assert_eq!(sim.call("GET", "/subjects/s/versions", None), (200, json!([3])));
    sim.call("DELETE", "/subjects/s", None);
    assert_eq!(sim.call("DELETE", "/subjects/s?permanent=true", None), (200, json!([1, 3])));
    assert_eq!(code(sim.call("GET", "/subjects/s/versions?deleted=true", None)), 40401);
    assert_eq!(code(sim.call("GET", "/schemas/ids/2", None)), 40403);
    assert_eq!(code(sim.call("GET", "/config/s", None)), 40408, "the subject's config went with it");
    // A fresh start numbers from version 1, with a new id.
    assert_eq!(sim.register("s", r#""int""#, "AVRO"), (200, json!({"id": 3})));
    let replayed = sim.replayed();
    let mut r = Sim { reg: replayed, log: Vec::new() };
    assert_eq!(r.call("GET", "/subjects/s/versions", None), (200, json!([1])));
}

#[test]
fn config_mode_and_compatibility_endpoints() {
    let mut sim = Sim::new();
    assert_eq!(sim.call("GET", "/config", None), (200, json!({"compatibilityLevel": "BACKWARD"})));
    assert_eq!(
        sim.call("PUT", "/config", Some(json!({"compatibility": "full"}))),
        (200, json!({"compatibility": "FULL"}))
    );
    assert_eq!(sim.call("GET", "/config", None), (200, json!({"compatibilityLevel": "FULL"})));
    assert_eq!(sim.call("GET", "/config/x?defaultToGlobal=true", None), (200, json!({"compatibilityLevel": "FULL"})));
    assert_eq!(
        sim.call("PUT", "/config/x", Some(json!({"compatibility": "NONE"}))),
        (200, json!({"compatibility": "NONE"}))
    );
    assert_eq!(sim.call("GET", "/config/x", None), (200, json!({"compatibilityLevel": "NONE"})));
    assert_eq!(sim.call("DELETE", "/config/x", None), (200, json!({"compatibilityLevel": "NONE"})));
    assert_eq!(sim.call("GET", "/config/x", None).1["error_code"], 40408);

    sim.register("p", V1, "AVRO");
    assert_eq!(
        sim.call("POST", "/compatibility/subjects/p/versions/latest", Some(json!({"schema": V2}))),
        (200, json!({"is_compatible": true}))
    );
    let (_, verbose) =
        sim.call("POST", "/compatibility/subjects/p/versions/1?verbose=true", Some(json!({"schema": V3_BAD})));
    assert_eq!(verbose["is_compatible"], false);
    assert!(verbose["messages"].as_array().is_some_and(|m| m.len() > 2), "{verbose}");
    assert_eq!(
        sim.call("POST", "/compatibility/subjects/p/versions", Some(json!({"schema": V2}))),
        (200, json!({"is_compatible": true}))
    );
    assert_eq!(
        sim.call("POST", "/compatibility/subjects/p/versions/9", Some(json!({"schema": V2}))).1["error_code"],
        40402
    );

    assert_eq!(sim.call("GET", "/mode", None), (200, json!({"mode": "READWRITE"})));
    assert_eq!(sim.call("PUT", "/mode/p", Some(json!({"mode": "READONLY"}))), (200, json!({"mode": "READONLY"})));
    let (status, body) = sim.register("p", V2, "AVRO");
    assert_eq!((status, body["error_code"].clone()), (422, json!(42205)));
    assert_eq!(body["message"], "Subject p in context . is in read-only mode");
    assert_eq!(sim.call("DELETE", "/mode/p", None), (200, json!({"mode": "READONLY"})));
    // IMPORT mode keeps given ids and versions; it needs the subjects to be empty.
    assert_eq!(sim.call("PUT", "/mode", Some(json!({"mode": "IMPORT"}))).1["error_code"], 42205);
    assert_eq!(sim.call("PUT", "/mode/imported", Some(json!({"mode": "IMPORT"}))), (200, json!({"mode": "IMPORT"})));
    let (status, body) =
        sim.call("POST", "/subjects/imported/versions", Some(json!({"schema": r#""bytes""#, "id": 100, "version": 5})));
    assert_eq!((status, body), (200, json!({"id": 100})));
    assert_eq!(sim.call("GET", "/subjects/imported/versions", None), (200, json!([5])));
    sim.call("DELETE", "/mode/imported", None);
    // New ids continue after the largest seen.
    assert_eq!(sim.register("after", r#""float""#, "AVRO"), (200, json!({"id": 101})));
}

#[test]
fn references_resolve_by_subject_and_version() {
    let mut sim = Sim::new();
    let address =
        r#"{"type":"record","name":"Address","namespace":"course","fields":[{"name":"City","type":"string"}]}"#;
    assert_eq!(sim.register("address", address, "AVRO"), (200, json!({"id": 1})));
    let invoice =
        r#"{"type":"record","name":"Invoice","namespace":"course","fields":[{"name":"To","type":"course.Address"}]}"#;
    let refs = json!([{"name": "course.Address", "subject": "address", "version": 1}]);
    let (status, body) =
        sim.call("POST", "/subjects/invoice/versions", Some(json!({"schema": invoice, "references": refs})));
    assert_eq!((status, body), (200, json!({"id": 2})));
    let (_, v) = sim.call("GET", "/subjects/invoice/versions/1", None);
    assert_eq!(v["references"], refs);
    // The canonical form names the referenced type (short, in its own namespace) instead of inlining it.
    assert_eq!(v["schema"], invoice.replace("course.Address", "Address"));
    assert_eq!(sim.call("GET", "/subjects/address/versions/1/referencedby", None), (200, json!([2])));
    assert_eq!(sim.call("DELETE", "/subjects/address/versions/1", None).1["error_code"], 42206);
    let missing = json!([{"name": "course.Address", "subject": "address", "version": 9}]);
    let (status, body) =
        sim.call("POST", "/subjects/x/versions", Some(json!({"schema": invoice, "references": missing})));
    assert_eq!((status, body["error_code"].clone()), (422, json!(42201)));
}

/// Whether `new` may follow `old` at each level, for a pair.
fn compatible(schema_type: &str, level: &str, versions: &[&str]) -> bool {
    let mut sim = Sim::new();
    assert_eq!(sim.call("PUT", "/config", Some(json!({"compatibility": level}))).0, 200);
    let (last, earlier) = versions.split_last().expect("versions");
    for v in earlier {
        sim.call("PUT", "/config", Some(json!({"compatibility": "NONE"})));
        let (status, body) = sim.register("t", v, schema_type);
        assert_eq!(status, 200, "{v}: {body}");
    }
    sim.call("PUT", "/config", Some(json!({"compatibility": level})));
    let (status, body) = sim.register("t", last, schema_type);
    assert!(status == 200 || (status == 409 && body["error_code"] == 40901), "{status} {body}");
    // The compatibility endpoint agrees with registration.
    status == 200
}

fn record(fields: &str) -> String {
    format!(r#"{{"type":"record","name":"R","fields":[{fields}]}}"#)
}

#[test]
fn avro_compatibility_table() {
    let a = r#"{"name":"a","type":"int"}"#;
    let cases: Vec<(&str, String, String, [bool; 3])> = vec![
        // (what, old, new, [backward, forward, full])
        (
            "add field with default",
            record(a),
            record(&format!(r#"{a},{{"name":"b","type":"string","default":"x"}}"#)),
            [true, true, true],
        ),
        (
            "add field without default",
            record(a),
            record(&format!(r#"{a},{{"name":"b","type":"string"}}"#)),
            [false, true, false],
        ),
        (
            "remove field with default",
            record(&format!(r#"{a},{{"name":"b","type":"string","default":"x"}}"#)),
            record(a),
            [true, true, true],
        ),
        (
            "remove field without default",
            record(&format!(r#"{a},{{"name":"b","type":"string"}}"#)),
            record(a),
            [true, false, false],
        ),
        ("int to long", record(a), record(r#"{"name":"a","type":"long"}"#), [true, false, false]),
        ("long to int", record(r#"{"name":"a","type":"long"}"#), record(a), [false, true, false]),
        ("int to double", r#""int""#.into(), r#""double""#.into(), [true, false, false]),
        ("string to bytes", r#""string""#.into(), r#""bytes""#.into(), [true, true, true]),
        ("string to int", r#""string""#.into(), r#""int""#.into(), [false, false, false]),
        (
            "enum symbol added",
            r#"{"type":"enum","name":"E","symbols":["A"]}"#.into(),
            r#"{"type":"enum","name":"E","symbols":["A","B"]}"#.into(),
            [true, false, false],
        ),
        (
            "enum symbol added, old has default",
            r#"{"type":"enum","name":"E","symbols":["A"],"default":"A"}"#.into(),
            r#"{"type":"enum","name":"E","symbols":["A","B"]}"#.into(),
            [true, true, true],
        ),
        ("union widened", r#""string""#.into(), r#"["null","string"]"#.into(), [true, false, false]),
        ("union narrowed", r#"["null","string"]"#.into(), r#""string""#.into(), [false, true, false]),
        (
            "record renamed",
            record(a),
            r#"{"type":"record","name":"S","fields":[{"name":"a","type":"int"}]}"#.into(),
            [false, false, false],
        ),
        (
            "record renamed with alias",
            record(a),
            r#"{"type":"record","name":"S","aliases":["R"],"fields":[{"name":"a","type":"int"}]}"#.into(),
            [true, false, false],
        ),
        (
            "field renamed with alias",
            record(a),
            record(r#"{"name":"z","type":"int","aliases":["a"]}"#),
            [true, false, false],
        ),
        (
            "fixed size changed",
            r#"{"type":"fixed","name":"F","size":4}"#.into(),
            r#"{"type":"fixed","name":"F","size":8}"#.into(),
            [false, false, false],
        ),
        (
            "array items widened",
            r#"{"type":"array","items":"int"}"#.into(),
            r#"{"type":"array","items":"long"}"#.into(),
            [true, false, false],
        ),
        (
            "map values changed",
            r#"{"type":"map","values":"int"}"#.into(),
            r#"{"type":"map","values":"string"}"#.into(),
            [false, false, false],
        ),
        (
            "doc only",
            record(a),
            r#"{"type":"record","name":"R","doc":"d","fields":[{"name":"a","type":"int"}]}"#.into(),
            [true, true, true],
        ),
    ];
    for (what, old, new, [backward, forward, full]) in &cases {
        assert_eq!(compatible("AVRO", "BACKWARD", &[old, new]), *backward, "BACKWARD: {what}");
        assert_eq!(compatible("AVRO", "FORWARD", &[old, new]), *forward, "FORWARD: {what}");
        assert_eq!(compatible("AVRO", "FULL", &[old, new]), *full, "FULL: {what}");
        assert!(compatible("AVRO", "NONE", &[old, new]), "NONE: {what}");
    }
    // Transitive levels check every earlier version, the plain ones only the latest.
    let v1 = record(a);
    let v2 = record(&format!(r#"{a},{{"name":"b","type":"string","default":"x"}}"#));
    let v3 = record(&format!(r#"{a},{{"name":"b","type":"string"}}"#));
    assert!(compatible("AVRO", "BACKWARD", &[&v1, &v2, &v3]));
    assert!(!compatible("AVRO", "BACKWARD_TRANSITIVE", &[&v1, &v2, &v3]));
    assert!(compatible("AVRO", "FORWARD", &[&v3, &v2, &v1]));
    assert!(!compatible("AVRO", "FORWARD_TRANSITIVE", &[&v3, &v2, &v1]));
    assert!(compatible("AVRO", "FULL", &[&v1, &v2, &v2.replace("\"x\"", "\"y\"")]));
    let v3_full =
        record(&format!(r#"{a},{{"name":"b","type":"string","default":"x"}},{{"name":"c","type":"int","default":0}}"#));
    assert!(compatible("AVRO", "FULL_TRANSITIVE", &[&v1, &v2, &v3_full]));
    assert!(!compatible("AVRO", "FULL_TRANSITIVE", &[&v3, &v2, &v1]));
    assert!(compatible("AVRO", "FULL", &[&v3, &v2, &v1]) == compatible("AVRO", "FULL", &[&v2, &v1]));
    // A recursive schema is compatible with itself plus an optional field.
    let list = r#"{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]}"#;
    let list2 = r#"{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]},{"name":"v","type":"int","default":0}]}"#;
    assert!(compatible("AVRO", "FULL", &[list, list2]));
}

#[test]
fn json_schema_compatibility_table() {
    let obj = |props: &str, extra: &str| format!(r#"{{"type":"object","properties":{{{props}}}{extra}}}"#);
    let a = r#""a":{"type":"string"}"#;
    let ab = r#""a":{"type":"string"},"b":{"type":"integer"}"#;
    let cases: Vec<(&str, String, String, [bool; 3])> = vec![
        ("optional property added to open model", obj(a, ""), obj(ab, ""), [false, true, false]),
        ("optional property added to closed model", obj(a, r#","additionalProperties":false"#), obj(ab, r#","additionalProperties":false"#), [true, false, false]),
        ("property with empty schema added to open model", obj(a, ""), obj(&format!(r#"{a},"b":{{}}"#), ""), [true, true, true]),
        ("maxLength decreased", r#"{"type":"string","maxLength":10}"#.into(), r#"{"type":"string","maxLength":5}"#.into(), [false, true, false]),
        ("pattern added", r#"{"type":"string"}"#.into(), r#"{"type":"string","pattern":"^a"}"#.into(), [false, true, false]),
        ("integer to number", r#"{"type":"integer"}"#.into(), r#"{"type":"number"}"#.into(), [true, false, false]),
        ("string to string or null", r#"{"type":"string"}"#.into(), r#"{"type":["string","null"]}"#.into(), [true, false, false]),
        ("enum extended", r#"{"enum":["A"]}"#.into(), r#"{"enum":["A","B"]}"#.into(), [true, false, false]),
        ("required without default added", obj(a, ""), obj(a, r#","required":["a"]"#), [false, true, false]),
        ("string to integer", r#"{"type":"string"}"#.into(), r#"{"type":"integer"}"#.into(), [false, false, false]),
        ("description changed", r#"{"type":"string","description":"x"}"#.into(), r#"{"type":"string","description":"y"}"#.into(), [true, true, true]),
        ("anyOf extended", r#"{"anyOf":[{"type":"string"}]}"#.into(), r#"{"anyOf":[{"type":"string"},{"type":"integer"}]}"#.into(), [true, false, false]),
        ("minimum increased", r#"{"type":"number","minimum":1}"#.into(), r#"{"type":"number","minimum":2}"#.into(), [false, true, false]),
        ("array maxItems removed", r#"{"type":"array","items":{"type":"string"},"maxItems":3}"#.into(), r#"{"type":"array","items":{"type":"string"}}"#.into(), [true, false, false]),
        ("items type changed", r#"{"type":"array","items":{"type":"string"}}"#.into(), r#"{"type":"array","items":{"type":"integer"}}"#.into(), [false, false, false]),
        ("additionalProperties removed", obj(a, ""), obj(a, r#","additionalProperties":false"#), [false, true, false]),
        (
            "change behind a $ref",
            r##"{"definitions":{"s":{"type":"string","maxLength":5}},"type":"object","properties":{"a":{"$ref":"#/definitions/s"}}}"##.into(),
            r##"{"definitions":{"s":{"type":"string","maxLength":9}},"type":"object","properties":{"a":{"$ref":"#/definitions/s"}}}"##.into(),
            [true, false, false],
        ),
    ];
    for (what, old, new, [backward, forward, full]) in &cases {
        assert_eq!(compatible("JSON", "BACKWARD", &[old, new]), *backward, "BACKWARD: {what}");
        assert_eq!(compatible("JSON", "FORWARD", &[old, new]), *forward, "FORWARD: {what}");
        assert_eq!(compatible("JSON", "FULL", &[old, new]), *full, "FULL: {what}");
        assert!(compatible("JSON", "NONE", &[old, new]), "NONE: {what}");
    }
    let s1 = r#"{"type":"string","maxLength":10}"#;
    let s2 = r#"{"type":"string","maxLength":20}"#;
    let s3 = r#"{"type":"string","maxLength":15}"#;
    assert!(compatible("JSON", "FORWARD", &[s1, s2, s3]));
    assert!(!compatible("JSON", "FORWARD_TRANSITIVE", &[s1, s2, s3]));
    assert!(compatible("JSON", "BACKWARD_TRANSITIVE", &[s3, s2, r#"{"type":"string"}"#]));
    assert!(!compatible("JSON", "BACKWARD_TRANSITIVE", &[s2, s3, s2]) || compatible("JSON", "BACKWARD", &[s3, s2]));
    assert!(!compatible("JSON", "FULL_TRANSITIVE", &[s1, s1, s2]));
    // A recursive schema terminates and is compatible with itself.
    let tree = r##"{"type":"object","properties":{"children":{"type":"array","items":{"$ref":"#"}}},"additionalProperties":false}"##;
    assert!(compatible("JSON", "FULL_TRANSITIVE", &[tree, tree.replace(":false", ": false").as_str()]));
    // The message says what broke, with Confluent's wording.
    let mut sim = Sim::new();
    sim.register("j", &obj(a, ""), "JSON");
    let (_, body) = sim.register("j", &obj(ab, ""), "JSON");
    let msg = body["message"].as_str().expect("message");
    assert!(msg.contains("OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"), "{msg}");
    assert!(msg.contains("The new schema has an open content model and has a property or item at path '#/properties/b' which is missing in the old schema"), "{msg}");
    let (_, v) = sim.call("GET", "/subjects/j/versions/1", None);
    assert_eq!(v["schemaType"], "JSON");
}

/// "latest" names the latest live version, as in Confluent's registry: it soft-deletes one version after
/// another, never reaches a soft-deleted one (40402 once none is live) and so never deletes permanently (40407).
#[test]
fn deleting_latest() {
    let mut sim = Sim::new();
    sim.call("PUT", "/config", Some(json!({"compatibility": "NONE"})));
    sim.register("s", r#""string""#, "AVRO");
    sim.register("s", r#""int""#, "AVRO");
    let code = |r: (u16, Value)| r.1["error_code"].clone();
    assert_eq!(code(sim.call("DELETE", "/subjects/s/versions/latest?permanent=true", None)), 40407);
    assert_eq!(sim.call("DELETE", "/subjects/s/versions/latest", None), (200, json!(2)));
    assert_eq!(sim.call("GET", "/subjects/s/versions/latest?deleted=true", None).1["version"], 1);
    assert_eq!(code(sim.call("DELETE", "/subjects/s/versions/2", None)), 40406);
    assert_eq!(sim.call("DELETE", "/subjects/s/versions/latest", None), (200, json!(1)));
    assert_eq!(code(sim.call("DELETE", "/subjects/s/versions/latest", None)), 40402);
    assert_eq!(code(sim.call("DELETE", "/subjects/s/versions/latest?permanent=true", None)), 40402);
    assert_eq!(code(sim.call("GET", "/subjects/s/versions/latest?deleted=true", None)), 40402);
    assert_eq!(sim.call("DELETE", "/subjects/s/versions/2?permanent=true", None), (200, json!(2)));
    assert_eq!(sim.call("DELETE", "/subjects/s/versions/1?permanent=true", None), (200, json!(1)));
    assert_eq!(code(sim.call("DELETE", "/subjects/s/versions/latest", None)), 40401);
}

/// Identity as Confluent decides it: the canonical form ignores whitespace and the order of Avro's own
/// attributes but keeps custom properties (and JSON Schema keys) in written order, so reordering them is a new
/// schema; with `normalize` (the query flag, or `normalize: true` in the subject's config) they are sorted first,
/// and the reordered schema is the one already registered. A lookup asked to normalise does the same.
#[test]
fn normalisation_makes_reordered_schemas_one() {
    let mut sim = Sim::new();
    let a = r#"{"type":"record","name":"R","b":1,"a":2,"fields":[{"name":"x","type":"int","z":1,"y":2}]}"#;
    let b = r#"{ "a": 2, "fields": [ {"y": 2, "type": "int", "name": "x", "z": 1} ], "name": "R", "type": "record", "b": 1 }"#;
    let spaced = a.replace(',', " , ").replace(':', " : ");
    let id = |r: (u16, Value)| {
        assert_eq!(r.0, 200, "{r:?}");
        r.1["id"].as_i64().expect("an id")
    };

    let plain_a = id(sim.register("plain", a, "AVRO"));
    assert_eq!(id(sim.register("plain", &spaced, "AVRO")), plain_a, "whitespace is not identity");
    let plain_b = id(sim.register("plain", b, "AVRO"));
    assert_ne!(plain_b, plain_a, "custom properties in another order are another schema without normalize");
    assert_eq!(sim.call("GET", "/subjects/plain/versions", None), (200, json!([1, 2])));

    let body = |s: &str| Some(json!({"schema": s}));
    let norm_a = id(sim.call("POST", "/subjects/norm/versions?normalize=true", body(a)));
    assert_eq!(id(sim.call("POST", "/subjects/norm/versions?normalize=true", body(b))), norm_a);
    assert_eq!(sim.call("GET", "/subjects/norm/versions", None), (200, json!([1])));
    let stored = sim.call("GET", "/subjects/norm/versions/1/schema", None).1;
    assert_eq!(
        stored,
        json!({"type":"record","name":"R","fields":[{"name":"x","type":"int","y":2,"z":1}],"a":2,"b":1}),
        "stored with its properties sorted"
    );
    // A lookup asked to normalise finds it from either order.
    assert_eq!(sim.call("POST", "/subjects/norm?normalize=true", body(a)).1["version"], 1);
    assert_eq!(sim.call("POST", "/subjects/norm?normalize=true", body(b)).1["id"], norm_a);

    // `normalize` in the subject's config applies to every registration and lookup under it.
    sim.call("PUT", "/config/configured", Some(json!({"normalize": true})));
    assert_eq!(sim.call("GET", "/config/configured", None), (200, json!({"normalize": true})));
    assert_eq!(id(sim.register("configured", a, "AVRO")), norm_a);
    assert_eq!(id(sim.register("configured", b, "AVRO")), norm_a);
    assert_eq!(sim.call("POST", "/subjects/configured", body(b)).1["id"], norm_a);

    // JSON Schema: key order is identity unless normalised.
    let j1 = r#"{"type":"object","properties":{"x":{"type":"string"}}}"#;
    let j2 = r#"{"properties":{"x":{"type":"string"}},"type":"object"}"#;
    let json_body = |s: &str| Some(json!({"schema": s, "schemaType": "JSON"}));
    let first = id(sim.register("j", j1, "JSON"));
    assert_ne!(id(sim.register("j", j2, "JSON")), first);
    let n1 = id(sim.call("POST", "/subjects/jn/versions?normalize=true", json_body(j1)));
    assert_eq!(id(sim.call("POST", "/subjects/jn/versions?normalize=true", json_body(j2))), n1);
    assert_eq!(sim.call("GET", "/subjects/jn/versions", None), (200, json!([1])));
}
