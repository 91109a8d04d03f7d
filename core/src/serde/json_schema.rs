//! JSON Schema validation (draft-07 keywords, which also covers the drafts the Confluent JSON Schema serializer
//! and the courses' POS schema use) and the JSON Schema serializer built on it.
//!
//! A [`JsonSchema`] is compiled once: regular expressions are built up front so a bad pattern is an error at
//! construction, not at the first record. Validation walks the value and reports every failure (up to
//! [`MAX_REPORTED_ERRORS`]) with the JSON Pointer of the failing value, e.g. `/DeliveryAddress/PinCode`. `$ref`
//! resolves within the schema document (`#`, `#/definitions/...`, `#/$defs/...`, and `$id`-less fragments), with
//! a bounded depth so a self-referencing schema cannot loop. `format` is an annotation, as draft-07 allows.

use std::collections::HashMap;
use std::fmt;

use regex::Regex;
use serde_json::{Map, Value};

use super::{confluent, SerializationError, Serializer};

/// At most this many failures are collected per validation.
pub const MAX_REPORTED_ERRORS: usize = 100;
/// Deepest nesting of schemas (through properties, items, combinators and `$ref`) validation follows.
pub const MAX_DEPTH: usize = 128;

/// The schema itself is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    #[error("schema is not valid JSON: {0}")]
    Json(String),
    #[error("schema at {path}: invalid pattern {pattern:?}: {reason}")]
    Pattern { path: String, pattern: String, reason: String },
    #[error("schema at {path}: a schema must be an object or a boolean")]
    NotASchema { path: String },
}

/// One failed check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// JSON Pointer of the failing value in the instance (`""` is the whole value).
    pub instance_path: String,
    /// The keyword that failed (`type`, `required`, `pattern`, ...).
    pub keyword: &'static str,
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.instance_path.is_empty() { "/" } else { &self.instance_path };
        write!(f, "{path}: {}", self.message)
    }
}

/// Every failure of one validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JSON Schema validation failed: ")?;
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// A compiled JSON Schema.
#[derive(Debug, Clone)]
pub struct JsonSchema {
    root: Value,
    patterns: HashMap<String, Regex>,
}

fn escape_pointer(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_integer(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => false,
    }
}

fn matches_type(v: &Value, t: &str) -> bool {
    match t {
        "integer" => is_integer(v),
        "number" => v.is_number(),
        other => type_name(v) == other || (other == "number" && v.is_number()),
    }
}

/// JSON equality where numbers compare by value (1 and 1.0 are equal), as JSON Schema's `enum` and `const` want.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

fn collect_patterns(
    schema: &Value,
    path: &str,
    out: &mut HashMap<String, Regex>,
    depth: usize,
) -> Result<(), SchemaError> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    match schema {
        Value::Object(map) => {
            let mut add = |pattern: &str, at: String| -> Result<(), SchemaError> {
                if !out.contains_key(pattern) {
                    // JSON Schema patterns are unanchored ECMA-262 expressions; the regex crate's syntax agrees for
                    // the common subset and refuses look-around instead of misreading it.
                    let re = Regex::new(pattern).map_err(|e| SchemaError::Pattern {
                        path: at,
                        pattern: pattern.to_string(),
                        reason: e.to_string(),
                    })?;
                    out.insert(pattern.to_string(), re);
                }
                Ok(())
            };
            if let Some(Value::String(p)) = map.get("pattern") {
                add(p, format!("{path}/pattern"))?;
            }
            if let Some(Value::Object(pp)) = map.get("patternProperties") {
                for p in pp.keys() {
                    add(p, format!("{path}/patternProperties"))?;
                }
            }
            for (k, v) in map {
                if k == "enum" || k == "const" || k == "default" || k == "examples" {
                    continue;
                }
                collect_patterns(v, &format!("{path}/{}", escape_pointer(k)), out, depth + 1)?;
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                collect_patterns(v, &format!("{path}/{i}"), out, depth + 1)?;
            }
        }
        _ => {}
    }
    Ok(())
}

struct Ctx<'s> {
    schema: &'s JsonSchema,
    errors: Vec<ValidationError>,
}

impl Ctx<'_> {
    fn fail(&mut self, path: &str, keyword: &'static str, message: String) {
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(ValidationError { instance_path: path.to_string(), keyword, message });
        }
    }

    /// Whether `value` is valid against `schema`, without keeping the failures (for anyOf, oneOf, not, if).
    fn probe(&self, value: &Value, schema: &Value, depth: usize) -> bool {
        let mut inner = Ctx { schema: self.schema, errors: Vec::new() };
        inner.validate(value, schema, "", depth);
        inner.errors.is_empty()
    }

    fn validate(&mut self, value: &Value, schema: &Value, path: &str, depth: usize) {
        if depth > MAX_DEPTH {
            self.fail(path, "$ref", format!("schema nesting deeper than {MAX_DEPTH}"));
            return;
        }
        let map = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => return self.fail(path, "false", "no value is allowed here".into()),
            Value::Object(map) => map,
            _ => return,
        };
        if let Some(Value::String(reference)) = map.get("$ref") {
            match self.schema.resolve(reference) {
                Some(target) => self.validate(value, target, path, depth + 1),
                None => self.fail(path, "$ref", format!("unresolvable reference {reference}")),
            }
            // In draft-07 `$ref` overrides its sibling keywords.
            return;
        }
        self.check_type(value, map, path);
        if let Some(Value::Array(options)) = map.get("enum") {
            if !options.iter().any(|o| json_equal(o, value)) {
                self.fail(path, "enum", format!("{value} is not one of {}", Value::Array(options.clone())));
            }
        }
        if let Some(c) = map.get("const") {
            if !json_equal(c, value) {
                self.fail(path, "const", format!("{value} is not {c}"));
            }
        }
        match value {
            Value::Number(_) => self.check_number(value, map, path),
            Value::String(s) => self.check_string(s, map, path),
            Value::Array(items) => self.check_array(items, map, path, depth),
            Value::Object(object) => self.check_object(object, map, path, depth),
            _ => {}
        }
        self.check_combinators(value, map, path, depth);
    }

    fn check_type(&mut self, value: &Value, map: &Map<String, Value>, path: &str) {
        let ok = match map.get("type") {
            Some(Value::String(t)) => matches_type(value, t),
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).any(|t| matches_type(value, t)),
            _ => true,
        };
        if !ok {
            let expected = map.get("type").map(Value::to_string).unwrap_or_default();
            self.fail(path, "type", format!("expected {expected}, got {}", type_name(value)));
        }
    }

    fn check_number(&mut self, value: &Value, map: &Map<String, Value>, path: &str) {
        let Some(x) = value.as_f64() else { return };
        let bound = |k: &str| map.get(k).and_then(Value::as_f64);
        if let Some(min) = bound("minimum") {
            // Draft 4 wrote exclusiveMinimum as a boolean beside minimum.
            let exclusive = map.get("exclusiveMinimum") == Some(&Value::Bool(true));
            if x < min || (exclusive && x == min) {
                self.fail(path, "minimum", format!("{value} is less than the minimum {min}"));
            }
        }
        if let Some(max) = bound("maximum") {
            let exclusive = map.get("exclusiveMaximum") == Some(&Value::Bool(true));
            if x > max || (exclusive && x == max) {
                self.fail(path, "maximum", format!("{value} is greater than the maximum {max}"));
            }
        }
        if let Some(min) = bound("exclusiveMinimum") {
            if x <= min {
                self.fail(path, "exclusiveMinimum", format!("{value} is not greater than {min}"));
            }
        }
        if let Some(max) = bound("exclusiveMaximum") {
            if x >= max {
                self.fail(path, "exclusiveMaximum", format!("{value} is not less than {max}"));
            }
        }
        if let Some(m) = bound("multipleOf").filter(|&m| m > 0.0) {
            let q = x / m;
            if !q.is_finite() || (q - q.round()).abs() > 1e-9 {
                self.fail(path, "multipleOf", format!("{value} is not a multiple of {m}"));
            }
        }
    }

    fn check_string(&mut self, s: &str, map: &Map<String, Value>, path: &str) {
        // Lengths count code points, as JSON Schema specifies.
        let len = s.chars().count() as u64;
        if let Some(min) = map.get("minLength").and_then(Value::as_u64) {
            if len < min {
                self.fail(path, "minLength", format!("{s:?} is shorter than {min} characters"));
            }
        }
        if let Some(max) = map.get("maxLength").and_then(Value::as_u64) {
            if len > max {
                self.fail(path, "maxLength", format!("{s:?} is longer than {max} characters"));
            }
        }
        if let Some(Value::String(p)) = map.get("pattern") {
            if let Some(re) = self.schema.patterns.get(p) {
                if !re.is_match(s) {
                    self.fail(path, "pattern", format!("{s:?} does not match {p:?}"));
                }
            }
        }
    }

    fn check_array(&mut self, items: &[Value], map: &Map<String, Value>, path: &str, depth: usize) {
        let len = items.len() as u64;
        if map.get("minItems").and_then(Value::as_u64).is_some_and(|min| len < min) {
            self.fail(path, "minItems", format!("{len} items, fewer than minItems"));
        }
        if map.get("maxItems").and_then(Value::as_u64).is_some_and(|max| len > max) {
            self.fail(path, "maxItems", format!("{len} items, more than maxItems"));
        }
        if map.get("uniqueItems") == Some(&Value::Bool(true)) {
            'outer: for i in 0..items.len() {
                for j in i + 1..items.len() {
                    if json_equal(&items[i], &items[j]) {
                        self.fail(path, "uniqueItems", format!("items {i} and {j} are equal"));
                        break 'outer;
                    }
                }
            }
        }
        match map.get("items") {
            Some(Value::Array(tuple)) => {
                for (i, item) in items.iter().enumerate() {
                    let item_path = format!("{path}/{i}");
                    match tuple.get(i) {
                        Some(schema) => self.validate(item, schema, &item_path, depth + 1),
                        None => {
                            if let Some(additional) = map.get("additionalItems") {
                                self.validate(item, additional, &item_path, depth + 1);
                            }
                        }
                    }
                }
            }
            Some(schema) => {
                for (i, item) in items.iter().enumerate() {
                    self.validate(item, schema, &format!("{path}/{i}"), depth + 1);
                }
            }
            None => {}
        }
        if let Some(contains) = map.get("contains") {
            if !items.iter().any(|item| self.probe(item, contains, depth + 1)) {
                self.fail(path, "contains", "no item matches the contains schema".into());
            }
        }
    }

    fn check_object(&mut self, object: &Map<String, Value>, map: &Map<String, Value>, path: &str, depth: usize) {
        let len = object.len() as u64;
        if map.get("minProperties").and_then(Value::as_u64).is_some_and(|min| len < min) {
            self.fail(path, "minProperties", format!("{len} properties, fewer than minProperties"));
        }
        if map.get("maxProperties").and_then(Value::as_u64).is_some_and(|max| len > max) {
            self.fail(path, "maxProperties", format!("{len} properties, more than maxProperties"));
        }
        if let Some(Value::Array(required)) = map.get("required") {
            for name in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(name) {
                    self.fail(
                        &format!("{path}/{}", escape_pointer(name)),
                        "required",
                        format!("required property {name:?} is missing"),
                    );
                }
            }
        }
        let properties = map.get("properties").and_then(Value::as_object);
        let pattern_properties = map.get("patternProperties").and_then(Value::as_object);
        for (key, item) in object {
            let item_path = format!("{path}/{}", escape_pointer(key));
            let mut matched = false;
            if let Some(schema) = properties.and_then(|p| p.get(key)) {
                matched = true;
                self.validate(item, schema, &item_path, depth + 1);
            }
            if let Some(pp) = pattern_properties {
                for (pattern, schema) in pp {
                    if self.schema.patterns.get(pattern).is_some_and(|re| re.is_match(key)) {
                        matched = true;
                        self.validate(item, schema, &item_path, depth + 1);
                    }
                }
            }
            if !matched {
                match map.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        self.fail(&item_path, "additionalProperties", format!("property {key:?} is not allowed"))
                    }
                    Some(schema) => self.validate(item, schema, &item_path, depth + 1),
                    None => {}
                }
            }
            if let Some(names) = map.get("propertyNames") {
                if !self.probe(&Value::String(key.clone()), names, depth + 1) {
                    self.fail(&item_path, "propertyNames", format!("property name {key:?} is not allowed"));
                }
            }
        }
        if let Some(Value::Object(dependencies)) = map.get("dependencies") {
            for (key, dependency) in dependencies {
                if !object.contains_key(key) {
                    continue;
                }
                match dependency {
                    Value::Array(names) => {
                        for name in names.iter().filter_map(Value::as_str) {
                            if !object.contains_key(name) {
                                self.fail(path, "dependencies", format!("{key:?} requires property {name:?}"));
                            }
                        }
                    }
                    schema => self.validate(&Value::Object(object.clone()), schema, path, depth + 1),
                }
            }
        }
    }

    fn check_combinators(&mut self, value: &Value, map: &Map<String, Value>, path: &str, depth: usize) {
        if let Some(Value::Array(all)) = map.get("allOf") {
            for schema in all {
                self.validate(value, schema, path, depth + 1);
            }
        }
        if let Some(Value::Array(any)) = map.get("anyOf") {
            if !any.iter().any(|schema| self.probe(value, schema, depth + 1)) {
                self.fail(path, "anyOf", "the value matches none of anyOf".into());
            }
        }
        if let Some(Value::Array(one)) = map.get("oneOf") {
            let n = one.iter().filter(|schema| self.probe(value, schema, depth + 1)).count();
            if n != 1 {
                self.fail(path, "oneOf", format!("the value matches {n} of oneOf, not exactly one"));
            }
        }
        if let Some(not) = map.get("not") {
            if self.probe(value, not, depth + 1) {
                self.fail(path, "not", "the value matches the not schema".into());
            }
        }
        if let Some(condition) = map.get("if") {
            let branch = if self.probe(value, condition, depth + 1) { map.get("then") } else { map.get("else") };
            if let Some(schema) = branch {
                self.validate(value, schema, path, depth + 1);
            }
        }
    }
}

impl JsonSchema {
    /// Compiles a schema given as a JSON value.
    pub fn new(schema: Value) -> Result<Self, SchemaError> {
        if !schema.is_object() && !schema.is_boolean() {
            return Err(SchemaError::NotASchema { path: String::new() });
        }
        let mut patterns = HashMap::new();
        collect_patterns(&schema, "", &mut patterns, 0)?;
        Ok(JsonSchema { root: schema, patterns })
    }

    /// Compiles a schema given as JSON text, as a schema registry stores it.
    pub fn parse(text: &str) -> Result<Self, SchemaError> {
        let value: Value = serde_json::from_str(text).map_err(|e| SchemaError::Json(e.to_string()))?;
        JsonSchema::new(value)
    }

    pub fn schema(&self) -> &Value {
        &self.root
    }

    /// `#`, `#/json/pointer` within this document.
    fn resolve(&self, reference: &str) -> Option<&Value> {
        let fragment = reference.strip_prefix('#')?;
        if fragment.is_empty() {
            return Some(&self.root);
        }
        let decoded = percent_decode(fragment)?;
        self.root.pointer(&decoded)
    }

    /// Every failure of `value` against the schema; empty when it is valid.
    pub fn errors(&self, value: &Value) -> Vec<ValidationError> {
        let mut ctx = Ctx { schema: self, errors: Vec::new() };
        ctx.validate(value, &self.root, "", 0);
        ctx.errors
    }

    pub fn validate(&self, value: &Value) -> Result<(), ValidationErrors> {
        let errors = self.errors(value);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(errors))
        }
    }
}

/// `%xx` escapes in a URI fragment.
fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Validates each value against a JSON Schema, then writes it as compact JSON text, framed in the Confluent
/// wire format when a schema id is given (as Confluent's `KafkaJsonSchemaSerializer` writes it).
#[derive(Debug, Clone)]
pub struct JsonSchemaSerializer {
    pub schema: JsonSchema,
    pub schema_id: Option<i32>,
}

impl Serializer<Value> for JsonSchemaSerializer {
    fn serialize(&self, _topic: &str, data: Option<&Value>) -> Result<Option<Vec<u8>>, SerializationError> {
        let Some(value) = data else { return Ok(None) };
        self.schema.validate(value)?;
        let json = serde_json::to_vec(value).map_err(|e| SerializationError::Json(e.to_string()))?;
        Ok(Some(match self.schema_id {
            Some(id) => confluent::frame(id, &json),
            None => json,
        }))
    }
}

/// Reads what [`JsonSchemaSerializer`] writes: unframes when `framed`, parses, and validates.
#[derive(Debug, Clone)]
pub struct JsonSchemaDeserializer {
    pub schema: JsonSchema,
    pub framed: bool,
}

impl super::Deserializer<Value> for JsonSchemaDeserializer {
    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<Option<Value>, SerializationError> {
        let Some(data) = data else { return Ok(None) };
        let payload = if self.framed { confluent::unframe(data)?.1 } else { data };
        let value: Value = serde_json::from_slice(payload).map_err(|e| SerializationError::Json(e.to_string()))?;
        self.schema.validate(&value)?;
        Ok(Some(value))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::serde::Deserializer;
    use serde_json::json;

    pub(crate) const POS_INVOICE_SCHEMA: &str = include_str!("testdata/pos-invoice.schema.json");

    pub(crate) fn invoice() -> Value {
        json!({
            "InvoiceNumber": "51058379", "CreatedTime": 1_595_140_882_000i64, "StoreID": "STR7188",
            "PosID": "POS956", "CashierID": "OAS134", "CustomerType": "PRIME", "CustomerCardNo": "4629185211",
            "TotalAmount": 11114.0, "NumberOfItems": 4, "PaymentMethod": "CARD", "TaxableAmount": 11114.0,
            "CGST": 277.85, "SGST": 277.85, "CESS": 13.8925, "DeliveryType": "HOME-DELIVERY",
            "DeliveryAddress": {"AddressLine": "13436 Sundance Lane", "City": "Pune", "State": "Maharashtra",
                                "PinCode": "411001", "ContactNumber": "2306117245"},
            "InvoiceLineItems": [
                {"ItemCode": "458", "ItemDescription": "Wine glass", "ItemPrice": 1644.0, "ItemQty": 2, "TotalValue": 3288.0},
                {"ItemCode": "283", "ItemDescription": "Sauce Pan", "ItemPrice": 1913.0, "ItemQty": 1, "TotalValue": 1913.0}
            ]
        })
    }

    fn schema() -> JsonSchema {
        JsonSchema::parse(POS_INVOICE_SCHEMA).expect("schema")
    }

    #[test]
    fn a_valid_invoice_passes_and_serializes_as_compact_json() {
        let s = schema();
        assert_eq!(s.errors(&invoice()), []);
        let mut takeaway = invoice();
        takeaway["DeliveryType"] = json!("TAKEAWAY");
        takeaway["DeliveryAddress"] = Value::Null;
        assert_eq!(s.errors(&takeaway), []);
        let ser = JsonSchemaSerializer { schema: s.clone(), schema_id: Some(7) };
        let bytes = ser.serialize("pos", Some(&invoice())).expect("ser").expect("some");
        assert_eq!(&bytes[..5], &[0, 0, 0, 0, 7]);
        assert_eq!(serde_json::from_slice::<Value>(&bytes[5..]).expect("json"), invoice());
        let de = JsonSchemaDeserializer { schema: s, framed: true };
        assert_eq!(de.deserialize("pos", Some(&bytes)).expect("de"), Some(invoice()));
    }

    #[test]
    fn failures_name_the_field_path() {
        let s = schema();
        let mut bad = invoice();
        bad["DeliveryAddress"]["PinCode"] = json!(411001);
        let errors = s.validate(&bad).expect_err("invalid");
        // oneOf reports at the address; the failing branch names the field when validated directly.
        assert!(errors.0.iter().any(|e| e.instance_path == "/DeliveryAddress"), "{errors}");
        let address = JsonSchema::new(s.schema()["definitions"]["DeliveryAddress"].clone()).expect("schema");
        let e = address.validate(&bad["DeliveryAddress"]).expect_err("invalid");
        assert_eq!(e.0[0].instance_path, "/PinCode");
        assert_eq!(e.0[0].keyword, "type");

        let mut bad = invoice();
        bad["InvoiceLineItems"][1]["ItemQty"] = json!(0);
        bad["CustomerType"] = json!("VIP");
        bad.as_object_mut().expect("object").remove("StoreID");
        let errors = s.validate(&bad).expect_err("invalid").0;
        let paths: Vec<(&str, &str)> = errors.iter().map(|e| (e.instance_path.as_str(), e.keyword)).collect();
        assert!(paths.contains(&("/InvoiceLineItems/1/ItemQty", "minimum")), "{paths:?}");
        assert!(paths.contains(&("/CustomerType", "enum")), "{paths:?}");
        assert!(paths.contains(&("/StoreID", "required")), "{paths:?}");
        let ser = JsonSchemaSerializer { schema: s, schema_id: None };
        let err = ser.serialize("pos", Some(&bad)).expect_err("refused");
        assert!(err.to_string().contains("/InvoiceLineItems/1/ItemQty"), "{err}");
    }

    #[test]
    fn the_address_path_through_a_plain_ref() {
        let s = JsonSchema::new(json!({
            "type": "object",
            "properties": {"DeliveryAddress": {"$ref": "#/definitions/A"}},
            "definitions": {"A": {"type": "object", "properties": {"PinCode": {"type": "string", "pattern": "^[0-9]{6}$"}}}}
        }))
        .expect("schema");
        let e = s.validate(&json!({"DeliveryAddress": {"PinCode": "41100"}})).expect_err("invalid");
        assert_eq!(e.0[0].instance_path, "/DeliveryAddress/PinCode");
        assert_eq!(e.0[0].keyword, "pattern");
        assert_eq!(
            e.to_string(),
            r#"JSON Schema validation failed: /DeliveryAddress/PinCode: "41100" does not match "^[0-9]{6}$""#
        );
    }

    #[test]
    fn keywords() {
        let check = |schema: Value, ok: Value, bad: Value| {
            let s = JsonSchema::new(schema.clone()).expect("schema");
            assert!(s.validate(&ok).is_ok(), "{schema} should accept {ok}");
            assert!(s.validate(&bad).is_err(), "{schema} should refuse {bad}");
        };
        check(json!({"type": "integer"}), json!(3.0), json!(3.5));
        check(json!({"type": ["string", "null"]}), json!(null), json!(1));
        check(json!({"exclusiveMinimum": 0}), json!(1), json!(0));
        check(json!({"minimum": 0, "exclusiveMinimum": true}), json!(1), json!(0));
        check(json!({"multipleOf": 0.01}), json!(2.57), json!(2.575));
        check(json!({"maxLength": 2}), json!("éé"), json!("abc"));
        check(json!({"items": [{"type": "string"}], "additionalItems": false}), json!(["a"]), json!(["a", 1]));
        check(json!({"uniqueItems": true}), json!([1, 2]), json!([1, 1.0]));
        check(json!({"contains": {"const": 3}}), json!([1, 3]), json!([1]));
        check(json!({"additionalProperties": false, "properties": {"a": {}}}), json!({"a": 1}), json!({"b": 1}));
        check(json!({"patternProperties": {"^x": {"type": "integer"}}}), json!({"x1": 1}), json!({"x1": "a"}));
        check(json!({"propertyNames": {"maxLength": 2}}), json!({"ab": 1}), json!({"abc": 1}));
        check(json!({"anyOf": [{"type": "string"}, {"minimum": 5}]}), json!(6), json!(4));
        check(json!({"oneOf": [{"minimum": 0}, {"maximum": 10}]}), json!(-1), json!(5));
        check(json!({"not": {"type": "null"}}), json!(0), json!(null));
        check(json!({"if": {"minimum": 10}, "then": {"multipleOf": 10}, "else": {"maximum": 5}}), json!(20), json!(7));
        check(json!({"dependencies": {"a": ["b"]}}), json!({"a": 1, "b": 2}), json!({"a": 1}));
        check(json!({"enum": [1, "x"]}), json!(1.0), json!(2));
        assert!(JsonSchema::new(json!(false)).expect("schema").validate(&json!(null)).is_err());
        assert!(JsonSchema::new(json!(true)).expect("schema").validate(&json!({"any": 1})).is_ok());
    }

    #[test]
    fn bad_schemas_and_ref_loops_are_errors_not_hangs() {
        assert!(matches!(JsonSchema::new(json!({"pattern": "("})), Err(SchemaError::Pattern { .. })));
        assert!(matches!(JsonSchema::new(json!(3)), Err(SchemaError::NotASchema { .. })));
        assert!(matches!(JsonSchema::parse("{"), Err(SchemaError::Json(_))));
        let looping = JsonSchema::new(json!({"$ref": "#"})).expect("schema");
        assert_eq!(looping.validate(&json!(1)).expect_err("loop").0[0].keyword, "$ref");
        let missing = JsonSchema::new(json!({"$ref": "#/definitions/nope"})).expect("schema");
        assert!(missing.validate(&json!(1)).is_err());
        let many = JsonSchema::new(json!({"items": {"type": "string"}})).expect("schema");
        let values = Value::Array(vec![json!(1); 1000]);
        assert_eq!(many.errors(&values).len(), MAX_REPORTED_ERRORS);
    }
}
