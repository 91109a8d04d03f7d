//! The registry's state: what replaying `_schemas` yields. Only [`Registry::apply`] changes it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::records::{ConfigValue, Key, Record, RecordError, SchemaValue};
use super::{avro, json_schema, CompatibilityLevel, Mode, ParsedSchema, Reference, SchemaType};

/// Deepest chain of schema references followed.
pub const MAX_REFERENCE_DEPTH: usize = 32;

/// A schema id and what it stands for.
#[derive(Debug, Clone)]
pub(super) struct IdEntry {
    pub schema_type: SchemaType,
    pub schema: String,
    pub references: Vec<Reference>,
    /// The subject versions registered with this id.
    pub users: BTreeSet<(String, i32)>,
}

type Identity = (SchemaType, String, Vec<Reference>);

/// The registry rebuilt from `_schemas`.
#[derive(Debug, Clone)]
pub struct Registry {
    pub(super) subjects: BTreeMap<String, BTreeMap<i32, SchemaValue>>,
    pub(super) ids: BTreeMap<i32, IdEntry>,
    identity: HashMap<Identity, i32>,
    pub(super) configs: BTreeMap<Option<String>, ConfigValue>,
    pub(super) modes: BTreeMap<Option<String>, Mode>,
    /// The largest id ever seen: new ids continue after it.
    pub(super) max_id: i32,
    /// `schema.compatibility.level`, the level when no config is stored.
    pub(super) default_compatibility: CompatibilityLevel,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new(CompatibilityLevel::Backward)
    }
}

impl Registry {
    pub fn new(default_compatibility: CompatibilityLevel) -> Registry {
        Registry {
            subjects: BTreeMap::new(),
            ids: BTreeMap::new(),
            identity: HashMap::new(),
            configs: BTreeMap::new(),
            modes: BTreeMap::new(),
            max_id: 0,
            default_compatibility,
        }
    }

    /// Applies one `_schemas` record (`value` `None` is a tombstone). Records this registry cannot read are
    /// refused with an error and change nothing; the caller logs and skips them, as Confluent's reader does.
    pub fn apply(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), RecordError> {
        let key = Key::decode(key)?;
        let Some(value) = value else {
            self.tombstone(&key);
            return Ok(());
        };
        if let Some(record) = Record::decode(&key, value)? {
            self.apply_record(record);
        }
        Ok(())
    }

    /// Applies a decoded record (as [`Registry::apply`]).
    pub fn apply_record(&mut self, record: Record) {
        match record {
            Record::Schema(v) => self.put_schema(v),
            Record::Config(subject, c) => {
                self.configs.insert(subject, c);
            }
            Record::Mode(subject, m) => {
                self.modes.insert(subject, m);
            }
            Record::DeleteSubject { subject, version } => {
                if let Some(versions) = self.subjects.get_mut(&subject) {
                    for (_, v) in versions.range_mut(..=version) {
                        v.deleted = true;
                    }
                }
            }
            Record::ClearSubject { subject } => {
                let deleted: Vec<i32> = self
                    .subjects
                    .get(&subject)
                    .map(|vs| vs.values().filter(|v| v.deleted).map(|v| v.version).collect())
                    .unwrap_or_default();
                for version in deleted {
                    self.remove_schema(&subject, version);
                }
            }
            Record::Noop => {}
        }
    }

    fn tombstone(&mut self, key: &Key) {
        match key {
            Key::Schema { subject, version } => self.remove_schema(subject, *version),
            Key::Config { subject } => {
                self.configs.remove(subject);
            }
            Key::Mode { subject } => {
                self.modes.remove(subject);
            }
            _ => {}
        }
    }

    fn put_schema(&mut self, v: SchemaValue) {
        if let Some(existing) = self.ids.get(&v.id) {
            if existing.schema != v.schema || existing.schema_type != v.schema_type {
                // Confluent's reader ignores a record that reuses an id for another schema.
                return;
            }
        }
        self.remove_schema(&v.subject, v.version);
        self.max_id = self.max_id.max(v.id);
        let entry = self.ids.entry(v.id).or_insert_with(|| IdEntry {
            schema_type: v.schema_type,
            schema: v.schema.clone(),
            references: v.references.clone(),
            users: BTreeSet::new(),
        });
        entry.users.insert((v.subject.clone(), v.version));
        self.identity.entry((v.schema_type, v.schema.clone(), v.references.clone())).or_insert(v.id);
        self.subjects.entry(v.subject.clone()).or_default().insert(v.version, v);
    }

    fn remove_schema(&mut self, subject: &str, version: i32) {
        let Some(versions) = self.subjects.get_mut(subject) else { return };
        let Some(old) = versions.remove(&version) else { return };
        if versions.is_empty() {
            self.subjects.remove(subject);
        }
        if let Some(entry) = self.ids.get_mut(&old.id) {
            entry.users.remove(&(subject.to_string(), version));
            if entry.users.is_empty() {
                let identity = (entry.schema_type, entry.schema.clone(), entry.references.clone());
                self.ids.remove(&old.id);
                if self.identity.get(&identity) == Some(&old.id) {
                    self.identity.remove(&identity);
                }
            }
        }
    }

    /// The id a schema (canonical text, type, references) is registered with anywhere.
    pub(super) fn id_of(&self, schema_type: SchemaType, schema: &str, references: &[Reference]) -> Option<i32> {
        self.identity.get(&(schema_type, schema.to_string(), references.to_vec())).copied()
    }

    pub(super) fn versions(&self, subject: &str, include_deleted: bool) -> impl Iterator<Item = &SchemaValue> {
        self.subjects.get(subject).into_iter().flat_map(|vs| vs.values()).filter(move |v| include_deleted || !v.deleted)
    }

    pub(super) fn has_subject(&self, subject: &str, include_deleted: bool) -> bool {
        self.versions(subject, include_deleted).next().is_some()
    }

    /// Version `version` of `subject`; -1 ("latest") is the latest live version whatever `include_deleted` says,
    /// as in Confluent's registry (so `?deleted=true` never turns "latest" into a soft-deleted version).
    pub(super) fn get(&self, subject: &str, version: i32, include_deleted: bool) -> Option<&SchemaValue> {
        if version == -1 {
            return self.versions(subject, false).last();
        }
        self.subjects.get(subject)?.get(&version).filter(|v| include_deleted || !v.deleted)
    }

    /// The compatibility level in force for `subject` (its own, else the global one, else the default).
    pub(super) fn level(&self, subject: Option<&str>) -> CompatibilityLevel {
        subject
            .and_then(|s| self.configs.get(&Some(s.to_string())))
            .and_then(|c| c.compatibility_level)
            .or_else(|| self.configs.get(&None).and_then(|c| c.compatibility_level))
            .unwrap_or(self.default_compatibility)
    }

    /// Whether `normalize` is configured for `subject` (or globally).
    pub(super) fn normalize_configured(&self, subject: &str) -> bool {
        self.configs
            .get(&Some(subject.to_string()))
            .and_then(|c| c.normalize)
            .or_else(|| self.configs.get(&None).and_then(|c| c.normalize))
            .unwrap_or(false)
    }

    /// The mode in force for `subject` (its own, else the global one, else READWRITE).
    pub(super) fn mode(&self, subject: Option<&str>) -> Mode {
        subject
            .and_then(|s| self.modes.get(&Some(s.to_string())))
            .or_else(|| self.modes.get(&None))
            .copied()
            .unwrap_or(Mode::ReadWrite)
    }

    /// The texts of the schemas `references` stand for, dependencies first (transitively), for the parser.
    pub(super) fn resolve(&self, references: &[Reference]) -> Result<Vec<(String, String)>, String> {
        let mut out: Vec<(String, String)> = Vec::new();
        self.resolve_into(references, &mut out, 0)?;
        Ok(out)
    }

    fn resolve_into(&self, refs: &[Reference], out: &mut Vec<(String, String)>, depth: usize) -> Result<(), String> {
        if depth > MAX_REFERENCE_DEPTH {
            return Err("schema references nest too deeply".into());
        }
        for r in refs {
            let target = self.get(&r.subject, r.version, true).ok_or_else(|| {
                format!("Could not find schema reference {} (subject '{}', version {})", r.name, r.subject, r.version)
            })?;
            self.resolve_into(&target.references, out, depth + 1)?;
            if !out.iter().any(|(n, _)| n == &r.name) {
                out.push((r.name.clone(), target.schema.clone()));
            }
        }
        Ok(())
    }

    /// Parses a schema of `schema_type` with its references resolved.
    pub(super) fn parse(
        &self,
        schema_type: SchemaType,
        schema: &str,
        references: &[Reference],
    ) -> Result<ParsedSchema, String> {
        let resolved = self.resolve(references)?;
        match schema_type {
            SchemaType::Avro => {
                let texts: Vec<String> = resolved.into_iter().map(|(_, t)| t).collect();
                avro::AvroSchema::parse(schema, &texts).map(ParsedSchema::Avro).map_err(|e| e.0)
            }
            SchemaType::Json => {
                json_schema::JsonSchemaDoc::parse(schema, resolved).map(ParsedSchema::Json).map_err(|e| e.0)
            }
            SchemaType::Protobuf => Err("Invalid schema type PROTOBUF".into()),
        }
    }

    /// The subject versions that reference `subject`/`version` (Confluent's `referencedby`).
    pub(super) fn referenced_by(&self, subject: &str, version: i32, include_deleted: bool) -> Vec<(i32, String)> {
        let mut out = Vec::new();
        for versions in self.subjects.values() {
            for v in versions.values() {
                if (include_deleted || !v.deleted)
                    && v.references.iter().any(|r| r.subject == subject && r.version == version)
                {
                    out.push((v.id, v.subject.clone()));
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}
