//! A three-node potok cluster in one process, each node started as `potok broker server-N.properties` starts
//! it (Kafka's KRaft keys: process.roles, node.id, controller.quorum.voters, a controller listener): the quorum
//! elects an active controller, every broker registers, topics are spread over the brokers, a stopped node's
//! leaderships move, the controller fails over, and a restarted node comes back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, ApiKey, BrokerId, ElectLeadersRequest, ListPartitionReassignmentsRequest,
    RequestKind, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use potok::broker::BrokerConfig;
use potok::client::admin::{Admin, NewTopic};
use potok::client::producer::{Producer, ProducerRecord};
use potok::net::{RunningBroker, ServerError};

/// Ports nothing listens on now (bound and released).
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    held.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

struct Cluster {
    client_ports: Vec<u16>,
    controller_ports: Vec<u16>,
    /// Where the voters are reached (controller.quorum.voters): the controller ports, unless a test puts a
    /// proxy in front of one.
    voter_ports: Vec<u16>,
    dirs: Vec<PathBuf>,
    nodes: Vec<Option<RunningBroker>>,
}

impl Cluster {
    fn properties(&self, i: usize) -> String {
        let voters: Vec<String> =
            self.voter_ports.iter().enumerate().map(|(j, p)| format!("{}@127.0.0.1:{p}", j + 1)).collect();
        format!(
            "process.roles=broker,controller\nnode.id={}\ncontroller.quorum.voters={}\n\
             listeners=PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}\ncontroller.listener.names=CONTROLLER\n\
             inter.broker.listener.name=PLAINTEXT\nlistener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n\
             log.dirs={}\ndefault.replication.factor=3\nbroker.session.timeout.ms=3000\nbroker.heartbeat.interval.ms=500\n",
            i + 1,
            voters.join(","),
            self.client_ports[i],
            self.controller_ports[i],
            self.dirs[i].display()
        )
    }

    fn config(&self, i: usize) -> BrokerConfig {
        BrokerConfig::from_properties(&self.properties(i)).unwrap()
    }

    fn new(name: &str) -> Cluster {
        Cluster::with_voter_ports(name, |ports| ports.to_vec())
    }

    /// A cluster whose voters are reached at `voters(controller ports)`. Its ports are picked by binding port 0
    /// and released just before the nodes bind them, so another test of this run may take one in between: a
    /// start that finds a port taken is retried on fresh ports.
    fn with_voter_ports(name: &str, mut voters: impl FnMut(&[u16]) -> Vec<u16>) -> Cluster {
        let base = std::env::temp_dir().join(format!("potok-cluster-{name}-{}", std::process::id()));
        for attempt in 1.. {
            let _ = std::fs::remove_dir_all(&base);
            let held: Vec<TcpListener> = (0..6).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
            let ports: Vec<u16> = held.iter().map(|l| l.local_addr().unwrap().port()).collect();
            // Whatever `voters` binds (proxies) is bound while these are held, so it cannot take one of them.
            let voter_ports = voters(&ports[3..]);
            drop(held);
            let mut cluster = Cluster {
                client_ports: ports[..3].to_vec(),
                controller_ports: ports[3..].to_vec(),
                voter_ports,
                dirs: (1..=3).map(|i| base.join(format!("kafka-logs-{i}"))).collect(),
                nodes: Vec::new(),
            };
            // Started side by side, as three terminals would: each waits for a quorum in the background.
            let handles: Vec<_> = (0..3)
                .map(|i| {
                    let config = cluster.config(i);
                    std::thread::spawn(move || RunningBroker::start(config))
                })
                .collect();
            let started: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            let taken = started.iter().any(|s| matches!(s, Err(ServerError::Bind { .. })));
            cluster.nodes = started
                .into_iter()
                .map(|s| match s {
                    Ok(node) => Some(node),
                    Err(ServerError::Bind { address, error }) if attempt < 5 => {
                        eprintln!("{address} was taken meanwhile ({error}); starting again on other ports");
                        None
                    }
                    Err(e) => panic!("node failed to start: {e}"),
                })
                .collect();
            if !taken {
                return cluster;
            }
        }
        unreachable!()
    }

    fn bootstrap(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.client_ports[i])
    }

    fn admin(&self, i: usize) -> Admin {
        Admin::new(&[("bootstrap.servers".to_string(), self.bootstrap(i))]).unwrap()
    }

    fn stop(&mut self, i: usize) {
        self.nodes[i].take().unwrap().stop().unwrap();
    }

    fn start(&mut self, i: usize) {
        self.nodes[i] = Some(RunningBroker::start(self.config(i)).unwrap());
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in self.nodes.iter_mut().filter_map(Option::take) {
            let _ = node.stop();
        }
        if let Some(base) = self.dirs[0].parent() {
            let _ = std::fs::remove_dir_all(base);
        }
    }
}

/// Polls `check` until it returns `Some`, failing the test after `timeout`.
fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn live_brokers(admin: &Admin) -> Option<Vec<i32>> {
    let cluster = admin.describe_cluster(Some(Duration::from_secs(2))).ok()?;
    let mut ids: Vec<i32> = cluster.brokers.iter().map(|b| b.node_id).collect();
    ids.sort();
    Some(ids)
}

#[test]
fn three_nodes_place_replicas_fail_over_and_rejoin() {
    let mut cluster = Cluster::new("failover");
    let admin = cluster.admin(1);
    wait_for("three registered brokers", Duration::from_secs(30), || {
        live_brokers(&admin).filter(|ids| *ids == vec![1, 2, 3])
    });

    // RF 3 over 3 brokers: every broker holds every partition and leads a third of them.
    let created = admin.create_topics(&[NewTopic::new("invoice", 6, 3)], false, None).unwrap();
    created[0].1.clone().unwrap();
    let topic = admin.describe_topics(&["invoice".to_string()], None).unwrap().remove(0).1.unwrap();
    let mut leads = [0; 4];
    for p in &topic.partitions {
        let mut replicas = p.replicas.clone();
        replicas.sort();
        assert_eq!(replicas, vec![1, 2, 3], "partition {}", p.partition);
        assert_eq!(p.leader, p.replicas[0], "the preferred replica leads a new partition");
        assert_eq!(p.isr.len(), 3);
        leads[p.leader as usize] += 1;
    }
    assert_eq!(&leads[1..], &[2, 2, 2], "leaders are balanced");
    // Each broker creates its replicas as the committed records reach it.
    wait_for("every broker's replica directories", Duration::from_secs(10), || {
        cluster.dirs.iter().all(|dir| (0..6).all(|p| dir.join(format!("invoice-{p}")).is_dir())).then_some(())
    });
    // A replication factor above the live brokers is refused as Kafka refuses it.
    let refused = admin.create_topics(&[NewTopic::new("too-many", 1, 4)], false, None).unwrap();
    let err = refused[0].1.clone().unwrap_err();
    assert!(err.to_string().to_lowercase().contains("replication"), "{err}");

    // Stop the active controller: another is elected, its leaderships move, and metadata changes go on.
    let controller = admin.describe_cluster(None).unwrap().controller_id;
    assert!((1..=3).contains(&controller), "controller {controller}");
    let stopped = controller as usize - 1;
    cluster.stop(stopped);
    let other = (stopped + 1) % 3;
    let admin = cluster.admin(other);
    let new_controller = wait_for("a new active controller", Duration::from_secs(30), || {
        let c = admin.describe_cluster(Some(Duration::from_secs(2))).ok()?;
        (c.controller_id != controller && c.brokers.len() == 2).then_some(c.controller_id)
    });
    assert_ne!(new_controller, controller);
    wait_for("leaderships moved off the stopped broker", Duration::from_secs(30), || {
        let t = admin.describe_topics(&["invoice".to_string()], Some(Duration::from_secs(2))).ok()?.remove(0).1.ok()?;
        t.partitions.iter().all(|p| p.leader != controller && !p.isr.contains(&controller)).then_some(())
    });
    let created = admin.create_topics(&[NewTopic::new("after-failover", 2, 2)], false, None).unwrap();
    created[0].1.clone().unwrap();

    // The stopped node comes back with its data and registers again.
    cluster.start(stopped);
    wait_for("the restarted broker", Duration::from_secs(30), || {
        live_brokers(&admin).filter(|ids| *ids == vec![1, 2, 3])
    });
    let admin = cluster.admin(stopped);
    let names = wait_for("topics on the restarted node", Duration::from_secs(30), || {
        let names = admin.list_topics(false, Some(Duration::from_secs(2))).ok()?;
        names.contains(&"after-failover".to_string()).then_some(names)
    });
    assert!(names.contains(&"invoice".to_string()));
    assert!(cluster.dirs[stopped].join("invoice-0").is_dir());
}

#[test]
fn misconfigured_nodes_are_refused_naming_the_key() {
    let ports = free_ports(2);
    let dir = std::env::temp_dir().join(format!("potok-cluster-bad-{}", std::process::id()));
    let base = format!(
        "process.roles=broker,controller\ncontroller.quorum.voters=1@127.0.0.1:{}\nlisteners=PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}\n\
         controller.listener.names=CONTROLLER\nlog.dirs={}\n",
        ports[1],
        ports[0],
        ports[1],
        dir.display()
    );
    let refused = |extra: &str| -> String {
        let config = BrokerConfig::from_properties(&format!("{base}{extra}")).unwrap();
        match RunningBroker::start(config) {
            Err(e @ ServerError::Config(_)) => e.to_string(),
            other => panic!("expected a configuration error, got {other:?}"),
        }
    };
    assert!(refused("node.id=7\n").contains("controller.quorum.voters"));
    assert!(refused("node.id=1\ncontroller.listener.names=OTHER\n").contains("controller.listener.names"));
    assert!(refused("node.id=1\nprocess.roles=broker\n").contains("process.roles"));
    // Dedicated roles, as Kafka checks them: a controller-only node serves only controller listeners, a
    // broker-only node none, and neither runs without the quorum's voters.
    let controller_only = refused("node.id=1\nprocess.roles=controller\n");
    assert!(controller_only.contains("listeners must only contain controller listeners"), "{controller_only}");
    let broker_only = BrokerConfig::from_properties(&format!(
        "process.roles=broker\nnode.id=2\ncontroller.quorum.voters=1@127.0.0.1:{}\n\
         listeners=PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}\ncontroller.listener.names=CONTROLLER\nlog.dirs={}\n",
        ports[1],
        ports[0],
        ports[1],
        dir.display()
    ))
    .unwrap();
    let err = RunningBroker::start(broker_only).unwrap_err().to_string();
    assert!(err.contains("must not contain a controller listener"), "{err}");
    let alone = BrokerConfig::from_properties(&format!(
        "process.roles=broker\nnode.id=2\nlisteners=PLAINTEXT://127.0.0.1:{}\nlog.dirs={}\n",
        ports[0],
        dir.display()
    ))
    .unwrap();
    let err = RunningBroker::start(alone).unwrap_err().to_string();
    assert!(err.contains("controller.quorum.voters"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

/// The bindings' embedded cluster: three nodes in this process, one killed and started again.
/// Whether a connection to `port` is accepted now (a refused connect is the answer of a port not listening).
fn accepts(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).is_ok()
}

/// A node opens its client listener only once the controller has registered and unfenced it, as Kafka's
/// brokers do: before that its metadata is not caught up, and a cluster whose nodes were all restarted would
/// answer Metadata with no brokers (all fenced), after which librdkafka drops every broker it knew.
#[test]
fn a_node_serves_clients_only_once_registered_and_unfenced() {
    let mut cluster = Cluster::new("gate");
    let admin = cluster.admin(0);
    wait_for("three registered brokers", Duration::from_secs(30), || {
        live_brokers(&admin).filter(|ids| *ids == vec![1, 2, 3])
    });
    drop(admin);
    // Node 1 stops last and starts again at once, so no other test's listener can take its port meanwhile.
    for i in [1, 2, 0] {
        cluster.stop(i);
    }
    // One node of three: no quorum, so it cannot register. Its controller listener is up (the quorum's peers
    // reach it there); its client listener refuses connections.
    cluster.start(0);
    let waited = Instant::now();
    while waited.elapsed() < Duration::from_secs(2) {
        assert!(!accepts(cluster.client_ports[0]), "a node that cannot register accepted a client connection");
        assert!(accepts(cluster.controller_ports[0]), "the controller listener is not up");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(cluster.nodes[0].as_ref().unwrap().unfenced_epoch(), None);
    // With a quorum the three register, and each serves clients once unfenced, with every broker listed.
    cluster.start(1);
    cluster.start(2);
    for i in 0..3 {
        wait_for("the node's client listener", Duration::from_secs(30), || {
            accepts(cluster.client_ports[i]).then_some(())
        });
        assert!(cluster.nodes[i].as_ref().unwrap().unfenced_epoch().is_some(), "node {} listens while fenced", i + 1);
        let admin = cluster.admin(i);
        let brokers = wait_for("the node's metadata", Duration::from_secs(10), || live_brokers(&admin));
        assert!(brokers.contains(&(i as i32 + 1)), "node {} is not in its own metadata: {brokers:?}", i + 1);
    }
}

#[test]
fn an_embedded_cluster_starts_kills_and_restarts_nodes() {
    let started = Instant::now();
    let mut cluster = potok::host::cluster::EmbeddedCluster::start::<&str, &str>(3, &[]).unwrap();
    let admin = Admin::new(&[("bootstrap.servers".to_string(), cluster.bootstrap_servers())]).unwrap();
    println!("embedded 3-node cluster: all brokers registered {} ms after start", started.elapsed().as_millis());
    // start returns once every broker is registered and unfenced in every broker's metadata.
    assert_eq!(live_brokers(&admin), Some(vec![1, 2, 3]));
    let created = admin.create_topics(&[NewTopic::new("orders", 3, 3)], false, None).unwrap();
    created[0].1.clone().unwrap();
    let controller = admin.describe_cluster(None).unwrap().controller_id;
    cluster.kill_broker(controller).unwrap();
    assert!(cluster.kill_broker(controller).is_err(), "a killed broker cannot be killed again");
    assert_eq!(cluster.running().len(), 2);
    let admin = Admin::new(&[("bootstrap.servers".to_string(), cluster.bootstrap_servers())]).unwrap();
    wait_for("the killed broker fenced", Duration::from_secs(30), || {
        live_brokers(&admin).filter(|ids| ids.len() == 2 && !ids.contains(&controller))
    });
    let created = admin.create_topics(&[NewTopic::new("after-kill", 1, 2)], false, None).unwrap();
    created[0].1.clone().unwrap();
    cluster.start_broker(controller).unwrap();
    // As start, start_broker returns once the node is registered and unfenced everywhere: a replication
    // factor of 3 is accepted at once.
    assert_eq!(live_brokers(&admin), Some(vec![1, 2, 3]));
    let created = admin.create_topics(&[NewTopic::new("after-restart", 1, 3)], false, None).unwrap();
    created[0].1.clone().unwrap();
    assert!(cluster.start_broker(9).is_err());
    cluster.stop().unwrap();
}

/// The `.checkpoint` files in a node's `__cluster_metadata-0`, and where its Raft log now starts (the Kafka
/// offset recorded when entries were purged; 0 before any purge).
fn metadata_files(dir: &std::path::Path) -> (Vec<String>, i64) {
    let dir = dir.join("__cluster_metadata-0");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    let state: serde_json::Value =
        std::fs::read(dir.join("raft-state")).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    let start = state["first"][1].as_i64().unwrap_or(0);
    (names.into_iter().filter(|n| n.ends_with(".checkpoint")).collect(), start)
}

/// Metadata snapshots as Kafka takes them: after `metadata.log.max.record.bytes.between.snapshots` of new
/// records each controller writes a `.checkpoint` and its log starts after it. A controller that was down
/// while that happened gets the snapshot from the leader (its own log no longer reaches), and a broker that
/// restarts reads the image from the snapshot and the entries after it.
#[test]
fn snapshots_bound_the_metadata_log_and_catch_up_a_lagging_controller_and_a_broker() {
    if std::env::var("POTOK_TEST_LOG").is_ok() {
        potok::host::log::set_sink(potok::host::log::Level::Debug, |r| eprintln!("{}", r.kafka_line()));
    }
    let entries = [("metadata.log.max.record.bytes.between.snapshots", "4096"), ("broker.session.timeout.ms", "3000")];
    // Broker 1; controllers 2, 3 and 4.
    let mut cluster = potok::host::cluster::EmbeddedCluster::start_with_controllers(1, 3, &entries).unwrap();
    let dirs: std::collections::BTreeMap<i32, PathBuf> = cluster.log_dirs().into_iter().collect();
    let admin = Admin::new(&[("bootstrap.servers".to_string(), cluster.bootstrap_servers())]).unwrap();
    wait_for("the broker registered", Duration::from_secs(30), || live_brokers(&admin).filter(|b| *b == vec![1]));
    cluster.stop_broker(4).unwrap();
    let topics: Vec<String> = (0..60).map(|i| format!("snapshotted-{i:02}")).collect();
    for chunk in topics.chunks(10) {
        let new: Vec<NewTopic> = chunk.iter().map(|t| NewTopic::new(t.clone(), 3, 1)).collect();
        for (name, result) in admin.create_topics(&new, false, None).unwrap() {
            result.unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
    wait_for("snapshots on the running controllers, old segments gone", Duration::from_secs(30), || {
        [2, 3]
            .iter()
            .all(|id| {
                let (checkpoints, oldest) = metadata_files(&dirs[id]);
                checkpoints.len() == 1 && oldest > 0
            })
            .then_some(())
    });
    let (checkpoints, _) = metadata_files(&dirs[&2]);
    assert!(
        checkpoints[0].ends_with(".checkpoint")
            && checkpoints[0].len() == "00000000000000000000-0000000000.checkpoint".len()
    );

    // Controller 4 comes back behind the purged log: it installs the leader's snapshot.
    cluster.start_broker(4).unwrap();
    wait_for("controller 4's snapshot", Duration::from_secs(30), || {
        (metadata_files(&dirs[&4]).0.len() == 1).then_some(())
    });
    // With 2 (and later 3) stopped, the quorum is 3 and 4, or 2 and 4: 4 must hold the whole log to commit.
    cluster.stop_broker(2).unwrap();
    let created = admin.create_topics(&[NewTopic::new("after-install", 1, 1)], false, None).unwrap();
    created[0].1.clone().unwrap();
    cluster.start_broker(2).unwrap();
    cluster.stop_broker(3).unwrap();
    let created = admin.create_topics(&[NewTopic::new("after-install-2", 1, 1)], false, None).unwrap();
    created[0].1.clone().unwrap();
    cluster.start_broker(3).unwrap();

    // The broker restarts: its image comes from a snapshot and the entries after it.
    cluster.stop_broker(1).unwrap();
    cluster.start_broker(1).unwrap();
    let admin = Admin::new(&[("bootstrap.servers".to_string(), cluster.bootstrap_servers())]).unwrap();
    let names = wait_for("every topic on the restarted broker", Duration::from_secs(30), || {
        let names = admin.list_topics(false, Some(Duration::from_secs(2))).ok()?;
        (names.len() >= topics.len() + 2).then_some(names)
    });
    for t in topics.iter().chain(&["after-install".to_string(), "after-install-2".to_string()]) {
        assert!(names.contains(t), "{t} missing after the restart: {names:?}");
    }
    cluster.stop().unwrap();
}

/// The partition's (leader, replicas, isr) as `admin` describes it.
fn partition_state(admin: &Admin, topic: &str, partition: i32) -> Option<(i32, Vec<i32>, Vec<i32>)> {
    let t = admin.describe_topics(&[topic.to_string()], Some(Duration::from_secs(2))).ok()?.remove(0).1.ok()?;
    let p = t.partitions.iter().find(|p| p.partition == partition)?;
    Some((p.leader, p.replicas.clone(), p.isr.clone()))
}

fn reassign(stream: &mut std::net::TcpStream, topic: &str, replicas: Option<Vec<i32>>) -> i16 {
    let request = AlterPartitionReassignmentsRequest::default().with_topics(vec![ReassignableTopic::default()
        .with_name(TopicName(StrBytes::from_string(topic.into())))
        .with_partitions(vec![ReassignablePartition::default()
            .with_partition_index(0)
            .with_replicas(replicas.map(|r| r.into_iter().map(BrokerId).collect()))])]);
    let body = RequestKind::AlterPartitionReassignments(request);
    let ResponseKind::AlterPartitionReassignments(r) =
        common::wire::call(stream, ApiKey::AlterPartitionReassignments, 0, body)
    else {
        panic!("wrong response kind")
    };
    assert_eq!(r.error_code, 0);
    r.responses[0].partitions[0].error_code
}

/// ElectLeaders and reassignments through any node to the active controller, with the brokers acting on the
/// committed records: a preferred election moves leadership back, a new replica is created on its broker and
/// catches up, a removed one's directory goes, and every record is still there.
#[test]
fn elections_and_reassignments_over_the_quorum_move_leaders_and_replicas() {
    let mut cluster = Cluster::new("reassign");
    let admin = cluster.admin(0);
    wait_for("three registered brokers", Duration::from_secs(30), || {
        live_brokers(&admin).filter(|ids| *ids == vec![1, 2, 3])
    });
    let topic = NewTopic { replica_assignment: vec![(0, vec![2, 1])], ..NewTopic::new("moving", -1, -1) };
    admin.create_topics(&[topic], false, None).unwrap()[0].1.clone().unwrap();
    wait_for("moving-0 in sync on 2,1", Duration::from_secs(30), || {
        partition_state(&admin, "moving", 0).filter(|(l, _, isr)| *l == 2 && isr.len() == 2)
    });
    let producer = Producer::new(&[
        ("bootstrap.servers".to_string(), cluster.bootstrap(0)),
        ("acks".to_string(), "all".to_string()),
    ])
    .unwrap();
    for i in 0..50 {
        producer.send(ProducerRecord::new("moving", format!("record-{i}")).partition(0)).unwrap().wait().unwrap();
    }

    // Broker 2, the preferred leader, stops (SIGTERM's controlled shutdown) and comes back; with
    // auto.leader.rebalance.enable's five-minute check, only an election brings its leadership back.
    cluster.stop(1);
    wait_for("moving-0 led by 1", Duration::from_secs(30), || {
        partition_state(&admin, "moving", 0).filter(|(l, _, _)| *l == 1)
    });
    cluster.start(1);
    wait_for("broker 2 back in the ISR", Duration::from_secs(30), || {
        partition_state(&admin, "moving", 0).filter(|(_, _, isr)| isr.contains(&2))
    });
    assert_eq!(partition_state(&admin, "moving", 0).unwrap().0, 1);
    let mut stream = common::wire::connect(format!("127.0.0.1:{}", cluster.client_ports[2]).parse().unwrap());
    let elect = ElectLeadersRequest::default().with_election_type(0).with_topic_partitions(Some(vec![
        TopicPartitions::default().with_topic(TopicName(StrBytes::from_static_str("moving"))).with_partitions(vec![0]),
    ]));
    let ResponseKind::ElectLeaders(r) =
        common::wire::call(&mut stream, ApiKey::ElectLeaders, 2, RequestKind::ElectLeaders(elect))
    else {
        panic!("wrong response kind")
    };
    assert_eq!(r.replica_election_results[0].partition_result[0].error_code, 0, "{r:?}");
    wait_for("moving-0 led by its preferred replica 2", Duration::from_secs(30), || {
        partition_state(&admin, "moving", 0).filter(|(l, _, _)| *l == 2)
    });

    // Move 2,1 to 2,3: broker 3 creates the replica and catches up, broker 1 drops its copy.
    assert_eq!(reassign(&mut stream, "moving", Some(vec![2, 3])), 0);
    wait_for("moving-0 on 2,3", Duration::from_secs(30), || {
        partition_state(&admin, "moving", 0).filter(|(_, r, isr)| *r == vec![2, 3] && isr.len() == 2)
    });
    let list = RequestKind::ListPartitionReassignments(ListPartitionReassignmentsRequest::default());
    let ResponseKind::ListPartitionReassignments(l) =
        common::wire::call(&mut stream, ApiKey::ListPartitionReassignments, 0, list)
    else {
        panic!("wrong response kind")
    };
    assert!(l.topics.is_empty(), "{l:?}");
    let segment = |i: usize| cluster.dirs[i].join("moving-0").join("00000000000000000000.log");
    wait_for("broker 1's copy removed", Duration::from_secs(10), || {
        (!cluster.dirs[0].join("moving-0").exists()).then_some(())
    });
    wait_for("broker 3's copy the same as broker 2's", Duration::from_secs(10), || {
        let (a, b) = (std::fs::read(segment(1)).ok()?, std::fs::read(segment(2)).ok()?);
        (a == b && !a.is_empty()).then_some(())
    });
    let bytes = std::fs::read(segment(2)).unwrap();
    let copied: i32 = potok::record::Batches::new(&bytes)
        .map(|b| potok::record::BatchHeader::parse(b.unwrap()).unwrap().records_count)
        .sum();
    assert_eq!(copied, 50, "records on broker 3");

    // A move to a broker that is down stays in progress (listed) until it is cancelled.
    cluster.stop(0);
    wait_for("broker 1 fenced", Duration::from_secs(30), || live_brokers(&admin).filter(|ids| *ids == vec![2, 3]));
    assert_eq!(reassign(&mut stream, "moving", Some(vec![2, 3, 1])), 0);
    let list = RequestKind::ListPartitionReassignments(ListPartitionReassignmentsRequest::default());
    let ResponseKind::ListPartitionReassignments(l) =
        common::wire::call(&mut stream, ApiKey::ListPartitionReassignments, 0, list)
    else {
        panic!("wrong response kind")
    };
    let moving = &l.topics[0].partitions[0];
    assert_eq!(moving.adding_replicas, vec![BrokerId(1)]);
    assert_eq!(reassign(&mut stream, "moving", None), 0);
    // The broker answering the describe may apply the cancellation a moment after the one that forwarded it.
    wait_for("the cancelled move's replicas", Duration::from_secs(10), || {
        partition_state(&admin, "moving", 0).filter(|(_, r, _)| *r == vec![2, 3])
    });
    cluster.start(0);
    wait_for("broker 1 back", Duration::from_secs(30), || live_brokers(&admin).filter(|ids| *ids == vec![1, 2, 3]));
    assert!(!cluster.dirs[0].join("moving-0").exists(), "a cancelled move left a replica on broker 1");
}

/// A proxy in front of a controller listener that, while `blackhole` is set, swallows the Raft appends sent
/// through it (frames whose request is openraft's `AppendEntries`) and passes everything else: the node behind
/// it hears no leader, while its own vote requests (sent on its connections) still reach the others.
fn append_blackhole(upstream: u16, blackhole: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let Ok(mut server) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else { continue };
            let (mut client_back, mut server_in) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut server, &mut client_back);
                let _ = client_back.shutdown(std::net::Shutdown::Both);
            });
            let blackhole = blackhole.clone();
            std::thread::spawn(move || {
                let mut size = [0u8; 4];
                while client.read_exact(&mut size).is_ok() {
                    let mut frame = vec![0u8; i32::from_be_bytes(size).max(0) as usize];
                    if client.read_exact(&mut frame).is_err() {
                        break;
                    }
                    // Size, then API key, version and correlation id (8 bytes), then the JSON body.
                    let append =
                        frame.get(8..).is_some_and(|body| body.starts_with(b"{\"request\":{\"AppendEntries\""));
                    if append && blackhole.load(Ordering::Relaxed) {
                        continue;
                    }
                    if server_in.write_all(&size).is_err() || server_in.write_all(&frame).is_err() {
                        break;
                    }
                }
                let _ = server_in.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    port
}

/// A node's Raft vote as it persisted it: (term, voted for, committed).
fn raft_vote(dir: &std::path::Path) -> Option<(u64, u64, bool)> {
    let state = std::fs::read(dir.join("__cluster_metadata-0").join("raft-state")).ok()?;
    let state: serde_json::Value = serde_json::from_slice(&state).ok()?;
    let vote = &state["vote"];
    Some((vote["leader_id"]["term"].as_u64()?, vote["leader_id"]["voted_for"].as_u64()?, vote["committed"].as_bool()?))
}

/// The quorum's leader and term when a majority has committed the same vote.
fn quorum_leader(cluster: &Cluster) -> Option<(u64, u64)> {
    let votes: Vec<_> = cluster.dirs.iter().filter_map(|d| raft_vote(d)).filter(|v| v.2).collect();
    votes.iter().find(|v| votes.iter().filter(|w| w.0 == v.0 && w.1 == v.1).count() >= 2).map(|v| (v.1, v.0))
}

/// A voter that no longer gets the leader's appends campaigns in ever higher terms; openraft's leader refuses
/// its votes (lease, shorter log) without adopting its term, so nothing would ever end that (the fault trials
/// met it after a lost in-flight append: node 1 campaigned up to term 131 for six minutes while node 2 led
/// term 60, and its broker never rejoined an ISR). The leader steps down for it, and once appends pass again
/// the voter follows the new leader.
#[test]
fn a_leader_steps_down_for_a_voter_its_appends_do_not_reach() {
    if std::env::var("POTOK_TEST_LOG").is_ok() {
        potok::host::log::set_sink(potok::host::log::Level::Info, |r| eprintln!("{}", r.kafka_line()));
    }
    // Every voter behind its own proxy; the one cut off is a follower picked once a leader is known.
    let holes: Vec<Arc<AtomicBool>> = (0..3).map(|_| Arc::new(AtomicBool::new(false))).collect();
    let proxied = holes.clone();
    let cluster = Cluster::with_voter_ports("stranded", move |ports| {
        ports.iter().zip(&proxied).map(|(port, hole)| append_blackhole(*port, hole.clone())).collect()
    });
    let (leader, term) = wait_for("a quorum leader", Duration::from_secs(30), || quorum_leader(&cluster));
    let stranded = (1..=3u64).find(|id| *id != leader).unwrap();
    let blackhole = holes[stranded as usize - 1].clone();
    blackhole.store(true, Ordering::Relaxed);
    let started = Instant::now();
    // The stranded voter campaigns above `term`; the leader is refused nothing, so only its resignation makes a
    // new term.
    let (new_leader, new_term) =
        wait_for("a new quorum term", Duration::from_secs(60), || quorum_leader(&cluster).filter(|(_, t)| *t > term));
    println!(
        "leader {leader} of term {term} resigned for the stranded voter: leader {new_leader} of term {new_term} after {} ms",
        started.elapsed().as_millis()
    );
    blackhole.store(false, Ordering::Relaxed);
    // Once appends pass, the voter follows whoever leads now (a committed vote of the quorum's term).
    let node = stranded as usize - 1;
    wait_for("the stranded voter following the leader", Duration::from_secs(60), || {
        let (leader, term) = quorum_leader(&cluster)?;
        let (t, l, committed) = raft_vote(&cluster.dirs[node])?;
        (committed && t == term && l == leader).then_some(())
    });
    // And its broker has the metadata again: a topic created now is replicated to it.
    let admin = cluster.admin(node);
    let created = admin.create_topics(&[NewTopic::new("after-stranding", 1, 3)], false, None).unwrap();
    created[0].1.clone().unwrap();
    wait_for("the stranded node in the new topic's ISR", Duration::from_secs(30), || {
        partition_state(&admin, "after-stranding", 0).filter(|(_, _, isr)| isr.contains(&(stranded as i32)))
    });
}

/// Kafka's dynamic controller quorum (KIP-853) as `kafka-storage format --initial-controllers` sets it up: no
/// `controller.quorum.voters`, only `controller.quorum.bootstrap.servers`, and each controller's metadata
/// directory holding the voter set. The controllers form the quorum from it, a broker-only node learns the voters
/// from a bootstrap server (DescribeQuorum), and a controller whose directory holds no voter set is refused,
/// naming the key.
#[test]
fn a_dynamic_quorum_starts_from_the_voters_its_directories_hold() {
    // The ports are picked by binding port 0 and released; another test may take one in between, so a start
    // that finds one taken is tried again on fresh ports.
    for attempt in 1.. {
        match dynamic_quorum(&free_ports(7)) {
            Ok(()) => return,
            Err(ServerError::Bind { address, error }) if attempt < 5 => {
                eprintln!("{address} was taken meanwhile ({error}); starting again on other ports")
            }
            Err(e) => panic!("a node failed to start: {e}"),
        }
    }
}

fn dynamic_quorum(ports: &[u16]) -> Result<(), ServerError> {
    use potok::controller::BootstrapVoter;

    let base = std::env::temp_dir().join(format!("potok-cluster-dynamic-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let dirs: Vec<PathBuf> = (1..=4).map(|i| base.join(format!("kafka-logs-{i}"))).collect();
    let bootstrap: Vec<String> = ports[3..6].iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let properties = |i: usize, roles: &str, listeners: &str| {
        format!(
            "process.roles={roles}\nnode.id={}\ncontroller.quorum.bootstrap.servers={}\nlisteners={listeners}\n\
             controller.listener.names=CONTROLLER\ninter.broker.listener.name=PLAINTEXT\n\
             listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\nlog.dirs={}\n\
             default.replication.factor=3\nbroker.session.timeout.ms=3000\nbroker.heartbeat.interval.ms=500\n",
            i + 1,
            bootstrap.join(","),
            dirs[i].display()
        )
    };
    let combined = |i: usize| {
        let listeners = format!("PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}", ports[i], ports[3 + i]);
        BrokerConfig::from_properties(&properties(i, "broker,controller", &listeners)).unwrap()
    };
    match RunningBroker::start(combined(0)) {
        Err(ServerError::Config(m)) => {
            assert!(m.contains("controller.quorum.bootstrap.servers") && m.contains("holds no voter set"), "{m}")
        }
        other => panic!("an unformatted controller of a dynamic quorum started: {:?}", other.map(|_| ())),
    }
    let voters: Vec<BootstrapVoter> = (0..3)
        .map(|i| BootstrapVoter {
            id: i as i32 + 1,
            directory_id: uuid::Uuid::from_u128(i as u128 + 1),
            listener: "CONTROLLER".into(),
            host: "127.0.0.1".into(),
            port: ports[3 + i],
        })
        .collect();
    for dir in &dirs[..3] {
        potok::controller::write_bootstrap_voters(dir, &voters, 0).unwrap();
    }
    let handles: Vec<_> = (0..3)
        .map(|i| {
            let config = combined(i);
            std::thread::spawn(move || RunningBroker::start(config))
        })
        .collect();
    let started: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut nodes = Vec::new();
    for node in started {
        nodes.push(node?);
    }
    let listeners = format!("PLAINTEXT://127.0.0.1:{}", ports[6]);
    nodes.push(RunningBroker::start(BrokerConfig::from_properties(&properties(3, "broker", &listeners)).unwrap())?);

    let admin = Admin::new(&[("bootstrap.servers".to_string(), format!("127.0.0.1:{}", ports[6]))]).unwrap();
    wait_for("four registered brokers", Duration::from_secs(30), || {
        live_brokers(&admin).filter(|ids| ids == &vec![1, 2, 3, 4])
    });
    let created = admin.create_topics(&[NewTopic::new("dynamic", 3, 3)], false, None).unwrap();
    created[0].1.clone().unwrap();
    wait_for("every replica of the new topic in sync", Duration::from_secs(30), || {
        (0..3).all(|p| partition_state(&admin, "dynamic", p).is_some_and(|(_, _, isr)| isr.len() == 3)).then_some(())
    });
    for node in nodes {
        node.stop().unwrap();
    }
    let _ = std::fs::remove_dir_all(&base);
    Ok(())
}

/// A quorum frame meant for another cluster, or for another node of this one, is refused unread: the node
/// neither votes nor changes its term. This is what a node hears when it took over the address of another
/// cluster's node (a port freed and bound again, as in these tests' parallel clusters, or two clusters on one
/// machine): that cluster's leader keeps sending it votes and appends with terms of its own. Answered
/// before, such a frame made an openraft leader follow itself (a debug assertion) or adopt a foreign term.
#[test]
fn quorum_frames_meant_for_another_cluster_or_node_are_refused() {
    use openraft::raft::VoteRequest;
    use openraft::{CommittedLeaderId, LogId, Vote};
    use potok::controller::raft::peer::{Addressee, PeerClient};
    use potok::controller::raft::{PeerRequest, PeerResponse};

    let cluster = Cluster::new("addressee");
    let admin = cluster.admin(0);
    wait_for("three registered brokers", Duration::from_secs(30), || {
        live_brokers(&admin).filter(|ids| *ids == vec![1, 2, 3])
    });
    let (leader, term) = wait_for("a quorum leader", Duration::from_secs(30), || quorum_leader(&cluster));
    let meta = std::fs::read_to_string(cluster.dirs[0].join("meta.properties")).unwrap();
    let cluster_id = meta.lines().find_map(|l| l.strip_prefix("cluster.id=")).unwrap().to_string();
    // A follower, asked to vote in a far higher term for a candidate with a far longer log: granted if read.
    let follower = (1..=3u64).find(|n| *n != leader).unwrap();
    let addr = format!("127.0.0.1:{}", cluster.controller_ports[follower as usize - 1]);
    let campaign = PeerRequest::Vote(VoteRequest::new(
        Vote::new(term + 100, leader),
        Some(LogId::new(CommittedLeaderId::new(term + 100, leader), 1 << 40)),
    ));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let send = |to: Addressee, request: &PeerRequest| {
        runtime.block_on(PeerClient::new(addr.clone(), to).send(request, Duration::from_secs(5)))
    };
    let other_cluster = Addressee { cluster_id: "another-cluster".into(), node_id: follower as i32 };
    let other_node = Addressee { cluster_id: cluster_id.clone(), node_id: leader as i32 };
    for to in [other_cluster, other_node] {
        let answer = send(to.clone(), &campaign);
        assert!(answer.is_err(), "{to:?} was answered: {answer:?}");
    }
    let vote = raft_vote(&cluster.dirs[follower as usize - 1]).unwrap();
    assert_eq!((vote.0, vote.1), (term, leader), "the refused vote request changed the follower's vote");
    // Addressed to it, a vote request is read and answered (this one, for an old term, is not granted).
    let stale = PeerRequest::Vote(VoteRequest::new(Vote::new(0, leader), None));
    let answer = send(Addressee { cluster_id, node_id: follower as i32 }, &stale);
    assert!(matches!(answer, Ok(PeerResponse::Vote(Ok(ref v))) if !v.vote_granted), "{answer:?}");
    assert_eq!(quorum_leader(&cluster), Some((leader, term)));
}
