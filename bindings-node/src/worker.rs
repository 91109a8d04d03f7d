//! Bridging blocking core calls to JavaScript promises without blocking the JavaScript thread.
//!
//! Each client owns one worker thread that runs its calls in the order JavaScript made them (a producer's
//! sends stay in order; a consumer, like Kafka's, is used from one thread). A call's promise is a napi
//! deferred: the worker, or a core IO thread for a delivery callback, settles it, and the value or the typed
//! error object is built on the JavaScript thread when Node runs the settlement.

use std::sync::mpsc;

use napi::bindgen_prelude::Object;
use napi::{Env, JsDeferred};

use crate::error::Failure;

pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// One thread running jobs in submission order. It ends when the client object holding it is dropped and
/// the queued jobs are done.
#[derive(Debug)]
pub(crate) struct Worker {
    jobs: mpsc::Sender<Job>,
}

impl Worker {
    pub fn new(name: &str) -> Result<Worker, Failure> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                while let Ok(job) = queue.recv() {
                    job();
                }
            })
            .map_err(|e| Failure::state(format!("cannot start a client thread: {e}")))?;
        Ok(Worker { jobs })
    }

    pub fn submit(&self, job: Job) -> Result<(), Failure> {
        self.jobs.send(job).map_err(|_| Failure::state("the client's thread has stopped"))
    }
}

type Resolver<T> = Box<dyn FnOnce(Env) -> napi::Result<T> + Send>;

/// The settling half of a promise, usable from any thread.
pub(crate) struct Settle<T: napi::bindgen_prelude::ToNapiValue + 'static> {
    deferred: JsDeferred<T, Resolver<T>>,
}

impl<T: napi::bindgen_prelude::ToNapiValue + 'static> std::fmt::Debug for Settle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Settle")
    }
}

impl<T: napi::bindgen_prelude::ToNapiValue + 'static> Settle<T> {
    /// A new promise and its settling half.
    pub fn new(env: &Env) -> napi::Result<(Settle<T>, Object<'_>)> {
        let (deferred, promise) = env.create_deferred::<T, Resolver<T>>()?;
        Ok((Settle { deferred }, promise))
    }

    /// Resolves with the value `make` builds on the JavaScript thread (or rejects if it fails).
    pub fn resolve_with(self, make: impl FnOnce(Env) -> napi::Result<T> + Send + 'static) {
        self.deferred.resolve(Box::new(make));
    }

    /// Rejects with the typed error for `failure`.
    pub fn reject(self, failure: Failure) {
        self.deferred.resolve(Box::new(move |env| Err(failure.into_js(&env))));
    }
}

/// Runs `work` on `worker` and returns a promise for its outcome; `convert` turns the result into a
/// JavaScript value on the JavaScript thread.
pub(crate) fn run<'env, R, T>(
    env: &'env Env,
    worker: &Worker,
    work: impl FnOnce() -> Result<R, Failure> + Send + 'static,
    convert: impl FnOnce(Env, R) -> napi::Result<T> + Send + 'static,
) -> napi::Result<Object<'env>>
where
    R: Send + 'static,
    T: napi::bindgen_prelude::ToNapiValue + 'static,
{
    let (settle, promise) = Settle::<T>::new(env)?;
    let job: Job = Box::new(move || match work() {
        Ok(value) => settle.resolve_with(move |env| convert(env, value)),
        Err(failure) => settle.reject(failure),
    });
    worker.submit(job).map_err(|f| f.into_js(env))?;
    Ok(promise)
}

/// `run` for results that convert to JavaScript as they are.
pub(crate) fn run_plain<'env, R>(
    env: &'env Env,
    worker: &Worker,
    work: impl FnOnce() -> Result<R, Failure> + Send + 'static,
) -> napi::Result<Object<'env>>
where
    R: napi::bindgen_prelude::ToNapiValue + Send + 'static,
{
    run(env, worker, work, |_, value| Ok(value))
}
