//! Confluent's REST API as plain request -> response: the routes its clients use, their JSON bodies, and its
//! error bodies `{"error_code": 40401, "message": "Subject 'x' not found."}` with the matching HTTP status.
//! Malformed input is a 4xx answer, never a 500: a body that is not JSON is 400 (error code 400, as Confluent's
//! REST layer answers), a body of the wrong shape 422, an unknown route 404, a wrong method 405.

use serde_json::{json, Value};

use super::node::write_string;
use super::records::{ConfigValue, Key, Record, SchemaValue};
use super::{CompatibilityLevel, Mode, ParsedSchema, Reference, Registry, SchemaType};

/// One HTTP request, already read: `path` is the raw (percent-encoded) path, `query` the decoded parameters.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// The answer: an HTTP status and a JSON body (for the `/schema` routes, the schema text itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answer now.
    Done(Response),
    /// Append these `_schemas` records (key, value; `None` a tombstone), and answer once they are applied.
    Write { records: Vec<(Vec<u8>, Option<Vec<u8>>)>, response: Response },
}

/// A Confluent error: HTTP status, error code, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestError {
    pub status: u16,
    pub code: u32,
    pub message: String,
}

impl RestError {
    fn new(status: u16, code: u32, message: impl Into<String>) -> RestError {
        RestError { status, code, message: message.into() }
    }

    pub fn response(&self) -> Response {
        Response { status: self.status, body: json!({"error_code": self.code, "message": self.message}).to_string() }
    }

    fn subject_not_found(subject: &str) -> RestError {
        RestError::new(404, 40401, format!("Subject '{subject}' not found."))
    }

    fn version_not_found(version: i32) -> RestError {
        RestError::new(404, 40402, format!("Version {version} not found."))
    }

    fn schema_not_found() -> RestError {
        RestError::new(404, 40403, "Schema not found")
    }

    fn invalid_schema(message: impl Into<String>) -> RestError {
        RestError::new(422, 42201, message)
    }

    fn not_permitted(message: impl Into<String>) -> RestError {
        RestError::new(422, 42205, message)
    }

    /// A store failure (Confluent's 50001); used by the IO layer when `_schemas` cannot be written.
    pub fn store(message: impl Into<String>) -> RestError {
        RestError::new(500, 50001, message)
    }

    /// A write that did not finish in time (Confluent's 50002).
    pub fn timeout(message: impl Into<String>) -> RestError {
        RestError::new(500, 50002, message)
    }

    /// A schema whose `_schemas` record is over the topic's size limit (Confluent's 42209).
    pub fn too_large() -> RestError {
        RestError::new(422, 42209, "Register operation failed because schema is too large")
    }
}

type Result<T> = std::result::Result<T, RestError>;

fn ok(body: impl Into<String>) -> Outcome {
    Outcome::Done(Response { status: 200, body: body.into() })
}

/// Decodes `%XX` escapes (invalid ones stay as they are; invalid UTF-8 becomes U+FFFD).
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a raw query string into decoded pairs (`+` is a space, as in forms).
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(&k.replace('+', " ")), percent_decode(&v.replace('+', " ")))
        })
        .collect()
}

impl Request {
    fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A boolean query parameter as JAX-RS reads one: "true" in any case is true, anything else false.
    fn flag(&self, name: &str) -> bool {
        self.param(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    fn int_param(&self, name: &str, default: i64) -> Result<i64> {
        match self.param(name) {
            None | Some("") => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| RestError::new(404, 404, "HTTP 404 Not Found")),
        }
    }

    /// The JSON body as an object (400 when it is not JSON, 422 when it is not an object).
    fn json_body(&self) -> Result<serde_json::Map<String, Value>> {
        if let Some(ct) = &self.content_type {
            let ct = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            if !ct.is_empty()
                && ![
                    "application/vnd.schemaregistry.v1+json",
                    "application/vnd.schemaregistry+json",
                    "application/json",
                    "application/octet-stream",
                ]
                .contains(&ct.as_str())
            {
                return Err(RestError::new(415, 415, "HTTP 415 Unsupported Media Type"));
            }
        }
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(RestError::new(422, 422, "Request body is missing"));
        }
        let v: Value = serde_json::from_slice(&self.body)
            .map_err(|e| RestError::new(400, 400, format!("Unparseable JSON: {e}")))?;
        match v {
            Value::Object(m) => Ok(m),
            other => Err(RestError::new(422, 422, format!("Cannot deserialize a request object from {other}"))),
        }
    }
}

/// A register, lookup or compatibility request body.
struct SchemaRequest {
    schema: Option<String>,
    schema_type: SchemaType,
    references: Vec<Reference>,
    version: Option<i32>,
    id: Option<i32>,
}

fn schema_request(body: &serde_json::Map<String, Value>) -> Result<SchemaRequest> {
    let wrong = |field: &str| RestError::new(422, 422, format!("Invalid value for field '{field}'"));
    let schema = match body.get("schema") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(wrong("schema")),
    };
    let schema_type = match body.get("schemaType") {
        None | Some(Value::Null) => SchemaType::Avro,
        Some(Value::String(t)) => match SchemaType::from_name(t) {
            Some(SchemaType::Protobuf) | None => {
                return Err(RestError::invalid_schema(format!("Invalid schema type {t}")))
            }
            Some(t) => t,
        },
        Some(_) => return Err(wrong("schemaType")),
    };
    let references = match body.get("references") {
        None | Some(Value::Null) => Vec::new(),
        Some(r) => Reference::from_json(r).map_err(|m| RestError::new(422, 422, m))?,
    };
    let int = |field: &str| -> Result<Option<i32>> {
        match body.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_i64().and_then(|x| i32::try_from(x).ok()).map(Some).ok_or_else(|| wrong(field)),
        }
    };
    Ok(SchemaRequest { schema, schema_type, references, version: int("version")?, id: int("id")? })
}

/// Confluent's `VersionId`: "latest", -1, or 1..=2^31-1.
fn version_id(v: &str) -> Result<i32> {
    if v.eq_ignore_ascii_case("latest") {
        return Ok(-1);
    }
    match v.parse::<i32>() {
        Ok(n) if n == -1 || n >= 1 => Ok(n),
        _ => Err(RestError::new(
            422,
            42202,
            format!("The specified version '{v}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\""),
        )),
    }
}

/// Confluent's `QualifiedSubject.isValidSubject` for the default context: not empty, no control characters.
fn check_subject(subject: &str) -> Result<()> {
    if subject.is_empty() || subject.chars().any(char::is_control) {
        return Err(RestError::new(422, 42208, format!("The specified subject '{subject}' is not a valid.")));
    }
    Ok(())
}

/// The `Schema` entity: subject, version, id, schemaType (left out for AVRO), references (left out when none),
/// schema, and `deleted` when the version is soft-deleted.
fn schema_entity(v: &SchemaValue) -> String {
    let mut out = String::from("{\"subject\":");
    write_string(&mut out, &v.subject);
    out.push_str(&format!(",\"version\":{},\"id\":{}", v.version, v.id));
    if v.schema_type != SchemaType::Avro {
        out.push_str(&format!(",\"schemaType\":\"{}\"", v.schema_type.name()));
    }
    if !v.references.is_empty() {
        out.push_str(",\"references\":");
        out.push_str(&Reference::list_json(&v.references));
    }
    out.push_str(",\"schema\":");
    write_string(&mut out, &v.schema);
    if v.deleted {
        out.push_str(",\"deleted\":true");
    }
    out.push('}');
    out
}

fn list_json<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
    format!("[{}]", items.join(","))
}

fn string_list(items: impl IntoIterator<Item = String>) -> String {
    let mut out = String::from("[");
    for (i, s) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(&mut out, &s);
    }
    out.push(']');
    out
}

fn write(records: Vec<Record>, tombstones: Vec<Key>, response: String) -> Outcome {
    let mut out: Vec<(Vec<u8>, Option<Vec<u8>>)> =
        tombstones.into_iter().map(|k| (k.encode().into_bytes(), None)).collect();
    out.extend(records.into_iter().map(|r| (r.key().encode().into_bytes(), Some(r.encode().into_bytes()))));
    Outcome::Write { records: out, response: Response { status: 200, body: response } }
}

/// Offset/limit paging as Confluent applies it (a negative limit means all).
fn page<T>(items: Vec<T>, req: &Request) -> Result<Vec<T>> {
    let offset = req.int_param("offset", 0)?.max(0) as usize;
    let limit = req.int_param("limit", -1)?;
    let it = items.into_iter().skip(offset);
    Ok(if limit < 0 { it.collect() } else { it.take(limit as usize).collect() })
}

impl Registry {
    /// Routes one request.
    pub fn handle(&self, req: &Request) -> Outcome {
        match self.route(req) {
            Ok(outcome) => outcome,
            Err(e) => Outcome::Done(e.response()),
        }
    }

    fn route(&self, req: &Request) -> Result<Outcome> {
        let segments: Vec<String> = req.path.split('/').filter(|s| !s.is_empty()).map(percent_decode).collect();
        let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
        let method = req.method.as_str();
        let not_allowed = || Err(RestError::new(405, 405, "HTTP 405 Method Not Allowed"));
        match seg.as_slice() {
            [] => match method {
                "GET" => Ok(ok("{}")),
                _ => not_allowed(),
            },
            ["subjects"] => match method {
                "GET" => self.list_subjects(req),
                _ => not_allowed(),
            },
            ["subjects", subject] => match method {
                "POST" => self.lookup(req, subject),
                "DELETE" => self.delete_subject(req, subject),
                _ => not_allowed(),
            },
            ["subjects", subject, "versions"] => match method {
                "GET" => self.list_versions(req, subject),
                "POST" => self.register(req, subject),
                _ => not_allowed(),
            },
            ["subjects", subject, "versions", version] => match method {
                "GET" => self.get_version(req, subject, version).map(|v| ok(schema_entity(&v))),
                "DELETE" => self.delete_version(req, subject, version),
                _ => not_allowed(),
            },
            ["subjects", subject, "versions", version, "schema"] => match method {
                "GET" => self.get_version(req, subject, version).map(|v| ok(v.schema)),
                _ => not_allowed(),
            },
            ["subjects", subject, "versions", version, "referencedby"] => match method {
                "GET" => {
                    let v = self.get_version(req, subject, version)?;
                    let ids: Vec<i32> = self
                        .referenced_by(&v.subject, v.version, req.flag("deleted"))
                        .into_iter()
                        .map(|(id, _)| id)
                        .collect();
                    Ok(ok(list_json(page(ids, req)?)))
                }
                _ => not_allowed(),
            },
            ["schemas"] => match method {
                "GET" => self.list_schemas(req),
                _ => not_allowed(),
            },
            ["schemas", "types"] => match method {
                "GET" => Ok(ok(r#"["JSON","AVRO"]"#)),
                _ => not_allowed(),
            },
            ["schemas", "ids", id, rest @ ..] if rest.len() <= 1 => {
                if method != "GET" {
                    return not_allowed();
                }
                let id: i32 = id.parse().map_err(|_| RestError::new(404, 404, "HTTP 404 Not Found"))?;
                let entry =
                    self.ids.get(&id).ok_or_else(|| RestError::new(404, 40403, format!("Schema {id} not found")))?;
                let deleted = req.flag("deleted");
                match rest {
                    [] => {
                        let mut out = String::from("{");
                        if entry.schema_type != SchemaType::Avro {
                            out.push_str(&format!("\"schemaType\":\"{}\",", entry.schema_type.name()));
                        }
                        if !entry.references.is_empty() {
                            out.push_str("\"references\":");
                            out.push_str(&Reference::list_json(&entry.references));
                            out.push(',');
                        }
                        out.push_str("\"schema\":");
                        write_string(&mut out, &entry.schema);
                        out.push('}');
                        Ok(ok(out))
                    }
                    ["schema"] => Ok(ok(entry.schema.clone())),
                    ["subjects"] => {
                        let mut subjects: Vec<String> = entry
                            .users
                            .iter()
                            .filter(|(s, v)| deleted || self.get(s, *v, false).is_some())
                            .map(|(s, _)| s.clone())
                            .collect();
                        subjects.dedup();
                        Ok(ok(string_list(page(subjects, req)?)))
                    }
                    ["versions"] => {
                        let pairs: Vec<String> = entry
                            .users
                            .iter()
                            .filter(|(s, v)| deleted || self.get(s, *v, false).is_some())
                            .map(|(s, v)| json!({"subject": s, "version": v}).to_string())
                            .collect();
                        Ok(ok(format!("[{}]", page(pairs, req)?.join(","))))
                    }
                    _ => Err(RestError::new(404, 404, "HTTP 404 Not Found")),
                }
            }
            ["config"] => self.config(req, None),
            ["config", subject] => self.config(req, Some(subject)),
            ["mode"] => self.mode_route(req, None),
            ["mode", subject] => self.mode_route(req, Some(subject)),
            ["compatibility", "subjects", subject, "versions", version] => match method {
                "POST" => self.check_compatibility(req, subject, Some(version)),
                _ => not_allowed(),
            },
            ["compatibility", "subjects", subject, "versions"] => match method {
                "POST" => self.check_compatibility(req, subject, None),
                _ => not_allowed(),
            },
            ["contexts"] => match method {
                "GET" => Ok(ok(r#"["."]"#)),
                _ => not_allowed(),
            },
            _ => Err(RestError::new(404, 404, "HTTP 404 Not Found")),
        }
    }

    fn list_subjects(&self, req: &Request) -> Result<Outcome> {
        let (deleted, deleted_only) = (req.flag("deleted"), req.flag("deletedOnly"));
        let prefix = req.param("subjectPrefix").unwrap_or("");
        let subjects: Vec<String> = self
            .subjects
            .keys()
            .filter(|s| s.starts_with(prefix))
            .filter(|s| {
                let live = self.has_subject(s, false);
                if deleted_only {
                    !live
                } else {
                    live || deleted
                }
            })
            .cloned()
            .collect();
        Ok(ok(string_list(page(subjects, req)?)))
    }

    fn list_versions(&self, req: &Request, subject: &str) -> Result<Outcome> {
        let (deleted, deleted_only) = (req.flag("deleted"), req.flag("deletedOnly"));
        if !self.has_subject(subject, deleted || deleted_only) {
            return Err(RestError::subject_not_found(subject));
        }
        let versions: Vec<i32> = self
            .versions(subject, true)
            .filter(|v| if deleted_only { v.deleted } else { deleted || !v.deleted })
            .map(|v| if req.flag("deletedAsNegative") && v.deleted { -v.version } else { v.version })
            .collect();
        Ok(ok(list_json(page(versions, req)?)))
    }

    fn list_schemas(&self, req: &Request) -> Result<Outcome> {
        let (deleted, latest_only) = (req.flag("deleted"), req.flag("latestOnly"));
        let prefix = req.param("subjectPrefix").unwrap_or("");
        let mut out = Vec::new();
        for (subject, versions) in self.subjects.range(prefix.to_string()..) {
            if !subject.starts_with(prefix) {
                break;
            }
            let live: Vec<&SchemaValue> = versions.values().filter(|v| deleted || !v.deleted).collect();
            if latest_only {
                out.extend(live.last().map(|v| schema_entity(v)));
            } else {
                out.extend(live.iter().map(|v| schema_entity(v)));
            }
        }
        Ok(ok(format!("[{}]", page(out, req)?.join(","))))
    }

    fn get_version(&self, req: &Request, subject: &str, version: &str) -> Result<SchemaValue> {
        let v = version_id(version)?;
        let deleted = req.flag("deleted");
        match self.get(subject, v, deleted) {
            Some(s) => Ok(s.clone()),
            None if !self.has_subject(subject, deleted) => Err(RestError::subject_not_found(subject)),
            None => Err(RestError::version_not_found(v)),
        }
    }

    /// Parses a request's schema the way registration does (optionally normalised), as (parsed, canonical text).
    fn canonicalize(&self, r: &SchemaRequest, normalize: bool) -> Result<(ParsedSchema, String)> {
        let text = r
            .schema
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| RestError::invalid_schema("Empty schema"))?;
        let parsed = self.parse(r.schema_type, text, &r.references).map_err(|e| {
            RestError::invalid_schema(format!("Invalid schema of type {}, details: {e}", r.schema_type.name()))
        })?;
        let canonical = if normalize { parsed.normalized() } else { parsed.canonical() };
        // Re-parse the text that will be stored, so the stored schema is what was checked.
        let parsed = if normalize {
            self.parse(r.schema_type, &canonical, &r.references).map_err(|e| {
                RestError::invalid_schema(format!("Invalid schema of type {}, details: {e}", r.schema_type.name()))
            })?
        } else {
            parsed
        };
        Ok((parsed, canonical))
    }

    fn lookup(&self, req: &Request, subject: &str) -> Result<Outcome> {
        let r = schema_request(&req.json_body()?)?;
        let deleted = req.flag("deleted");
        let normalize = req.flag("normalize") || self.normalize_configured(subject);
        let (_, canonical) = self.canonicalize(&r, normalize)?;
        let mut sorted_refs = r.references.clone();
        if normalize {
            sorted_refs.sort();
            sorted_refs.dedup();
        }
        if let Some(id) = self.id_of(r.schema_type, &canonical, &sorted_refs) {
            if let Some(v) = self.versions(subject, deleted).filter(|v| v.id == id).last() {
                return Ok(ok(schema_entity(v)));
            }
        }
        if !self.has_subject(subject, deleted) {
            return Err(RestError::subject_not_found(subject));
        }
        Err(RestError::schema_not_found())
    }

    /// Confluent's compatibility messages of `new` against the previous versions (oldest first) at `level`.
    fn compatibility_errors(
        &self,
        subject: &str,
        new: &ParsedSchema,
        previous: &[&SchemaValue],
        level: CompatibilityLevel,
    ) -> Vec<String> {
        let (latest_only, backward, forward) = match level {
            CompatibilityLevel::None => return Vec::new(),
            CompatibilityLevel::Backward => (true, true, false),
            CompatibilityLevel::BackwardTransitive => (false, true, false),
            CompatibilityLevel::Forward => (true, false, true),
            CompatibilityLevel::ForwardTransitive => (false, false, true),
            CompatibilityLevel::Full => (true, true, true),
            CompatibilityLevel::FullTransitive => (false, true, true),
        };
        let _ = subject;
        let mut errors = Vec::new();
        for old_value in previous.iter().rev().take(if latest_only { 1 } else { usize::MAX }) {
            let old = match self.parse(old_value.schema_type, &old_value.schema, &old_value.references) {
                Ok(p) => p,
                Err(_) => continue,
            };
            if old.schema_type() != new.schema_type() {
                errors.push("Incompatible because of different schema type".to_string());
                break;
            }
            let append = |mut messages: Vec<String>| {
                if !messages.is_empty() {
                    messages.push(format!("{{oldSchemaVersion: {}}}", old_value.version));
                    messages.push(format!("{{oldSchema: '{}'}}", old_value.schema));
                }
                messages
            };
            if forward && backward {
                errors.extend(old.backward_messages(new, "old", "new"));
                errors.extend(append(new.backward_messages(&old, "new", "old")));
            } else if backward {
                errors.extend(append(new.backward_messages(&old, "new", "old")));
            } else {
                errors.extend(append(old.backward_messages(new, "old", "new")));
            }
            if !errors.is_empty() {
                break;
            }
        }
        if !errors.is_empty() {
            errors.push(format!("{{validateFields: 'false', compatibility: '{}'}}", level.name()));
        }
        errors
    }

    fn register(&self, req: &Request, subject: &str) -> Result<Outcome> {
        check_subject(subject)?;
        let r = schema_request(&req.json_body()?)?;
        let force = req.flag("force");
        let mode = self.mode(Some(subject));
        let not_mode = |what: &str| RestError::not_permitted(format!("Subject {subject} in context . is {what}"));
        if matches!(mode, Mode::ReadOnly | Mode::ReadOnlyOverride) {
            return Err(not_mode("in read-only mode"));
        }
        let import = mode == Mode::Import;
        let requested_id = r.id.filter(|&id| id >= 0);
        match requested_id {
            Some(_) if !import => return Err(not_mode("not in import mode")),
            None if mode != Mode::ReadWrite => return Err(not_mode("not in read-write mode")),
            _ => {}
        }
        let normalize = req.flag("normalize") || self.normalize_configured(subject);
        let (parsed, canonical) = self.canonicalize(&r, normalize)?;
        let mut references = r.references.clone();
        if normalize {
            references.sort();
            references.dedup();
        }
        let all: Vec<&SchemaValue> = self.versions(subject, true).collect();
        let new_version = all.iter().map(|v| v.version + 1).max().unwrap_or(1);
        let requested_version = r.version.filter(|&v| v > 0);
        let mut schema_id = None;
        if let Some(existing) = self.id_of(parsed.schema_type(), &canonical, &references) {
            if requested_id.is_none_or(|id| id == existing) {
                if requested_version.is_none() {
                    if let Some(v) = self.versions(subject, false).filter(|v| v.id == existing).last() {
                        let _ = v;
                        return Ok(ok(json!({"id": existing}).to_string()));
                    }
                }
                schema_id = Some(existing);
            }
        }
        if !import && !force {
            let live: Vec<&SchemaValue> = self.versions(subject, false).collect();
            let errors = self.compatibility_errors(subject, &parsed, &live, self.level(Some(subject)));
            if !errors.is_empty() {
                return Err(RestError::new(
                    409,
                    40901,
                    format!(
                        "Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{}]",
                        errors.join(", ")
                    ),
                ));
            }
        }
        let version = match requested_version {
            None => new_version,
            Some(v) if v == new_version || import => v,
            Some(_) => {
                return Err(RestError::invalid_schema("Version is not one more than previous version"));
            }
        };
        let id = match (schema_id, requested_id) {
            (Some(id), _) => id,
            (None, Some(id)) => {
                if let Some(entry) = self.ids.get(&id) {
                    if entry.schema != canonical || entry.schema_type != parsed.schema_type() {
                        return Err(RestError::not_permitted(format!(
                            "Overwrite new schema with id {id} in context . is not permitted."
                        )));
                    }
                }
                id
            }
            (None, None) => self.max_id.checked_add(1).ok_or_else(|| RestError::store("schema ids are exhausted"))?,
        };
        // Older soft-deleted versions with the same id are tombstoned, as Confluent does, so the id has one
        // live home in the subject.
        let tombstones: Vec<Key> = all
            .iter()
            .filter(|v| v.deleted && v.id == id && v.version < version)
            .filter(|v| self.referenced_by(subject, v.version, true).is_empty())
            .map(|v| Key::Schema { subject: subject.to_string(), version: v.version })
            .collect();
        let record = Record::Schema(SchemaValue {
            subject: subject.to_string(),
            version,
            id,
            schema_type: parsed.schema_type(),
            references,
            schema: canonical,
            deleted: false,
        });
        Ok(write(vec![record], tombstones, json!({"id": id}).to_string()))
    }

    fn delete_version(&self, req: &Request, subject: &str, version: &str) -> Result<Outcome> {
        let permanent = req.flag("permanent");
        let v = version_id(version)?;
        // "latest" is the latest live version (so, as in Confluent, it can be soft-deleted but never permanently
        // deleted, which needs a soft-deleted version); a numbered version is found deleted or not.
        let target = match self.get(subject, v, true) {
            Some(t) => t.clone(),
            None if !self.has_subject(subject, true) => return Err(RestError::subject_not_found(subject)),
            None => return Err(RestError::version_not_found(v)),
        };
        if !permanent && target.deleted {
            return Err(RestError::new(
                404,
                40406,
                format!(
                    "Subject '{subject}' Version {} was soft deleted.Set permanent=true to delete permanently",
                    target.version
                ),
            ));
        }
        if matches!(self.mode(Some(subject)), Mode::ReadOnly | Mode::ReadOnlyOverride) {
            return Err(RestError::not_permitted(format!("Subject {subject} in context . is in read-only mode")));
        }
        if !self.referenced_by(subject, target.version, permanent).is_empty() {
            return Err(RestError::new(
                422,
                42206,
                format!("One or more references exist to the schema {{magic=1,keytype=SCHEMA,subject={subject},version={}}}.", target.version),
            ));
        }
        let key = Key::Schema { subject: subject.to_string(), version: target.version };
        let response = target.version.to_string();
        if permanent {
            if !target.deleted {
                return Err(RestError::new(
                    404,
                    40407,
                    format!(
                        "Subject '{subject}' Version {} was not deleted first before being permanently deleted",
                        target.version
                    ),
                ));
            }
            let mut tombstones = vec![key];
            if self.versions(subject, true).count() == 1 {
                let s = Some(subject.to_string());
                if self.modes.contains_key(&s) {
                    tombstones.push(Key::Mode { subject: s.clone() });
                }
                if self.configs.contains_key(&s) {
                    tombstones.push(Key::Config { subject: s });
                }
            }
            Ok(write(Vec::new(), tombstones, response))
        } else {
            Ok(write(vec![Record::Schema(SchemaValue { deleted: true, ..target })], Vec::new(), response))
        }
    }

    fn delete_subject(&self, req: &Request, subject: &str) -> Result<Outcome> {
        let permanent = req.flag("permanent");
        if !self.has_subject(subject, true) {
            return Err(RestError::subject_not_found(subject));
        }
        if !permanent && !self.has_subject(subject, false) {
            return Err(RestError::new(
                404,
                40404,
                format!("Subject '{subject}' was soft deleted.Set permanent=true to delete permanently"),
            ));
        }
        if matches!(self.mode(Some(subject)), Mode::ReadOnly | Mode::ReadOnlyOverride) {
            return Err(RestError::not_permitted(format!("Subject {subject} in context . is in read-only mode")));
        }
        let targets: Vec<&SchemaValue> = self.versions(subject, permanent).collect();
        for t in &targets {
            if self.referenced_by(subject, t.version, permanent).iter().any(|(_, s)| s != subject) {
                return Err(RestError::new(
                    422,
                    42206,
                    format!("One or more references exist to the schema {{magic=1,keytype=SCHEMA,subject={subject},version={}}}.", t.version),
                ));
            }
            if permanent && !t.deleted {
                return Err(RestError::new(
                    404,
                    40405,
                    format!("Subject '{subject}' was not deleted first before being permanently deleted"),
                ));
            }
        }
        let versions: Vec<i32> = targets.iter().map(|t| t.version).collect();
        let response = list_json(&versions);
        if permanent {
            let mut tombstones: Vec<Key> =
                versions.iter().rev().map(|&v| Key::Schema { subject: subject.to_string(), version: v }).collect();
            let s = Some(subject.to_string());
            if self.modes.contains_key(&s) {
                tombstones.push(Key::Mode { subject: s.clone() });
            }
            if self.configs.contains_key(&s) {
                tombstones.push(Key::Config { subject: s });
            }
            Ok(write(Vec::new(), tombstones, response))
        } else {
            let last = versions.last().copied().unwrap_or(0);
            Ok(write(vec![Record::DeleteSubject { subject: subject.to_string(), version: last }], Vec::new(), response))
        }
    }

    fn config(&self, req: &Request, subject: Option<&str>) -> Result<Outcome> {
        let key = subject.map(str::to_string);
        match req.method.as_str() {
            "GET" => {
                let stored =
                    self.configs.get(&key).filter(|c| c.compatibility_level.is_some() || c.normalize.is_some());
                let config = match (subject, stored) {
                    (_, Some(c)) => c.clone(),
                    (Some(s), None) if !req.flag("defaultToGlobal") => {
                        return Err(RestError::new(
                            404,
                            40408,
                            format!("Subject '{s}' does not have subject-level compatibility configured"),
                        ))
                    }
                    (_, None) => ConfigValue { compatibility_level: Some(self.level(subject)), normalize: None },
                };
                Ok(ok(config_json(&config, "compatibilityLevel")))
            }
            "PUT" => {
                let body = req.json_body()?;
                let level = match body.get("compatibility").or_else(|| body.get("compatibilityLevel")) {
                    None | Some(Value::Null) => None,
                    Some(Value::String(l)) => Some(CompatibilityLevel::from_name(l).ok_or_else(invalid_level)?),
                    Some(_) => return Err(invalid_level()),
                };
                let normalize = match body.get("normalize") {
                    None | Some(Value::Null) => None,
                    Some(Value::Bool(b)) => Some(*b),
                    Some(_) => return Err(RestError::new(422, 422, "Invalid value for field 'normalize'")),
                };
                if let Some(s) = subject {
                    check_subject(s)?;
                }
                if matches!(self.mode(subject), Mode::ReadOnly | Mode::ReadOnlyOverride) {
                    return Err(RestError::not_permitted(format!(
                        "Subject {} in context . is in read-only mode",
                        subject.unwrap_or("null")
                    )));
                }
                let old = self.configs.get(&key).cloned().unwrap_or_default();
                let new = ConfigValue {
                    compatibility_level: level.or(old.compatibility_level),
                    normalize: normalize.or(old.normalize),
                };
                let response = config_json(&new, "compatibility");
                Ok(write(vec![Record::Config(key, new)], Vec::new(), response))
            }
            "DELETE" => {
                let existing = self.configs.get(&key).cloned();
                let previous = match (subject, existing) {
                    (_, Some(c)) => c,
                    (Some(s), None) => return Err(RestError::subject_not_found(s)),
                    (None, None) => ConfigValue { compatibility_level: Some(self.level(None)), normalize: None },
                };
                if matches!(self.mode(subject), Mode::ReadOnly | Mode::ReadOnlyOverride) {
                    return Err(RestError::not_permitted(format!(
                        "Subject {} in context . is in read-only mode",
                        subject.unwrap_or("null")
                    )));
                }
                Ok(write(Vec::new(), vec![Key::Config { subject: key }], config_json(&previous, "compatibilityLevel")))
            }
            _ => Err(RestError::new(405, 405, "HTTP 405 Method Not Allowed")),
        }
    }

    fn mode_route(&self, req: &Request, subject: Option<&str>) -> Result<Outcome> {
        let key = subject.map(str::to_string);
        match req.method.as_str() {
            "GET" => {
                let mode = match (subject, self.modes.get(&key)) {
                    (_, Some(m)) => *m,
                    (Some(s), None) if !req.flag("defaultToGlobal") => {
                        return Err(RestError::new(
                            404,
                            40409,
                            format!("Subject '{s}' does not have subject-level mode configured"),
                        ))
                    }
                    (_, None) => self.mode(subject),
                };
                Ok(ok(json!({"mode": mode.name()}).to_string()))
            }
            "PUT" => {
                let body = req.json_body()?;
                let mode = body.get("mode").and_then(Value::as_str).and_then(Mode::from_name).ok_or_else(|| {
                    RestError::new(
                        422,
                        42204,
                        "Invalid mode. Valid values are READWRITE, READONLY, READONLY_OVERRIDE, and IMPORT.",
                    )
                })?;
                if let Some(s) = subject {
                    check_subject(s)?;
                }
                let mut records = Vec::new();
                let mut tombstones = Vec::new();
                if mode == Mode::Import && self.mode(subject) != Mode::Import && !req.flag("force") {
                    let in_scope: Vec<&String> =
                        self.subjects.keys().filter(|s| subject.is_none_or(|x| x == s.as_str())).collect();
                    if in_scope.iter().any(|s| self.has_subject(s, false)) {
                        return Err(RestError::not_permitted("Cannot import since found existing subjects"));
                    }
                    for s in in_scope {
                        for v in self.versions(s, true) {
                            tombstones.push(Key::Schema { subject: s.clone(), version: v.version });
                        }
                        records.push(Record::ClearSubject { subject: s.clone() });
                    }
                }
                records.push(Record::Mode(key, mode));
                Ok(write(records, tombstones, json!({"mode": mode.name()}).to_string()))
            }
            "DELETE" => {
                let previous = match (subject, self.modes.get(&key)) {
                    (_, Some(m)) => *m,
                    (Some(s), None) => return Err(RestError::subject_not_found(s)),
                    (None, None) => Mode::ReadWrite,
                };
                Ok(write(Vec::new(), vec![Key::Mode { subject: key }], json!({"mode": previous.name()}).to_string()))
            }
            _ => Err(RestError::new(405, 405, "HTTP 405 Method Not Allowed")),
        }
    }

    fn check_compatibility(&self, req: &Request, subject: &str, version: Option<&str>) -> Result<Outcome> {
        let verbose = req.flag("verbose");
        let previous: Vec<&SchemaValue> = match version {
            Some(version) => {
                let v = version_id(version)?;
                match self.get(subject, v, false) {
                    Some(s) => vec![s],
                    None if v == -1 => Vec::new(),
                    None => return Err(RestError::version_not_found(v)),
                }
            }
            None => self.versions(subject, false).collect(),
        };
        let r = schema_request(&req.json_body()?)?;
        let normalize = req.flag("normalize") || self.normalize_configured(subject);
        let errors = match self.canonicalize(&r, normalize) {
            Ok((parsed, _)) => {
                // One named version is checked on its own, whatever the level's transitivity.
                let level = self.level(Some(subject));
                let level = if version.is_some() {
                    match level {
                        CompatibilityLevel::BackwardTransitive => CompatibilityLevel::Backward,
                        CompatibilityLevel::ForwardTransitive => CompatibilityLevel::Forward,
                        CompatibilityLevel::FullTransitive => CompatibilityLevel::Full,
                        l => l,
                    }
                } else {
                    level
                };
                self.compatibility_errors(subject, &parsed, &previous, level)
            }
            Err(e) if verbose => vec![e.message],
            Err(e) => return Err(e),
        };
        let body = if verbose {
            json!({"is_compatible": errors.is_empty(), "messages": errors})
        } else {
            json!({"is_compatible": errors.is_empty()})
        };
        Ok(ok(body.to_string()))
    }
}

fn invalid_level() -> RestError {
    RestError::new(
        422,
        42203,
        "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive",
    )
}

/// A config as Confluent answers it: `compatibilityLevel` for reads, `compatibility` for the echo of a PUT.
fn config_json(c: &ConfigValue, level_field: &str) -> String {
    let mut m = serde_json::Map::new();
    if let Some(n) = c.normalize {
        m.insert("normalize".into(), Value::Bool(n));
    }
    if let Some(l) = c.compatibility_level {
        m.insert(level_field.into(), Value::String(l.name().into()));
    }
    Value::Object(m).to_string()
}
