//! The client's IO runtime: one small multi-threaded tokio runtime per process, shared by every producer,
//! consumer and admin client, so that a host language (Python, Node, C) needs no async runtime of its own.
//! Public client calls are blocking: they run their work on this runtime and wait on a plain channel, which works
//! from any thread, including a thread of another tokio runtime.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle, Runtime};

use crate::client::error::{ClientError, Result};

/// Worker threads of the shared client runtime; client work is IO-bound, and 2 keep latency low under load.
const CLIENT_WORKER_THREADS: usize = 2;

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        // Building a runtime fails only when threads cannot be spawned at all; nothing can run then.
        #[allow(clippy::expect_used)]
        Builder::new_multi_thread()
            .worker_threads(CLIENT_WORKER_THREADS)
            .thread_name("potok-client")
            .enable_all()
            .build()
            .expect("cannot start the potok client runtime")
    })
}

/// A handle to the shared client runtime (to spawn background tasks).
pub fn handle() -> &'static Handle {
    runtime().handle()
}

/// Runs `future` on the client runtime and waits for it from the calling thread.
pub fn block_on<F>(future: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    handle().spawn(async move {
        let _ = tx.send(future.await);
    });
    rx.recv().map_err(|_| ClientError::Closed)
}
