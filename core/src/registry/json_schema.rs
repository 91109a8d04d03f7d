//! JSON Schemas as the registry sees them: validated on registration, kept in canonical form (the document as
//! compact JSON in the key order it was written, sorted when normalised), and compared for compatibility with
//! Confluent's rules (`io.confluent.kafka.schemaregistry.json.diff`): the two documents are walked side by side,
//! every difference gets a type (`PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL`, `MAX_LENGTH_DECREASED`, ...), and a
//! change is backward compatible when every difference is in [`COMPATIBLE_CHANGES`].
//!
//! Schemas are classified as the everit library Confluent uses does: a `type` (or a list of types, an `anyOf`
//! of one schema per type), `enum`, `const`, `not`, `allOf`/`anyOf`/`oneOf`; a schema with several of these is an
//! `allOf` of them. `$ref`s resolve within the document and into referenced schemas by name; a pair already being
//! compared is taken as compatible, so recursive schemas terminate, and depth is bounded by [`MAX_DEPTH`].

use std::collections::HashSet;

use super::node::Node;

/// Deepest nesting followed while comparing.
pub const MAX_DEPTH: usize = 128;

/// Confluent's `SchemaDiff.COMPATIBLE_CHANGES_STRICT`, the default policy.
pub const COMPATIBLE_CHANGES: &[&str] = &[
    "ID_CHANGED",
    "DESCRIPTION_CHANGED",
    "TITLE_CHANGED",
    "DEFAULT_CHANGED",
    "SCHEMA_REMOVED",
    "TYPE_EXTENDED",
    "MAX_LENGTH_INCREASED",
    "MAX_LENGTH_REMOVED",
    "MIN_LENGTH_DECREASED",
    "MIN_LENGTH_REMOVED",
    "PATTERN_REMOVED",
    "MAXIMUM_INCREASED",
    "MAXIMUM_REMOVED",
    "MINIMUM_DECREASED",
    "MINIMUM_REMOVED",
    "EXCLUSIVE_MAXIMUM_INCREASED",
    "EXCLUSIVE_MAXIMUM_REMOVED",
    "EXCLUSIVE_MINIMUM_DECREASED",
    "EXCLUSIVE_MINIMUM_REMOVED",
    "MULTIPLE_OF_REDUCED",
    "MULTIPLE_OF_REMOVED",
    "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED",
    "REQUIRED_ATTRIBUTE_REMOVED",
    "DEPENDENCY_ARRAY_NARROWED",
    "DEPENDENCY_ARRAY_REMOVED",
    "DEPENDENCY_SCHEMA_REMOVED",
    "MAX_PROPERTIES_INCREASED",
    "MAX_PROPERTIES_REMOVED",
    "MIN_PROPERTIES_DECREASED",
    "MIN_PROPERTIES_REMOVED",
    "ADDITIONAL_PROPERTIES_ADDED",
    "ADDITIONAL_PROPERTIES_EXTENDED",
    "UNEVALUATED_PROPERTIES_ADDED",
    "UNEVALUATED_PROPERTIES_EXTENDED",
    "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL",
    "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL",
    "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL",
    "PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL",
    "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL",
    "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    "MAX_ITEMS_INCREASED",
    "MAX_ITEMS_REMOVED",
    "MIN_ITEMS_DECREASED",
    "MIN_ITEMS_REMOVED",
    "MAX_CONTAINS_INCREASED",
    "MAX_CONTAINS_REMOVED",
    "MIN_CONTAINS_DECREASED",
    "MIN_CONTAINS_REMOVED",
    "UNIQUE_ITEMS_REMOVED",
    "ADDITIONAL_ITEMS_ADDED",
    "ADDITIONAL_ITEMS_EXTENDED",
    "UNEVALUATED_ITEMS_ADDED",
    "UNEVALUATED_ITEMS_EXTENDED",
    "ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL",
    "ITEM_ADDED_TO_CLOSED_CONTENT_MODEL",
    "ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL",
    "ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL",
    "ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    "ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    "ENUM_ARRAY_EXTENDED",
    "COMBINED_TYPE_EXTENDED",
    "PRODUCT_TYPE_NARROWED",
    "SUM_TYPE_EXTENDED",
    "NOT_TYPE_NARROWED",
];

/// Why a document is not a usable JSON Schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// A parsed JSON Schema document with the documents of its references (by reference name).
#[derive(Debug, Clone)]
pub struct JsonSchemaDoc {
    pub root: Node,
    references: Vec<(String, Node)>,
}

/// A position in one of the documents: which document (0 is the schema itself), and the node.
#[derive(Clone, Copy)]
struct At<'a> {
    doc: usize,
    node: &'a Node,
}

const TYPES: &[&str] = &["string", "number", "integer", "boolean", "null", "object", "array"];

impl JsonSchemaDoc {
    /// Parses and checks a schema: valid JSON, an object or a boolean, known `type` names, patterns that compile,
    /// and `$ref`s that resolve (within the document or to a reference's name).
    pub fn parse(text: &str, references: Vec<(String, String)>) -> Result<JsonSchemaDoc, ParseError> {
        let root = Node::parse(text).map_err(|e| ParseError(e.to_string()))?;
        let mut refs = Vec::with_capacity(references.len());
        for (name, t) in references {
            refs.push((name, Node::parse(&t).map_err(|e| ParseError(e.to_string()))?));
        }
        let doc = JsonSchemaDoc { root, references: refs };
        if !matches!(doc.root, Node::Object(_) | Node::Bool(_)) {
            return Err(ParseError(format!(
                "Invalid JSON Schema: {} is not an object or a boolean",
                doc.root.to_jackson()
            )));
        }
        crate::serde::json_schema::JsonSchema::new(doc.root.to_value()).map_err(|e| ParseError(e.to_string()))?;
        doc.check(At { doc: 0, node: &doc.root }, "#", 0)?;
        Ok(doc)
    }

    fn document(&self, doc: usize) -> &Node {
        if doc == 0 {
            &self.root
        } else {
            &self.references[doc - 1].1
        }
    }

    fn check(&self, at: At<'_>, path: &str, depth: usize) -> Result<(), ParseError> {
        if depth > MAX_DEPTH {
            return Err(ParseError("schema nested too deeply".into()));
        }
        match at.node {
            Node::Object(entries) => {
                for (k, v) in entries {
                    match k.as_str() {
                        "type" => {
                            let names: Vec<&Node> = match v {
                                Node::Array(a) => a.iter().collect(),
                                other => vec![other],
                            };
                            for n in names {
                                match n.as_str() {
                                    Some(t) if TYPES.contains(&t) => {}
                                    _ => {
                                        return Err(ParseError(format!(
                                            "#: unknown type: [{}] at {path}",
                                            n.to_jackson()
                                        )))
                                    }
                                }
                            }
                        }
                        "$ref" => {
                            let r = v.as_str().ok_or_else(|| ParseError(format!("$ref at {path} is not a string")))?;
                            if self.resolve(at.doc, r).is_none() {
                                return Err(ParseError(format!("Could not resolve $ref {r:?} at {path}")));
                            }
                        }
                        "enum" | "const" | "default" | "examples" => {}
                        _ => self.check(At { doc: at.doc, node: v }, &format!("{path}/{k}"), depth + 1)?,
                    }
                }
            }
            Node::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    self.check(At { doc: at.doc, node: v }, &format!("{path}/{i}"), depth + 1)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The target of a `$ref` written in document `doc`.
    fn resolve(&self, doc: usize, reference: &str) -> Option<At<'_>> {
        let (target_doc, fragment) = match reference.split_once('#') {
            Some(("", fragment)) => (doc, fragment),
            Some((name, fragment)) => (self.reference_index(name)?, fragment),
            None => (self.reference_index(reference)?, ""),
        };
        let mut node = self.document(target_doc);
        for token in fragment.split('/').filter(|t| !t.is_empty()) {
            let token = super::rest::percent_decode(token).replace("~1", "/").replace("~0", "~");
            node = match node {
                Node::Object(_) => node.get(&token)?,
                Node::Array(items) => items.get(token.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(At { doc: target_doc, node })
    }

    fn reference_index(&self, name: &str) -> Option<usize> {
        self.references.iter().position(|(n, _)| n == name).map(|i| i + 1)
    }

    /// Confluent's canonical string: the document as compact JSON, keys in written order.
    pub fn canonical(&self) -> String {
        self.root.to_jackson()
    }

    /// The canonical string of the normalised document (keys sorted).
    pub fn normalized(&self) -> String {
        self.root.sorted().to_jackson()
    }

    /// Confluent's `isBackwardCompatible`: the differences from `previous` to this schema that break readers of
    /// this schema on data written with `previous`, worded with `%s` placeholders for "new"/"old".
    pub fn incompatibilities_since(&self, previous: &JsonSchemaDoc) -> Vec<Difference> {
        let mut ctx = Ctx { path: Vec::new(), diffs: Vec::new(), in_progress: HashSet::new(), depth: 0 };
        compare(
            &mut ctx,
            previous,
            self,
            Some(At { doc: 0, node: &previous.root }),
            Some(At { doc: 0, node: &self.root }),
        );
        ctx.diffs.into_iter().filter(|d| !COMPATIBLE_CHANGES.contains(&d.kind)).collect()
    }
}

/// One difference between two schemas (Confluent's `Difference`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub kind: &'static str,
    pub path: String,
}

impl Difference {
    /// Confluent's `Difference.toString()` with `first`/`second` for its two `%s`.
    pub fn describe(&self, first: &str, second: &str) -> String {
        let p = &self.path;
        let k = self.kind;
        let message = if k.ends_with("_ADDED") && KEYWORD_ADDED.contains(&k) || KEYWORD_REMOVED.contains(&k) {
            format!("The keyword at path '{p}' in the {first} schema is not present in the {second} schema")
        } else if VALUE_INCREASED.contains(&k) {
            format!("The value at path '{p}' in the {first} schema is more than its value in the {second} schema")
        } else if VALUE_DECREASED.contains(&k) {
            format!("The value at path '{p}' in the {first} schema is less than its value in the {second} schema")
        } else if ["PATTERN_CHANGED", "MULTIPLE_OF_CHANGED", "DEPENDENCY_ARRAY_CHANGED"].contains(&k) {
            format!("The value at path '{p}' is different between the {first} and {second} schema")
        } else if TYPE_NARROWED.contains(&k) {
            format!("An array or combined type at path '{p}' has fewer elements in the {first} schema than the {second} schema")
        } else if ["DEPENDENCY_ARRAY_EXTENDED", "PRODUCT_TYPE_EXTENDED", "SUM_TYPE_EXTENDED", "NOT_TYPE_EXTENDED"]
            .contains(&k)
        {
            format!("An array or combined type at path '{p}' has more elements in the {first} schema than the {second} schema")
        } else if [
            "TYPE_CHANGED",
            "TYPE_NARROWED",
            "COMBINED_TYPE_CHANGED",
            "COMBINED_TYPE_SUBSCHEMAS_CHANGED",
            "ENUM_ARRAY_CHANGED",
        ]
        .contains(&k)
        {
            format!("A type at path '{p}' is different between the {first} schema and the {second} schema")
        } else if [
            "REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL",
            "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL",
            "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL",
            "ITEM_ADDED_TO_OPEN_CONTENT_MODEL",
        ]
        .contains(&k)
        {
            format!("The {first} schema has an open content model and has a property or item at path '{p}' which is missing in the {second} schema")
        } else if k == "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL" {
            format!("The {first} schema has an unopen content model and has a required property at path '{p}' which is missing in the {second} schema")
        } else if k == "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL" || k == "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL" {
            format!("The {first} has a closed content model and is missing a property or item present at path '{p}' in the {second} schema")
        } else if k.ends_with("REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL") {
            format!("A property or item is missing in the {first} schema but present at path '{p}' in the {second} schema and is not covered by its partially open content model")
        } else if k.ends_with("ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL") {
            format!("The {first} schema has a property or item at path '{p}' which is missing in the {second} schema and is not covered by its partially open content model")
        } else {
            String::new()
        };
        format!("{{errorType:\"{k}\", description:\"{message}'}}")
    }
}

const KEYWORD_ADDED: &[&str] = &[
    "MAXIMUM_ADDED",
    "MINIMUM_ADDED",
    "EXCLUSIVE_MAXIMUM_ADDED",
    "EXCLUSIVE_MINIMUM_ADDED",
    "MULTIPLE_OF_ADDED",
    "MAX_LENGTH_ADDED",
    "MIN_LENGTH_ADDED",
    "PATTERN_ADDED",
    "REQUIRED_ATTRIBUTE_ADDED",
    "MAX_PROPERTIES_ADDED",
    "MIN_PROPERTIES_ADDED",
    "DEPENDENCY_ARRAY_ADDED",
    "DEPENDENCY_SCHEMA_ADDED",
    "MAX_ITEMS_ADDED",
    "MIN_ITEMS_ADDED",
    "MAX_CONTAINS_ADDED",
    "MIN_CONTAINS_ADDED",
    "UNIQUE_ITEMS_ADDED",
];
const KEYWORD_REMOVED: &[&str] = &[
    "ADDITIONAL_ITEMS_REMOVED",
    "ADDITIONAL_PROPERTIES_REMOVED",
    "UNEVALUATED_PROPERTIES_REMOVED",
    "UNEVALUATED_ITEMS_REMOVED",
];
const VALUE_INCREASED: &[&str] = &[
    "MIN_LENGTH_INCREASED",
    "MINIMUM_INCREASED",
    "EXCLUSIVE_MINIMUM_INCREASED",
    "MIN_PROPERTIES_INCREASED",
    "MULTIPLE_OF_EXPANDED",
    "MIN_ITEMS_INCREASED",
    "MIN_CONTAINS_INCREASED",
];
const VALUE_DECREASED: &[&str] = &[
    "MAX_LENGTH_DECREASED",
    "MAXIMUM_DECREASED",
    "MAX_ITEMS_DECREASED",
    "MAX_CONTAINS_DECREASED",
    "EXCLUSIVE_MAXIMUM_DECREASED",
    "MAX_PROPERTIES_DECREASED",
];
const TYPE_NARROWED: &[&str] = &[
    "ADDITIONAL_ITEMS_NARROWED",
    "ENUM_ARRAY_NARROWED",
    "SUM_TYPE_NARROWED",
    "ADDITIONAL_PROPERTIES_NARROWED",
    "UNEVALUATED_PROPERTIES_NARROWED",
    "UNEVALUATED_ITEMS_NARROWED",
];

/// Which kind of schema a node is, as everit classifies it.
#[derive(Clone)]
enum View<'a> {
    True,
    False,
    Empty(At<'a>),
    String(At<'a>),
    Number(At<'a>, bool),
    Boolean(At<'a>),
    Null(At<'a>),
    Object(At<'a>),
    Array(At<'a>),
    Enum(At<'a>),
    Const(At<'a>),
    Not(At<'a>),
    /// `allOf`/`anyOf`/`oneOf`, or several of the above in one schema (then an `allOf`).
    Combined(At<'a>, &'static str, Vec<View<'a>>),
}

impl View<'_> {
    fn class(&self) -> u8 {
        match self {
            View::True => 1,
            View::False => 2,
            View::Empty(_) => 3,
            View::String(_) => 4,
            View::Number(..) => 5,
            View::Boolean(_) => 6,
            View::Null(_) => 7,
            View::Object(_) => 8,
            View::Array(_) => 9,
            View::Enum(_) => 10,
            View::Const(_) => 11,
            View::Not(_) => 12,
            View::Combined(..) => 13,
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, View::True | View::Empty(_))
    }

    fn at(&self) -> Option<At<'_>> {
        match self {
            View::True | View::False => None,
            View::Empty(a)
            | View::String(a)
            | View::Number(a, _)
            | View::Boolean(a)
            | View::Null(a)
            | View::Object(a)
            | View::Array(a)
            | View::Enum(a)
            | View::Const(a)
            | View::Not(a)
            | View::Combined(a, ..) => Some(*a),
        }
    }
}

const OBJECT_KEYWORDS: &[&str] = &[
    "properties",
    "required",
    "additionalProperties",
    "patternProperties",
    "dependencies",
    "minProperties",
    "maxProperties",
    "propertyNames",
    "unevaluatedProperties",
];
const ARRAY_KEYWORDS: &[&str] =
    &["items", "additionalItems", "minItems", "maxItems", "uniqueItems", "contains", "unevaluatedItems"];
const STRING_KEYWORDS: &[&str] = &["minLength", "maxLength", "pattern", "format"];
const NUMBER_KEYWORDS: &[&str] = &["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"];

fn typed<'a>(at: At<'a>, t: &str) -> View<'a> {
    match t {
        "string" => View::String(at),
        "number" => View::Number(at, false),
        "integer" => View::Number(at, true),
        "boolean" => View::Boolean(at),
        "null" => View::Null(at),
        "object" => View::Object(at),
        _ => View::Array(at),
    }
}

struct Ctx {
    path: Vec<String>,
    diffs: Vec<Difference>,
    in_progress: HashSet<(usize, usize)>,
    depth: usize,
}

impl Ctx {
    fn add(&mut self, kind: &'static str) {
        self.diffs.push(Difference { kind, path: format!("#/{}", self.path.join("/")) });
    }

    fn add_at(&mut self, attribute: &str, kind: &'static str) {
        self.path.push(attribute.to_string());
        self.add(kind);
        self.path.pop();
    }

    fn sub(&self) -> Ctx {
        Ctx { path: self.path.clone(), diffs: Vec::new(), in_progress: self.in_progress.clone(), depth: self.depth }
    }

    fn compatible(&self) -> bool {
        self.diffs.iter().all(|d| COMPATIBLE_CHANGES.contains(&d.kind))
    }

    fn enter<R>(&mut self, segment: impl Into<String>, f: impl FnOnce(&mut Ctx) -> R) -> R {
        self.path.push(segment.into());
        let r = f(self);
        self.path.pop();
        r
    }
}

/// everit's view of a schema node, `$ref`s followed.
fn view<'a>(d: &'a JsonSchemaDoc, mut at: At<'a>) -> View<'a> {
    for _ in 0..MAX_DEPTH {
        match at.node.get("$ref").and_then(Node::as_str) {
            Some(r) => match d.resolve(at.doc, r) {
                Some(target) => at = target,
                None => return View::True,
            },
            None => break,
        }
    }
    let entries = match at.node {
        Node::Bool(true) => return View::True,
        Node::Bool(false) => return View::False,
        Node::Object(e) => e,
        _ => return View::True,
    };
    let has = |keys: &[&str]| entries.iter().any(|(k, _)| keys.contains(&k.as_str()));
    let mut parts: Vec<View<'a>> = Vec::new();
    match at.node.get("type") {
        Some(Node::String(t)) => parts.push(typed(at, t)),
        Some(Node::Array(ts)) => {
            let subs: Vec<View<'a>> = ts.iter().filter_map(Node::as_str).map(|t| typed(at, t)).collect();
            if subs.len() == 1 {
                parts.extend(subs);
            } else {
                parts.push(View::Combined(at, "anyOf", subs));
            }
        }
        _ => {
            if has(OBJECT_KEYWORDS) {
                parts.push(View::Object(at));
            }
            if has(ARRAY_KEYWORDS) {
                parts.push(View::Array(at));
            }
            if has(STRING_KEYWORDS) {
                parts.push(View::String(at));
            }
            if has(NUMBER_KEYWORDS) {
                parts.push(View::Number(at, false));
            }
        }
    }
    if at.node.get("enum").is_some() {
        parts.push(View::Enum(at));
    }
    if at.node.get("const").is_some() {
        parts.push(View::Const(at));
    }
    if at.node.get("not").is_some() {
        parts.push(View::Not(at));
    }
    for criterion in ["allOf", "anyOf", "oneOf"] {
        if let Some(Node::Array(subs)) = at.node.get(criterion) {
            parts.push(View::Combined(
                at,
                criterion,
                subs.iter().map(|s| view(d, At { doc: at.doc, node: s })).collect(),
            ));
        }
    }
    match parts.len() {
        0 => View::Empty(at),
        1 => parts.remove(0),
        _ => View::Combined(at, "allOf", parts),
    }
}

fn key_of(v: &View<'_>) -> (usize, u8) {
    (v.at().map_or(0, |a| a.node as *const Node as usize), v.class())
}

fn compare(ctx: &mut Ctx, od: &JsonSchemaDoc, ud: &JsonSchemaDoc, original: Option<At<'_>>, update: Option<At<'_>>) {
    match (original, update) {
        (None, None) => {}
        (None, Some(_)) => ctx.add("SCHEMA_ADDED"),
        (Some(_), None) => ctx.add("SCHEMA_REMOVED"),
        (Some(o), Some(u)) => compare_views(ctx, od, ud, view(od, o), view(ud, u)),
    }
}

fn compare_views<'a>(ctx: &mut Ctx, od: &'a JsonSchemaDoc, ud: &'a JsonSchemaDoc, o: View<'a>, u: View<'a>) {
    if ctx.depth > MAX_DEPTH {
        return;
    }
    let pair = (key_of(&o).0 ^ (key_of(&o).1 as usize), key_of(&u).0 ^ ((key_of(&u).1 as usize) << 1));
    if !ctx.in_progress.insert(pair) {
        // A recursive schema came back to a pair being compared: taken as compatible.
        return;
    }
    ctx.depth += 1;
    compare_types(ctx, od, ud, &o, &u);
    ctx.depth -= 1;
    ctx.in_progress.remove(&pair);
}

fn combined_parts<'v, 'a>(v: &'v View<'a>) -> Option<(&'static str, &'v [View<'a>])> {
    match v {
        View::Combined(_, c, subs) => Some((c, subs)),
        _ => None,
    }
}

fn compare_types<'a>(ctx: &mut Ctx, od: &'a JsonSchemaDoc, ud: &'a JsonSchemaDoc, o: &View<'a>, u: &View<'a>) {
    match (combined_parts(o), combined_parts(u)) {
        (None, Some((criterion, subs))) => {
            if subs.len() == 1 {
                let mut sub = ctx.sub();
                compare_views(&mut sub, od, ud, o.clone(), subs[0].clone());
                if sub.compatible() {
                    ctx.diffs.extend(sub.diffs);
                    return;
                }
            } else if criterion != "allOf" {
                for s in subs {
                    let mut sub = ctx.sub();
                    compare_views(&mut sub, od, ud, o.clone(), s.clone());
                    if sub.compatible() {
                        ctx.diffs.extend(sub.diffs);
                        ctx.add("SUM_TYPE_EXTENDED");
                        return;
                    }
                }
            }
        }
        (Some((criterion, subs)), None) => {
            if subs.len() == 1 {
                let mut sub = ctx.sub();
                compare_views(&mut sub, od, ud, subs[0].clone(), u.clone());
                if sub.compatible() {
                    ctx.diffs.extend(sub.diffs);
                    return;
                }
            } else if criterion == "allOf" {
                for s in subs {
                    let mut sub = ctx.sub();
                    compare_views(&mut sub, od, ud, s.clone(), u.clone());
                    if sub.compatible() {
                        ctx.diffs.extend(sub.diffs);
                        ctx.add("PRODUCT_TYPE_NARROWED");
                        return;
                    }
                }
            }
        }
        _ => {}
    }
    if o.class() != u.class() {
        if matches!(o, View::False) || u.is_empty() {
            return;
        }
        let connect_bytes =
            |v: &View<'_>| v.at().and_then(|a| a.node.get("connect.type")).and_then(Node::as_str) == Some("bytes");
        if connect_bytes(o) && connect_bytes(u) {
            return;
        }
        ctx.add("TYPE_CHANGED");
        return;
    }
    let (Some(oa), Some(ua)) = (o.at(), u.at()) else { return };
    let attr = |a: At<'_>, k: &str| a.node.get(k).cloned();
    {
        if attr(oa, "$id").or_else(|| attr(oa, "id")) != attr(ua, "$id").or_else(|| attr(ua, "id")) {
            ctx.add("ID_CHANGED");
        }
        if attr(oa, "title") != attr(ua, "title") {
            ctx.add("TITLE_CHANGED");
        }
        if attr(oa, "description") != attr(ua, "description") {
            ctx.add("DESCRIPTION_CHANGED");
        }
        if attr(oa, "default") != attr(ua, "default") {
            ctx.add("DEFAULT_CHANGED");
        }
    }
    match (o, u) {
        (View::String(_), View::String(_)) => compare_string(ctx, oa.node, ua.node),
        (View::Number(_, oi), View::Number(_, ui)) => {
            compare_number(ctx, oa.node, ua.node);
            if oi != ui {
                ctx.add(if *oi { "TYPE_EXTENDED" } else { "TYPE_NARROWED" });
            }
        }
        (View::Enum(_), View::Enum(_)) => {
            let ov = oa.node.get("enum").and_then(Node::as_array).unwrap_or(&[]);
            let uv = ua.node.get("enum").and_then(Node::as_array).unwrap_or(&[]);
            let contains_all = |a: &[Node], b: &[Node]| b.iter().all(|x| a.contains(x));
            if !(contains_all(ov, uv) && contains_all(uv, ov)) {
                let kind = if contains_all(uv, ov) {
                    "ENUM_ARRAY_EXTENDED"
                } else if contains_all(ov, uv) {
                    "ENUM_ARRAY_NARROWED"
                } else {
                    "ENUM_ARRAY_CHANGED"
                };
                ctx.add_at("enum", kind);
            }
        }
        (View::Const(_), View::Const(_)) if oa.node.get("const") != ua.node.get("const") => {
            ctx.add_at("const", "ENUM_ARRAY_CHANGED");
        }
        (View::Not(_), View::Not(_)) => ctx.enter("not", |ctx| {
            let mut sub = ctx.sub();
            // The wrapped schemas are compared the other way round.
            compare(
                &mut sub,
                ud,
                od,
                ua.node.get("not").map(|n| At { doc: ua.doc, node: n }),
                oa.node.get("not").map(|n| At { doc: oa.doc, node: n }),
            );
            ctx.add(if sub.compatible() { "NOT_TYPE_NARROWED" } else { "NOT_TYPE_EXTENDED" });
        }),
        (View::Combined(_, oc, osubs), View::Combined(_, uc, usubs)) => {
            compare_combined(ctx, od, ud, oc, osubs, uc, usubs)
        }
        (View::Object(_), View::Object(_)) => compare_object(ctx, od, ud, oa, ua),
        (View::Array(_), View::Array(_)) => compare_array(ctx, od, ud, oa, ua),
        _ => {}
    }
}

fn num(n: &Node, k: &str) -> Option<f64> {
    n.get(k).and_then(Node::as_f64)
}

fn compare_limit(ctx: &mut Ctx, o: Option<f64>, u: Option<f64>, keyword: &str, kinds: [&'static str; 4]) {
    let [added, removed, increased, decreased] = kinds;
    match (o, u) {
        (None, Some(_)) => ctx.add_at(keyword, added),
        (Some(_), None) => ctx.add_at(keyword, removed),
        (Some(a), Some(b)) if a < b => ctx.add_at(keyword, increased),
        (Some(a), Some(b)) if a > b => ctx.add_at(keyword, decreased),
        _ => {}
    }
}

fn compare_string(ctx: &mut Ctx, o: &Node, u: &Node) {
    compare_limit(
        ctx,
        num(o, "maxLength"),
        num(u, "maxLength"),
        "maxLength",
        ["MAX_LENGTH_ADDED", "MAX_LENGTH_REMOVED", "MAX_LENGTH_INCREASED", "MAX_LENGTH_DECREASED"],
    );
    compare_limit(
        ctx,
        num(o, "minLength"),
        num(u, "minLength"),
        "minLength",
        ["MIN_LENGTH_ADDED", "MIN_LENGTH_REMOVED", "MIN_LENGTH_INCREASED", "MIN_LENGTH_DECREASED"],
    );
    match (o.get("pattern").and_then(Node::as_str), u.get("pattern").and_then(Node::as_str)) {
        (None, Some(_)) => ctx.add_at("pattern", "PATTERN_ADDED"),
        (Some(_), None) => ctx.add_at("pattern", "PATTERN_REMOVED"),
        (Some(a), Some(b)) if a != b => ctx.add_at("pattern", "PATTERN_CHANGED"),
        _ => {}
    }
}

fn compare_number(ctx: &mut Ctx, o: &Node, u: &Node) {
    compare_limit(
        ctx,
        num(o, "maximum"),
        num(u, "maximum"),
        "maximum",
        ["MAXIMUM_ADDED", "MAXIMUM_REMOVED", "MAXIMUM_INCREASED", "MAXIMUM_DECREASED"],
    );
    compare_limit(
        ctx,
        num(o, "minimum"),
        num(u, "minimum"),
        "minimum",
        ["MINIMUM_ADDED", "MINIMUM_REMOVED", "MINIMUM_INCREASED", "MINIMUM_DECREASED"],
    );
    compare_limit(
        ctx,
        num(o, "exclusiveMaximum"),
        num(u, "exclusiveMaximum"),
        "exclusiveMaximum",
        [
            "EXCLUSIVE_MAXIMUM_ADDED",
            "EXCLUSIVE_MAXIMUM_REMOVED",
            "EXCLUSIVE_MAXIMUM_INCREASED",
            "EXCLUSIVE_MAXIMUM_DECREASED",
        ],
    );
    compare_limit(
        ctx,
        num(o, "exclusiveMinimum"),
        num(u, "exclusiveMinimum"),
        "exclusiveMinimum",
        [
            "EXCLUSIVE_MINIMUM_ADDED",
            "EXCLUSIVE_MINIMUM_REMOVED",
            "EXCLUSIVE_MINIMUM_INCREASED",
            "EXCLUSIVE_MINIMUM_DECREASED",
        ],
    );
    match (num(o, "multipleOf"), num(u, "multipleOf")) {
        (None, None) => {}
        (None, Some(_)) => ctx.add_at("multipleOf", "MULTIPLE_OF_ADDED"),
        (Some(_), None) => ctx.add_at("multipleOf", "MULTIPLE_OF_REMOVED"),
        (Some(a), Some(b)) if a == b => {}
        (Some(a), Some(b)) => {
            let divides = |x: f64, y: f64| y != 0.0 && ((x / y) - (x / y).round()).abs() < 1e-9;
            let kind = if divides(b, a) {
                "MULTIPLE_OF_EXPANDED"
            } else if divides(a, b) {
                "MULTIPLE_OF_REDUCED"
            } else {
                "MULTIPLE_OF_CHANGED"
            };
            ctx.add_at("multipleOf", kind);
        }
    }
}

/// Maximum matching in the bipartite graph of compatible pairs (augmenting paths; the sets are small).
fn max_matching(edges: &[Vec<usize>], right: usize) -> Vec<Option<usize>> {
    fn augment(l: usize, edges: &[Vec<usize>], seen: &mut [bool], owner: &mut [Option<usize>]) -> bool {
        for &r in &edges[l] {
            if !seen[r] {
                seen[r] = true;
                if owner[r].is_none_or(|o| augment(o, edges, seen, owner)) {
                    owner[r] = Some(l);
                    return true;
                }
            }
        }
        false
    }
    let mut owner = vec![None; right];
    for l in 0..edges.len() {
        let mut seen = vec![false; right];
        augment(l, edges, &mut seen, &mut owner);
    }
    owner
}

fn dedup<'v, 'a>(subs: &'v [View<'a>]) -> Vec<&'v View<'a>> {
    let mut out: Vec<&View<'a>> = Vec::new();
    for s in subs {
        let same = |x: &&View<'a>| x.class() == s.class() && x.at().map(|a| a.node) == s.at().map(|a| a.node);
        if !out.iter().any(same) {
            out.push(s);
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn compare_combined<'a>(
    ctx: &mut Ctx,
    od: &'a JsonSchemaDoc,
    ud: &'a JsonSchemaDoc,
    oc: &'static str,
    osubs: &[View<'a>],
    uc: &'static str,
    usubs: &[View<'a>],
) {
    if oc != uc {
        let extended = uc == "anyOf"
            || (osubs.len() == 1 && usubs.len() == 1)
            || (osubs.len() == 1 && uc == "oneOf")
            || (usubs.len() == 1 && oc == "allOf");
        if extended {
            ctx.add("COMBINED_TYPE_EXTENDED");
        } else {
            ctx.add("COMBINED_TYPE_CHANGED");
            return;
        }
    }
    let (os, us) = (dedup(osubs), dedup(usubs));
    if os.len() < us.len() {
        ctx.add(if uc == "allOf" { "PRODUCT_TYPE_EXTENDED" } else { "SUM_TYPE_EXTENDED" });
    } else if os.len() > us.len() {
        ctx.add(if oc == "allOf" { "PRODUCT_TYPE_NARROWED" } else { "SUM_TYPE_NARROWED" });
    }
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); os.len()];
    let mut found: Vec<Vec<Vec<Difference>>> = vec![vec![Vec::new(); us.len()]; os.len()];
    for (i, o) in os.iter().enumerate() {
        ctx.enter(format!("{oc}/{i}"), |ctx| {
            for (j, u) in us.iter().enumerate() {
                let mut sub = ctx.sub();
                compare_views(&mut sub, od, ud, (*o).clone(), (*u).clone());
                if sub.compatible() {
                    edges[i].push(j);
                    found[i][j] = sub.diffs;
                }
            }
        });
    }
    let owner = max_matching(&edges, us.len());
    let mut matched = 0;
    for (j, o) in owner.iter().enumerate() {
        if let Some(i) = o {
            matched += 1;
            ctx.diffs.extend(found[*i][j].clone());
        }
    }
    if matched < os.len().min(us.len()) {
        ctx.add("COMBINED_TYPE_SUBSCHEMAS_CHANGED");
    }
}

fn sub_at<'a>(a: At<'a>, k: &str) -> Option<At<'a>> {
    a.node.get(k).map(|n| At { doc: a.doc, node: n })
}

/// `additionalProperties`/`additionalItems`: (permits, schema when it is a schema other than `true`).
fn additional<'a>(a: At<'a>, k: &str) -> (bool, Option<At<'a>>) {
    match a.node.get(k) {
        None | Some(Node::Bool(true)) => (true, None),
        Some(Node::Bool(false)) => (false, None),
        Some(n) => (true, Some(At { doc: a.doc, node: n })),
    }
}

fn unevaluated<'a>(d: &'a JsonSchemaDoc, a: At<'a>, k: &str) -> Option<View<'a>> {
    sub_at(a, k).map(|s| view(d, s))
}

fn compare_uneval<'a>(
    ctx: &mut Ctx,
    od: &'a JsonSchemaDoc,
    ud: &'a JsonSchemaDoc,
    o: Option<View<'a>>,
    u: Option<View<'a>>,
    kinds: [&'static str; 4],
    keyword: &str,
) {
    let [added, removed, extended, narrowed] = kinds;
    if o.is_none() && u.is_none() {
        return;
    }
    ctx.enter(keyword, |ctx| match (o, u) {
        (None, Some(u)) => ctx.add(if matches!(u, View::False) { removed } else { narrowed }),
        (Some(o), None) => ctx.add(if matches!(o, View::False) { added } else { extended }),
        (Some(o), Some(u)) => {
            if matches!(o, View::False) && !matches!(u, View::False) {
                ctx.add(added)
            } else if !matches!(o, View::False) && matches!(u, View::False) {
                ctx.add(removed)
            } else if o.is_empty() && !u.is_empty() {
                ctx.add(narrowed)
            } else if !o.is_empty() && u.is_empty() {
                ctx.add(extended)
            } else {
                compare_views(ctx, od, ud, o, u)
            }
        }
        (None, None) => {}
    });
}

fn names(a: At<'_>, k: &str) -> Vec<String> {
    a.node
        .get(k)
        .and_then(Node::as_array)
        .map(|x| x.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn entries<'a>(a: At<'a>, k: &str) -> Vec<(&'a str, At<'a>)> {
    a.node
        .get(k)
        .and_then(Node::as_object)
        .map(|e| e.iter().map(|(k, v)| (k.as_str(), At { doc: a.doc, node: v })).collect())
        .unwrap_or_default()
}

fn open_object(d: &JsonSchemaDoc, a: At<'_>) -> bool {
    let (permits, schema) = additional(a, "additionalProperties");
    if !permits || schema.is_some() || !entries(a, "patternProperties").is_empty() {
        return false;
    }
    unevaluated(d, a, "unevaluatedProperties").is_none_or(|u| u.is_empty())
}

fn partial_object<'a>(d: &'a JsonSchemaDoc, a: At<'a>, property: &str) -> Option<At<'a>> {
    for (pattern, s) in entries(a, "patternProperties") {
        if regex::Regex::new(pattern).is_ok_and(|re| re.is_match(property)) {
            return Some(s);
        }
    }
    let (permits, schema) = additional(a, "additionalProperties");
    if schema.is_some() {
        return schema;
    }
    if permits {
        if let Some(u) = sub_at(a, "unevaluatedProperties") {
            let v = view(d, u);
            if !matches!(v, View::False) && !v.is_empty() {
                return Some(u);
            }
        }
    }
    None
}

fn has_default(d: &JsonSchemaDoc, a: At<'_>) -> bool {
    view(d, a).at().is_some_and(|t| t.node.get("default").is_some()) || a.node.get("default").is_some()
}

fn compare_object<'a>(ctx: &mut Ctx, od: &'a JsonSchemaDoc, ud: &'a JsonSchemaDoc, o: At<'a>, u: At<'a>) {
    let (oprops, uprops) = (entries(o, "properties"), entries(u, "properties"));
    let (oreq, ureq) = (names(o, "required"), names(u, "required"));
    let find = |props: &[(&'a str, At<'a>)], k: &str| props.iter().find(|(n, _)| *n == k).map(|(_, s)| *s);
    ctx.enter("required", |ctx| {
        for (k, _) in &oprops {
            if let Some(us) = find(&uprops, k) {
                let (was, is) = (oreq.iter().any(|r| r == k), ureq.iter().any(|r| r == k));
                if was && !is {
                    ctx.add_at(k, "REQUIRED_ATTRIBUTE_REMOVED");
                } else if !was && is {
                    ctx.add_at(
                        k,
                        if has_default(ud, us) {
                            "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED"
                        } else {
                            "REQUIRED_ATTRIBUTE_ADDED"
                        },
                    );
                }
            }
        }
    });
    ctx.enter("properties", |ctx| {
        let mut keys: Vec<&str> = oprops.iter().map(|(k, _)| *k).collect();
        keys.extend(uprops.iter().map(|(k, _)| *k).filter(|k| !oprops.iter().any(|(o, _)| o == k)));
        for k in keys {
            ctx.enter(k, |ctx| match (find(&oprops, k), find(&uprops, k)) {
                (Some(os), None) => {
                    if open_object(ud, u) {
                        ctx.add("PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL");
                    } else if let Some(p) = partial_object(ud, u, k) {
                        let mut sub = ctx.sub();
                        compare(&mut sub, od, ud, Some(os), Some(p));
                        let ok = sub.compatible();
                        ctx.diffs.extend(sub.diffs);
                        ctx.add(if ok {
                            "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
                        } else {
                            "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
                        });
                    } else if matches!(view(od, os), View::False) {
                        ctx.add("PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL");
                    } else {
                        ctx.add("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL");
                    }
                }
                (None, Some(us)) => {
                    let required = ureq.iter().any(|r| r == k);
                    if open_object(od, o) {
                        if view(ud, us).is_empty() {
                            ctx.add("PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL");
                        } else if required {
                            ctx.add(if has_default(ud, us) {
                                "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL"
                            } else {
                                "REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"
                            });
                        } else {
                            ctx.add("OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL");
                        }
                    } else {
                        if let Some(p) = partial_object(od, o, k) {
                            let mut sub = ctx.sub();
                            compare(&mut sub, od, ud, Some(p), Some(us));
                            let ok = sub.compatible();
                            ctx.diffs.extend(sub.diffs);
                            ctx.add(if ok {
                                "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
                            } else {
                                "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
                            });
                        }
                        if required {
                            ctx.add(if has_default(ud, us) {
                                "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL"
                            } else {
                                "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"
                            });
                        } else {
                            ctx.add("OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL");
                        }
                    }
                }
                (Some(os), Some(us)) => compare(ctx, od, ud, Some(os), Some(us)),
                (None, None) => {}
            });
        }
    });
    ctx.enter("dependencies", |ctx| {
        let (odeps, udeps) = (entries(o, "dependencies"), entries(u, "dependencies"));
        let arrays = |deps: &[(&'a str, At<'a>)]| -> Vec<(String, Vec<String>)> {
            deps.iter()
                .filter_map(|(k, v)| {
                    v.node
                        .as_array()
                        .map(|a| (k.to_string(), a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()))
                })
                .collect()
        };
        let schemas = |deps: &[(&'a str, At<'a>)]| -> Vec<(String, At<'a>)> {
            deps.iter().filter(|(_, v)| v.node.as_array().is_none()).map(|(k, v)| (k.to_string(), *v)).collect()
        };
        let (oa, ua) = (arrays(&odeps), arrays(&udeps));
        let mut keys: Vec<String> = oa.iter().chain(ua.iter()).map(|(k, _)| k.clone()).collect();
        keys.dedup();
        for k in keys {
            let (ov, uv) =
                (oa.iter().find(|(x, _)| *x == k).map(|(_, v)| v), ua.iter().find(|(x, _)| *x == k).map(|(_, v)| v));
            ctx.enter(k, |ctx| match (ov, uv) {
                (_, None) => ctx.add("DEPENDENCY_ARRAY_REMOVED"),
                (None, Some(_)) => ctx.add("DEPENDENCY_ARRAY_ADDED"),
                (Some(a), Some(b)) => {
                    let all = |x: &Vec<String>, y: &Vec<String>| y.iter().all(|s| x.contains(s));
                    if !(all(a, b) && all(b, a)) {
                        ctx.add(if all(b, a) {
                            "DEPENDENCY_ARRAY_EXTENDED"
                        } else if all(a, b) {
                            "DEPENDENCY_ARRAY_NARROWED"
                        } else {
                            "DEPENDENCY_ARRAY_CHANGED"
                        });
                    }
                }
            });
        }
        let (os, us) = (schemas(&odeps), schemas(&udeps));
        let mut keys: Vec<String> = os.iter().chain(us.iter()).map(|(k, _)| k.clone()).collect();
        keys.dedup();
        for k in keys {
            let (ov, uv) =
                (os.iter().find(|(x, _)| *x == k).map(|(_, v)| *v), us.iter().find(|(x, _)| *x == k).map(|(_, v)| *v));
            ctx.enter(k, |ctx| match (ov, uv) {
                (_, None) => ctx.add("DEPENDENCY_SCHEMA_REMOVED"),
                (None, Some(_)) => ctx.add("DEPENDENCY_SCHEMA_ADDED"),
                (Some(a), Some(b)) => compare(ctx, od, ud, Some(a), Some(b)),
            });
        }
    });
    ctx.enter("additionalProperties", |ctx| {
        let ((op, os), (up, us)) = (additional(o, "additionalProperties"), additional(u, "additionalProperties"));
        if op != up {
            ctx.add(if up { "ADDITIONAL_PROPERTIES_ADDED" } else { "ADDITIONAL_PROPERTIES_REMOVED" });
        } else if os.is_none() && us.is_some() {
            ctx.add("ADDITIONAL_PROPERTIES_NARROWED");
        } else if us.is_none() && os.is_some() {
            ctx.add("ADDITIONAL_PROPERTIES_EXTENDED");
        } else if os.is_some() {
            compare(ctx, od, ud, os, us);
        }
    });
    compare_uneval(
        ctx,
        od,
        ud,
        unevaluated(od, o, "unevaluatedProperties"),
        unevaluated(ud, u, "unevaluatedProperties"),
        [
            "UNEVALUATED_PROPERTIES_ADDED",
            "UNEVALUATED_PROPERTIES_REMOVED",
            "UNEVALUATED_PROPERTIES_EXTENDED",
            "UNEVALUATED_PROPERTIES_NARROWED",
        ],
        "unevaluatedProperties",
    );
    compare_limit(
        ctx,
        num(o.node, "maxProperties"),
        num(u.node, "maxProperties"),
        "maxProperties",
        ["MAX_PROPERTIES_ADDED", "MAX_PROPERTIES_REMOVED", "MAX_PROPERTIES_INCREASED", "MAX_PROPERTIES_DECREASED"],
    );
    compare_limit(
        ctx,
        num(o.node, "minProperties"),
        num(u.node, "minProperties"),
        "minProperties",
        ["MIN_PROPERTIES_ADDED", "MIN_PROPERTIES_REMOVED", "MIN_PROPERTIES_INCREASED", "MIN_PROPERTIES_DECREASED"],
    );
}

fn open_array(d: &JsonSchemaDoc, a: At<'_>) -> bool {
    let (permits, schema) = additional(a, "additionalItems");
    permits && schema.is_none() && unevaluated(d, a, "unevaluatedItems").is_none_or(|u| u.is_empty())
}

fn partial_array<'a>(d: &'a JsonSchemaDoc, a: At<'a>) -> Option<At<'a>> {
    let (permits, schema) = additional(a, "additionalItems");
    if schema.is_some() {
        return schema;
    }
    if permits {
        if let Some(u) = sub_at(a, "unevaluatedItems") {
            let v = view(d, u);
            if !matches!(v, View::False) && !v.is_empty() {
                return Some(u);
            }
        }
    }
    None
}

fn compare_array<'a>(ctx: &mut Ctx, od: &'a JsonSchemaDoc, ud: &'a JsonSchemaDoc, o: At<'a>, u: At<'a>) {
    // `items` as one schema applies to every item; as an array it is a tuple.
    let all_items = |a: At<'a>| sub_at(a, "items").filter(|i| i.node.as_array().is_none());
    let tuple = |a: At<'a>| -> Vec<At<'a>> {
        a.node
            .get("items")
            .and_then(Node::as_array)
            .map(|x| x.iter().map(|n| At { doc: a.doc, node: n }).collect())
            .unwrap_or_default()
    };
    ctx.enter("items", |ctx| compare(ctx, od, ud, all_items(o), all_items(u)));
    let (ot, ut) = (tuple(o), tuple(u));
    let common = ot.len().min(ut.len());
    for i in 0..common {
        ctx.enter(format!("items/{i}"), |ctx| compare(ctx, od, ud, Some(ot[i]), Some(ut[i])));
    }
    for (i, os) in ot.iter().enumerate().skip(common) {
        ctx.enter(format!("items/{i}"), |ctx| {
            if open_array(ud, u) {
                ctx.add("ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL");
            } else if let Some(p) = partial_array(ud, u) {
                let mut sub = ctx.sub();
                compare(&mut sub, od, ud, Some(*os), Some(p));
                let ok = sub.compatible();
                ctx.diffs.extend(sub.diffs);
                ctx.add(if ok {
                    "ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
                } else {
                    "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
                });
            } else if matches!(view(od, *os), View::False) {
                ctx.add("ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL");
            } else {
                ctx.add("ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL");
            }
        });
    }
    for (i, us) in ut.iter().enumerate().skip(common) {
        ctx.enter(format!("items/{i}"), |ctx| {
            if open_array(od, o) {
                ctx.add(if view(ud, *us).is_empty() {
                    "ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL"
                } else {
                    "ITEM_ADDED_TO_OPEN_CONTENT_MODEL"
                });
            } else if let Some(p) = partial_array(od, o) {
                let mut sub = ctx.sub();
                compare(&mut sub, od, ud, Some(p), Some(*us));
                let ok = sub.compatible();
                ctx.diffs.extend(sub.diffs);
                ctx.add(if ok {
                    "ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
                } else {
                    "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
                });
            } else {
                ctx.add("ITEM_ADDED_TO_CLOSED_CONTENT_MODEL");
            }
        });
    }
    ctx.enter("additionalItems", |ctx| {
        let ((op, os), (up, us)) = (additional(o, "additionalItems"), additional(u, "additionalItems"));
        if op != up {
            ctx.add(if op { "ADDITIONAL_ITEMS_REMOVED" } else { "ADDITIONAL_ITEMS_ADDED" });
        } else if os.is_none() && us.is_some() {
            ctx.add("ADDITIONAL_ITEMS_NARROWED");
        } else if us.is_none() && os.is_some() {
            ctx.add("ADDITIONAL_ITEMS_EXTENDED");
        } else if os.is_some() {
            compare(ctx, od, ud, os, us);
        }
    });
    compare_uneval(
        ctx,
        od,
        ud,
        unevaluated(od, o, "unevaluatedItems"),
        unevaluated(ud, u, "unevaluatedItems"),
        [
            "UNEVALUATED_ITEMS_ADDED",
            "UNEVALUATED_ITEMS_REMOVED",
            "UNEVALUATED_ITEMS_EXTENDED",
            "UNEVALUATED_ITEMS_NARROWED",
        ],
        "unevaluatedItems",
    );
    compare_limit(
        ctx,
        num(o.node, "maxItems"),
        num(u.node, "maxItems"),
        "maxItems",
        ["MAX_ITEMS_ADDED", "MAX_ITEMS_REMOVED", "MAX_ITEMS_INCREASED", "MAX_ITEMS_DECREASED"],
    );
    compare_limit(
        ctx,
        num(o.node, "minItems"),
        num(u.node, "minItems"),
        "minItems",
        ["MIN_ITEMS_ADDED", "MIN_ITEMS_REMOVED", "MIN_ITEMS_INCREASED", "MIN_ITEMS_DECREASED"],
    );
    let unique = |a: At<'_>| a.node.get("uniqueItems").and_then(Node::as_bool).unwrap_or(false);
    if unique(o) != unique(u) {
        ctx.add_at("uniqueItems", if unique(o) { "UNIQUE_ITEMS_REMOVED" } else { "UNIQUE_ITEMS_ADDED" });
    }
    compare_limit(
        ctx,
        num(o.node, "maxContains"),
        num(u.node, "maxContains"),
        "maxContains",
        ["MAX_CONTAINS_ADDED", "MAX_CONTAINS_REMOVED", "MAX_CONTAINS_INCREASED", "MAX_CONTAINS_DECREASED"],
    );
    compare_limit(
        ctx,
        num(o.node, "minContains"),
        num(u.node, "minContains"),
        "minContains",
        ["MIN_CONTAINS_ADDED", "MIN_CONTAINS_REMOVED", "MIN_CONTAINS_INCREASED", "MIN_CONTAINS_DECREASED"],
    );
}
