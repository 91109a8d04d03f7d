//! The client's one error type. Kafka error codes arrive from brokers as `i16`s and are kept as such, with
//! Kafka's upper-case name and its retriable flag, so bindings can map them to typed host exceptions.

use kafka_protocol::error::ResponseError;

/// What went wrong in a client call. Cloneable, because one failure (a broken connection, an expired batch)
/// completes many futures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// An error code returned by a broker.
    #[error("{name} ({code}){}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kafka { code: i16, name: String, message: Option<String> },
    /// A deadline passed (`max.block.ms`, `delivery.timeout.ms`, `request.timeout.ms`, a call's timeout).
    #[error("timed out: {0}")]
    Timeout(String),
    /// A config key is unknown or its value is malformed.
    #[error("invalid value for config {key}: {message}")]
    Config { key: String, message: String },
    /// The connection to a broker failed or was closed.
    #[error("network error: {0}")]
    Io(String),
    /// A broker sent something the client cannot parse, or supports no usable version of an API.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The client was closed.
    #[error("the client is closed")]
    Closed,
    /// `wakeup()` interrupted a blocking consumer call.
    #[error("woken up")]
    Wakeup,
    /// A key or value could not be serialized or deserialized.
    #[error("serialization error: {0}")]
    Serialization(String),
    /// An argument is invalid (an empty topic name, a negative partition...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The call is not allowed in the current state (e.g. committing a transaction that was never begun).
    #[error("illegal state: {0}")]
    IllegalState(String),
    /// A producer's `buffer.memory` is full and the send was not allowed to wait for space (Kafka's
    /// `BufferExhaustedException`; librdkafka's `_QUEUE_FULL`).
    #[error("the producer's buffer is full: {0}")]
    BufferFull(String),
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

impl ClientError {
    /// The error for a non-zero Kafka error code.
    pub fn from_code(code: i16, message: Option<String>) -> ClientError {
        ClientError::Kafka { code, name: error_name(code), message: message.filter(|m| !m.is_empty()) }
    }

    /// `Ok(())` for code 0, the Kafka error otherwise.
    pub fn check(code: i16) -> Result<()> {
        if code == 0 {
            Ok(())
        } else {
            Err(ClientError::from_code(code, None))
        }
    }

    /// The Kafka error code, where there is one (a timeout is REQUEST_TIMED_OUT, a broken connection
    /// NETWORK_EXCEPTION, as Kafka's Java client maps them).
    pub fn code(&self) -> Option<i16> {
        match self {
            ClientError::Kafka { code, .. } => Some(*code),
            ClientError::Timeout(_) => Some(ResponseError::RequestTimedOut.code()),
            ClientError::Io(_) => Some(ResponseError::NetworkException.code()),
            _ => None,
        }
    }

    /// Kafka's upper-case name of the error (`UNKNOWN_TOPIC_OR_PARTITION`), or a name for client-side errors.
    pub fn name(&self) -> String {
        match self {
            ClientError::Kafka { name, .. } => name.clone(),
            ClientError::Timeout(_) => "REQUEST_TIMED_OUT".into(),
            ClientError::Io(_) => "NETWORK_EXCEPTION".into(),
            ClientError::Config { .. } => "INVALID_CONFIG".into(),
            ClientError::Protocol(_) => "PROTOCOL_ERROR".into(),
            ClientError::Closed => "CLIENT_CLOSED".into(),
            ClientError::Wakeup => "WAKEUP".into(),
            ClientError::Serialization(_) => "SERIALIZATION_ERROR".into(),
            ClientError::InvalidArgument(_) => "INVALID_ARGUMENT".into(),
            ClientError::IllegalState(_) => "ILLEGAL_STATE".into(),
            ClientError::BufferFull(_) => "BUFFER_EXHAUSTED".into(),
        }
    }

    /// Whether retrying the same call may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Kafka { code, .. } => ResponseError::try_from_code(*code).is_some_and(|e| e.is_retriable()),
            ClientError::Timeout(_) | ClientError::Io(_) | ClientError::BufferFull(_) => true,
            _ => false,
        }
    }

    /// Whether the error means the client's view of partition leadership is stale.
    pub(crate) fn needs_metadata_refresh(&self) -> bool {
        matches!(self, ClientError::Io(_))
            || matches!(self.code().and_then(ResponseError::try_from_code), Some(e) if matches!(e,
                ResponseError::NotLeaderOrFollower
                    | ResponseError::UnknownTopicOrPartition
                    | ResponseError::LeaderNotAvailable
                    | ResponseError::FencedLeaderEpoch
                    | ResponseError::UnknownLeaderEpoch
                    | ResponseError::NotEnoughReplicas
                    | ResponseError::KafkaStorageError
                    | ResponseError::UnknownTopicId))
    }

    pub(crate) fn config(key: &str, message: impl Into<String>) -> ClientError {
        ClientError::Config { key: key.to_string(), message: message.into() }
    }
}

/// Kafka's name for an error code: the crate's variant name in upper snake case (`NotLeaderOrFollower` becomes
/// `NOT_LEADER_OR_FOLLOWER`, exactly Kafka's `Errors` enum names).
pub fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        None => "NONE".into(),
        Some(ResponseError::Unknown(c)) => format!("UNKNOWN_ERROR_CODE_{c}"),
        Some(e) => {
            let camel = format!("{e:?}");
            let mut out = String::with_capacity(camel.len() + 8);
            for (i, ch) in camel.chars().enumerate() {
                if ch.is_ascii_uppercase() && i > 0 {
                    out.push('_');
                }
                out.push(ch.to_ascii_uppercase());
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_kafka() {
        assert_eq!(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_name(6), "NOT_LEADER_OR_FOLLOWER");
        assert_eq!(error_name(36), "TOPIC_ALREADY_EXISTS");
        assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
        assert_eq!(error_name(90), "PRODUCER_FENCED");
        let e = ClientError::from_code(3, Some("".into()));
        assert!(e.is_retriable());
        assert_eq!(e.to_string(), "UNKNOWN_TOPIC_OR_PARTITION (3)");
        assert!(!ClientError::from_code(36, None).is_retriable());
    }
}
