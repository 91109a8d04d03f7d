//! Errors as JavaScript sees them: every failure becomes a JS `Error` carrying `potokKind` (which error class
//! the JavaScript layer gives it), `code` (Kafka's numeric error code, null when Kafka has none for it), `type`
//! (Kafka's upper-case error name, or the client's name for a client-side failure such as `ILLEGAL_STATE`),
//! `retriable`, for configuration errors `key`, and for serialization errors `paths` (the JSON Pointers of the
//! failing fields). Which failure is which is decided once in core (`potok::host::error`); here a classified
//! error only becomes an object, and the JavaScript layer (`lib/errors.js`) turns it into an instance of its
//! Error subclasses.

use napi::bindgen_prelude::{JsObjectValue, JsValue};
use napi::{Env, Status};
use potok::host::{ErrorKind, HostError};

/// A failure on its way to JavaScript (boxed: results carrying it stay small).
#[derive(Debug, Clone)]
pub(crate) struct Failure(pub Box<HostError>);

/// The JavaScript class (`lib/errors.js`) for each kind.
pub(crate) fn class(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Kafka => "KafkaProtocolError",
        ErrorKind::Timeout => "TimeoutError",
        ErrorKind::Config => "ConfigError",
        ErrorKind::Connection => "ConnectionError",
        ErrorKind::Protocol => "ProtocolError",
        ErrorKind::Closed => "ClosedError",
        ErrorKind::Serialization => "SerializationError",
        ErrorKind::InvalidArgument => "ArgumentError",
        ErrorKind::Broker => "BrokerError",
        // A wakeup only interrupts a consumer's poll, which the binding absorbs; anything else is a call made in
        // the wrong state.
        _ => "StateError",
    }
}

impl Failure {
    /// A state error of the binding itself (starting a broker twice, using a closed client).
    pub fn state(message: impl Into<String>) -> Failure {
        Failure(Box::new(HostError::state(message)))
    }

    /// The JS error for this failure. Should building the object itself fail (out of memory in V8), a plain
    /// error with the message is still thrown.
    pub fn into_js(self, env: &Env) -> napi::Error {
        let plain = napi::Error::new(Status::GenericFailure, self.0.message.clone());
        match self.build(env) {
            Ok(error) => error,
            Err(_) => plain,
        }
    }

    fn build(self, env: &Env) -> napi::Result<napi::Error> {
        let e = *self.0;
        let mut object = env.create_error(napi::Error::new(Status::GenericFailure, e.message))?;
        object.set_named_property("potokKind", class(e.kind))?;
        object.set_named_property("code", e.code.map(i32::from))?;
        object.set_named_property("type", e.name)?;
        object.set_named_property("retriable", e.retriable)?;
        if let Some(key) = e.key {
            object.set_named_property("key", key)?;
        }
        if e.kind == ErrorKind::Serialization {
            object.set_named_property("paths", e.paths)?;
        }
        Ok(napi::Error::from(object.to_unknown()))
    }

    /// The plain error an async task's `compute` returns; its `reject` then throws the typed one.
    pub fn placeholder(&self) -> napi::Error {
        napi::Error::new(Status::GenericFailure, self.0.message.clone())
    }
}

macro_rules! classified {
    ($($error:ty),*) => {$(
        impl From<$error> for Failure {
            fn from(e: $error) -> Failure {
                Failure(Box::new(e.into()))
            }
        }
    )*};
}

classified!(HostError, potok::client::ClientError, potok::net::ServerError, potok::broker::ConfigError);

/// Kafka's `SerializationException` (it has no error code): a value that could not be written or read, or a
/// schema that cannot be used. `paths` names the failing fields when the error is about particular ones.
pub(crate) fn serialization(message: String, paths: Vec<String>) -> Failure {
    Failure(Box::new(HostError::serialization(message, paths, Default::default())))
}

/// An argument JavaScript passed that the binding cannot convert (a malformed packed batch, an offset that is
/// not an integer).
pub(crate) fn invalid_argument(message: impl Into<String>) -> Failure {
    Failure(Box::new(HostError::invalid_argument(message)))
}
