//! Avro schemas as the registry sees them: parsed with the rules of Avro's Java library (which Confluent's
//! registry runs), printed back in its canonical form (Avro's `Schema.toString()`, what Confluent stores and
//! compares for identity), normalised as Confluent's `normalize=true` does, and checked for compatibility with
//! Avro's schema resolution rules (`SchemaCompatibility.checkReaderWriterCompatibility`), reporting each
//! incompatibility the way Confluent's registry words it.
//!
//! Named types live in one table and are referenced by index, so recursive schemas are finite. Every walk over
//! a schema is bounded by [`MAX_DEPTH`] or memoised per pair of named types.

use std::collections::{HashMap, HashSet};

use super::node::{write_string, Node};

/// Deepest nesting of schema JSON accepted (serde_json stops at 128 anyway).
pub const MAX_DEPTH: usize = 128;

const SCHEMA_RESERVED: &[&str] =
    &["doc", "fields", "items", "name", "namespace", "size", "symbols", "values", "type", "aliases"];
const FIELD_RESERVED: &[&str] = &["default", "doc", "name", "order", "type", "aliases"];

/// Avro's type names, as its Java `Schema.Type` prints them in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Array,
    Map,
    Union,
    Record,
    Enum,
    Fixed,
}

impl Kind {
    fn upper(self) -> &'static str {
        match self {
            Kind::Null => "NULL",
            Kind::Boolean => "BOOLEAN",
            Kind::Int => "INT",
            Kind::Long => "LONG",
            Kind::Float => "FLOAT",
            Kind::Double => "DOUBLE",
            Kind::Bytes => "BYTES",
            Kind::String => "STRING",
            Kind::Array => "ARRAY",
            Kind::Map => "MAP",
            Kind::Union => "UNION",
            Kind::Record => "RECORD",
            Kind::Enum => "ENUM",
            Kind::Fixed => "FIXED",
        }
    }

    fn lower(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Boolean => "boolean",
            Kind::Int => "int",
            Kind::Long => "long",
            Kind::Float => "float",
            Kind::Double => "double",
            Kind::Bytes => "bytes",
            Kind::String => "string",
            Kind::Array => "array",
            Kind::Map => "map",
            Kind::Union => "union",
            Kind::Record => "record",
            Kind::Enum => "enum",
            Kind::Fixed => "fixed",
        }
    }

    fn primitive(name: &str) -> Option<Kind> {
        Some(match name {
            "null" => Kind::Null,
            "boolean" => Kind::Boolean,
            "int" => Kind::Int,
            "long" => Kind::Long,
            "float" => Kind::Float,
            "double" => Kind::Double,
            "bytes" => Kind::Bytes,
            "string" => Kind::String,
            _ => return None,
        })
    }
}

/// Custom attributes (`logicalType`, `connect.name`, ...) in document order.
pub type Props = Vec<(String, Node)>;

#[derive(Debug, Clone)]
pub enum Ty {
    Primitive(Kind, Props),
    Array(Box<Ty>, Props),
    Map(Box<Ty>, Props),
    Union(Vec<Ty>),
    Named(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Ascending,
    Descending,
    Ignore,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub ty: Ty,
    pub doc: Option<String>,
    pub default: Option<Node>,
    pub order: Order,
    pub aliases: Vec<String>,
    pub props: Props,
}

#[derive(Debug, Clone)]
pub enum NamedKind {
    Record { error: bool, fields: Vec<Field> },
    Enum { symbols: Vec<String>, default: Option<String> },
    Fixed { size: u64 },
}

/// A name with its namespace, as Avro's `Schema.Name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    pub name: String,
    pub space: Option<String>,
}

impl Name {
    fn new(name: &str, space: Option<&str>) -> Name {
        match name.rsplit_once('.') {
            Some((ns, short)) => {
                Name { name: short.to_string(), space: Some(ns.to_string()).filter(|s| !s.is_empty()) }
            }
            None => Name { name: name.to_string(), space: space.filter(|s| !s.is_empty()).map(str::to_string) },
        }
    }

    pub fn full(&self) -> String {
        match &self.space {
            Some(ns) => format!("{ns}.{}", self.name),
            None => self.name.clone(),
        }
    }

    /// The short name when `default_space` is this name's namespace (and the name is not a type name).
    fn qualified(&self, default_space: Option<&str>) -> String {
        if self.space.as_deref() == default_space
            && self.space.is_some()
            && Kind::primitive(&self.name).is_none()
            && !matches!(self.name.as_str(), "array" | "map" | "union" | "record" | "enum" | "fixed")
        {
            return self.name.clone();
        }
        if self.space.is_none() && default_space.is_none() {
            return self.name.clone();
        }
        self.full()
    }
}

#[derive(Debug, Clone)]
pub struct Named {
    pub name: Name,
    pub doc: Option<String>,
    pub aliases: Vec<Name>,
    pub props: Props,
    pub kind: NamedKind,
}

/// A parsed Avro schema with the named types of its references.
#[derive(Debug, Clone)]
pub struct AvroSchema {
    pub root: Ty,
    pub named: Vec<Named>,
    /// Full names of the referenced schemas' top-level types, which the canonical form writes by name only.
    known: Vec<String>,
}

/// Why a schema is not a valid Avro schema (Avro's `SchemaParseException` messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(msg.into()))
}

fn validate_name(name: &str) -> Result<(), ParseError> {
    let mut chars = name.chars();
    match chars.next() {
        None => return err("Empty name"),
        Some(c) if !(c.is_alphabetic() || c == '_') => return err(format!("Illegal initial character: {name}")),
        _ => {}
    }
    if chars.any(|c| !(c.is_alphanumeric() || c == '_')) {
        return err(format!("Illegal character in: {name}"));
    }
    Ok(())
}

fn validate_full(name: &Name) -> Result<(), ParseError> {
    validate_name(&name.name)?;
    if let Some(ns) = &name.space {
        for part in ns.split('.') {
            validate_name(part)?;
        }
    }
    Ok(())
}

struct Parser {
    named: Vec<Named>,
    by_name: HashMap<String, usize>,
}

fn props_of(map: &[(String, Node)], reserved: &[&str]) -> Props {
    map.iter().filter(|(k, _)| !reserved.contains(&k.as_str())).cloned().collect()
}

fn text(map: &[(String, Node)], key: &str) -> Option<String> {
    map.iter().find(|(k, _)| k == key).and_then(|(_, v)| v.as_str()).map(str::to_string)
}

impl Parser {
    fn lookup(&self, name: &str, space: Option<&str>) -> Option<Ty> {
        if let Some(k) = Kind::primitive(name) {
            return Some(Ty::Primitive(k, Vec::new()));
        }
        let n = Name::new(name, space);
        if let Some(&i) = self.by_name.get(&n.full()) {
            return Some(Ty::Named(i));
        }
        self.by_name.get(name).map(|&i| Ty::Named(i))
    }

    fn declare(&mut self, named: Named) -> Result<usize, ParseError> {
        let full = named.name.full();
        if Kind::primitive(&full).is_some() {
            return err(format!("Schemas may not be named after primitives: {full}"));
        }
        if self.by_name.contains_key(&full) {
            return err(format!("Can't redefine: {full}"));
        }
        self.named.push(named);
        self.by_name.insert(full, self.named.len() - 1);
        Ok(self.named.len() - 1)
    }

    fn parse(&mut self, v: &Node, space: Option<&str>, depth: usize) -> Result<Ty, ParseError> {
        if depth > MAX_DEPTH {
            return err("schema nested too deeply");
        }
        match v {
            Node::String(name) => {
                self.lookup(name, space).ok_or_else(|| ParseError(format!("Undefined name: {}", v.to_jackson())))
            }
            Node::Array(branches) => {
                let mut out: Vec<Ty> = Vec::with_capacity(branches.len());
                let mut seen: Vec<String> = Vec::new();
                for b in branches {
                    let t = self.parse(b, space, depth + 1)?;
                    if matches!(t, Ty::Union(_)) {
                        return err(format!("Nested union: {}", v.to_jackson()));
                    }
                    let key = self.type_name(&t);
                    if seen.contains(&key) {
                        return err(format!("Duplicate in union:{key}"));
                    }
                    seen.push(key);
                    out.push(t);
                }
                Ok(Ty::Union(out))
            }
            Node::Object(map) => {
                let ty = match v.get("type") {
                    Some(Node::String(t)) => t.clone(),
                    _ => return err(format!("No type: {}", v.to_jackson())),
                };
                if let Some(k) = Kind::primitive(&ty) {
                    return Ok(Ty::Primitive(k, props_of(map, SCHEMA_RESERVED)));
                }
                match ty.as_str() {
                    "record" | "error" | "enum" | "fixed" => self.parse_named(&ty, map, v, space, depth),
                    "array" => {
                        let items = v
                            .get("items")
                            .ok_or_else(|| ParseError(format!("Array has no items type: {}", v.to_jackson())))?;
                        Ok(Ty::Array(Box::new(self.parse(items, space, depth + 1)?), props_of(map, SCHEMA_RESERVED)))
                    }
                    "map" => {
                        let values = v
                            .get("values")
                            .ok_or_else(|| ParseError(format!("Map has no values type: {}", v.to_jackson())))?;
                        Ok(Ty::Map(Box::new(self.parse(values, space, depth + 1)?), props_of(map, SCHEMA_RESERVED)))
                    }
                    other => {
                        self.lookup(other, space).ok_or_else(|| ParseError(format!("Type not supported: {other}")))
                    }
                }
            }
            other => err(format!("Schema not yet supported: {}", other.to_jackson())),
        }
    }

    fn aliases(v: &Node, space: Option<&str>) -> Result<Vec<Name>, ParseError> {
        match v.get("aliases") {
            None => Ok(Vec::new()),
            Some(Node::Array(items)) => items
                .iter()
                .map(|a| {
                    a.as_str()
                        .map(|s| Name::new(s, space))
                        .ok_or_else(|| ParseError("aliases not an array of strings".into()))
                })
                .collect(),
            Some(_) => err("aliases not an array of strings"),
        }
    }

    fn parse_named(
        &mut self,
        ty: &str,
        map: &[(String, Node)],
        v: &Node,
        space: Option<&str>,
        depth: usize,
    ) -> Result<Ty, ParseError> {
        let short = text(map, "name").ok_or_else(|| ParseError(format!("No name in schema: {}", v.to_jackson())))?;
        let ns_attr = text(map, "namespace");
        let name = Name::new(&short, ns_attr.as_deref().or(space));
        validate_full(&name)?;
        let doc = text(map, "doc");
        let aliases = Self::aliases(v, name.space.as_deref())?;
        let props = props_of(
            map,
            if ty == "enum" {
                &[
                    "doc",
                    "fields",
                    "items",
                    "name",
                    "namespace",
                    "size",
                    "symbols",
                    "values",
                    "type",
                    "aliases",
                    "default",
                ]
            } else {
                SCHEMA_RESERVED
            },
        );
        match ty {
            "record" | "error" => {
                let index = self.declare(Named {
                    name: name.clone(),
                    doc,
                    aliases,
                    props,
                    kind: NamedKind::Record { error: ty == "error", fields: Vec::new() },
                })?;
                let fields_node = v
                    .get("fields")
                    .and_then(Node::as_array)
                    .ok_or_else(|| ParseError(format!("Record has no fields: {}", v.to_jackson())))?;
                let inner = name.space.clone();
                let mut fields: Vec<Field> = Vec::with_capacity(fields_node.len());
                for f in fields_node {
                    let fmap =
                        f.as_object().ok_or_else(|| ParseError(format!("Field not an object: {}", f.to_jackson())))?;
                    let fname =
                        text(fmap, "name").ok_or_else(|| ParseError(format!("No field name: {}", f.to_jackson())))?;
                    validate_name(&fname)?;
                    let ftype =
                        f.get("type").ok_or_else(|| ParseError(format!("No field type: {}", f.to_jackson())))?;
                    if let Node::String(t) = ftype {
                        if self.lookup(t, inner.as_deref()).is_none() {
                            return err(format!(
                                "\"{t}\" is not a defined name. The type of the \"{fname}\" field must be a defined name or a {{\"type\": ...}} expression."
                            ));
                        }
                    }
                    let fty = self.parse(ftype, inner.as_deref(), depth + 1)?;
                    let order = match text(fmap, "order").as_deref().map(str::to_ascii_uppercase).as_deref() {
                        None | Some("ASCENDING") => Order::Ascending,
                        Some("DESCENDING") => Order::Descending,
                        Some("IGNORE") => Order::Ignore,
                        Some(o) => return err(format!("No enum constant org.apache.avro.Schema.Field.Order.{o}")),
                    };
                    let faliases = match f.get("aliases") {
                        None => Vec::new(),
                        Some(Node::Array(a)) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
                        Some(_) => return err("aliases not an array of strings"),
                    };
                    if fields.iter().any(|x| x.name == fname) {
                        return err(format!("Duplicate field {fname} in record {}: {}", name.full(), v.to_jackson()));
                    }
                    fields.push(Field {
                        name: fname,
                        ty: fty,
                        doc: text(fmap, "doc"),
                        default: f.get("default").cloned(),
                        order,
                        aliases: faliases,
                        props: props_of(fmap, FIELD_RESERVED),
                    });
                }
                if let NamedKind::Record { fields: slot, .. } = &mut self.named[index].kind {
                    *slot = fields;
                }
                Ok(Ty::Named(index))
            }
            "enum" => {
                let symbols_node = v
                    .get("symbols")
                    .and_then(Node::as_array)
                    .ok_or_else(|| ParseError(format!("Enum has no symbols: {}", v.to_jackson())))?;
                let mut symbols: Vec<String> = Vec::with_capacity(symbols_node.len());
                for s in symbols_node {
                    let s = s.as_str().ok_or_else(|| ParseError("Enum symbols must be strings".into()))?;
                    validate_name(s)?;
                    if symbols.iter().any(|x| x == s) {
                        return err(format!("Duplicate enum symbol: {s}"));
                    }
                    symbols.push(s.to_string());
                }
                let default = text(map, "default");
                if let Some(d) = &default {
                    if !symbols.contains(d) {
                        return err(format!("The Enum Default: {d} is not in the enum symbol set: {symbols:?}"));
                    }
                }
                Ok(Ty::Named(self.declare(Named {
                    name,
                    doc,
                    aliases,
                    props,
                    kind: NamedKind::Enum { symbols, default },
                })?))
            }
            _ => {
                let size = v
                    .get("size")
                    .and_then(|s| s.as_i64())
                    .filter(|&s| (0..=i64::from(i32::MAX)).contains(&s))
                    .ok_or_else(|| ParseError(format!("Invalid or no size: {}", v.to_jackson())))?;
                Ok(Ty::Named(self.declare(Named {
                    name,
                    doc,
                    aliases,
                    props,
                    kind: NamedKind::Fixed { size: size as u64 },
                })?))
            }
        }
    }

    fn type_name(&self, t: &Ty) -> String {
        match t {
            Ty::Primitive(k, _) => k.lower().to_string(),
            Ty::Array(..) => "array".into(),
            Ty::Map(..) => "map".into(),
            Ty::Union(_) => "union".into(),
            Ty::Named(i) => self.named[*i].name.full(),
        }
    }
}

impl AvroSchema {
    /// Parses `text` after the schemas it references (in dependency order), as Confluent's `AvroSchema` does.
    pub fn parse(text: &str, references: &[String]) -> Result<AvroSchema, ParseError> {
        let mut parser = Parser { named: Vec::new(), by_name: HashMap::new() };
        let mut known = Vec::new();
        for r in references {
            let node = Node::parse(r).map_err(|e| ParseError(e.to_string()))?;
            if let Ty::Named(i) = parser.parse(&node, None, 0)? {
                known.push(parser.named[i].name.full());
            }
        }
        let node = Node::parse(text).map_err(|e| ParseError(e.to_string()))?;
        let root = parser.parse(&node, None, 0)?;
        let schema = AvroSchema { root, named: parser.named, known };
        schema.check_defaults()?;
        Ok(schema)
    }

    fn check_defaults(&self) -> Result<(), ParseError> {
        for named in &self.named {
            if let NamedKind::Record { fields, .. } = &named.kind {
                for f in fields {
                    if let Some(d) = &f.default {
                        if !self.valid_default(&f.ty, d, 0) {
                            return err(format!(
                                "Invalid default for field {}: {} not a {}",
                                f.name,
                                d.to_jackson(),
                                self.canonical_of(&f.ty)
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Avro's `Schema.isValidDefault`.
    fn valid_default(&self, t: &Ty, d: &Node, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        match t {
            Ty::Primitive(k, _) => match k {
                Kind::String | Kind::Bytes => matches!(d, Node::String(_)),
                Kind::Int => matches!(d, Node::Number(n) if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok())),
                Kind::Long => matches!(d, Node::Number(n) if n.is_i64() || n.is_u64() && n.as_i64().is_some()),
                Kind::Float | Kind::Double => {
                    matches!(d, Node::Number(_))
                        || matches!(d, Node::String(s) if s == "NaN" || s.ends_with("Infinity"))
                }
                Kind::Boolean => matches!(d, Node::Bool(_)),
                Kind::Null => matches!(d, Node::Null),
                _ => false,
            },
            Ty::Array(items, _) => {
                d.as_array().is_some_and(|a| a.iter().all(|x| self.valid_default(items, x, depth + 1)))
            }
            Ty::Map(values, _) => {
                d.as_object().is_some_and(|m| m.iter().all(|(_, x)| self.valid_default(values, x, depth + 1)))
            }
            Ty::Union(branches) => branches.first().is_some_and(|b| self.valid_default(b, d, depth + 1)),
            Ty::Named(i) => match &self.named[*i].kind {
                NamedKind::Enum { .. } | NamedKind::Fixed { .. } => matches!(d, Node::String(_)),
                NamedKind::Record { fields, .. } => {
                    let Some(_) = d.as_object() else { return false };
                    fields.iter().all(|f| match d.get(&f.name).or(f.default.as_ref()) {
                        Some(v) => self.valid_default(&f.ty, v, depth + 1),
                        None => false,
                    })
                }
            },
        }
    }

    fn kind(&self, t: &Ty) -> Kind {
        match t {
            Ty::Primitive(k, _) => *k,
            Ty::Array(..) => Kind::Array,
            Ty::Map(..) => Kind::Map,
            Ty::Union(_) => Kind::Union,
            Ty::Named(i) => match self.named[*i].kind {
                NamedKind::Record { .. } => Kind::Record,
                NamedKind::Enum { .. } => Kind::Enum,
                NamedKind::Fixed { .. } => Kind::Fixed,
            },
        }
    }

    /// Avro's `Schema.toString()`: the canonical form Confluent stores and compares.
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        let mut known: HashSet<String> = self.known.iter().cloned().collect();
        self.write(&mut out, &self.root, None, &mut known);
        out
    }

    /// The canonical form after Confluent's normalisation: custom properties and aliases sorted.
    pub fn normalized(&self) -> String {
        let mut copy = self.clone();
        let sort_props = |p: &mut Props| p.sort_by(|a, b| a.0.cmp(&b.0));
        fn sort_ty(t: &mut Ty, sort_props: &dyn Fn(&mut Props)) {
            match t {
                Ty::Primitive(_, p) => sort_props(p),
                Ty::Array(i, p) | Ty::Map(i, p) => {
                    sort_props(p);
                    sort_ty(i, sort_props);
                }
                Ty::Union(b) => b.iter_mut().for_each(|x| sort_ty(x, sort_props)),
                Ty::Named(_) => {}
            }
        }
        sort_ty(&mut copy.root, &sort_props);
        for n in &mut copy.named {
            sort_props(&mut n.props);
            n.aliases.sort_by_key(Name::full);
            n.aliases.dedup();
            if let NamedKind::Record { fields, .. } = &mut n.kind {
                for f in fields {
                    sort_props(&mut f.props);
                    f.aliases.sort();
                    f.aliases.dedup();
                    sort_ty(&mut f.ty, &sort_props);
                }
            }
        }
        copy.canonical()
    }

    fn canonical_of(&self, t: &Ty) -> String {
        let mut out = String::new();
        self.write(&mut out, t, None, &mut HashSet::new());
        out
    }

    fn write_props(out: &mut String, props: &Props) {
        for (k, v) in props {
            out.push(',');
            write_string(out, k);
            out.push(':');
            v.write_jackson(out);
        }
    }

    fn write(&self, out: &mut String, t: &Ty, space: Option<&str>, known: &mut HashSet<String>) {
        match t {
            Ty::Primitive(k, props) => {
                if props.is_empty() {
                    write_string(out, k.lower());
                } else {
                    out.push_str("{\"type\":");
                    write_string(out, k.lower());
                    Self::write_props(out, props);
                    out.push('}');
                }
            }
            Ty::Array(items, props) => {
                out.push_str("{\"type\":\"array\",\"items\":");
                self.write(out, items, space, known);
                Self::write_props(out, props);
                out.push('}');
            }
            Ty::Map(values, props) => {
                out.push_str("{\"type\":\"map\",\"values\":");
                self.write(out, values, space, known);
                Self::write_props(out, props);
                out.push('}');
            }
            Ty::Union(branches) => {
                out.push('[');
                for (i, b) in branches.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    self.write(out, b, space, known);
                }
                out.push(']');
            }
            Ty::Named(i) => {
                let n = &self.named[*i];
                if !known.insert(n.name.full()) {
                    write_string(out, &n.name.qualified(space));
                    return;
                }
                let ty = match &n.kind {
                    NamedKind::Record { error: true, .. } => "error",
                    NamedKind::Record { .. } => "record",
                    NamedKind::Enum { .. } => "enum",
                    NamedKind::Fixed { .. } => "fixed",
                };
                out.push_str("{\"type\":");
                write_string(out, ty);
                out.push_str(",\"name\":");
                write_string(out, &n.name.name);
                match (&n.name.space, space) {
                    (Some(ns), cur) if Some(ns.as_str()) != cur => {
                        out.push_str(",\"namespace\":");
                        write_string(out, ns);
                    }
                    (None, Some(_)) => out.push_str(",\"namespace\":\"\""),
                    _ => {}
                }
                if let Some(doc) = &n.doc {
                    out.push_str(",\"doc\":");
                    write_string(out, doc);
                }
                match &n.kind {
                    NamedKind::Record { fields, .. } => {
                        out.push_str(",\"fields\":[");
                        for (j, f) in fields.iter().enumerate() {
                            if j > 0 {
                                out.push(',');
                            }
                            out.push_str("{\"name\":");
                            write_string(out, &f.name);
                            out.push_str(",\"type\":");
                            self.write(out, &f.ty, n.name.space.as_deref(), known);
                            if let Some(doc) = &f.doc {
                                out.push_str(",\"doc\":");
                                write_string(out, doc);
                            }
                            if let Some(d) = &f.default {
                                out.push_str(",\"default\":");
                                d.write_jackson(out);
                            }
                            match f.order {
                                Order::Ascending => {}
                                Order::Descending => out.push_str(",\"order\":\"descending\""),
                                Order::Ignore => out.push_str(",\"order\":\"ignore\""),
                            }
                            if !f.aliases.is_empty() {
                                out.push_str(",\"aliases\":[");
                                for (k, a) in f.aliases.iter().enumerate() {
                                    if k > 0 {
                                        out.push(',');
                                    }
                                    write_string(out, a);
                                }
                                out.push(']');
                            }
                            Self::write_props(out, &f.props);
                            out.push('}');
                        }
                        out.push(']');
                    }
                    NamedKind::Enum { symbols, default } => {
                        out.push_str(",\"symbols\":[");
                        for (k, s) in symbols.iter().enumerate() {
                            if k > 0 {
                                out.push(',');
                            }
                            write_string(out, s);
                        }
                        out.push(']');
                        if let Some(d) = default {
                            out.push_str(",\"default\":");
                            write_string(out, d);
                        }
                    }
                    NamedKind::Fixed { size } => {
                        out.push_str(",\"size\":");
                        out.push_str(&size.to_string());
                    }
                }
                Self::write_props(out, &n.props);
                if !n.aliases.is_empty() {
                    out.push_str(",\"aliases\":[");
                    for (k, a) in n.aliases.iter().enumerate() {
                        if k > 0 {
                            out.push(',');
                        }
                        write_string(out, &a.qualified(n.name.space.as_deref()));
                    }
                    out.push(']');
                }
                out.push('}');
            }
        }
    }

    /// Whether a reader with this schema can read data written with `writer` (Avro's schema resolution), as the
    /// list of incompatibilities in Confluent's wording (with `%s` where it puts "new"/"old").
    pub fn incompatibilities_reading(&self, writer: &AvroSchema) -> Vec<Incompatibility> {
        let mut checker = Checker { reader: self, writer, memo: HashMap::new(), out: Vec::new() };
        let mut location = vec![String::new()];
        checker.check(&self.root, &writer.root, &mut location);
        checker.out
    }
}

/// One reason a reader cannot read a writer's data (Avro's `SchemaCompatibility.Incompatibility`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incompatibility {
    pub kind: &'static str,
    pub location: String,
    pub message: String,
}

impl Incompatibility {
    /// Confluent's `Difference.error()`, with `reader` and `writer` put for the two `%s`.
    pub fn describe(&self, reader: &str, writer: &str) -> String {
        let path = &self.location;
        let description = match self.kind {
            "FIXED_SIZE_MISMATCH" => format!("The size of FIXED type field at path '{path}' in the {reader} schema does not match with the {writer} schema"),
            "TYPE_MISMATCH" => format!("The type (path '{path}') of a field in the {reader} schema does not match with the {writer} schema"),
            "NAME_MISMATCH" => format!("The name of the schema has changed (path '{path}')"),
            "MISSING_ENUM_SYMBOLS" => format!("The {reader} schema is missing enum symbols '{}' at path '{path}' in the {writer} schema", self.message),
            "MISSING_UNION_BRANCH" => format!("The {reader} schema is missing a type inside a union field at path '{path}' in the {writer} schema"),
            "READER_FIELD_MISSING_DEFAULT_VALUE" => format!("The field '{}' at path '{path}' in the {reader} schema has no default value and is missing in the {writer} schema", self.message),
            _ => String::new(),
        };
        format!("{{errorType:'{}', description:'{description}', additionalInfo:'{}'}}", self.kind, self.message)
    }
}

struct Checker<'a> {
    reader: &'a AvroSchema,
    writer: &'a AvroSchema,
    /// Results per pair of named types: `None` while the pair is being checked (a recursion, taken as compatible).
    memo: HashMap<(usize, usize), Option<Vec<Incompatibility>>>,
    out: Vec<Incompatibility>,
}

fn pointer(location: &[String]) -> String {
    let mut s = String::from("/");
    for (i, c) in location.iter().skip(1).enumerate() {
        if i > 0 {
            s.push('/');
        }
        s.push_str(&c.replace('~', "~0").replace('/', "~1"));
    }
    s
}

impl Checker<'_> {
    fn push(&mut self, kind: &'static str, location: &[String], message: String) {
        self.out.push(Incompatibility { kind, location: pointer(location), message });
    }

    /// A fresh check of a pair whose details are not reported (Avro checks union branches this way).
    fn compatible(&mut self, r: &Ty, w: &Ty) -> bool {
        let saved = std::mem::take(&mut self.out);
        let mut location = vec![String::new()];
        self.check(r, w, &mut location);
        let ok = self.out.is_empty();
        self.out = saved;
        ok
    }

    fn check(&mut self, r: &Ty, w: &Ty, location: &mut Vec<String>) {
        if location.len() > MAX_DEPTH * 4 {
            return;
        }
        if let (Ty::Named(ri), Ty::Named(wi)) = (r, w) {
            match self.memo.get(&(*ri, *wi)) {
                Some(None) => return,
                Some(Some(found)) => {
                    // The pair was checked before: Avro reuses that result, locations included.
                    let found = found.clone();
                    self.out.extend(found);
                    return;
                }
                None => {}
            }
            self.memo.insert((*ri, *wi), None);
            let before = self.out.len();
            self.calculate(r, w, location);
            let found = self.out[before..].to_vec();
            self.memo.insert((*ri, *wi), Some(found));
            return;
        }
        self.calculate(r, w, location);
    }

    fn sub(&mut self, token: impl Into<String>, r: &Ty, w: &Ty, location: &mut Vec<String>) {
        location.push(token.into());
        self.check(r, w, location);
        location.pop();
    }

    fn type_mismatch(&mut self, rk: Kind, wk: Kind, location: &[String]) {
        self.push(
            "TYPE_MISMATCH",
            location,
            format!("reader type: {} not compatible with writer type: {}", rk.upper(), wk.upper()),
        );
    }

    fn calculate(&mut self, r: &Ty, w: &Ty, location: &mut Vec<String>) {
        let (reader, writer) = (self.reader, self.writer);
        let rk = reader.kind(r);
        let wk = writer.kind(w);
        if rk == wk {
            match (r, w) {
                (Ty::Array(ri, _), Ty::Array(wi, _)) => self.sub("items", ri, wi, location),
                (Ty::Map(rv, _), Ty::Map(wv, _)) => self.sub("values", rv, wv, location),
                (Ty::Union(rb), Ty::Union(wb)) => {
                    for (i, wbranch) in wb.iter().enumerate() {
                        if !self.compatible(r, wbranch) {
                            location.push(i.to_string());
                            self.push(
                                "MISSING_UNION_BRANCH",
                                location,
                                format!("reader union lacking writer type: {}", writer.kind(wbranch).upper()),
                            );
                            location.pop();
                        }
                    }
                    let _ = rb;
                }
                (Ty::Named(ri), Ty::Named(wi)) => {
                    let (rn, wn) = (&reader.named[*ri], &writer.named[*wi]);
                    // Avro compares the short names, or the reader's aliases against the writer's full name.
                    if rn.name.name != wn.name.name && !rn.aliases.iter().any(|a| a.full() == wn.name.full()) {
                        location.push("name".into());
                        self.push("NAME_MISMATCH", location, format!("expected: {}", wn.name.full()));
                        location.pop();
                    }
                    match (&rn.kind, &wn.kind) {
                        (NamedKind::Fixed { size: rs }, NamedKind::Fixed { size: ws }) if rs != ws => {
                            location.push("size".into());
                            self.push("FIXED_SIZE_MISMATCH", location, format!("expected: {ws}, found: {rs}"));
                            location.pop();
                        }
                        (NamedKind::Enum { symbols: rsyms, default: rdef }, NamedKind::Enum { symbols: wsyms, .. }) => {
                            let mut missing: Vec<&String> = wsyms.iter().filter(|s| !rsyms.contains(s)).collect();
                            missing.sort();
                            if !missing.is_empty() && !rdef.as_ref().is_some_and(|d| rsyms.contains(d)) {
                                location.push("symbols".into());
                                let list = missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
                                self.push("MISSING_ENUM_SYMBOLS", location, format!("[{list}]"));
                                location.pop();
                            }
                        }
                        (NamedKind::Record { fields: rfields, .. }, NamedKind::Record { fields: wfields, .. }) => {
                            location.push("fields".into());
                            for (pos, rf) in rfields.iter().enumerate() {
                                location.push(pos.to_string());
                                let wf = wfields.iter().find(|wf| wf.name == rf.name).or_else(|| {
                                    rf.aliases.iter().find_map(|a| wfields.iter().find(|wf| &wf.name == a))
                                });
                                match wf {
                                    Some(wf) => self.sub("type", &rf.ty, &wf.ty, location),
                                    None if rf.default.is_some() => {}
                                    None => {
                                        let enum_default = matches!(&rf.ty, Ty::Named(i) if matches!(&reader.named[*i].kind, NamedKind::Enum { default: Some(_), .. }));
                                        if enum_default {
                                            self.sub("type", &rf.ty, w, location);
                                        } else {
                                            self.push("READER_FIELD_MISSING_DEFAULT_VALUE", location, rf.name.clone());
                                        }
                                    }
                                }
                                location.pop();
                            }
                            location.pop();
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
            return;
        }
        if let Ty::Union(wb) = w {
            for (i, wbranch) in wb.iter().enumerate() {
                self.sub(i.to_string(), r, wbranch, location);
            }
            return;
        }
        match rk {
            Kind::Long if wk == Kind::Int => {}
            Kind::Float if matches!(wk, Kind::Int | Kind::Long) => {}
            Kind::Double if matches!(wk, Kind::Int | Kind::Long | Kind::Float) => {}
            Kind::Bytes if wk == Kind::String => {}
            Kind::String if wk == Kind::Bytes => {}
            Kind::Union => {
                let Ty::Union(rb) = r else { return };
                if rb.iter().any(|b| self.compatible(b, w)) {
                    return;
                }
                self.push(
                    "MISSING_UNION_BRANCH",
                    location,
                    format!("reader union lacking writer type: {}", wk.upper()),
                );
            }
            _ => self.type_mismatch(rk, wk, location),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        AvroSchema::parse(s, &[]).expect("schema").canonical()
    }

    #[test]
    fn canonical_form_is_avro_to_string() {
        assert_eq!(canon(r#" { "type" : "string" } "#), r#""string""#);
        assert_eq!(
            canon(r#"{"type": "long", "logicalType": "timestamp-millis"}"#),
            r#"{"type":"long","logicalType":"timestamp-millis"}"#
        );
        assert_eq!(
            canon(
                r#"{"fields": [{"type": "string", "name": "f1", "doc": "bye\"now"}], "doc": "hi\"there", "name": "myrecord", "type": "record"}"#
            ),
            r#"{"type":"record","name":"myrecord","doc":"hi\"there","fields":[{"name":"f1","type":"string","doc":"bye\"now"}]}"#
        );
        // Confluent's own test (AvroSchemaTest.testNormalizationPreservesMetadataForPrimitiveTypes).
        let envelope = r#"{"connect.name": "some.scope.Envelope", "fields": [{"default": null, "name": "before",
            "type": ["null", {"connect.name": "some.scope.Value", "fields": [{"name": "created_at", "type": {
            "connect.name": "io.debezium.time.Timestamp", "connect.version": 1, "type": "long"}},
            {"name":"normal_long", "type":"long"}], "name": "Value", "type": "record"}]},
            {"default": null, "name": "after", "type": ["null", "Value"]}], "name": "Envelope",
            "namespace": "some.scope", "type": "record"}"#;
        let expected = concat!(
            r#"{"type":"record","name":"Envelope","namespace":"some.scope","fields":[{"name":"before","type":["null","#,
            r#"{"type":"record","name":"Value","fields":[{"name":"created_at","type":{"type":"long","connect.name":"#,
            r#""io.debezium.time.Timestamp","connect.version":1}},{"name":"normal_long","type":"long"}],"#,
            r#""connect.name":"some.scope.Value"}],"default":null},{"name":"after","type":["null","Value"],"default":null}],"#,
            r#""connect.name":"some.scope.Envelope"}"#
        );
        assert_eq!(canon(envelope), expected);
        let s = AvroSchema::parse(envelope, &[]).expect("schema");
        assert_eq!(s.normalized(), expected);
        // Namespaces: a nested type in another namespace says so; one in no namespace inside one says "".
        assert_eq!(
            canon(
                r#"{"type":"record","name":"a.R","fields":[{"name":"x","type":{"type":"enum","name":"E","namespace":"b","symbols":["A"]}},{"name":"y","type":"b.E"},{"name":"z","type":{"type":"fixed","name":"F","namespace":"","size":2}}]}"#
            ),
            r#"{"type":"record","name":"R","namespace":"a","fields":[{"name":"x","type":{"type":"enum","name":"E","namespace":"b","symbols":["A"]}},{"name":"y","type":"b.E"},{"name":"z","type":{"type":"fixed","name":"F","namespace":"","size":2}}]}"#
        );
    }

    #[test]
    fn invalid_schemas_are_refused_with_avros_messages() {
        for (bad, msg) in [
            (r#"{"type":"record","name":"R","fields":[{"name":"a","type":"Missing"}]}"#, "is not a defined name"),
            (r#"["null","null"]"#, "Duplicate in union"),
            (r#"{"type":"enum","name":"E","symbols":["1x"]}"#, "Illegal initial character"),
            (
                r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}"#,
                "Invalid default for field a",
            ),
            (
                r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"a","type":"int"}]}"#,
                "Duplicate field a",
            ),
            (r#"{"type":"fixed","name":"F"}"#, "Invalid or no size"),
            (r#"{"type":"strin"}"#, "Type not supported"),
            (r#"{"name":"x"}"#, "No type"),
            (r#"12"#, "Schema not yet supported"),
            (r#"{"type":"record","name":"R","fields":[]"#, "EOF"),
        ] {
            let e = AvroSchema::parse(bad, &[]).expect_err(bad);
            assert!(e.0.contains(msg), "{bad}: {e}");
        }
    }
}
