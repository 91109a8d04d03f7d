//! The embedded cluster (`potok::host::cluster::EmbeddedCluster`): N nodes in this process, each a broker and a
//! voter of the controller quorum, or N brokers beside dedicated controllers. Starting the cluster and stopping, killing or starting one of its nodes run
//! on libuv's thread pool, one at a time; the getters read a view of the cluster updated after each of them, so
//! the JavaScript thread never waits for a node to start or stop.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Task};
use napi_derive::napi;
use potok::host::cluster::{EmbeddedCluster, MAX_NODES};
use potok::host::HostError;

use crate::error::Failure;
use crate::ConfigEntry;

/// What the getters show while the cluster runs (None while it is not started).
#[derive(Debug, Clone)]
struct Running {
    bootstrap_servers: String,
    running: Vec<i32>,
    /// Each running broker's schema registry URL, by node id (empty without registries).
    registry_urls: Vec<(i32, String)>,
    /// Each node's log directory, running or not.
    log_dirs: Vec<NodeLogDir>,
}

/// One node's id and log directory (where its partitions' segment files are).
#[napi(object)]
#[derive(Debug, Clone)]
pub struct NodeLogDir {
    pub node_id: i32,
    pub path: String,
}

type View = Option<Running>;

#[derive(Debug, Default)]
struct Shared {
    /// Held for the whole of an operation, so operations take turns.
    cluster: Mutex<Option<EmbeddedCluster>>,
    view: Mutex<View>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding either lock cannot leave its value half-written, so a poisoned lock is still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn publish(&self, cluster: &Option<EmbeddedCluster>) {
        *lock(&self.view) = cluster.as_ref().map(|c| Running {
            bootstrap_servers: c.bootstrap_servers(),
            running: c.running(),
            registry_urls: c
                .running()
                .into_iter()
                .filter_map(|id| Some((id, c.schema_registry_url(id).ok().flatten()?)))
                .collect(),
            log_dirs: c
                .log_dirs()
                .into_iter()
                .map(|(node_id, p)| NodeLogDir { node_id, path: p.display().to_string() })
                .collect(),
        });
    }
}

/// A cluster of `brokers` nodes (broker-only beside `controllers` controller-only nodes, or combined when
/// `controllers` is 0) on 127.0.0.1 with data in a temporary directory removed when it stops; the config's Kafka
/// keys apply to every node.
#[napi]
#[derive(Debug)]
pub struct NativeCluster {
    brokers: usize,
    controllers: usize,
    config: Vec<(String, String)>,
    shared: Arc<Shared>,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Start,
    Stop,
    StopBroker(i32),
    KillBroker(i32),
    StartBroker(i32),
}

#[napi]
impl NativeCluster {
    /// Checks the node counts and the config at once, so a bad key is reported where the cluster is made.
    #[napi(constructor)]
    pub fn new(env: Env, brokers: i64, controllers: i64, config: Vec<ConfigEntry>) -> napi::Result<NativeCluster> {
        // A negative broker count becomes 0 and a negative controller count one above any allowed, which core
        // refuses with its own messages.
        let brokers = usize::try_from(brokers).unwrap_or(0);
        let controllers = usize::try_from(controllers).unwrap_or(MAX_NODES + 1);
        let config: Vec<(String, String)> = config.into_iter().map(|e| (e.name, e.value)).collect();
        EmbeddedCluster::check_with_controllers(brokers, controllers, &config)
            .map_err(|e| Failure::from(e).into_js(&env))?;
        Ok(NativeCluster { brokers, controllers, config, shared: Arc::default() })
    }

    /// Starts every node; resolves once all accept connections and every broker is registered and unfenced.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn start(&self) -> AsyncTask<ClusterTask> {
        self.task(Op::Start)
    }

    /// Stops every node and removes the cluster's data; stopping a stopped cluster does nothing.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn stop(&self) -> AsyncTask<ClusterTask> {
        self.task(Op::Stop)
    }

    /// Stops node `id` as SIGTERM does (its leaderships move to other nodes first).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn stop_broker(&self, id: i32) -> AsyncTask<ClusterTask> {
        self.task(Op::StopBroker(id))
    }

    /// Stops node `id` as SIGKILL does: nothing flushed, the others notice when its session times out.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn kill_broker(&self, id: i32) -> AsyncTask<ClusterTask> {
        self.task(Op::KillBroker(id))
    }

    /// Starts a stopped or killed node again on its address and data; a broker resolves once registered and
    /// unfenced in every running broker's metadata.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn start_broker(&self, id: i32) -> AsyncTask<ClusterTask> {
        self.task(Op::StartBroker(id))
    }

    /// `host:port,...` of the running brokers while the cluster runs, otherwise null.
    #[napi(getter)]
    pub fn bootstrap_servers(&self) -> Option<String> {
        lock(&self.shared.view).as_ref().map(|r| r.bootstrap_servers.clone())
    }

    /// The schema registry URLs of the running brokers, comma-separated (what Confluent's `schema.registry.url`
    /// takes), when the cluster serves registries (`schema.registry.listeners`); otherwise null.
    #[napi(getter)]
    pub fn schema_registry_url(&self) -> Option<String> {
        let view = lock(&self.shared.view);
        let urls: Vec<&str> = view.iter().flat_map(|r| r.registry_urls.iter().map(|(_, u)| u.as_str())).collect();
        (!urls.is_empty()).then(|| urls.join(","))
    }

    /// Broker `id`'s schema registry URL while it runs (the same after a restart), otherwise null.
    #[napi]
    pub fn broker_schema_registry_url(&self, id: i32) -> Option<String> {
        let view = lock(&self.shared.view);
        view.as_ref()?.registry_urls.iter().find(|(node, _)| *node == id).map(|(_, u)| u.clone())
    }

    /// The ids of the running nodes (empty while the cluster is not started).
    #[napi(getter)]
    pub fn running(&self) -> Vec<i32> {
        lock(&self.shared.view).as_ref().map(|r| r.running.clone()).unwrap_or_default()
    }

    /// Each node's id and log directory while the cluster runs (stopped nodes too), otherwise empty.
    #[napi(getter)]
    pub fn log_dirs(&self) -> Vec<NodeLogDir> {
        lock(&self.shared.view).as_ref().map(|r| r.log_dirs.clone()).unwrap_or_default()
    }

    fn task(&self, op: Op) -> AsyncTask<ClusterTask> {
        AsyncTask::new(ClusterTask {
            op,
            brokers: self.brokers,
            controllers: self.controllers,
            config: self.config.clone(),
            shared: self.shared.clone(),
            failure: None,
        })
    }
}

impl Drop for NativeCluster {
    /// A cluster dropped by the garbage collector while running is stopped on its own thread, never inside a GC
    /// finalizer on the JavaScript thread (an operation may also still hold it).
    fn drop(&mut self) {
        let shared = self.shared.clone();
        let _ = std::thread::Builder::new().name("potok-cluster-drop".into()).spawn(move || {
            if let Some(cluster) = lock(&shared.cluster).take() {
                let _ = cluster.stop();
            }
        });
    }
}

#[derive(Debug)]
pub struct ClusterTask {
    op: Op,
    brokers: usize,
    controllers: usize,
    config: Vec<(String, String)>,
    shared: Arc<Shared>,
    failure: Option<Failure>,
}

impl ClusterTask {
    fn run(&mut self) -> Result<(), Failure> {
        let mut cluster = lock(&self.shared.cluster);
        let result = match (self.op, cluster.as_mut()) {
            (Op::Start, Some(_)) => Err(HostError::state("the cluster is already started")),
            (Op::Start, None) => EmbeddedCluster::start_with_controllers(self.brokers, self.controllers, &self.config)
                .map(|c| {
                    *cluster = Some(c);
                }),
            // Stopping a stopped cluster does nothing, as Broker's stop().
            (Op::Stop, _) => cluster.take().map_or(Ok(()), EmbeddedCluster::stop),
            (_, None) => Err(HostError::state("the cluster is not running; start() it first")),
            (Op::StopBroker(id), Some(c)) => c.stop_broker(id),
            (Op::KillBroker(id), Some(c)) => c.kill_broker(id),
            (Op::StartBroker(id), Some(c)) => c.start_broker(id),
        };
        self.shared.publish(&cluster);
        result.map_err(Failure::from)
    }
}

impl Task for ClusterTask {
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
