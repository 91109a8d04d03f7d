//! A compact Avro codec: schemas parsed from their JSON text, values as `serde_json::Value`, binary encoding as
//! the Avro specification (and so the Java and Confluent serializers) writes it.
//!
//! Supported: every primitive type, records (with field defaults), enums, arrays, maps, fixed, unions (a value
//! takes the first branch it fits, or a branch named explicitly in Avro's JSON form `{"string": "x"}`), named
//! type references and recursive types. Logical types are read and written as their underlying type (a
//! `timestamp-millis` is a long, a `decimal` its bytes). Bytes and fixed values are JSON strings whose code points
//! are the byte values (U+0000..U+00FF), Avro's own JSON convention.
//!
//! Decoding checks every length against the bytes left, caps the items of arrays and maps
//! ([`DecodeLimits`]), and bounds recursion depth, so no input can allocate without bound or overflow the stack.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};

use super::{confluent, Deserializer, SerializationError, Serializer};

/// Deepest value nesting encoded or decoded (recursive schemas allow unbounded nesting otherwise).
pub const MAX_DEPTH: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AvroError {
    #[error("invalid Avro schema: {0}")]
    Schema(String),
    /// The value does not fit the schema; `path` is the JSON Pointer of the failing value.
    #[error("{path}: {message}")]
    Value { path: String, message: String },
    #[error("malformed Avro data: {0}")]
    Malformed(String),
}

fn schema_err(msg: impl Into<String>) -> AvroError {
    AvroError::Schema(msg.into())
}

fn malformed(msg: impl Into<String>) -> AvroError {
    AvroError::Malformed(msg.into())
}

/// A parsed schema node. Named types live in the [`AvroSchema`]'s table and are referenced by index, which is
/// what lets a record refer to itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Schema {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Array(Box<Schema>),
    Map(Box<Schema>),
    Union(Vec<Schema>),
    Named(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub schema: Schema,
    pub default: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NamedKind {
    Record(Vec<Field>),
    Enum(Vec<String>),
    Fixed(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Named {
    /// The full name, namespace included.
    pub name: String,
    pub kind: NamedKind,
}

/// Caps applied while decoding.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Most items of all arrays and maps in one datum together.
    pub max_items: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits { max_items: 1_000_000 }
    }
}

/// A parsed Avro schema.
#[derive(Debug, Clone, PartialEq)]
pub struct AvroSchema {
    pub root: Schema,
    pub named: Vec<Named>,
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

struct Parser {
    named: Vec<Named>,
    by_name: HashMap<String, usize>,
}

impl Parser {
    fn full_name(name: &str, namespace: Option<&str>) -> Result<String, AvroError> {
        let full = match (name.contains('.'), namespace) {
            (true, _) | (false, None) => name.to_string(),
            (false, Some("")) => name.to_string(),
            (false, Some(ns)) => format!("{ns}.{name}"),
        };
        if !full.split('.').all(valid_name) {
            return Err(schema_err(format!("invalid name {full:?}")));
        }
        Ok(full)
    }

    fn primitive(name: &str) -> Option<Schema> {
        Some(match name {
            "null" => Schema::Null,
            "boolean" => Schema::Boolean,
            "int" => Schema::Int,
            "long" => Schema::Long,
            "float" => Schema::Float,
            "double" => Schema::Double,
            "bytes" => Schema::Bytes,
            "string" => Schema::String,
            _ => return None,
        })
    }

    fn reference(&self, name: &str, namespace: Option<&str>) -> Result<Schema, AvroError> {
        if let Some(p) = Self::primitive(name) {
            return Ok(p);
        }
        // A short name resolves in the enclosing namespace first, then as a full name.
        let candidates = [Self::full_name(name, namespace).ok(), Some(name.to_string())];
        for candidate in candidates.into_iter().flatten() {
            if let Some(&i) = self.by_name.get(&candidate) {
                return Ok(Schema::Named(i));
            }
        }
        Err(schema_err(format!("unknown type {name:?}")))
    }

    fn declare(&mut self, name: String, kind: NamedKind) -> Result<usize, AvroError> {
        if self.by_name.contains_key(&name) {
            return Err(schema_err(format!("type {name:?} is defined twice")));
        }
        self.named.push(Named { name: name.clone(), kind });
        self.by_name.insert(name, self.named.len() - 1);
        Ok(self.named.len() - 1)
    }

    fn parse(&mut self, v: &Value, namespace: Option<&str>, depth: usize) -> Result<Schema, AvroError> {
        if depth > MAX_DEPTH {
            return Err(schema_err("schema nested too deeply"));
        }
        match v {
            Value::String(name) => self.reference(name, namespace),
            Value::Array(branches) => {
                let mut out = Vec::with_capacity(branches.len());
                for b in branches {
                    let s = self.parse(b, namespace, depth + 1)?;
                    if matches!(s, Schema::Union(_)) {
                        return Err(schema_err("a union cannot directly contain a union"));
                    }
                    if out.iter().any(|o| same_branch(o, &s)) {
                        return Err(schema_err(format!("duplicate union branch {b}")));
                    }
                    out.push(s);
                }
                Ok(Schema::Union(out))
            }
            Value::Object(map) => {
                let ty = map.get("type").ok_or_else(|| schema_err(format!("no \"type\" in {v}")))?;
                let Value::String(ty) = ty else {
                    // {"type": {...}} or {"type": [...]} wraps another schema.
                    return self.parse(ty, namespace, depth + 1);
                };
                let name_of = |map: &Map<String, Value>| -> Result<String, AvroError> {
                    let name = map
                        .get("name")
                        .and_then(Value::as_str)
                        .ok_or_else(|| schema_err(format!("a {ty} needs a name")))?;
                    let ns = map.get("namespace").and_then(Value::as_str).or(namespace);
                    Self::full_name(name, ns)
                };
                match ty.as_str() {
                    "record" | "error" => {
                        let name = name_of(map)?;
                        let index = self.declare(name.clone(), NamedKind::Record(Vec::new()))?;
                        let inner_ns = name.rsplit_once('.').map(|(ns, _)| ns.to_string());
                        let fields = map
                            .get("fields")
                            .and_then(Value::as_array)
                            .ok_or_else(|| schema_err(format!("record {name} needs a fields array")))?;
                        let mut parsed: Vec<Field> = Vec::with_capacity(fields.len());
                        for f in fields {
                            let fname = f
                                .get("name")
                                .and_then(Value::as_str)
                                .filter(|n| valid_name(n))
                                .ok_or_else(|| schema_err(format!("record {name}: invalid field {f}")))?;
                            if parsed.iter().any(|p| p.name == fname) {
                                return Err(schema_err(format!("record {name}: field {fname} is defined twice")));
                            }
                            let ftype = f
                                .get("type")
                                .ok_or_else(|| schema_err(format!("record {name}: field {fname} has no type")))?;
                            let schema = self.parse(ftype, inner_ns.as_deref(), depth + 1)?;
                            parsed.push(Field { name: fname.to_string(), schema, default: f.get("default").cloned() });
                        }
                        self.named[index].kind = NamedKind::Record(parsed);
                        Ok(Schema::Named(index))
                    }
                    "enum" => {
                        let name = name_of(map)?;
                        let symbols: Vec<String> = map
                            .get("symbols")
                            .and_then(Value::as_array)
                            .ok_or_else(|| schema_err(format!("enum {name} needs symbols")))?
                            .iter()
                            .map(|s| s.as_str().filter(|s| valid_name(s)).map(str::to_string))
                            .collect::<Option<_>>()
                            .ok_or_else(|| schema_err(format!("enum {name}: invalid symbol")))?;
                        Ok(Schema::Named(self.declare(name, NamedKind::Enum(symbols))?))
                    }
                    "fixed" => {
                        let name = name_of(map)?;
                        let size = map
                            .get("size")
                            .and_then(Value::as_u64)
                            .ok_or_else(|| schema_err(format!("fixed {name} needs a size")))?;
                        Ok(Schema::Named(self.declare(name, NamedKind::Fixed(size as usize))?))
                    }
                    "array" => {
                        let items = map.get("items").ok_or_else(|| schema_err("an array needs items"))?;
                        Ok(Schema::Array(Box::new(self.parse(items, namespace, depth + 1)?)))
                    }
                    "map" => {
                        let values = map.get("values").ok_or_else(|| schema_err("a map needs values"))?;
                        Ok(Schema::Map(Box::new(self.parse(values, namespace, depth + 1)?)))
                    }
                    // A primitive with attributes, e.g. {"type": "long", "logicalType": "timestamp-millis"}.
                    other => self.reference(other, namespace),
                }
            }
            other => Err(schema_err(format!("not a schema: {other}"))),
        }
    }
}

fn same_branch(a: &Schema, b: &Schema) -> bool {
    match (a, b) {
        (Schema::Named(x), Schema::Named(y)) => x == y,
        (Schema::Array(_), Schema::Array(_)) | (Schema::Map(_), Schema::Map(_)) => true,
        _ => std::mem::discriminant(a) == std::mem::discriminant(b),
    }
}

fn write_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn latin1_bytes(s: &str) -> Option<Vec<u8>> {
    s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
}

fn latin1_string(b: &[u8]) -> String {
    b.iter().map(|&c| char::from(c)).collect()
}

struct Reader<'a> {
    buf: &'a [u8],
    items_left: usize,
    /// Avro's JSON encoding: a union value other than null is wrapped as `{"branch": value}`.
    json_encoding: bool,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], AvroError> {
        if n > self.buf.len() {
            return Err(malformed(format!("{n} bytes announced, {} left", self.buf.len())));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn long(&mut self) -> Result<i64, AvroError> {
        let mut z: u64 = 0;
        for i in 0..10 {
            let b = *self.buf.first().ok_or_else(|| malformed("truncated varint"))?;
            self.buf = &self.buf[1..];
            if i == 9 && b > 1 {
                return Err(malformed("varint longer than 64 bits"));
            }
            z |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok((z >> 1) as i64 ^ -((z & 1) as i64));
            }
        }
        Err(malformed("varint longer than 10 bytes"))
    }

    fn int(&mut self) -> Result<i32, AvroError> {
        let v = self.long()?;
        i32::try_from(v).map_err(|_| malformed(format!("int out of range: {v}")))
    }

    fn len(&mut self) -> Result<usize, AvroError> {
        let n = self.long()?;
        usize::try_from(n).map_err(|_| malformed(format!("negative length {n}")))
    }

    /// The item count of the next array or map block; a negative count is followed by the block's byte size.
    fn block_count(&mut self) -> Result<usize, AvroError> {
        let n = self.long()?;
        let count = if n < 0 {
            self.long()?;
            n.unsigned_abs()
        } else {
            n as u64
        };
        let count = usize::try_from(count).map_err(|_| malformed("block count too large"))?;
        if count > self.items_left {
            return Err(malformed("more array or map items than the decode limit"));
        }
        self.items_left -= count;
        Ok(count)
    }
}

fn number(v: f64, path: &str) -> Result<Value, AvroError> {
    Number::from_f64(v)
        .map(Value::Number)
        .ok_or_else(|| AvroError::Value { path: path.to_string(), message: format!("{v} has no JSON form") })
}

impl AvroSchema {
    /// Parses a schema from its JSON text.
    pub fn parse(text: &str) -> Result<Self, AvroError> {
        let v: Value = serde_json::from_str(text).map_err(|e| schema_err(e.to_string()))?;
        Self::from_value(&v)
    }

    pub fn from_value(v: &Value) -> Result<Self, AvroError> {
        let mut parser = Parser { named: Vec::new(), by_name: HashMap::new() };
        let root = parser.parse(v, None, 0)?;
        let schema = AvroSchema { root, named: parser.named };
        // Defaults are values of their field's schema: check them now rather than on the first record that
        // needs one.
        for named in &schema.named {
            if let NamedKind::Record(fields) = &named.kind {
                for f in fields {
                    if let Some(d) = &f.default {
                        // A union's default belongs to its first branch.
                        let s = match &f.schema {
                            Schema::Union(b) => b.first().unwrap_or(&Schema::Null),
                            s => s,
                        };
                        schema.write(&mut Vec::new(), d, s, "", 0).map_err(|e| {
                            schema_err(format!("default of {}.{} does not fit its type: {e}", named.name, f.name))
                        })?;
                    }
                }
            }
        }
        Ok(schema)
    }

    /// Avro binary of `value`.
    pub fn encode(&self, value: &Value) -> Result<Vec<u8>, AvroError> {
        let mut out = Vec::new();
        self.write(&mut out, value, &self.root, "", 0)?;
        Ok(out)
    }

    /// The value of Avro binary `data`; every byte must belong to the datum.
    pub fn decode(&self, data: &[u8], limits: DecodeLimits) -> Result<Value, AvroError> {
        self.decode_with(data, limits, false)
    }

    /// The value of Avro binary `data` in Avro's JSON encoding (unions name their branch, `{"string": "x"}`),
    /// as Avro's `JsonEncoder`, and so Confluent's Avro console consumer, prints it.
    pub fn decode_json_encoding(&self, data: &[u8], limits: DecodeLimits) -> Result<Value, AvroError> {
        self.decode_with(data, limits, true)
    }

    fn decode_with(&self, data: &[u8], limits: DecodeLimits, json_encoding: bool) -> Result<Value, AvroError> {
        let mut r = Reader { buf: data, items_left: limits.max_items, json_encoding };
        let v = self.read(&mut r, &self.root, "", 0)?;
        if !r.buf.is_empty() {
            return Err(malformed(format!("{} bytes left after the datum", r.buf.len())));
        }
        Ok(v)
    }

    fn write(&self, out: &mut Vec<u8>, v: &Value, s: &Schema, path: &str, depth: usize) -> Result<(), AvroError> {
        let fail = |message: String| AvroError::Value { path: path.to_string(), message };
        if depth > MAX_DEPTH {
            return Err(fail(format!("value nested deeper than {MAX_DEPTH}")));
        }
        let expected = |what: &str| fail(format!("expected {what}, got {v}"));
        match s {
            Schema::Null => v.is_null().then_some(()).ok_or_else(|| expected("null")),
            Schema::Boolean => {
                out.push(u8::from(v.as_bool().ok_or_else(|| expected("boolean"))?));
                Ok(())
            }
            Schema::Int => {
                let i = v.as_i64().and_then(|i| i32::try_from(i).ok()).ok_or_else(|| expected("int"))?;
                write_long(out, i64::from(i));
                Ok(())
            }
            Schema::Long => {
                write_long(out, v.as_i64().ok_or_else(|| expected("long"))?);
                Ok(())
            }
            Schema::Float => {
                out.extend_from_slice(&(v.as_f64().ok_or_else(|| expected("float"))? as f32).to_le_bytes());
                Ok(())
            }
            Schema::Double => {
                out.extend_from_slice(&v.as_f64().ok_or_else(|| expected("double"))?.to_le_bytes());
                Ok(())
            }
            Schema::Bytes => {
                let b =
                    v.as_str().and_then(latin1_bytes).ok_or_else(|| expected("bytes as a string of U+0000..U+00FF"))?;
                write_long(out, b.len() as i64);
                out.extend_from_slice(&b);
                Ok(())
            }
            Schema::String => {
                let s = v.as_str().ok_or_else(|| expected("string"))?;
                write_long(out, s.len() as i64);
                out.extend_from_slice(s.as_bytes());
                Ok(())
            }
            Schema::Array(items) => {
                let a = v.as_array().ok_or_else(|| expected("array"))?;
                if !a.is_empty() {
                    write_long(out, a.len() as i64);
                    for (i, item) in a.iter().enumerate() {
                        self.write(out, item, items, &format!("{path}/{i}"), depth + 1)?;
                    }
                }
                out.push(0);
                Ok(())
            }
            Schema::Map(values) => {
                let m = v.as_object().ok_or_else(|| expected("map (object)"))?;
                if !m.is_empty() {
                    write_long(out, m.len() as i64);
                    for (k, item) in m {
                        write_long(out, k.len() as i64);
                        out.extend_from_slice(k.as_bytes());
                        self.write(out, item, values, &format!("{path}/{}", escape(k)), depth + 1)?;
                    }
                }
                out.push(0);
                Ok(())
            }
            Schema::Union(branches) => self.write_union(out, v, branches, path, depth),
            Schema::Named(i) => {
                let named = &self.named[*i];
                match &named.kind {
                    NamedKind::Record(fields) => {
                        let m = v.as_object().ok_or_else(|| expected(&format!("record {}", named.name)))?;
                        if let Some(unknown) = m.keys().find(|k| !fields.iter().any(|f| &f.name == *k)) {
                            return Err(AvroError::Value {
                                path: format!("{path}/{}", escape(unknown)),
                                message: format!("record {} has no field {unknown:?}", named.name),
                            });
                        }
                        for f in fields {
                            let fpath = format!("{path}/{}", escape(&f.name));
                            match (m.get(&f.name), &f.default) {
                                (Some(fv), _) => self.write(out, fv, &f.schema, &fpath, depth + 1)?,
                                (None, Some(d)) => {
                                    let s = match &f.schema {
                                        Schema::Union(b) => {
                                            // The default is for the first branch, written with index 0.
                                            write_long(out, 0);
                                            b.first().unwrap_or(&Schema::Null)
                                        }
                                        s => s,
                                    };
                                    self.write(out, d, s, &fpath, depth + 1)?;
                                }
                                (None, None) => {
                                    return Err(AvroError::Value {
                                        path: fpath,
                                        message: format!(
                                            "field {} of {} is missing and has no default",
                                            f.name, named.name
                                        ),
                                    })
                                }
                            }
                        }
                        Ok(())
                    }
                    NamedKind::Enum(symbols) => {
                        let s = v.as_str().ok_or_else(|| expected(&format!("enum {}", named.name)))?;
                        let index = symbols
                            .iter()
                            .position(|x| x == s)
                            .ok_or_else(|| fail(format!("{s:?} is not a symbol of enum {}", named.name)))?;
                        write_long(out, index as i64);
                        Ok(())
                    }
                    NamedKind::Fixed(size) => {
                        let b = v
                            .as_str()
                            .and_then(latin1_bytes)
                            .filter(|b| b.len() == *size)
                            .ok_or_else(|| expected(&format!("fixed {} of {size} bytes", named.name)))?;
                        out.extend_from_slice(&b);
                        Ok(())
                    }
                }
            }
        }
    }

    fn branch_name(&self, s: &Schema) -> String {
        match s {
            Schema::Null => "null".into(),
            Schema::Boolean => "boolean".into(),
            Schema::Int => "int".into(),
            Schema::Long => "long".into(),
            Schema::Float => "float".into(),
            Schema::Double => "double".into(),
            Schema::Bytes => "bytes".into(),
            Schema::String => "string".into(),
            Schema::Array(_) => "array".into(),
            Schema::Map(_) => "map".into(),
            Schema::Union(_) => "union".into(),
            Schema::Named(i) => self.named[*i].name.clone(),
        }
    }

    fn write_union(
        &self,
        out: &mut Vec<u8>,
        v: &Value,
        branches: &[Schema],
        path: &str,
        depth: usize,
    ) -> Result<(), AvroError> {
        // The first branch the plain value fits, trying each into a scratch buffer.
        let mut first_error = None;
        for (i, b) in branches.iter().enumerate() {
            let mut scratch = Vec::new();
            write_long(&mut scratch, i as i64);
            match self.write(&mut scratch, v, b, path, depth + 1) {
                Ok(()) => {
                    out.extend_from_slice(&scratch);
                    return Ok(());
                }
                Err(e) => {
                    // The error of the branch of the value's own kind says most about what is wrong.
                    if first_error.is_none() && !matches!(b, Schema::Null) {
                        first_error = Some(e);
                    }
                }
            }
        }
        // Avro's JSON encoding of a union: {"type name": value}.
        if let Some((tag, inner)) = v.as_object().filter(|m| m.len() == 1).and_then(|m| m.iter().next()) {
            for (i, b) in branches.iter().enumerate() {
                let name = self.branch_name(b);
                if &name == tag || name.rsplit('.').next() == Some(tag.as_str()) {
                    write_long(out, i as i64);
                    return self.write(out, inner, b, &format!("{path}/{}", escape(tag)), depth + 1);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| AvroError::Value {
            path: path.to_string(),
            message: format!("{v} matches no branch of the union"),
        }))
    }

    fn read(&self, r: &mut Reader<'_>, s: &Schema, path: &str, depth: usize) -> Result<Value, AvroError> {
        if depth > MAX_DEPTH {
            return Err(malformed(format!("data nested deeper than {MAX_DEPTH}")));
        }
        Ok(match s {
            Schema::Null => Value::Null,
            Schema::Boolean => match r.take(1)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(malformed(format!("boolean byte {b}"))),
            },
            Schema::Int => Value::from(r.int()?),
            Schema::Long => Value::from(r.long()?),
            Schema::Float => {
                let b = r.take(4)?;
                number(f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])), path)?
            }
            Schema::Double => {
                let b = r.take(8)?;
                number(f64::from_le_bytes(b.try_into().map_err(|_| malformed("double"))?), path)?
            }
            Schema::Bytes => {
                let n = r.len()?;
                Value::String(latin1_string(r.take(n)?))
            }
            Schema::String => {
                let n = r.len()?;
                let b = r.take(n)?;
                Value::String(String::from_utf8(b.to_vec()).map_err(|_| malformed(format!("{path}: invalid UTF-8")))?)
            }
            Schema::Array(items) => {
                let mut out = Vec::new();
                loop {
                    let count = r.block_count()?;
                    if count == 0 {
                        break;
                    }
                    for _ in 0..count {
                        let item = self.read(r, items, &format!("{path}/{}", out.len()), depth + 1)?;
                        out.push(item);
                    }
                }
                Value::Array(out)
            }
            Schema::Map(values) => {
                let mut out = Map::new();
                loop {
                    let count = r.block_count()?;
                    if count == 0 {
                        break;
                    }
                    for _ in 0..count {
                        let n = r.len()?;
                        let key = String::from_utf8(r.take(n)?.to_vec())
                            .map_err(|_| malformed(format!("{path}: invalid UTF-8 map key")))?;
                        let item = self.read(r, values, &format!("{path}/{}", escape(&key)), depth + 1)?;
                        out.insert(key, item);
                    }
                }
                Value::Object(out)
            }
            Schema::Union(branches) => {
                let index = r.long()?;
                let b = usize::try_from(index)
                    .ok()
                    .and_then(|i| branches.get(i))
                    .ok_or_else(|| malformed(format!("{path}: union index {index} out of range")))?;
                let v = self.read(r, b, path, depth + 1)?;
                if r.json_encoding && !matches!(b, Schema::Null) {
                    let mut wrapped = Map::new();
                    wrapped.insert(self.branch_name(b), v);
                    Value::Object(wrapped)
                } else {
                    v
                }
            }
            Schema::Named(i) => {
                let named = &self.named[*i];
                match &named.kind {
                    NamedKind::Record(fields) => {
                        let mut out = Map::new();
                        for f in fields {
                            let v = self.read(r, &f.schema, &format!("{path}/{}", escape(&f.name)), depth + 1)?;
                            out.insert(f.name.clone(), v);
                        }
                        Value::Object(out)
                    }
                    NamedKind::Enum(symbols) => {
                        let index = r.long()?;
                        let symbol = usize::try_from(index).ok().and_then(|i| symbols.get(i)).ok_or_else(|| {
                            malformed(format!("{path}: enum index {index} out of range for {}", named.name))
                        })?;
                        Value::String(symbol.clone())
                    }
                    NamedKind::Fixed(size) => Value::String(latin1_string(r.take(*size)?)),
                }
            }
        })
    }
}

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Writes values as Avro binary, framed in the Confluent wire format when a schema id is given (what Confluent's
/// `KafkaAvroSerializer` writes for a schema registered under that id).
#[derive(Debug, Clone)]
pub struct AvroSerializer {
    pub schema: AvroSchema,
    pub schema_id: Option<i32>,
}

impl Serializer<Value> for AvroSerializer {
    fn serialize(&self, _topic: &str, data: Option<&Value>) -> Result<Option<Vec<u8>>, SerializationError> {
        let Some(value) = data else { return Ok(None) };
        let payload = self.schema.encode(value)?;
        Ok(Some(match self.schema_id {
            Some(id) => confluent::frame(id, &payload),
            None => payload,
        }))
    }
}

/// Reads Avro binary written with `schema`. With `expected_schema_id` the bytes must be framed with that id;
/// with `framed` alone any id is accepted (the caller resolved the schema some other way).
#[derive(Debug, Clone)]
pub struct AvroDeserializer {
    pub schema: AvroSchema,
    pub framed: bool,
    pub expected_schema_id: Option<i32>,
    pub limits: DecodeLimits,
}

impl Deserializer<Value> for AvroDeserializer {
    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<Option<Value>, SerializationError> {
        let Some(data) = data else { return Ok(None) };
        let payload = if self.framed || self.expected_schema_id.is_some() {
            let (id, payload) = confluent::unframe(data)?;
            if let Some(expected) = self.expected_schema_id.filter(|&e| e != id) {
                return Err(confluent::WireFormatError::UnexpectedSchemaId { expected, actual: id }.into());
            }
            payload
        } else {
            data
        };
        Ok(Some(self.schema.decode(payload, self.limits)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const POS_INVOICE_AVSC: &str = include_str!("testdata/pos-invoice.avsc");
    /// Bytes written by Apache Avro's reference implementation (scripts/golden/avro_vectors.py).
    const AVRO_VECTORS: &str = include_str!("testdata/avro-vectors.json");

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test hex")).collect()
    }

    fn pos() -> AvroSchema {
        AvroSchema::parse(POS_INVOICE_AVSC).expect("schema")
    }

    #[test]
    fn bytes_match_the_avro_reference_implementation() {
        let vectors: Vec<Value> = serde_json::from_str(AVRO_VECTORS).expect("vectors");
        assert!(vectors.len() > 20);
        for v in vectors {
            let schema = match &v["schema"] {
                Value::String(s) if s == "pos-invoice.avsc" => pos(),
                s => AvroSchema::from_value(s).expect("schema"),
            };
            let expected = unhex(v["hex"].as_str().expect("hex"));
            assert_eq!(schema.encode(&v["value"]).expect("encode"), expected, "{}", v["value"]);
            let back = schema.decode(&expected, DecodeLimits::default()).expect("decode");
            // Floats come back as the float they were stored as; every other value as it went in.
            if v["schema"] != "float" {
                assert_eq!(back, v["value"]);
            }
        }
    }

    #[test]
    fn pos_invoice_round_trips_in_the_confluent_format() {
        let invoice = crate::serde::json_schema::tests::invoice();
        let ser = AvroSerializer { schema: pos(), schema_id: Some(3) };
        let bytes = ser.serialize("pos", Some(&invoice)).expect("ser").expect("some");
        assert_eq!(&bytes[..5], &[0, 0, 0, 0, 3]);
        let de = AvroDeserializer {
            schema: pos(),
            framed: true,
            expected_schema_id: Some(3),
            limits: DecodeLimits::default(),
        };
        assert_eq!(de.deserialize("pos", Some(&bytes)).expect("de"), Some(invoice.clone()));
        let other = AvroDeserializer { expected_schema_id: Some(4), ..de };
        assert!(matches!(
            other.deserialize("pos", Some(&bytes)),
            Err(SerializationError::WireFormat(confluent::WireFormatError::UnexpectedSchemaId {
                expected: 4,
                actual: 3
            }))
        ));
    }

    #[test]
    fn a_failing_field_is_named_by_its_path() {
        let schema = pos();
        let mut bad = crate::serde::json_schema::tests::invoice();
        bad["DeliveryAddress"]["PinCode"] = json!(411001);
        let err = schema.encode(&bad).expect_err("bad PinCode");
        assert_eq!(
            err,
            AvroError::Value { path: "/DeliveryAddress/PinCode".into(), message: "expected string, got 411001".into() }
        );
        let mut bad = crate::serde::json_schema::tests::invoice();
        bad["InvoiceLineItems"][1]["ItemQty"] = json!(1.5);
        assert!(
            matches!(schema.encode(&bad), Err(AvroError::Value { path, .. }) if path == "/InvoiceLineItems/1/ItemQty")
        );
        let mut bad = crate::serde::json_schema::tests::invoice();
        bad["Discount"] = json!(1);
        assert!(matches!(schema.encode(&bad), Err(AvroError::Value { path, .. }) if path == "/Discount"));
        let mut missing = crate::serde::json_schema::tests::invoice();
        missing.as_object_mut().expect("object").remove("StoreID");
        assert!(matches!(schema.encode(&missing), Err(AvroError::Value { path, .. }) if path == "/StoreID"));
    }

    #[test]
    fn schema_features() {
        let s = AvroSchema::parse(
            r#"{"type": "record", "name": "Node", "namespace": "n", "fields": [
                {"name": "value", "type": "int"},
                {"name": "next", "type": ["null", "Node"], "default": null},
                {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}, "default": "A"},
                {"name": "id", "type": {"type": "fixed", "name": "Id", "size": 2}},
                {"name": "tags", "type": {"type": "map", "values": "n.Kind"}}
            ]}"#,
        )
        .expect("recursive schema");
        let v = json!({"value": 1, "next": {"value": 2, "next": null, "kind": "B", "id": "\u{0}\u{1}", "tags": {}},
                       "id": "ab", "tags": {"x": "A"}});
        let bytes = s.encode(&v).expect("encode");
        let back = s.decode(&bytes, DecodeLimits::default()).expect("decode");
        assert_eq!(back["kind"], "A", "default filled in");
        assert_eq!(back["next"]["kind"], "B");
        assert_eq!(back["tags"]["x"], "A");
        // Avro's JSON form of a union names the branch.
        let u = AvroSchema::parse(r#"["null", "long", "string"]"#).expect("union");
        assert_eq!(
            u.decode_json_encoding(&[4, 2, b'x'], DecodeLimits::default()).expect("json"),
            json!({"string": "x"})
        );
        assert_eq!(u.decode_json_encoding(&[0], DecodeLimits::default()).expect("json"), json!(null));
        assert_eq!(
            s.decode_json_encoding(&bytes, DecodeLimits::default()).expect("json")["next"]["n.Node"]["value"],
            json!(2)
        );
        assert_eq!(u.encode(&json!({"string": "5"})).expect("tagged"), u.encode(&json!("5")).expect("plain"));
        assert_eq!(u.encode(&json!(5)).expect("long"), [2, 10]);
        for bad in [
            r#"{"type": "record", "name": "R", "fields": [{"name": "a", "type": "Missing"}]}"#,
            r#"["null", "null"]"#,
            r#"{"type": "enum", "name": "E", "symbols": ["1x"]}"#,
            r#"{"type": "record", "name": "R", "fields": [{"name": "a", "type": "int", "default": "x"}]}"#,
            r#"{"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}, {"name": "a", "type": "int"}]}"#,
            r#"{"type": "fixed", "name": "F"}"#,
            r#"nope"#,
        ] {
            assert!(matches!(AvroSchema::parse(bad), Err(AvroError::Schema(_))), "{bad}");
        }
    }

    #[test]
    fn garbage_is_refused_within_limits() {
        let s = AvroSchema::parse(r#"{"type": "array", "items": "null"}"#).expect("schema");
        // A billion nulls in five bytes: refused by the item limit, not allocated.
        let mut huge = Vec::new();
        write_long(&mut huge, 1_000_000_000);
        huge.push(0);
        assert!(matches!(s.decode(&huge, DecodeLimits::default()), Err(AvroError::Malformed(_))));
        let strings = AvroSchema::parse(r#""string""#).expect("schema");
        assert!(strings.decode(&[0x80, 0x80, 0x80, 0x80, 0x10], DecodeLimits::default()).is_err());
        assert!(strings.decode(&[0xff; 11], DecodeLimits::default()).is_err());
        assert!(strings.decode(&[2, 0xff], DecodeLimits::default()).is_err(), "invalid UTF-8");
        assert!(strings.decode(&[2, b'a', b'b'], DecodeLimits::default()).is_err(), "trailing byte");
        let union = AvroSchema::parse(r#"["null", "int"]"#).expect("schema");
        assert!(union.decode(&[4], DecodeLimits::default()).is_err());
        // Deep recursion through a recursive schema is cut off.
        let list =
            AvroSchema::parse(r#"{"type": "record", "name": "L", "fields": [{"name": "n", "type": ["null", "L"]}]}"#)
                .expect("schema");
        assert!(list.decode(&[2; 10_000], DecodeLimits::default()).is_err());
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = pos().decode(&bytes, DecodeLimits { max_items: 1000 });
        }

        #[test]
        fn longs_round_trip(v in any::<i64>(), i in any::<i32>(), s in ".{0,20}") {
            let l = AvroSchema::parse(r#""long""#).expect("schema");
            prop_assert_eq!(l.decode(&l.encode(&json!(v)).expect("enc"), DecodeLimits::default()).expect("dec"), json!(v));
            let n = AvroSchema::parse(r#"["null", "int", "string"]"#).expect("schema");
            prop_assert_eq!(n.decode(&n.encode(&json!(i)).expect("enc"), DecodeLimits::default()).expect("dec"), json!(i));
            prop_assert_eq!(n.decode(&n.encode(&json!(s)).expect("enc"), DecodeLimits::default()).expect("dec"), json!(s));
        }
    }
}
