//! One classification of every failure a host sees: what kind it is (which typed error a binding raises), Kafka's
//! error code and upper-case name, librdkafka's local code for failures that never crossed the wire, whether a
//! retry can help, and the offending config key or field paths. Bindings only turn a [`HostError`] into their
//! language's error object.

use crate::client::ClientError;

/// Which typed host error a failure becomes. Each binding maps these to its own classes (Python's
/// `potok.errors`, Node's `lib/errors.js`); a C ABI can return the discriminant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(i32)]
pub enum ErrorKind {
    /// A broker answered with a Kafka error code.
    Kafka = 1,
    /// A deadline passed.
    Timeout = 2,
    /// A config key is unknown or its value malformed.
    Config = 3,
    /// A broker could not be reached or the connection broke.
    Connection = 4,
    /// A broker sent something that does not follow Kafka's protocol.
    Protocol = 5,
    /// The client is closed.
    Closed = 6,
    /// `wakeup()` interrupted a blocking call.
    Wakeup = 7,
    /// A value could not be serialized or deserialized, or a schema cannot be used.
    Serialization = 8,
    /// An argument the engine cannot use.
    InvalidArgument = 9,
    /// A call that does not fit the current state.
    State = 10,
    /// The embedded broker failed to start or stop.
    Broker = 11,
    /// Anything else.
    Other = 12,
}

impl ErrorKind {
    /// A short, stable name (`"timeout"`, `"invalid_argument"`, ...) for bindings that pick a class by string.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Kafka => "kafka",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Config => "config",
            ErrorKind::Connection => "connection",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Closed => "closed",
            ErrorKind::Wakeup => "wakeup",
            ErrorKind::Serialization => "serialization",
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::State => "state",
            ErrorKind::Broker => "broker",
            ErrorKind::Other => "other",
        }
    }
}

/// librdkafka's local (negative) error codes, which confluent-kafka users compare `code` against, for errors
/// that have no Kafka protocol code.
pub mod local {
    pub const BAD_MSG: i32 = -199;
    pub const DESTROY: i32 = -197;
    pub const FAIL: i32 = -196;
    pub const TRANSPORT: i32 = -195;
    pub const INVALID_ARG: i32 = -186;
    pub const TIMED_OUT: i32 = -185;
    pub const QUEUE_FULL: i32 = -184;
    pub const STATE: i32 = -172;
    pub const KEY_SERIALIZATION: i32 = -162;
    pub const VALUE_SERIALIZATION: i32 = -161;
    pub const KEY_DESERIALIZATION: i32 = -160;
    pub const VALUE_DESERIALIZATION: i32 = -159;
    pub const INTR: i32 = -141;
}

/// Kafka's codes for the failures the broker half reports (from Kafka's `Errors` enum).
const UNKNOWN_SERVER_ERROR: i16 = -1;
const UNSUPPORTED_VERSION: i16 = 35;
const INVALID_CONFIG: i16 = 40;
const INVALID_REQUEST: i16 = 42;
const KAFKA_STORAGE_ERROR: i16 = 56;

/// Which side of a record a (de)serialization error is about; it picks librdkafka's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SerdeSide {
    pub key: bool,
    pub deserializing: bool,
}

/// A failure, classified for a host language. Plain data: every binding (and a C ABI) reads the fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError {
    pub kind: ErrorKind,
    /// Kafka's numeric error code; `None` when Kafka has none for the failure (a closed client).
    pub code: Option<i16>,
    /// Kafka's upper-case name (`UNKNOWN_TOPIC_OR_PARTITION`), or the client's name for a client-side failure
    /// (`ILLEGAL_STATE`, `SERIALIZATION_ERROR`).
    pub name: String,
    /// The code as librdkafka reports it: Kafka's code for broker errors, a negative local code otherwise.
    pub local_code: i32,
    /// librdkafka's name for `local_code` (`_TIMED_OUT`), or Kafka's name for broker errors.
    pub local_name: String,
    pub retriable: bool,
    /// The whole message (`UNKNOWN_TOPIC_OR_PARTITION (3): ...`, `timed out: ...`).
    pub message: String,
    /// The message without the code: a broker error's own text (or its name), else `message`.
    pub text: String,
    /// The offending config key, for config errors.
    pub key: Option<String>,
    /// The JSON Pointers of the failing fields, for serialization errors.
    pub paths: Vec<String>,
}

impl HostError {
    fn new(
        kind: ErrorKind,
        code: Option<i16>,
        name: &str,
        local: (i32, &str),
        retriable: bool,
        message: String,
    ) -> Self {
        HostError {
            kind,
            code,
            name: name.to_string(),
            local_code: local.0,
            local_name: local.1.to_string(),
            retriable,
            text: message.clone(),
            message,
            key: None,
            paths: Vec::new(),
        }
    }

    /// A call made in the wrong state of the binding's own object (starting a broker twice, a closed client).
    pub fn state(message: impl Into<String>) -> HostError {
        HostError::new(ErrorKind::State, None, "ILLEGAL_STATE", (local::STATE, "_STATE"), false, message.into())
    }

    /// An argument the binding cannot convert or use (a malformed packed batch, a schema that does not parse).
    pub fn invalid_argument(message: impl Into<String>) -> HostError {
        let local = (local::INVALID_ARG, "_INVALID_ARG");
        HostError::new(ErrorKind::InvalidArgument, None, "INVALID_ARGUMENT", local, false, message.into())
    }

    /// Kafka's `SerializationException` (it has no error code), with the failing fields' JSON Pointers.
    pub fn serialization(message: impl Into<String>, paths: Vec<String>, side: SerdeSide) -> HostError {
        let local = match (side.key, side.deserializing) {
            (true, false) => (local::KEY_SERIALIZATION, "_KEY_SERIALIZATION"),
            (false, false) => (local::VALUE_SERIALIZATION, "_VALUE_SERIALIZATION"),
            (true, true) => (local::KEY_DESERIALIZATION, "_KEY_DESERIALIZATION"),
            (false, true) => (local::VALUE_DESERIALIZATION, "_VALUE_DESERIALIZATION"),
        };
        let error = HostError::new(ErrorKind::Serialization, None, "SERIALIZATION_ERROR", local, false, message.into());
        HostError { paths, ..error }
    }

    /// The same error reported for the other side of a record (key or value, writing or reading).
    pub fn on_side(self, side: SerdeSide) -> HostError {
        match self.kind {
            ErrorKind::Serialization => HostError::serialization(self.message, self.paths, side),
            _ => self,
        }
    }
}

impl From<&ClientError> for HostError {
    fn from(e: &ClientError) -> HostError {
        let message = e.to_string();
        let (kind, local) = match e {
            ClientError::Kafka { code, name, message: detail } => {
                let mut error = HostError::new(
                    ErrorKind::Kafka,
                    Some(*code),
                    name,
                    (i32::from(*code), name),
                    e.is_retriable(),
                    message,
                );
                error.text = detail.clone().unwrap_or_else(|| name.clone());
                return error;
            }
            ClientError::Timeout(_) => (ErrorKind::Timeout, (local::TIMED_OUT, "_TIMED_OUT")),
            ClientError::Config { .. } => (ErrorKind::Config, (local::INVALID_ARG, "_INVALID_ARG")),
            ClientError::Io(_) => (ErrorKind::Connection, (local::TRANSPORT, "_TRANSPORT")),
            ClientError::Protocol(_) => (ErrorKind::Protocol, (local::BAD_MSG, "_BAD_MSG")),
            ClientError::Closed => (ErrorKind::Closed, (local::DESTROY, "_DESTROY")),
            ClientError::Wakeup => (ErrorKind::Wakeup, (local::INTR, "_INTR")),
            ClientError::Serialization(_) => {
                (ErrorKind::Serialization, (local::VALUE_SERIALIZATION, "_VALUE_SERIALIZATION"))
            }
            ClientError::InvalidArgument(_) => (ErrorKind::InvalidArgument, (local::INVALID_ARG, "_INVALID_ARG")),
            ClientError::IllegalState(_) => (ErrorKind::State, (local::STATE, "_STATE")),
            // librdkafka's full producer queue; Python's produce() raises BufferError for it itself.
            ClientError::BufferFull(_) => (ErrorKind::Other, (local::QUEUE_FULL, "_QUEUE_FULL")),
        };
        // INVALID_CONFIG is Kafka's error 40 even though the client reports its own config errors without a code.
        let code = match e {
            ClientError::Config { .. } => Some(INVALID_CONFIG),
            _ => e.code(),
        };
        let mut error = HostError::new(kind, code, &e.name(), local, e.is_retriable(), message);
        if let ClientError::Config { key, .. } = e {
            error.key = Some(key.clone());
        }
        error
    }
}

impl From<ClientError> for HostError {
    fn from(e: ClientError) -> HostError {
        HostError::from(&e)
    }
}

impl From<&crate::broker::ConfigError> for HostError {
    fn from(e: &crate::broker::ConfigError) -> HostError {
        let local = (local::INVALID_ARG, "_INVALID_ARG");
        let error =
            HostError::new(ErrorKind::Config, Some(INVALID_CONFIG), "INVALID_CONFIG", local, false, e.to_string());
        HostError { key: Some(e.key.clone()), ..error }
    }
}

impl From<crate::broker::ConfigError> for HostError {
    fn from(e: crate::broker::ConfigError) -> HostError {
        HostError::from(&e)
    }
}

impl From<&crate::broker::BrokerError> for HostError {
    fn from(e: &crate::broker::BrokerError) -> HostError {
        use crate::broker::BrokerError;
        let fail = (local::FAIL, "_FAIL");
        match e {
            BrokerError::Config(c) => c.into(),
            BrokerError::Storage(_) => HostError::new(
                ErrorKind::Broker,
                Some(KAFKA_STORAGE_ERROR),
                "KAFKA_STORAGE_ERROR",
                fail,
                false,
                e.to_string(),
            ),
            _ => HostError::new(
                ErrorKind::Broker,
                Some(UNKNOWN_SERVER_ERROR),
                "UNKNOWN_SERVER_ERROR",
                fail,
                false,
                e.to_string(),
            ),
        }
    }
}

impl From<&crate::protocol::ProtocolError> for HostError {
    /// A request frame the broker could not read. Kafka answers none and closes the connection; a host that
    /// passes frames in itself (the in-memory transport) reports it with Kafka's code for the case.
    fn from(e: &crate::protocol::ProtocolError) -> HostError {
        use crate::protocol::ProtocolError;
        let (code, name) = match e {
            ProtocolError::UnsupportedVersion { .. } => (UNSUPPORTED_VERSION, "UNSUPPORTED_VERSION"),
            _ => (INVALID_REQUEST, "INVALID_REQUEST"),
        };
        HostError::new(ErrorKind::Protocol, Some(code), name, (local::BAD_MSG, "_BAD_MSG"), false, e.to_string())
    }
}

impl From<crate::protocol::ProtocolError> for HostError {
    fn from(e: crate::protocol::ProtocolError) -> HostError {
        HostError::from(&e)
    }
}

#[cfg(feature = "native")]
impl From<&crate::net::ServerError> for HostError {
    /// A broker that could not start or stop. Bindings whose language has its own error for a failed bind or
    /// file operation (Python's `OSError`) check [`crate::net::ServerError::Bind`] and `Io` themselves first.
    fn from(e: &crate::net::ServerError) -> HostError {
        match e {
            crate::net::ServerError::Broker(b) => b.into(),
            other => HostError::new(
                ErrorKind::Broker,
                Some(UNKNOWN_SERVER_ERROR),
                "UNKNOWN_SERVER_ERROR",
                (local::FAIL, "_FAIL"),
                false,
                other.to_string(),
            ),
        }
    }
}

#[cfg(feature = "native")]
impl From<crate::net::ServerError> for HostError {
    fn from(e: crate::net::ServerError) -> HostError {
        HostError::from(&e)
    }
}

/// Kafka's name for an error code and whether Kafka classifies it as retriable (`RetriableException`), for
/// hosts that build errors themselves (a Python exception class's defaults).
pub fn kafka_error(code: i16) -> (String, bool) {
    let error = ClientError::from_code(code, None);
    (error.name(), error.is_retriable())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_errors_keep_code_name_and_retriable() {
        let e = HostError::from(ClientError::from_code(3, Some("no such topic".into())));
        assert_eq!((e.kind, e.code, e.local_code), (ErrorKind::Kafka, Some(3), 3));
        assert_eq!(
            (e.name.as_str(), e.local_name.as_str()),
            ("UNKNOWN_TOPIC_OR_PARTITION", "UNKNOWN_TOPIC_OR_PARTITION")
        );
        assert!(e.retriable);
        assert_eq!(e.text, "no such topic");
        assert_eq!(e.message, "UNKNOWN_TOPIC_OR_PARTITION (3): no such topic");
        let fenced = HostError::from(ClientError::from_code(90, None));
        assert!(!fenced.retriable);
        assert_eq!(fenced.text, "PRODUCER_FENCED");
    }

    #[test]
    fn client_side_errors_get_kafka_names_and_librdkafka_codes() {
        let timeout = HostError::from(ClientError::Timeout("flush".into()));
        assert_eq!((timeout.kind, timeout.code, timeout.local_code), (ErrorKind::Timeout, Some(7), local::TIMED_OUT));
        assert!(timeout.retriable);
        let config = HostError::from(ClientError::config("acks", "bad"));
        assert_eq!((config.kind, config.code, config.key.as_deref()), (ErrorKind::Config, Some(40), Some("acks")));
        let io = HostError::from(ClientError::Io("reset".into()));
        assert_eq!(
            (io.kind, io.name.as_str(), io.local_name.as_str()),
            (ErrorKind::Connection, "NETWORK_EXCEPTION", "_TRANSPORT")
        );
        let closed = HostError::from(ClientError::Closed);
        assert_eq!((closed.kind, closed.code, closed.local_code), (ErrorKind::Closed, None, local::DESTROY));
        let state = HostError::from(ClientError::IllegalState("no transaction".into()));
        assert_eq!((state.kind, state.name.as_str()), (ErrorKind::State, "ILLEGAL_STATE"));
        let full = HostError::from(ClientError::BufferFull("buffer.memory".into()));
        assert_eq!((full.local_code, full.local_name.as_str()), (local::QUEUE_FULL, "_QUEUE_FULL"));
        assert!(full.retriable);
    }

    #[test]
    fn serialization_sides_pick_the_local_code() {
        let side = SerdeSide { key: true, deserializing: true };
        let e = HostError::serialization("bad", vec!["/a".into()], side);
        assert_eq!((e.kind, e.local_code, e.code), (ErrorKind::Serialization, local::KEY_DESERIALIZATION, None));
        assert_eq!(e.paths, ["/a"]);
        assert_eq!(e.on_side(SerdeSide::default()).local_name, "_VALUE_SERIALIZATION");
    }

    #[test]
    fn broker_config_errors_name_the_key() {
        let e = HostError::from(crate::broker::ConfigError {
            key: "num.partitions".into(),
            value: "x".into(),
            reason: "not a number".into(),
        });
        assert_eq!((e.kind, e.code, e.key.as_deref()), (ErrorKind::Config, Some(40), Some("num.partitions")));
    }
}
