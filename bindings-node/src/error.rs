//! Errors as JavaScript sees them: every failure becomes a JS `Error` carrying `potokKind` (which error class
//! the JavaScript layer gives it), `code` (Kafka's numeric error code, null when Kafka has none for it), `type`
//! (Kafka's upper-case error name, or the client's name for a client-side failure such as `ILLEGAL_STATE`),
//! `retriable`, for configuration errors `key`, and for serialization errors `paths` (the JSON Pointers of the
//! failing fields). The JavaScript layer (`lib/errors.js`) turns these into
//! instances of its Error subclasses; here they are only data.

use napi::bindgen_prelude::{JsObjectValue, JsValue};
use napi::{Env, Status};
use potok::broker::ConfigError;
use potok::client::ClientError;
use potok::net::ServerError;

/// Kafka's error codes and names for the failures the broker half can report (from Kafka's `Errors` enum).
const UNKNOWN_SERVER_ERROR: (Option<i16>, &str) = (Some(-1), "UNKNOWN_SERVER_ERROR");
const INVALID_CONFIG: (Option<i16>, &str) = (Some(40), "INVALID_CONFIG");
const KAFKA_STORAGE_ERROR: (Option<i16>, &str) = (Some(56), "KAFKA_STORAGE_ERROR");
/// Not one of Kafka's errors: the name core's client gives a value it could not (de)serialize.
const SERIALIZATION_ERROR: (Option<i16>, &str) = (None, "SERIALIZATION_ERROR");
/// Not one of Kafka's errors: the name core's client uses for a call made in the wrong state.
const ILLEGAL_STATE: (Option<i16>, &str) = (None, "ILLEGAL_STATE");

/// A failure on its way to JavaScript.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    /// The JavaScript class: `ConfigError`, `BrokerError`, `KafkaProtocolError`, `TimeoutError`, ...
    pub kind: &'static str,
    pub code: Option<i16>,
    pub name: String,
    pub retriable: bool,
    pub message: String,
    /// The offending config key, for configuration errors.
    pub key: Option<String>,
    /// The JSON Pointers of the failing fields, for serialization errors.
    pub paths: Option<Vec<String>>,
}

impl Failure {
    fn new(kind: &'static str, (code, name): (Option<i16>, &str), retriable: bool, message: String) -> Failure {
        Failure { kind, code, name: name.to_string(), retriable, message, key: None, paths: None }
    }

    /// A state error of the binding itself (starting a broker twice, using a closed client).
    pub fn state(message: impl Into<String>) -> Failure {
        Failure::new("StateError", ILLEGAL_STATE, false, message.into())
    }

    /// The JS error for this failure. Should building the object itself fail (out of memory in V8), a plain
    /// error with the message is still thrown.
    pub fn into_js(self, env: &Env) -> napi::Error {
        let plain = napi::Error::new(Status::GenericFailure, self.message.clone());
        match self.build(env) {
            Ok(error) => error,
            Err(_) => plain,
        }
    }

    fn build(self, env: &Env) -> napi::Result<napi::Error> {
        let mut object = env.create_error(napi::Error::new(Status::GenericFailure, self.message))?;
        object.set_named_property("potokKind", self.kind)?;
        object.set_named_property("code", self.code.map(i32::from))?;
        object.set_named_property("type", self.name)?;
        object.set_named_property("retriable", self.retriable)?;
        if let Some(key) = self.key {
            object.set_named_property("key", key)?;
        }
        if let Some(paths) = self.paths {
            object.set_named_property("paths", paths)?;
        }
        Ok(napi::Error::from(object.to_unknown()))
    }

    /// The plain error an async task's `compute` returns; its `reject` then throws the typed one.
    pub fn placeholder(&self) -> napi::Error {
        napi::Error::new(Status::GenericFailure, self.message.clone())
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Failure {
        let key = e.key.clone();
        Failure { key: Some(key), ..Failure::new("ConfigError", INVALID_CONFIG, false, e.to_string()) }
    }
}

impl From<ServerError> for Failure {
    fn from(e: ServerError) -> Failure {
        match e {
            ServerError::Broker(potok::broker::BrokerError::Config(c)) => c.into(),
            ServerError::Broker(potok::broker::BrokerError::Storage(s)) => {
                Failure::new("BrokerError", KAFKA_STORAGE_ERROR, false, s.to_string())
            }
            other => Failure::new("BrokerError", UNKNOWN_SERVER_ERROR, false, other.to_string()),
        }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        let kind = match &e {
            ClientError::Kafka { .. } => "KafkaProtocolError",
            ClientError::Timeout(_) => "TimeoutError",
            ClientError::Config { .. } => "ConfigError",
            ClientError::Io(_) => "ConnectionError",
            ClientError::Protocol(_) => "ProtocolError",
            ClientError::Closed => "ClosedError",
            ClientError::Serialization(_) => "SerializationError",
            ClientError::InvalidArgument(_) => "ArgumentError",
            // A wakeup only interrupts a consumer's poll, which the binding absorbs; anything else is a call
            // made in the wrong state.
            _ => "StateError",
        };
        // INVALID_CONFIG is Kafka's error 40 even though core reports a client-side config error without a code.
        let code = match &e {
            ClientError::Config { .. } => INVALID_CONFIG.0,
            _ => e.code(),
        };
        let key = match &e {
            ClientError::Config { key, .. } => Some(key.clone()),
            _ => None,
        };
        Failure { kind, code, name: e.name(), retriable: e.is_retriable(), message: e.to_string(), key, paths: None }
    }
}

/// Kafka's `SerializationException` (it has no error code): a value that could not be written or read, or a
/// schema that cannot be used. `paths` names the failing fields when the error is about particular ones.
pub(crate) fn serialization(message: String, paths: Vec<String>) -> Failure {
    Failure { paths: Some(paths), ..Failure::new("SerializationError", SERIALIZATION_ERROR, false, message) }
}

/// An argument JavaScript passed that the binding cannot convert (a malformed packed batch).
pub(crate) fn invalid_argument(message: impl Into<String>) -> Failure {
    ClientError::InvalidArgument(message.into()).into()
}
