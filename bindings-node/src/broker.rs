//! The embedded broker: `potok::net::RunningBroker` started and stopped on libuv's thread pool, so the
//! JavaScript thread never waits for a bind, a log recovery or a shutdown flush.
//!
//! The state machine (stopped, starting, running, stopping) lives behind one mutex so that overlapping
//! `start()`/`stop()` calls from JavaScript get a clear answer instead of two brokers or a lost one.

use std::sync::{Arc, Mutex, PoisonError};

use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Task};
use napi_derive::napi;
use potok::broker::BrokerConfig;
use potok::host::broker::embedded_config;
use potok::net::RunningBroker;

use crate::error::Failure;
use crate::ConfigEntry;

#[derive(Debug)]
enum State {
    Stopped,
    Starting,
    Running(RunningBroker),
    Stopping,
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, State> {
    // A panic while holding the lock cannot leave the enum half-written, so a poisoned lock is still usable.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A broker in this process, with core's embedded defaults (`potok::host::broker`: 127.0.0.1, a free port, a
/// temporary log directory) under the config's keys.
#[napi]
#[derive(Debug)]
pub struct NativeBroker {
    config: BrokerConfig,
    state: Shared,
}

#[napi]
impl NativeBroker {
    /// Checks the config at once, so a bad key is reported where the broker is made, not at `start()`.
    #[napi(constructor)]
    pub fn new(env: Env, config: Vec<ConfigEntry>) -> napi::Result<NativeBroker> {
        let pairs: Vec<(&str, &str)> = config.iter().map(|e| (e.name.as_str(), e.value.as_str())).collect();
        let broker_config = embedded_config(&pairs).map_err(|e| Failure::from(e).into_js(&env))?;
        Ok(NativeBroker { config: broker_config, state: Arc::new(Mutex::new(State::Stopped)) })
    }

    /// Binds and opens the log directory; resolves once clients can connect.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn start(&self) -> AsyncTask<StartBroker> {
        AsyncTask::new(StartBroker { config: self.config.clone(), state: self.state.clone(), failure: None })
    }

    /// Stops serving, flushes and closes the logs (and removes an ephemeral log directory). Stopping a broker
    /// that is not running does nothing.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn stop(&self) -> AsyncTask<StopBroker> {
        AsyncTask::new(StopBroker { state: self.state.clone(), failure: None })
    }

    /// `host:port` for `bootstrap.servers` while running, otherwise null.
    #[napi(getter)]
    pub fn bootstrap_servers(&self) -> Option<String> {
        match &*lock(&self.state) {
            State::Running(broker) => Some(broker.bootstrap_servers()),
            _ => None,
        }
    }

    /// The log directory while running (a fresh temporary one when `log.dirs` was not given), otherwise null.
    #[napi(getter)]
    pub fn log_dir(&self) -> Option<String> {
        match &*lock(&self.state) {
            State::Running(broker) => Some(broker.log_dir().display().to_string()),
            _ => None,
        }
    }
}

impl Drop for NativeBroker {
    /// A broker dropped by the garbage collector while running is stopped on its own thread: stopping waits
    /// for connections and a flush, which must not happen inside a GC finalizer on the JavaScript thread.
    fn drop(&mut self) {
        let running = std::mem::replace(&mut *lock(&self.state), State::Stopped);
        if let State::Running(broker) = running {
            let _ = std::thread::Builder::new().name("potok-broker-drop".into()).spawn(move || broker.stop());
        }
    }
}

#[derive(Debug)]
pub struct StartBroker {
    config: BrokerConfig,
    state: Shared,
    failure: Option<Failure>,
}

impl StartBroker {
    fn run(&mut self) -> Result<(), Failure> {
        {
            let mut state = lock(&self.state);
            match *state {
                State::Stopped => *state = State::Starting,
                State::Starting | State::Running(_) => return Err(Failure::state("the broker is already started")),
                State::Stopping => return Err(Failure::state("the broker is stopping; wait for stop() first")),
            }
        }
        match RunningBroker::start(self.config.clone()) {
            Ok(broker) => {
                *lock(&self.state) = State::Running(broker);
                Ok(())
            }
            Err(e) => {
                *lock(&self.state) = State::Stopped;
                Err(e.into())
            }
        }
    }
}

impl Task for StartBroker {
    type Output = ();
    type JsValue = ();

    fn compute(&mut self) -> napi::Result<()> {
        self.run().map_err(|f| {
            let placeholder = f.placeholder();
            self.failure = Some(f);
            placeholder
        })
    }

    fn resolve(&mut self, _env: Env, _output: ()) -> napi::Result<()> {
        Ok(())
    }

    fn reject(&mut self, env: Env, err: napi::Error) -> napi::Result<()> {
        Err(self.failure.take().map_or(err, |f| f.into_js(&env)))
    }
}

#[derive(Debug)]
pub struct StopBroker {
    state: Shared,
    failure: Option<Failure>,
}

impl StopBroker {
    fn run(&mut self) -> Result<(), Failure> {
        let broker = {
            let mut state = lock(&self.state);
            match std::mem::replace(&mut *state, State::Stopping) {
                State::Running(broker) => broker,
                State::Starting => {
                    *state = State::Starting;
                    return Err(Failure::state("the broker is still starting; wait for start() first"));
                }
                other => {
                    // Stopped, or a stop already under way: nothing to do, as kafkajs's disconnect().
                    *state = other;
                    return Ok(());
                }
            }
        };
        let result = broker.stop();
        *lock(&self.state) = State::Stopped;
        result.map_err(Failure::from)
    }
}

impl Task for StopBroker {
    type Output = ();
    type JsValue = ();

    fn compute(&mut self) -> napi::Result<()> {
        self.run().map_err(|f| {
            let placeholder = f.placeholder();
            self.failure = Some(f);
            placeholder
        })
    }

    fn resolve(&mut self, _env: Env, _output: ()) -> napi::Result<()> {
        Ok(())
    }

    fn reject(&mut self, env: Env, err: napi::Error) -> napi::Result<()> {
        Err(self.failure.take().map_or(err, |f| f.into_js(&env)))
    }
}
