//! Connection failures for JavaScript: each client's `onConnectionError(callback)` hands core's connection
//! listener a threadsafe function, so a failure reported on a core IO thread calls `callback` on the
//! JavaScript thread. The function is weak: a client nobody closes does not keep Node's event loop alive.

use napi::bindgen_prelude::Function;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi_derive::napi;
use potok::client::cluster::ConnectionFailure;

use potok::host::HostError;

use crate::error::class;

/// A broker connection that failed: `broker` (`host:port`), its `nodeId` (-1 for a bootstrap server), and the
/// error's fields as every potok error carries them (the JavaScript layer builds a `ConnectionError` of them).
#[napi(object)]
#[derive(Debug, Clone)]
pub struct ConnectionFailureInfo {
    pub broker: String,
    pub node_id: i32,
    pub potok_kind: String,
    pub message: String,
    pub code: Option<i32>,
    #[napi(js_name = "type")]
    pub error_type: String,
    pub retriable: bool,
}

impl From<&ConnectionFailure> for ConnectionFailureInfo {
    fn from(f: &ConnectionFailure) -> ConnectionFailureInfo {
        let error = HostError::from(&f.error);
        ConnectionFailureInfo {
            broker: f.address.clone(),
            node_id: f.node_id,
            potok_kind: class(error.kind).to_string(),
            message: error.message,
            code: error.code.map(i32::from),
            error_type: error.name,
            retriable: error.retriable,
        }
    }
}

/// Core's connection listener calling `callback` on the JavaScript thread.
pub(crate) fn connection_listener(
    callback: Function<ConnectionFailureInfo, ()>,
) -> napi::Result<impl Fn(&ConnectionFailure) + Send + Sync + 'static> {
    let tsfn = callback.build_threadsafe_function::<ConnectionFailureInfo>().weak::<true>().build()?;
    Ok(move |failure: &ConnectionFailure| {
        tsfn.call(ConnectionFailureInfo::from(failure), ThreadsafeFunctionCallMode::NonBlocking);
    })
}
